"""What a failure to deliver an e-mail means (bot/services/mailer.py): final for that e-mail
(`permanent`: it becomes `rejected`), the SMTP server's rather than the e-mail's (`the_servers`: the
round stops there, the next e-mails would meet it too), and how it is told to agents and in the log
(`describe`: typed, with the SMTP code, every address masked).
"""

from __future__ import annotations

import smtplib

from bot.core.masking import clean, mask

# RFC 5321 / RFC 1870: "552 message size exceeds fixed maximum message size", at MAIL FROM (SIZE=).
SIZE_EXCEEDED = 552


def permanent(exc: BaseException, opened: bool) -> bool:
    """Whether a delivery failure is final for this e-mail (it becomes `rejected`, never tried again):
    the recipient refused for good (5xx at RCPT TO), the message itself refused (5xx after DATA), too
    large for the server (552 at MAIL FROM, which carries its SIZE), an address that needs SMTPUTF8 on a
    server without it (`opened`: within the session; before it, a missing STARTTLS is the server's), or
    a message that cannot be built. A 4xx, a connection, a timeout, or a sender or login refused (the
    server's settings, for every e-mail) are tried again."""
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        return bool(exc.recipients) and all(500 <= code < 600 for code, _ in exc.recipients.values())
    if isinstance(exc, smtplib.SMTPDataError):
        return 500 <= exc.smtp_code < 600
    if isinstance(exc, smtplib.SMTPSenderRefused):
        return exc.smtp_code == SIZE_EXCEEDED
    if isinstance(exc, smtplib.SMTPNotSupportedError):
        return opened
    return isinstance(exc, ValueError)


def the_servers(exc: BaseException, opened: bool) -> bool:
    """Whether a delivery failure is the SMTP server's (or the network's), not this e-mail's, so that
    every e-mail after it would meet it too. Before the session is open (`opened`: mailer.connect done), any
    failure: the connection refused or timed out, no greeting, EHLO, STARTTLS or login refused. Within
    it, the server gone or silent (a timeout, the connection lost), a 421 (closing) at any command, the
    sender refused at MAIL FROM (for now or for good; not a 552, this message's size). Not: a recipient
    refused at RCPT TO (that address), the message refused after DATA or needing what the server lacks
    (SMTPUTF8), a message that cannot be built (ValueError)."""
    if isinstance(exc, ValueError):
        return False
    if not opened:
        return True
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        return any(code == 421 for code, _ in exc.recipients.values())
    if isinstance(exc, smtplib.SMTPSenderRefused):  # the préfecture's address, the same in every e-mail
        return exc.smtp_code != SIZE_EXCEEDED
    if isinstance(exc, smtplib.SMTPResponseException):  # SMTPDataError: the answer to DATA or to the message
        return exc.smtp_code == 421
    return isinstance(exc, smtplib.SMTPServerDisconnected) or not isinstance(exc, smtplib.SMTPException)


def describe(exc: BaseException, to_addr: str | None) -> str:
    """A delivery error as stored (`outbox.last_error`, shown to agents) and logged: its type, the SMTP
    code when there is one, and a text with no address in it. The recipient's address (and any other
    personal data: bot/core/masking.py) is masked: agents see a person's address only through the
    message's audited contact view."""
    name = type(exc).__name__
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        codes = sorted({str(code) for code, _ in exc.recipients.values()})
        return f"{name}: {', '.join(codes)} [e-mail]"
    if isinstance(exc, smtplib.SMTPResponseException):
        said = exc.smtp_error.decode("utf-8", "replace") if isinstance(exc.smtp_error, bytes) else str(exc.smtp_error)
        text = f"{exc.smtp_code} {said}"
    else:
        text = str(exc)
    if to_addr:
        text = text.replace(to_addr, "[e-mail]")
    return f"{name}: {mask(clean(text))}"[:300]
