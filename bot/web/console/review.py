"""The review queue (/console/file) and one item of it, a conversation or a call, labelled by an agent
(/console/element/<canal>/<id>)."""

from __future__ import annotations

from urllib.parse import urlencode

from sanic import response
from sanic.request import Request
from sanic.response import HTTPResponse

from bot.core import clock, texts
from bot.core.tree import REVIEW_LABELS
from bot.services import runtime
from bot.services.accounts import Session
from bot.services.queue import KINDS, Filters, NotFound, Queue, ReviewConflict
from bot.web.console.journal import day
from bot.web.console.pages import ITEM_ID_RE, PREFIX, Console, agent_only, page_links

MAX_NOTE = 2000


@agent_only
async def queue_page(request: Request, console: Console, session: Session) -> HTTPResponse:
    f = Filters.from_args(request.args.get)
    result = console.queue().page(f)
    base = {
        k: v
        for k, v in {
            "canal": f.channel,
            "theme": f.topic,
            "statut": f.status,
            "du": f.date_from,
            "au": f.date_to,
            "avis": f.rated,
        }.items()
        if v
    }

    def link(**changes) -> str:
        args = {**base, **changes}
        return f"{PREFIX}/file?" + urlencode({k: v for k, v in args.items() if v})

    result["links"] = page_links(result["page"], result["pages"])
    ctx = {"notice": date_notice(request, f), "learned": learned_notice(request) if f.rated == "corrige" else None}
    return console.page("queue.html", session=session, f=f, result=result, link=link, **ctx)


def learned_notice(request: Request) -> tuple[str, str] | None:
    """What « Apprendre les choix cochés » did, from the counts its redirect carries: (DSFR alert type, text)."""
    try:
        learned, left = (max(0, min(int(request.args.get(arg) or ""), 10_000)) for arg in ("appris", "laisses"))
    except ValueError:
        return None
    if not learned and not left:
        return "info", texts.console_say("pages.queue.learned_none")
    said = [texts.console_say(f"pages.queue.learned_{('zero', 'one')[learned] if learned < 2 else 'many'}", count=learned)]
    if left:
        said.append(texts.console_say(f"pages.queue.left_{'one' if left == 1 else 'many'}", count=left))
    return ("success" if learned else "warning"), " ".join(said)


@agent_only
async def learn_choices(request: Request, console: Console, session: Session) -> HTTPResponse:
    """« Apprendre les choix cochés »: the items checked in the view of the corrections (`element`:
    "chat:<id>" or "phone:<CallSid>", a page of them at most) each get the person's choice as their
    review (Queue.learn_choices); then back to the view, which says how many."""
    checked = (request.form.getlist("element") if request.form else None) or []
    items = [tuple(value.split(":", 1)) for value in checked]
    if len(items) > int(runtime.prefecture().get("console.queue_per_page")) or any(
        len(item) != 2 or item[0] not in KINDS or not ITEM_ID_RE.match(item[1]) for item in items
    ):
        return console.refuse(400, session, "bad_form")
    learned, left = console.queue().learn_choices(session.name, list(dict.fromkeys(items)))
    return response.redirect(f"{PREFIX}/file?" + urlencode({"avis": "corrige", "appris": learned, "laisses": left}), status=303)


def date_notice(request: Request, f: Filters) -> str:
    """Why the dates asked cannot filter, in words (the page still answers): a date that is none
    (left out), or "Du" after "Au" (nothing can match)."""
    for arg in ("du", "au"):
        typed = (request.args.get(arg) or "").strip()
        if typed and not (f.date_from if arg == "du" else f.date_to):
            return texts.console_say("pages.queue.not_a_date", typed=typed[:40])
    if f.date_from and f.date_to and f.date_from > f.date_to:
        return texts.console_say("pages.queue.dates_reversed", start=day(f.date_from), end=day(f.date_to))
    return ""


@agent_only
async def item_page(request: Request, console: Console, session: Session, kind: str, item_id: str) -> HTTPResponse:
    if kind not in KINDS or not ITEM_ID_RE.match(item_id):
        return console.not_found(session)
    try:
        item = Queue(console.store, runtime.tree(), runtime.prefecture()).item(kind, item_id)
    except NotFound:
        return console.not_found(session)
    message = request.args.get("ok") and texts.console_say("messages.labelled") or ""
    return console.page("item.html", session=session, item=item, message=message)


@agent_only
async def item_label(request: Request, console: Console, session: Session, kind: str, item_id: str) -> HTTPResponse:
    if kind not in KINDS or not ITEM_ID_RE.match(item_id):
        return console.not_found(session)
    form = request.form
    topic = form.get("theme") or ""
    status = form.get("statut") or ""
    note = (form.get("note") or "").strip()
    example = (form.get("phrase") or "").strip()
    if (
        topic not in REVIEW_LABELS + [""]
        or status not in ("in_review", "done")
        or len(note) > MAX_NOTE
        or form.get("exemple") not in (None, "1")
    ):
        return console.refuse(400, session, "bad_form")
    seen = form.get("vu")  # the review as the page showed it (absent: a form without it, no check)
    queue = console.queue()
    try:
        queue.label(kind, item_id, session.name, topic, status, note, form.get("exemple") == "1", example, seen)
    except NotFound:
        return console.not_found(session)
    except ValueError:
        return console.refuse(400, session, "bad_turn")
    except ReviewConflict as exc:  # another agent saved meanwhile: say so, show theirs, keep it
        item = Queue(console.store, runtime.tree(), runtime.prefecture()).item(kind, item_id)
        when = clock.stamp_datetime(exc.current.get("updated_at") or "")
        conflict = texts.console_say("messages.review_conflict", agent=exc.current.get("reviewer") or "—", when=when)
        return console.page("item.html", 409, session=session, item=item, conflict=conflict)
    return response.redirect(f"{PREFIX}/element/{kind}/{item_id}?ok=1", status=303)


ROUTES = [
    ("/file", ("GET",), queue_page),
    ("/file/apprendre", ("POST",), learn_choices),
    ("/element/<kind>/<item_id>", ("GET",), item_page),
    ("/element/<kind>/<item_id>", ("POST",), item_label),
]
