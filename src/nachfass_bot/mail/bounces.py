"""Is a mail a delivery failure — for good or for now, and for whom? Pure.

A bounce is never the client's answer (docs/DESIGN.md, "What stops the escalation");
:mod:`nachfass_bot.mail.classify` turns what this module finds into its verdict. Three ways
to tell, from the cheapest to the most guesswork:

* :func:`is_bounce_headers` looks at header fields only (:data:`BOUNCE_RULES`), so it
  works on a header-only IMAP fetch: an RFC 3464 ``multipart/report``, Exim's
  ``X-Failed-Recipients``, MDaemon's ``X-MDDSN-Message``, a delivery-system sender with
  the null reverse path of RFC 5321 §4.5.5.
* :func:`is_delivery_system` tells from the From field alone that a mail comes from a
  mail system, not a person: ``MAILER-DAEMON``, ``postmaster`` (any case, any domain,
  whatever the display name) or MDaemon's system account. Such a mail is never a
  client's answer, even from the client's own company domain.
* :func:`delivery_statuses` reads the per-recipient blocks of RFC 3464
  ``message/delivery-status`` parts (and RFC 6533 ``message/global-delivery-status``);
  :func:`bounce_from_statuses` and :func:`confirmed_delivery` judge them.
* :func:`bounce_from_notice` reads non-standard bounces (Exim text, old Postfix, qmail,
  MDaemon, Trend Micro InterScan, Exchange, old Gmail): flufl.bounce's detectors find
  the addresses; failing them, the notice text decides permanent or delay and names the
  addresses.

:func:`field_value`, :func:`field_keyword` and :func:`content_type` are the forgiving
header readers that :mod:`nachfass_bot.mail.classify` shares. A null ``Return-Path: <>``
alone is no bounce sign: RFC 3834 §3.3 asks auto-replies to use it too.

Bytes-parsed messages and text in, plain values out; no exception on malformed input —
a broken mail must not stop the poll loop.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from email.message import Message

from flufl.bounce import all_failures

from nachfass_bot.mail.headers import addresses

__all__ = [
    "BOUNCE_RULES",
    "Bounce",
    "RecipientStatus",
    "bounce_from_notice",
    "bounce_from_statuses",
    "confirmed_delivery",
    "content_type",
    "delivery_statuses",
    "field_keyword",
    "field_value",
    "is_bounce_headers",
    "is_bounce_subject",
    "is_delivery_system",
    "may_be_bounce_notice",
]

Rule = Callable[[Message], bool]


@dataclass(frozen=True)
class Bounce:
    """A delivery failure report.

    ``permanent`` is False for a delay. ``status`` is the RFC 3463 enhanced status code
    of that class ("5.1.1", "4.4.1") or "". ``recipients`` are the lower-cased addresses
    the report is about; they may include addresses from a quoted original, so the
    caller trusts only addresses it wrote to.
    """

    permanent: bool
    status: str
    recipients: tuple[str, ...]


# Local parts of senders that are mail systems, not people (RFC 5321 §4.5.1 postmaster,
# the MAILER-DAEMON of sendmail, Postfix, Exim and qmail, and MDaemon's system account,
# which signs its delivery notices "MDaemon@DOMAIN" with the company's own domain).
_MACHINE_SENDERS = frozenset({"mailer-daemon", "mailerdaemon", "postmaster", "mdaemon"})
_ADDRESS_RE = re.compile(r"[\w.!#$%&'*+/=?^`{|}~-]+@[\w-]+(?:\.[\w-]+)+")
_ENHANCED_STATUS_RE = re.compile(r"(?<![\d.])([245])\.(\d{1,3})\.(\d{1,3})(?![\d.])")
_DSN_TYPES = frozenset({"message/delivery-status", "message/global-delivery-status"})
# "Message-ID: <…>" (or In-Reply-To/References) quoted in a notice's text.
_MESSAGE_ID_FIELD_RE = re.compile(
    r"\b(?:message-id|in-reply-to|references)\s*:\s*(?:<[^<>\s]*>\s*)+", re.IGNORECASE
)


# --- forgiving header readers ----------------------------------------------------------


def field_value(msg: Message, name: str) -> str | None:
    """The first raw value of a header field, unfolded (RFC 5322 §2.2.3), or None.

    Reads ``raw_items()`` so that no header parser of the email package can raise on
    garbage; classification only needs plain ASCII keywords.
    """
    wanted = name.lower()
    try:
        items = list(msg.raw_items())
    except Exception:  # a broken message object must not stop the poll loop
        return None
    for key, value in items:
        if key.lower() == wanted:
            return re.sub(r"\r?\n(?=[ \t])", "", str(value)).strip()
    return None


def field_keyword(value: str | None) -> str:
    """The first token of a field value, lower-cased, without comments or parameters.

    RFC 3834 §5 allows CFWS and parameters: ``Auto-Submitted: auto-replied (vacation)``.
    """
    if not value:
        return ""
    text = re.sub(r"\([^()]*\)", " ", value).split(";", 1)[0]
    words = text.strip().strip('"').split()
    return words[0].lower() if words else ""


def content_type(msg: Message) -> tuple[str, dict[str, str]]:
    """``(type/subtype, {param: value})`` of the Content-Type field, lower-cased."""
    value = field_value(msg, "Content-Type") or ""
    main, _, rest = value.partition(";")
    params: dict[str, str] = {}
    for match in re.finditer(r'([\w-]+)\s*=\s*("[^"]*"|[^;\s]+)', rest):
        params[match.group(1).lower()] = match.group(2).strip('"').lower()
    return main.strip().lower(), params


# --- header rules ----------------------------------------------------------------------


def _delivery_status_report(msg: Message) -> bool:
    """RFC 3464 DSN: ``multipart/report; report-type=delivery-status``."""
    main, params = content_type(msg)
    return main == "multipart/report" and params.get("report-type") == "delivery-status"


def _failed_recipients(msg: Message) -> bool:
    """Exim's non-standard bounces carry ``X-Failed-Recipients``."""
    return bool(field_value(msg, "X-Failed-Recipients"))


