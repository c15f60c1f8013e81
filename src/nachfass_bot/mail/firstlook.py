"""A cheap first look at a header block: the facts a sync needs of a mail that concerns
no thread, without the ``email`` package (docs/DESIGN.md, "The cycle", the first look).

On a first sync of a big folder almost every mail is a newsletter or a stranger's: it is
marked seen as unrelated and kept in the index of synced mail, and that needs only its
Message-ID, sender, Date, references and whether it is list or machine mail.
:func:`first_look` reads exactly these from the raw bytes, with the same decoding
functions :func:`~nachfass_bot.mail.inbound.parse_inbound` uses, so every value it gives
is the value ``parse_inbound`` gives. It gives up (None) on any header block that is not
plain: stray CR or LF, control characters, a line that is neither a field nor a
continuation, a leading continuation. The caller then parses the block in full.

What it cannot tell cheaply it reports as a *sign*: ``machine`` is True when any field
or subject that an auto-reply, bounce or read-receipt rule reads is there at all (a
superset of :func:`~nachfass_bot.mail.classify.is_auto_reply_headers` and
:func:`~nachfass_bot.mail.bounces.is_bounce_headers`), ``bounce_sign`` for a bounce's
sign beyond its subject and its sender's address (a report Content-Type,
:data:`REPORT_FIELDS`, a mail system's name in From), ``maybe_command`` when the
subject may carry a draft's token, ``bounce_subject`` and ``delivery_system`` as the
judgement tests them. A mail with a sign is judged the slow way.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache

from nachfass_bot.mail.approval import find_token
from nachfass_bot.mail.bounces import (
    field_keyword,
    is_bounce_subject,
    is_delivery_system,
    names_delivery_system,
)
from nachfass_bot.mail.classify import VENDOR_AUTO_REPLY_FIELDS, is_auto_reply_subject
from nachfass_bot.mail.headers import (
    address,
    clean_line,
    decode_words,
    message_ids,
    normalize_message_id,
    parse_date,
)

__all__ = ["MACHINE_FIELDS", "REPORT_FIELDS", "FirstLook", "first_look", "split_fields"]

# Fields whose mere presence sends a mail to the full judgement: every header rule of
# an auto-reply (RFC 3834 and vendors) or a bounce (Exim, MDaemon) reads one of these.
MACHINE_FIELDS: frozenset[str] = frozenset(
    {
        "auto-submitted",
        "x-apple-action",
        "x-failed-recipients",
        "x-mddsn-message",
        *(name.lower() for name in VENDOR_AUTO_REPLY_FIELDS),
    }
)
# The machine fields a bounce rule reads (besides a report's Content-Type, the subject and
# the sender): Exim's failed recipients, MDaemon's report mark.
REPORT_FIELDS: frozenset[str] = frozenset({"x-failed-recipients", "x-mddsn-message"})
_LIST_FIELDS = ("list-id", "list-unsubscribe")
_BULK = frozenset({"bulk", "list", "junk"})
# Control characters other than HT, CR, LF: the email parser and clean_line treat them in
# ways a plain split need not copy, so such a block takes the slow path.
_CONTROL_RE = re.compile(rb"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
# A field as the email parser's headerRE accepts it (its name before the first colon)
# with its continuation lines; the value as compat32 keeps it: leading blanks dropped.
_FIELD = r"([\x21-\x39\x3b-\x7e]+):[ \t]*([^\r\n]*(?:\r\n[ \t][^\r\n]*)*)\r\n"
_FIELD_RE = re.compile(_FIELD)
_BLOCK_RE = re.compile(r"(?:[\x21-\x39\x3b-\x7e]+:[^\r\n]*(?:\r\n[ \t][^\r\n]*)*\r\n)*")
_NULL_PATH_RE = re.compile(r"\s*<\s*>\s*")  # "<>" once whitespace is dropped
_SENDER_CACHE = 4096  # distinct From values kept: a big folder has few senders
_NO_SENDER: tuple[str | None, bool, bool] = (None, False, False)


@dataclass(frozen=True, slots=True)
class FirstLook:
    """What :func:`first_look` read; every value as ``parse_inbound`` would give it."""

    message_id: str | None
    from_addr: str | None
    date: datetime | None
    in_reply_to: tuple[str, ...]
    references: tuple[str, ...]
    is_list_mail: bool  # exact only when ``machine`` is False
    machine: bool  # a sign of an auto-reply, bounce or read receipt
    # A bounce's sign besides its subject and a delivery system's address: a report
    # or delivery-status Content-Type (RFC 3464, RFC 8098 read receipts), one of
    # REPORT_FIELDS, or a mail system's name in From ("Mail Delivery System").
    bounce_sign: bool
    maybe_command: bool  # the subject may carry a draft's token
    bounce_subject: bool
    delivery_system: bool  # the sender is MAILER-DAEMON, postmaster or MDaemon


def split_fields(raw: bytes) -> dict[str, list[str]] | None:
    """The fields of a header block by lower-case name, each value unfolded (RFC 5322
    §2.2.3) exactly as :func:`~nachfass_bot.mail.headers.raw_header` reads it from the
    ``email`` package's compat32 parse (bytes as ASCII with surrogate escapes); the block
    ends at the first empty line. None when the block is not plain (see the module)."""
    if _CONTROL_RE.search(raw):
        return None
    text = raw.decode("ascii", "surrogateescape")
    end = text.find("\r\n\r\n")
    head = text[: end + 2] if end >= 0 else text if text.endswith("\r\n") else text + "\r\n"
    if not _BLOCK_RE.fullmatch(head):
        return None
    fields: dict[str, list[str]] = {}
    for name, value in _FIELD_RE.findall(head):
        fields.setdefault(name.lower(), []).append(value.replace("\r\n", ""))
    return fields


def first_look(raw: bytes) -> FirstLook | None:
    """The first look at one header block (module docstring); None: parse it in full.
    Never raises: whatever trips a decoding function is left to the full parse, which
    has its own guards."""
    try:
        return _look(raw)
    except Exception:  # the full parse decides, as it always did
        return None


def _look(raw: bytes) -> FirstLook | None:
    fields = split_fields(raw)
    if fields is None:
        return None
    first = {name: values[0] for name, values in fields.items()}
    sender = first.get("from")
    from_addr, delivery_system, named = _sender(sender) if sender is not None else _NO_SENDER
    subject = first.get("subject", "")
    if "=?" in subject or not subject.isascii():
        decoded = clean_line(decode_words(subject))  # as parse_inbound
    else:
        decoded = subject  # plain ASCII: no subject rule tells it from its clean_line form
    machine = not fields.keys().isdisjoint(MACHINE_FIELDS) or is_auto_reply_subject(subject.strip())
    precedence = field_keyword(first.get("precedence", "").strip())
    if precedence and precedence not in _BULK:
        machine = True  # Precedence: auto_reply, or a keyword a rule may read one day
    content = first.get("content-type", "").lower()  # RFC 3464, RFC 8098, RFC 6533
    report = "report" in content or "delivery-status" in content
    report = report or not fields.keys().isdisjoint(REPORT_FIELDS)
    machine = machine or report
    if _NULL_PATH_RE.fullmatch(first.get("return-path", "-")):
        machine = True  # the null reverse path (RFC 5321 §4.5.5)
    date = first.get("date")
    return FirstLook(
        message_id=normalize_message_id(first.get("message-id")),
        from_addr=from_addr,
        date=parse_date(date) if date is not None else None,
        in_reply_to=message_ids(first.get("in-reply-to")),
        references=message_ids(" ".join(fields["references"])) if "references" in fields else (),
        is_list_mail=not fields.keys().isdisjoint(_LIST_FIELDS) or precedence in _BULK,
        machine=machine,
        bounce_sign=report or named,
        maybe_command=("[" in decoded or "=?" in decoded) and find_token(decoded) is not None,
        bounce_subject=is_bounce_subject(decoded),
        delivery_system=delivery_system,
    )


@lru_cache(maxsize=_SENDER_CACHE)
def _sender(value: str) -> tuple[str | None, bool, bool]:
    """The From address as parse_inbound reads it, whether it is a delivery system as
    the judgement tests it, and whether the field names one as the bounce rules test
    it: address parsing is the dearest part of a look, and a big folder's mail comes
    from few senders."""
    found = address(value)
    return found, is_delivery_system(found), names_delivery_system(value)
