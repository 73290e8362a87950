"""The forms of the chat page without JavaScript (bot/web/chat_page.py): what a post holds, and the
token that has each form run once.

A post's fields (form-urlencoded, read here and never logged):
- `sender`: the conversation id (SENDER_RE; made by the server at the first post);
- `token`: the page's token (TOKEN_RE), in every form that asks a question;
- `message`: the question typed, or a button's payload; absent from the way back to the conversation
  (« Retour à l'assistant » on /rdv/, web/templates/rdv.html), which only draws it;
- `useful` ("true", "false") and `comment`: the rating of the last answer (chat.js's « Oui », « Non »
  and its comment), as POST /chat/feedback takes them.

A form sent again, by Enter pressed twice or a reload that re-sends it, must not ask its question
twice: each page is drawn with a new random token in its forms, and the turn keeps the token in its
question's metadata (Rasa's `user` event, bot/web/chat_history.FORM_TOKEN). A post whose token the
conversation's current session already holds is answered with the conversation as it stands. The
token lives with the conversation in the tracker store: a restart, or another process of a cluster,
knows it as well. Two copies arriving at once at the same process wait in line (`in_line`), the
second reading the conversation once the first is over; at two processes of a cluster, a form not
found in the conversation is checked again and run under its own lock in Rasa's lock store
(`in_line_everywhere`), so the copy at the other process finds its token there too. A session
expired forgets its tokens with its turns.

The first post of a page has no conversation id yet: its id is made from the page's token
(`sender_of`), so that the same first form sent twice is one conversation, not two. A page holding a
token is thus never kept in a shared cache (GET /chat/ is `Cache-Control: no-store`).
"""

from __future__ import annotations

import re
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, NamedTuple
from urllib.parse import parse_qs

from bot.web import degraded
from bot.web.chat_history import SENDER_RE
from bot.web.chat_turn import SENDER_ALPHABET, new_sender

# The page's token: 18 characters of chat.js's randomId() alphabet (a conversation id is "web-" + 18).
TOKEN_RE = re.compile(r"^[A-Za-z0-9_-]{18}$")
USEFUL = {"true": True, "false": False}


class Posted(NamedTuple):
    """A post's fields: None for a field the post does not hold."""

    sender: str | None
    token: str | None
    message: str | None
    useful: str | None
    comment: str | None


def read(body: bytes) -> Posted:
    """The fields of a post (the first of each name); none when it holds more than the page's forms send."""
    try:
        fields = parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True, max_num_fields=6)
    except ValueError:  # more fields than the page's forms send
        fields = {}

    def one(name: str) -> str | None:
        return (fields.get(name) or [None])[0]

    token = one("token")
    return Posted(
        one("sender"), token if token and TOKEN_RE.match(token) else None, one("message"), one("useful"), one("comment")
    )


def new_token() -> str:
    """A page's token (TOKEN_RE)."""
    return "".join(SENDER_ALPHABET[byte & 63] for byte in secrets.token_bytes(18))


def sender_of(posted: Posted) -> str:
    """The conversation of a post: its `sender`; at the first post of a page, one made from the page's
    token ("web-" + token: chat.js's randomId() format), so that the form sent again is the same
    conversation; a new one for a post without either."""
    if posted.sender and SENDER_RE.match(posted.sender):
        return posted.sender
    return "web-" + posted.token if posted.token else new_sender()


# The forms of one conversation under way in this process, by (sender, token): bot/web/degraded.py in_line.
_in_line: dict[tuple[str, str], list] = {}


@asynccontextmanager
async def in_line(sender: str, token: str | None) -> AsyncIterator[None]:
    """Held while a form is checked and run: a copy of it arriving meanwhile waits, then finds its token
    in the conversation. Nothing to wait for without a token."""
    if token is None:
        yield
        return
    async with degraded.in_line(_in_line, (sender, token)):
        yield


@asynccontextmanager
async def in_line_everywhere(lock_store: Any, sender: str, token: str | None) -> AsyncIterator[bool]:
    """Held while a form found unrun is checked again and run, in the lock store the processes of a
    cluster share (Redis): a copy of it at another process waits, then finds its token. The key is the
    form's, not the conversation's (Rasa holds the conversation's own while the turn runs). Yields
    whether it holds that lock: not without a token or a shared lock store (None). BackendUnavailable
    when the lock store does not answer."""
    if token is None or lock_store is None:
        yield False
        return
    async with lock_store.lock(f"{sender}/form/{token}"):
        yield True