def _mdaemon_report(msg: Message) -> bool:
    """MDaemon marks its delivery status notices ``X-MDDSN-Message: Yes``."""
    return field_keyword(field_value(msg, "X-MDDSN-Message")) == "yes"


def _mailer_daemon(msg: Message) -> bool:
    """From a delivery system (:func:`is_delivery_system`) with the null reverse path.

    RFC 5321 §4.5.5 requires the null reverse path ``<>`` for delivery notifications; it
    shows up as ``Return-Path: <>`` after final delivery.
    """
    if not is_delivery_system(field_value(msg, "From")):
        return False
    return re.sub(r"\s", "", field_value(msg, "Return-Path") or "") == "<>"


# Fields only a delivery report carries; the sender rule below is weaker (RFC 3834 asks
# auto-replies for the null reverse path too), so bounce_from_notice wants text for it.
_REPORT_RULES: tuple[Rule, ...] = (_delivery_status_report, _failed_recipients, _mdaemon_report)
BOUNCE_RULES: tuple[Rule, ...] = (*_REPORT_RULES, _mailer_daemon)


def is_bounce_headers(msg: Message) -> bool:
    """True when the header fields mark a delivery failure (RFC 3464, RFC 5321 §4.5.5).

    Signs: ``Content-Type: multipart/report; report-type=delivery-status``;
    ``X-Failed-Recipients`` (Exim); ``X-MDDSN-Message: Yes`` (MDaemon); or a delivery-
    system sender (:func:`is_delivery_system`) with ``Return-Path: <>``. A bounce is
    never an answer.
    """
    return any(rule(msg) for rule in BOUNCE_RULES)


def is_delivery_system(from_value: str | None) -> bool:
    """True when a From field names a mail system, never a person who could answer.

    The local part decides, in any case and at any domain, with or without a display
    name ("Mail Delivery System" <MAILER-DAEMON@…>, "Mail Delivery Subsystem"
    <mailer-daemon@…>, POSTMASTER@…): ``MAILER-DAEMON`` (sendmail, Postfix, Exim, qmail),
    ``postmaster`` (RFC 5321 §4.5.1) and ``MDaemon`` (MDaemon's system account, which
    sends its notices from the company's own domain). A bare ``MAILER-DAEMON`` without
    a domain counts too. Accepts a raw field value or a bare address.
    """
    if not from_value:
        return False
    local_parts = [found.rpartition("@")[0] for found in addresses(from_value)]
    if not local_parts:
        local_parts = [from_value.strip().strip('<>"').lower()]
    return any(part in _MACHINE_SENDERS for part in local_parts)


# --- RFC 3464 delivery-status parts ----------------------------------------------------


