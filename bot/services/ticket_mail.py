"""What a ticket's e-mails say, queued in the outbox inside the transaction that writes the ticket
(bot/services/mailer.py delivers them): the copy for the service's mailbox (a new message, or one
reassigned to it), the acknowledgement to the person who gave an e-mail address, an agent's reply.
Part of bot/services/tickets.py, which re-exports `ack_lines` (the confirmation page shows the same
lines, bot/web/rdv/shared.py): import from there.
"""

from __future__ import annotations

from datetime import date, datetime

from bot.core import texts
from bot.core.clock import naive
from bot.core.config import Prefecture
from bot.services import mailer
from bot.services.ticket_dates import say_date


def queue_service_copy(conn, pref: Prefecture, ticket: dict, box: dict, preface: list[str]) -> None:
    """Queue the message's copy for the service's mailbox `box` (Reply-To the person's address when
    given): `preface` (why it is sent again), when it came and is due, how to answer, the text."""
    created = naive(datetime.fromisoformat(ticket["created_at"]))
    email = ticket["contact_email"]
    lines = [
        *preface,
        texts.say(
            "tickets.service_intro",
            pref,
            created=created.strftime("%d/%m/%Y %H:%M"),
            due=say_date(date.fromisoformat(ticket["due_date"])),
        ),
        texts.say("tickets.service_reply_to", pref, email=email) if email else texts.say("tickets.service_no_email", pref),
        "—",
        ticket["body"] or "",
    ]
    mailer.queue(
        conn,
        "ticket",
        box["email"],
        texts.say("tickets.service_subject", pref, reference=ticket["reference"], subject=ticket["subject"]),
        "\n\n".join(lines) + "\n",
        ticket_id=ticket["id"],
        reply_to=email,
    )


def ack_lines(pref: Prefecture, ticket: dict) -> list[str]:
    due = date.fromisoformat(ticket["due_date"])
    lines = [texts.say("tickets.ack", pref, reference=ticket["reference"], service=ticket["service"], due=say_date(due))]
    if not ticket["contact_email"]:
        lines.append(texts.say("tickets.ack_no_email", pref, reference=ticket["reference"]))
    lines.append(texts.say("tickets.france_services", pref) + " " + str(pref.get("france_services.url")))
    return lines


def queue_ack(conn, pref: Prefecture, ticket: dict) -> None:
    """The acknowledgement to the person's address (`contact_email`): the reference, the service, the due date."""
    subject = texts.say("tickets.ack_subject", pref, reference=ticket["reference"])
    body = "\n\n".join(ack_lines(pref, ticket)) + "\n"
    mailer.queue(conn, "ticket_ack", ticket["contact_email"], subject, body, ticket_id=ticket["id"])


def queue_reply(conn, pref: Prefecture, ticket: dict, text: str) -> int:
    """An agent's reply `text` to the person's address (subject with the reference, Reply-To the
    service's mailbox); the outbox row's id."""
    footer = texts.say("tickets.reply_footer", pref, reference=ticket["reference"], service=ticket["service"])
    body = "\n\n".join([text, "—", footer]) + "\n"
    subject = texts.say("tickets.reply_subject", pref, reference=ticket["reference"], subject=ticket["subject"] or "")
    return mailer.queue(
        conn, "ticket_reply", ticket["contact_email"], subject, body, ticket_id=ticket["id"], reply_to=ticket["service_email"]
    )
