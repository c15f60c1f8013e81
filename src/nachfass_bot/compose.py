"""Building outgoing mails (RFC 5322) from rendered texts; pure, no sending.

Headers are set through :class:`email.message.EmailMessage` and ``Address`` objects, never
by string concatenation, so a name or subject with line breaks cannot add a header.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid

from .texts import one_line


def new_message_id(sender_email: str) -> str:
    """A fresh, globally unique Message-ID on the sender's domain."""
    domain = sender_email.rpartition("@")[2] or "nachfass-bot.invalid"
    return make_msgid(idstring="nachfass", domain=one_line(domain))


def address(email: str, name: str | None = None) -> Address:
    """An ``Address`` for a header; the display name is reduced to one line."""
    username, _, domain = one_line(email).partition("@")
    return Address(display_name=one_line(name or ""), username=username, domain=domain)


def build_mail(
    *,
    sender: Address,
    recipient: Address,
    subject: str,
    body: str,
    message_id: str,
    now: datetime,
    references: Sequence[str] = (),
    extra_headers: Sequence[tuple[str, str]] = (),
) -> EmailMessage:
    """A plain-text UTF-8 mail; ``references`` oldest first, the last is In-Reply-To."""
    message = EmailMessage()
    message["From"] = sender
    message["To"] = recipient
    message["Subject"] = one_line(subject)
    message["Date"] = format_datetime(now)
    message["Message-ID"] = message_id
    if references:
        message["In-Reply-To"] = references[-1]
        message["References"] = " ".join(references)
    for name, value in extra_headers:
        message[name] = one_line(value)
    message.set_content(body, charset="utf-8")
    return message