@dataclass(frozen=True)
class RecipientStatus:
    """One per-recipient block of an RFC 3464 ``message/delivery-status`` part (§2.3)."""

    addresses: tuple[str, ...]  # Original-Recipient first, then Final-Recipient
    action: str  # failed | delayed | delivered | relayed | expanded (lower-cased)
    status: str  # "5.1.1", or "" when missing or malformed

    @property
    def permanent(self) -> bool:
        """RFC 3464 §2.3.3 ``failed`` (opensmtpd says ``error``) or a 5.x.x status."""
        return self.action in {"failed", "error"} or self.status.startswith("5")

    @property
    def delayed(self) -> bool:
        """RFC 3464 §2.3.3 ``delayed`` or a 4.x.x status (RFC 3463 persistent transient)."""
        return self.action == "delayed" or self.status.startswith("4")

    @property
    def delivered(self) -> bool:
        """A success report: ``delivered``, ``relayed``, ``expanded`` or a 2.x.x status."""
        return self.action in {"delivered", "relayed", "expanded"} or self.status.startswith("2")


def delivery_statuses(msg: Message) -> tuple[RecipientStatus, ...]:
    """The per-recipient blocks of all ``message/delivery-status`` parts (RFC 3464 §2.1).

    Empty when there is no such part or it cannot be read.
    """
    found: list[RecipientStatus] = []
    try:
        for part in msg.walk():
            if part.get_content_type() in _DSN_TYPES:
                found.extend(filter(None, map(_recipient_status, _status_blocks(part))))
    except Exception:  # a mangled report part: the text rules still see a bounce
        return ()
    return tuple(found)


def _status_blocks(part: Message) -> Iterator[dict[str, str]]:
    """The field blocks of a delivery-status part, lower-cased names → unfolded values.

    The email package parses ``message/delivery-status`` into one sub-message per block;
    ``message/global-delivery-status`` (RFC 6533), a base64 body or a parser hiccup can
    leave blocks as body text instead, so both are read.
    """
    payload = part.get_payload()
    if isinstance(payload, list):
        for block in payload:
            if isinstance(block, Message):
                yield {key.lower(): " ".join(str(value).split()) for key, value in block.items()}
                yield from _text_blocks(_payload_text(block))
    else:
        yield from _text_blocks(_payload_text(part))


def _payload_text(part: Message) -> str:
    """A leaf part's body as text, transfer encoding undone; "" for containers."""
    if part.is_multipart():
        return ""
    data = part.get_payload(decode=True)
    return data.decode("utf-8", "replace") if isinstance(data, bytes) else ""


def _text_blocks(text: str) -> Iterator[dict[str, str]]:
    """``Name: value`` blocks separated by blank lines, continuation lines unfolded."""
    for chunk in re.split(r"\r?\n[ \t]*\r?\n", text):
        unfolded = re.sub(r"\r?\n[ \t]+", " ", chunk)
        fields: dict[str, str] = {}
        for line in unfolded.splitlines():
            name, colon, value = line.partition(":")
            if colon and re.fullmatch(r"[A-Za-z][\w-]*", name.strip()):
                fields.setdefault(name.strip().lower(), " ".join(value.split()))
        if fields:
            yield fields


def _recipient_status(fields: dict[str, str]) -> RecipientStatus | None:
    """One per-recipient block (RFC 3464 §2.3), None for the per-message block."""
    recipients = " ".join(
        fields.get(name, "") for name in ("original-recipient", "final-recipient")
    )
    action = field_keyword(fields.get("action"))
    if not recipients.strip() and not action:
        return None
    code = _ENHANCED_STATUS_RE.match(fields.get("status", "").strip())
    return RecipientStatus(
        addresses=tuple(
            dict.fromkeys(a.strip("'.").lower() for a in _ADDRESS_RE.findall(recipients))
        ),
        action=action,
        status=".".join(code.groups()) if code else "",
    )


def bounce_from_statuses(statuses: Sequence[RecipientStatus]) -> Bounce | None:
    """RFC 3464 §2.3: ``failed`` or 5.x.x anywhere → permanent; else ``delayed``/4.x.x.

    The bounce names the addresses of those blocks and their first status code; None
    when no block reports a failure or a delay.
    """
    failed = [status for status in statuses if status.permanent]
    if failed:
        return _bounce_from_blocks(True, failed)
    delayed = [status for status in statuses if status.delayed]
    if delayed:
        return _bounce_from_blocks(False, delayed)
    return None


def _bounce_from_blocks(permanent: bool, statuses: list[RecipientStatus]) -> Bounce:
    """A bounce from per-recipient blocks: their addresses and first status."""
    recipients = tuple(dict.fromkeys(a for status in statuses for a in status.addresses))
    code = next((status.status for status in statuses if status.status), "")
    return Bounce(permanent, code, recipients)


