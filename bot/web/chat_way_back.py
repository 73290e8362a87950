"""« Retour à l'assistant » from the booking and message pages (/rdv/) to the conversation the person
came from, without JavaScript (with it, web/static/chat.js keeps the conversation id in localStorage
and draws the conversation again from GET /chat/history).

The page without JavaScript links to /rdv/?motif= and /rdv/message?service= (bot/web/chat_view.py),
in a new window, and /rdv/'s way back was a link to /chat/: an empty page. The conversation id must
then reach /rdv/ some other way than a URL: nginx's access log (deploy/nginx.conf keeps Debian's
default, `combined`) writes each request line with its query string, Sanic's writes it too with
LOG_LEVEL_LIBRARIES=INFO (bot/web/http.quiet_access_log), and a browser keeps each URL in its history;
the id is what reads the conversation back. So each page the server draws for a conversation sets a
cookie holding its id (`keep`), scoped to /rdv (`Path=/rdv`: never sent to /chat/, nor to the
console), `HttpOnly`, `SameSite=Strict` (never sent from another site), `Secure` behind https, and
lasting as long as Rasa's session (`session_expiration_time`, after which the conversation is drawn
empty anyway). The /rdv/ pages read it (`of`) and draw the way back as a form posting the id to
/chat/, which draws the conversation without running anything (bot/web/chat_page.py). Without the
cookie (none was set: JavaScript on, cookies refused, a session over), the way back is the link, as
before. GET /chat/, a new page (« Nouvelle conversation »), forgets it (`forget`).
"""

from __future__ import annotations

from sanic.request import Request
from sanic.response import HTTPResponse

from bot.web import chat_history
from bot.web.chat_history import SENDER_RE
from bot.web.http import RDV_PREFIX, set_cookie

COOKIE = "aiguillage_conversation"
PATH = RDV_PREFIX


def keep(resp: HTTPResponse, sender: str, minutes: float) -> None:
    """The cookie for /rdv/'s way back to `sender`'s conversation, for `minutes` (a browser session when 0)."""
    set_cookie(resp, COOKIE, sender, PATH, int(minutes * 60) if minutes > 0 else None)


def forget(resp: HTTPResponse) -> None:
    """The cookie dropped: a new page of the chat is no conversation yet."""
    set_cookie(resp, COOKIE, "", PATH, 0)


def of(request: Request) -> str | None:
    """The conversation /rdv/'s way back goes to, or None."""
    sender = request.cookies.get(COOKIE) or ""
    return sender if SENDER_RE.match(sender) else None


def session_minutes(request: Request) -> float:
    """How long Rasa keeps a conversation's session after its last message, 0 when unknown."""
    return chat_history.session_minutes(getattr(request.app.ctx, "agent", None))
