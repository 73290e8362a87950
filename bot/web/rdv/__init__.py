"""Pages under /rdv/ (registered in credentials.yml as bot.web.rdv.BookingInput).

The chat links here instead of collecting contact details itself: the chat masks every message
before Rasa, and a contact the user gives for a confirmation must live only in the booking or
ticket row. Server-rendered DSFR forms (Jinja2 autoescape), a double-submit CSRF token (cookie
SameSite=Strict + hidden field), the chat's Content-Security-Policy, an idempotency key in each
form (a double click books once).

  GET  /rdv/[?site=&motif=]       site and reason (chosen beforehand: the chat page without JavaScript)
  GET  /rdv/creneaux?site=&motif=[&apres=|&jour=]  a page of free slots (after a slot, or from a
                                  day), the days that have some, "Créneaux suivants" + contact
  POST /rdv/reserver              book -> confirmation (reference, address, what to bring, cancel, .ics)
  GET  /rdv/ics/<reference>?t=    the calendar file (t: the booking's secret token)
  GET  /rdv/annuler, POST         cancel with the reference + the contact given
  GET  /rdv/message?service=<id>  message to a service mailbox; POST -> acknowledgement

Each page ends with « Retour à l'assistant »: a form posting the conversation id back to /chat/ when
the chat page without JavaScript left it in a cookie for these pages (bot/web/chat_way_back.py), else
a link to /chat/.

The chat's in-page widget (web/static/chat.js) does the same through a small JSON API, with the
same functions and validations (shared.py serves both; pages.py and api.py hold the routes). Its
POSTs must be declared JSON and come from this origin (bot.web.http.refuse_cross_site); errors are
4xx `{"error": "<French>"}`.

Bookings, cancellations and messages are limited per client address (bot/web/client.py; the
accepted ones only, and every submission in a looser guard against floods), and so are
wrong cancellation guesses (bot/services/throttle.py, limits in the préfecture files): over a limit,
429 with Retry-After and a French reason, on the pages and in the API (`code: "throttled"`).

  GET  /rdv/api/sites                          sites, reasons and the texts of the chat's prompts
  GET  /rdv/api/creneaux?site=&reason=&apres=  next free slots (a page; `next` = cursor of the next page)
  POST /rdv/api/reserver  {site, reason, slot, email | mobile, idem}  -> confirmation (409 + slots if taken)
  POST /rdv/api/annuler   {reference, contact}
  GET  /rdv/api/message?service=               texts and limits of the message form
  POST /rdv/api/message   {service, subject, body, email?, idem}      -> acknowledgement
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Awaitable, Callable
from typing import Any

from rasa.core.channels.channel import InputChannel, UserMessage
from sanic import Blueprint
from sanic.request import Request
from sanic.response import HTTPResponse

from bot.web.http import RDV_PREFIX, add_routes, refused_page, retry_after_store_busy
from bot.web.rdv import api, pages
from bot.web.rdv.shared import store_refusal

logger = logging.getLogger(__name__)


def store_busy(request: Request, exception: Exception) -> HTTPResponse:
    """The store stayed locked by another writer for the whole busy timeout (or refused the write, its
    disk full): nothing of the booking, cancellation or message was written (each is one transaction).
    503, a French reason (shared.store_refusal) and Retry-After; the same form sent again goes through
    (its idempotency key). A page that only reads (GET) says to reload it: nothing was sent."""
    logger.error("rdv: store error on %s %s: %r", request.method, request.path, exception)
    return retry_after_store_busy(refused_page(request, 503, *store_refusal(request, exception)))


class BookingInput(InputChannel):
    @classmethod
    def name(cls) -> str:
        return "rdv"

    def url_prefix(self) -> str:
        return RDV_PREFIX

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        bp = Blueprint("aiguillage_rdv", __name__)
        bp.exception(sqlite3.Error)(store_busy)
        add_routes(bp, pages.ROUTES + api.ROUTES)
        return bp