def confirmed_delivery(statuses: Sequence[RecipientStatus]) -> str | None:
    """The action of a success report (RFC 3464 §2.3.3), e.g. ``delivered``; else None.

    Only when there are blocks and every one reports ``delivered``, ``relayed``,
    ``expanded`` or 2.x.x, none a failure or a delay.
    """
    if not statuses or bounce_from_statuses(statuses) is not None:
        return None
    if not all(status.delivered for status in statuses):
        return None
    return statuses[0].action or "delivered"


# --- non-standard bounces --------------------------------------------------------------

# Subjects of bounces (Postfix, Exim, Exchange/Office 365, Gmail, qmail, Sendmail, MDaemon,
# Trend Micro InterScan, German providers). Anchored at the start (is_bounce_subject).
_BOUNCE_SUBJECT_RE = re.compile(
    r"^\s*(?:undelivered\s+mail|undeliver(?:able|ed)\b|mail\s+delivery\s+(?:failed|failure)"
    r"|delivery\s+status\s+notification|delivery\s+(?:failure|delayed|notification)"
    r"|returned\s+mail|failure\s+notice|delayed\s+mail|warning:\s+message\s+\S+\s+delayed"
    r"|permanent\s+delivery\s+failure|mail\s+could\s+not\s+be\s+delivered"
    r"|unzustellbar|nicht\s+zustellbar|nicht\s+zugestellt|zustellung\s+verzögert"
    r"|fehler\s+bei\s+der\s+zustellung|message\s+not\s+delivered)",
    re.IGNORECASE,
)
_MACHINE_SENDER_RE = re.compile(
    r"(?:^|[\s<\"(])(?:mailer-daemon|mailerdaemon|postmaster)(?:@|[\s>\")]|$)"
    r"|mail\s+delivery\s+(?:subsystem|system)",
    re.IGNORECASE,
)
# Words that settle "permanent" before anything else ("This is a permanent error.").
_PERMANENT_WORDS_RE = re.compile(
    r"\bpermanent(?:ly)?\b|\bdauerhaft\b|\bendgültig\b|\bgave\s+up\b", re.IGNORECASE
)
# Delay warnings (Postfix, Exim, Gmail, Exchange), some of which also say "could not be
# delivered … for 4 hours", so they are checked before the generic failure words.
_DELAY_WORDS_RE = re.compile(
    r"warning\s+only|will\s+be\s+retried|still\s+being\s+retried|will\s+continue"
    r"|not\s+yet\s+been\s+delivered|has\s+been\s+delayed|\bdelay(?:ed)?\b|\btemporar"
    r"|verzögert|noch\s+nicht\s+zugestellt|weiterhin\s+versucht|erneut\s+versucht"
    r"|vorübergehend",
    re.IGNORECASE,
)
_FAILURE_WORDS_RE = re.compile(
    r"could\s+not\s+be\s+delivered|couldn't\s+be\s+delivered|wasn't\s+delivered"
    r"|was\s+not\s+delivered|undeliverable|delivery\s+(?:has\s+)?failed|\bfailure\b"
    r"|user\s+unknown|unknown\s+user|does\s+not\s+exist|address\s+rejected"
    r"|unzustellbar|nicht\s+zugestellt|nicht\s+zustellbar|existiert\s+nicht"
    r"|nicht\s+erreicht|konnte\s+nicht\s+übermittelt",
    re.IGNORECASE,
)


def bounce_from_notice(msg: Message, subject: str, body: str) -> Bounce | None:
    """A non-standard bounce (Exim text, old Postfix, qmail, MDaemon, InterScan, Exchange,
    old Gmail), or None.

    ``subject`` is the decoded subject, ``body`` the text above any quote. Only a mail
    that looks like a bounce counts: report fields (RFC 3464 ``multipart/report``,
    ``X-Failed-Recipients``, ``X-MDDSN-Message``), a bounce subject, or a delivery-system
    sender (:func:`is_delivery_system`, or a "Mail Delivery System" display name) whose
    mail reads like one. flufl.bounce's detectors find the addresses; without them the
    notice text decides permanent or delay and the addresses it names are taken
    (possibly none).

    A delivery-system sender alone, even with ``Return-Path: <>``, is not enough: a
    postmaster's note with no failure report in it (no detector hit, no status code, no
    failure or delay wording) is no bounce — and, by :func:`is_delivery_system`, no
    answer either.
    """
    if not may_be_bounce_notice(msg, subject):
        return None
    signed = _signed(msg, subject)
    temporary, permanent = _library_failures(msg)
    text = f"{subject}\n{body}"
    if not (signed or temporary or permanent or _reads_like_bounce(text)):
        return None
    if permanent:
        is_permanent, recipients = True, permanent
    elif temporary:
        is_permanent, recipients = False, temporary
    else:
        is_permanent, recipients = _permanent_from_text(text), _addresses_in_notice(msg, body)
    return Bounce(is_permanent, _status_code_in(text, is_permanent), recipients)


