"""The chat page, GET /chat/, and the same page for its form posted without JavaScript, POST /chat/
(accessibility audit): JavaScript off, or not loaded yet on a slow connection, Enter sent the form as
GET /chat/?message=..., the question unmasked in the URL, the browser's history and the access logs.
The form now posts (web/templates/chat.html); the answer is the page with the notice `chat.page.no_script`
(what works without JavaScript: the booking pages, the préfecture's phone) and the question given back in
the field. The body is read here and never logged, nor passed to Rasa; a post from another site gets
the notice without its text."""

from __future__ import annotations

from urllib.parse import parse_qs

from sanic import response
from sanic.request import Request
from sanic.response import HTTPResponse

from bot.services import runtime
from bot.web.http import from_another_site, read_body, security_headers

# Bytes a character of the question takes in a form body at most: 3 in UTF-8, each as "%XX".
FORM_BYTES_PER_CHAR = 9


async def page(request: Request, *_) -> HTTPResponse:
    if request.method != "POST":
        return security_headers(response.html(runtime.render_page()))
    body = await read_body(request, runtime.router().max_chars * FORM_BYTES_PER_CHAR + 100)
    typed = ""
    # A form sent under "Referrer-Policy: no-referrer" says "Origin: null": Sec-Fetch-Site tells where
    # it comes from. A body too long is not given back either.
    same_site = request.headers.get("sec-fetch-site") == "same-origin" or not from_another_site(request)
    if body is not None and same_site:
        typed = (parse_qs(body.decode("utf-8", "replace"), max_num_fields=5).get("message") or [""])[0]
    resp = security_headers(response.html(runtime.render_page(no_script=True, typed=typed)))
    resp.headers["Cache-Control"] = "no-store"  # never kept in a cache, nor redrawn from one
    return resp
