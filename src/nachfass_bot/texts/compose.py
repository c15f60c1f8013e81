"""Building outgoing mails (RFC 5322) from rendered texts; pure, no sending.

Headers are set through :class:`email.message.EmailMessage` and ``Address`` objects, never
by string concatenation, so a name or subject with line breaks cannot add a header.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime, make_msgid

from nachfass_bot.texts.render import one_line

_UNFOLDED_HEADERS = SMTP.clone(max_line_length=998)
# set_content wraps quoted-printable at the policy's line length: RFC 2045 wants 76.
_BODY_POLICY = SMTP.clone(max_line_length=76)


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
    html: str | None = None,
) -> EmailMessage:
    """A plain-text UTF-8 mail; ``references`` oldest first, the last is In-Reply-To.
    With ``html`` it is multipart/alternative: the text first, then the HTML."""
    message = EmailMessage(policy=_BODY_POLICY)
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
    if html is not None:
        message.add_alternative(html, subtype="html", charset="utf-8")
    # The body is encoded now (quoted-printable lines stay within 76). For the headers,
    # Python 3.11 folds "… nicht ausgeführt" into "nicht \r\n =?utf-8?q?ausgef…?=", which
    # mail programs show with two spaces; RFC 5322 allows lines up to 998 characters.
    message.policy = _UNFOLDED_HEADERS
    return message


def to_bytes(message: EmailMessage) -> bytes:
    """The message as it goes over the wire and into the Sent folder (CRLF, headers
    unfolded up to 998 characters; see :func:`build_mail`)."""
    return message.as_bytes(policy=_UNFOLDED_HEADERS)