def may_be_bounce_notice(msg: Message, subject: str) -> bool:
    """Whether :func:`bounce_from_notice` may find a bounce at all, by header only: report
    fields, a bounce subject or a delivery-system sender. Its text is read only then."""
    return _signed(msg, subject) or _sent_by_delivery_system(msg)


def _signed(msg: Message, subject: str) -> bool:
    return any(rule(msg) for rule in _REPORT_RULES) or is_bounce_subject(subject)


def is_bounce_subject(subject: str) -> bool:
    """A subject that bounces start with ("Undelivered Mail …", "failure notice",
    "Permanent Delivery Failure", "Mail could not be delivered", "Unzustellbar: …").

    Anchored at the start: "AW: Unzustellbar: …" is a person forwarding one.
    """
    return bool(_BOUNCE_SUBJECT_RE.match(subject))


def _sent_by_delivery_system(msg: Message) -> bool:
    return names_delivery_system(field_value(msg, "From"))


def names_delivery_system(from_value: str | None) -> bool:
    """A From field of MAILER-DAEMON, postmaster or MDaemon (:func:`is_delivery_system`),
    or one that names a mail system ("Mail Delivery System" <bounces@…>): what a bounce
    notice's sender may look like (:func:`may_be_bounce_notice`)."""
    return is_delivery_system(from_value) or bool(_MACHINE_SENDER_RE.search(from_value or ""))


def _reads_like_bounce(text: str) -> bool:
    """Failure or delay wording, or an RFC 3463 enhanced status code, in the notice."""
    return any(
        pattern.search(text)
        for pattern in (
            _PERMANENT_WORDS_RE,
            _DELAY_WORDS_RE,
            _FAILURE_WORDS_RE,
            _ENHANCED_STATUS_RE,
        )
    )


def _status_code_in(text: str, permanent: bool) -> str:
    """The first RFC 3463 enhanced status code of the verdict's class (5.x.x or 4.x.x)."""
    wanted = "5" if permanent else "4"
    codes = (m for m in _ENHANCED_STATUS_RE.finditer(text) if m.group(1) == wanted)
    return next((".".join(m.groups()) for m in codes), "")


def _library_failures(msg: Message) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """flufl.bounce's ``all_failures``: (temporary, permanent) addresses, lower-cased.

    A detector that raises on a strange message is treated as finding nothing.
    """
    try:
        temporary, permanent = all_failures(msg)
    except Exception:  # flufl.bounce re-raises its detectors' errors
        return (), ()
    return _decoded_addresses(temporary), _decoded_addresses(permanent)


def _decoded_addresses(found: frozenset[bytes]) -> tuple[str, ...]:
    """Bytes addresses from flufl.bounce as sorted, lower-cased, well-formed strings."""
    texts = (item.decode("ascii", "replace").strip().strip("<>").lower() for item in found)
    return tuple(sorted({text for text in texts if _ADDRESS_RE.fullmatch(text)}))


def _permanent_from_text(text: str) -> bool:
    """Permanent if the notice says so, else a delay (the gentler verdict)."""
    if _PERMANENT_WORDS_RE.search(text):
        return True
    if _DELAY_WORDS_RE.search(text):
        return False
    code = _ENHANCED_STATUS_RE.search(text)
    if code is not None:
        return code.group(1) == "5"
    return bool(_FAILURE_WORDS_RE.search(text))


def _addresses_in_notice(msg: Message, body: str) -> tuple[str, ...]:
    """Addresses the notice text names, without the sender's and our own.

    Message-IDs look like addresses; those a transcript names ("*  Message-ID: <…>",
    MDaemon) are left out.
    """
    known = {*addresses(field_value(msg, "From")), *addresses(field_value(msg, "To"))}
    text = _MESSAGE_ID_FIELD_RE.sub(" ", body)
    found = (a.strip("'.").lower() for a in _ADDRESS_RE.findall(text))
    return tuple(
        dict.fromkeys(
            a for a in found if a not in known and a.split("@")[0] not in _MACHINE_SENDERS
        )
    )
