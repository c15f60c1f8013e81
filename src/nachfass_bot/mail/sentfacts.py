"""Who a sent mail went to and how the owner addressed them: the facts a new thread needs
besides its kind (docs/DESIGN.md, "Tracking from the Sent folder").

Bytes in, plain values out; never raises (a mail that cannot be read gives None).
"""

from __future__ import annotations

import email
import email.policy
import email.utils
import re
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from email.message import Message

from nachfass_bot.mail.headers import (
    all_raw_headers,
    clean_line,
    decode_words,
    normalize_message_id,
    parse_date,
    plain_text,
    raw_header,
)
from nachfass_bot.mail.quotes import split_quote

__all__ = ["Greeting", "SentFacts", "read_greeting", "read_sent_facts", "without_reply_prefixes"]

_REPLY_PREFIX_RE = re.compile(
    r"^\s*(?:(?:re|aw|antw|wg|fw|fwd)\s*(?:\[\d+\])?\s*:\s*)+", re.IGNORECASE
)


@dataclass(frozen=True)
class Greeting:
    """How the owner's mail opens: ``du`` True/False when the greeting says it, None when
    it does not; ``anrede`` "frau"/"herr" only when the greeting names it."""

    du: bool | None
    anrede: str | None = None


@dataclass(frozen=True)
class SentFacts:
    """The client of a sent mail: the first recipient in To (else Cc, else Bcc) that is
    neither the owner nor the tracking address, with its display name."""

    message_id: str | None
    subject: str  # the topic, without "Re:"/"AW:" prefixes
    date: datetime | None
    client_email: str
    client_name: str | None
    greeting: Greeting


_FORMAL_RE = re.compile(r"^sehr\s+geehrte[rs]?\b", re.IGNORECASE)
_TITLED_RE = re.compile(
    r"^(?:sehr\s+geehrte[rs]?|hallo|guten\s+(?:tag|morgen|abend)|liebe[rs]?|moin|hi)\s+"
    r"(?P<anrede>frau|herr|herrn)\b",
    re.IGNORECASE,
)
_FIRST_NAME_RE = re.compile(
    r"^(?:hallo|hi|hey|liebe[rs]?|moin|servus|hej)\s+(?P<name>[^\W\d_][\w.-]*)\s*[,!]?\s*$",
    re.IGNORECASE,
)
_FORMAL_OPENINGS_RE = re.compile(r"^(?:guten\s+(?:tag|morgen|abend)|grüß\s+gott)\b", re.IGNORECASE)
_GROUPS = frozenset({"zusammen", "alle", "team", "ihr", "allerseits"})


def read_greeting(text: str) -> Greeting:
    """Du or Sie from the first non-empty line of the owner's text.

    "Sehr geehrte Frau Lange", "Hallo Herr Weiß" → Sie with the anrede; "Sehr geehrte
    Damen und Herren", "Guten Tag" → Sie; "Hallo Jonas", "Liebe Petra", "Hi Max" → Du;
    "Hallo zusammen" or anything else → unknown (None).
    """
    line = next((line.strip() for line in text.splitlines() if line.strip()), "")
    titled = _TITLED_RE.match(line)
    if titled:
        anrede = titled.group("anrede").lower()
        return Greeting(du=False, anrede="herr" if anrede.startswith("herr") else "frau")
    if _FORMAL_RE.match(line) or _FORMAL_OPENINGS_RE.match(line):
        return Greeting(du=False)
    first = _FIRST_NAME_RE.match(line)
    if first and first.group("name").lower() not in _GROUPS:
        return Greeting(du=True)
    return Greeting(du=None)


def without_reply_prefixes(subject: str) -> str:
    """The subject without reply and forward prefixes ("AW: Re: Website" → "Website")."""
    return _REPLY_PREFIX_RE.sub("", subject).strip()


def read_sent_facts(
    raw: bytes, *, not_clients: Collection[str], extra_recipients: Collection[str] = ()
) -> SentFacts | None:
    """The client and the owner's greeting of one sent mail; None when no recipient is
    left after ``not_clients`` (lower-case addresses: the owner, the tracking address and
    its tagged forms) or the mail is unreadable. ``extra_recipients`` are envelope
    recipients a delivered copy shows outside To/Cc (Delivered-To), never clients."""
    try:
        msg = email.message_from_bytes(raw, policy=email.policy.compat32)
        client = _client(msg, {a.lower() for a in (*not_clients, *extra_recipients)})
        if client is None:
            return None
        own_text, _ = split_quote(plain_text(raw))
        subject = clean_line(decode_words(raw_header(msg, "Subject") or ""))
        return SentFacts(
            message_id=normalize_message_id(raw_header(msg, "Message-ID")),
            subject=without_reply_prefixes(subject),
            date=parse_date(raw_header(msg, "Date")),
            client_email=client[0],
            client_name=client[1],
            greeting=read_greeting(own_text),
        )
    except Exception:  # "never raise" is the contract of mail/
        return None


def _client(msg: Message, not_clients: set[str]) -> tuple[str, str | None] | None:
    for field in ("To", "Cc", "Bcc"):
        for value in all_raw_headers(msg, field):
            for name, address in _mailboxes(decode_words(value)):
                if address and address not in not_clients and not _tagged(address, not_clients):
                    return address, name
    return None


def _mailboxes(value: str) -> list[tuple[str | None, str]]:
    found: list[tuple[str | None, str]] = []
    for display, mailbox in email.utils.getaddresses([value]):
        address = mailbox.strip().lower()
        if "@" not in address:
            continue
        name: str | None = clean_line(display).strip().strip("'\"") or None
        if name and "@" in name:
            name = None  # "jonas@keller.de" <jonas@keller.de> names nobody
        found.append((name, address))
    return found


def _tagged(address: str, not_clients: set[str]) -> bool:
    """``anna+nachfass+rechnung@x.de`` is the tracking address ``anna+nachfass@x.de``."""
    local, _, domain = address.rpartition("@")
    for other in not_clients:
        other_local, _, other_domain = other.rpartition("@")
        if domain == other_domain and local.startswith(other_local + "+"):
            return True
        if domain == other_domain and local.startswith(other_local + "-"):
            return True
    return False
