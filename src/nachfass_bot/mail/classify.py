"""Is a mail a human's answer, an automatic reply or a bounce — and when is the sender back?

Neither an auto-reply nor a bounce counts as the client's answer (docs/DESIGN.md, "What
stops the escalation"). Every question here is answered by an ordered tuple of small rule
functions, first verdict wins, like the one-detector-per-format design of flufl.bounce:

* :func:`is_auto_reply_headers` looks at header fields only (those in
  :data:`nachfass_bot.mail.inbound.HEADER_FIELDS`), so it works on a header-only IMAP fetch:
  RFC 3834 ``Auto-Submitted`` and vendor fields. Its bounce counterpart,
  :func:`nachfass_bot.mail.bounces.is_bounce_headers`, is re-exported here.
* :func:`classify_message` reads the whole message: :data:`MESSAGE_RULES`, in order,
  are bounces (the RFC 3464 ``message/delivery-status`` part first, then non-standard
  bounces; both read by :mod:`nachfass_bot.mail.bounces`), read receipts, list mail,
  auto-reply header fields, and — as the last and weakest evidence — a short
  out-of-office text.
* The return date of an out-of-office text comes from
  :func:`nachfass_bot.mail.returndate.find_return_date` (re-exported here), what counts as
  quoted text from :func:`nachfass_bot.mail.quotes.split_quote`.

``X-Auto-Response-Suppress`` is deliberately ignored: it is a *request* not to
auto-reply, sent by real people's Outlook, not a sign of an auto-reply.

Everything here is pure: bytes or text in, values out, no clock (the caller passes the
day the mail was written) and no exception on malformed input — a broken mail must not
stop the poll loop. When in doubt the verdict is :attr:`MailKind.HUMAN`: never chase
someone who answered.
"""

from __future__ import annotations

import codecs
import enum
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from email import message_from_bytes
from email.header import decode_header
from email.message import Message
from functools import cached_property

from nachfass_bot.mail.bounces import (
    BOUNCE_RULES,
    Bounce,
    RecipientStatus,
    bounce_from_notice,
    bounce_from_statuses,
    confirmed_delivery,
    content_type,
    delivery_statuses,
    field_keyword,
    field_value,
    is_bounce_headers,
    may_be_bounce_notice,
)
from nachfass_bot.mail.headers import decode_words, plain_text
from nachfass_bot.mail.quotes import split_quote
from nachfass_bot.mail.returndate import find_return_date

__all__ = [
    "AUTO_REPLY_RULES",
    "BOUNCE_RULES",
    "MESSAGE_RULES",
    "VENDOR_AUTO_REPLY_FIELDS",
    "Classification",
    "MailKind",
    "classify_message",
    "find_return_date",
    "is_auto_reply_headers",
    "is_auto_reply_subject",
    "is_bounce_headers",
    "is_list_mail",
]

# A header rule that names the evidence it found ("Auto-Submitted: auto-replied").
Evidence = Callable[[Message], str | None]


class MailKind(enum.StrEnum):
    """What a mail in a watched folder is, as far as the escalation cares."""

    HUMAN = "human"
    AUTO_REPLY = "auto-reply"
    BOUNCE_PERMANENT = "bounce-permanent"
    BOUNCE_DELAY = "bounce-delay"
    BULK = "bulk"  # a newsletter or list mail: never an answer, never an auto-reply


@dataclass(frozen=True)
class Classification:
    """The verdict on one mail.

    ``reason`` is short German text for the owner's event log ("" for a human answer).
    ``return_date`` (auto-replies only) is the first day the sender is back, or None.
    ``failed_recipients`` (bounces only) are the lower-cased addresses the report is
    about; they may include addresses from a quoted original, so the caller trusts only
    addresses of its own threads.
    """

    kind: MailKind
    reason: str
    return_date: date | None = None
    failed_recipients: tuple[str, ...] = ()


_HUMAN = Classification(MailKind.HUMAN, "")

# Values that vendor headers such as ``X-Autoreply`` use to say "not an auto-reply".
_NEGATIVE_VALUES = frozenset({"no", "false", "0", "off"})

_PRECEDENCE_MACHINE = frozenset({"auto_reply", "bulk", "junk"})

VENDOR_AUTO_REPLY_FIELDS = ("X-Autoreply", "X-Autorespond", "X-AutoReply-From", "X-Mail-Autoreply")

# Subjects that German and English out-of-office replies start with (Exchange, Outlook,
# Gmail, IONOS, Strato, Apple Mail). Anchored at the start: a human's "AW: ..." never hits.
_AUTO_REPLY_SUBJECT_RE = re.compile(
    r"^\s*(?:abwesenheitsnotiz|automatische\s+antwort|automatic\s+reply|out\s+of\s+(?:the\s+)?office"
    r"|auto[-\s]?reply|auto[-\s]?response|autoantwort|abwesend)\b",
    re.IGNORECASE,
)


# --- auto-reply header rules -----------------------------------------------------------


def _auto_submitted(msg: Message) -> str | None:
    """RFC 3834 §5: any ``Auto-Submitted`` value other than ``no`` marks machine mail."""
    keyword = field_keyword(field_value(msg, "Auto-Submitted"))
    return f"Auto-Submitted: {keyword}" if keyword and keyword != "no" else None


def _vendor_auto_reply(msg: Message) -> str | None:
    """``X-Autoreply``, ``X-Autorespond``, ``X-AutoReply-From``, ``X-Mail-Autoreply``."""
    for name in VENDOR_AUTO_REPLY_FIELDS:
        value = field_value(msg, name)
        keyword = field_keyword(value)
        if value is not None and keyword not in _NEGATIVE_VALUES:
            return f"{name}: {keyword}" if keyword else name
    return None


def _apple_vacation(msg: Message) -> str | None:
    """Apple's (iCloud) vacation responder sets ``X-Apple-Action: vacation``."""
    found = "vacation" in (field_value(msg, "X-Apple-Action") or "").lower()
    return "X-Apple-Action: vacation" if found else None


def _precedence(msg: Message) -> str | None:
    """``Precedence: auto_reply|bulk|junk`` (RFC 3834 §3.1.8 mentions the practice)."""
    keyword = field_keyword(field_value(msg, "Precedence"))
    return f"Precedence: {keyword}" if keyword in _PRECEDENCE_MACHINE else None


def _auto_reply_subject(msg: Message) -> str | None:
    """Subject starts with a typical out-of-office marker ("Abwesenheitsnotiz: …")."""
    return "Betreff" if is_auto_reply_subject(field_value(msg, "Subject") or "") else None


def is_auto_reply_subject(subject: str) -> bool:
    """Whether a raw Subject value (unfolded, stripped; RFC 2047 words decoded here)
    starts with an out-of-office marker."""
    if "=?" in subject:
        subject = _decoded_subject(subject)
    return bool(_AUTO_REPLY_SUBJECT_RE.match(subject))


def _read_receipt(msg: Message) -> str | None:
    """RFC 8098 read receipts ("Gelesen: …") are generated by a program, not written."""
    main, params = content_type(msg)
    found = main == "multipart/report" and params.get("report-type") == "disposition-notification"
    return "RFC 8098" if found else None


def _decoded_subject(value: str) -> str:
    """The subject with RFC 2047 encoded words decoded; the raw value on failure."""
    try:
        parts = decode_header(value)
    except (ValueError, LookupError, UnicodeError):  # HeaderParseError is a ValueError
        return value
    return "".join(
        chunk.decode(_charset_name(charset), "replace") if isinstance(chunk, bytes) else chunk
        for chunk, charset in parts
    )


def _charset_name(charset: str | None) -> str:
    """A codec Python knows for an RFC 2047 charset label; unknown labels → latin-1."""
    try:
        return codecs.lookup(charset or "ascii").name
    except (LookupError, UnicodeError, ValueError):  # garbage labels, surrogates included
        return "latin-1"


AUTO_REPLY_RULES: tuple[Evidence, ...] = (
    _auto_submitted,
    _vendor_auto_reply,
    _apple_vacation,
    _precedence,
    _auto_reply_subject,
    _read_receipt,
)


def _auto_reply_evidence(msg: Message) -> str | None:
    """The first auto-reply sign in the header fields, named for the event log."""
    for rule in AUTO_REPLY_RULES:
        evidence = rule(msg)
        if evidence is not None:
            return evidence
    return None


def is_auto_reply_headers(msg: Message) -> bool:
    """True when the header fields mark an automatic reply (RFC 3834).

    Signs, in order: ``Auto-Submitted`` other than ``no``; ``X-Autoreply``,
    ``X-Autorespond``, ``X-AutoReply-From``, ``X-Mail-Autoreply`` present (unless their
    value is a plain "no"); ``X-Apple-Action: vacation``; ``Precedence: auto_reply``,
    ``bulk`` or ``junk``; a subject starting with an out-of-office marker
    ("Abwesenheitsnotiz", "Automatische Antwort", "Out of Office", "Autoreply", …);
    an RFC 8098 read receipt. ``X-Auto-Response-Suppress`` alone is not a sign.
    """
    return _auto_reply_evidence(msg) is not None


# --- the whole message -----------------------------------------------------------------


class _Mail:
    """What the message rules look at, read once from the raw bytes; the text (``body``,
    ``quoted``) only when a rule asks for it: finding the quote is the dearest part, and
    most machine mail is settled by its header."""

    def __init__(self, raw: bytes, received: date, *, details: bool) -> None:
        self.raw = raw
        self.msg = _parse(raw)  # compat32 parse: what flufl.bounce expects
        self.subject = _subject(self.msg)  # decoded (RFC 2047)
        # RFC 3464 per-recipient blocks, if any
        self.statuses: tuple[RecipientStatus, ...] = delivery_statuses(self.msg)
        self.received = received
        self.details = details  # return date and wording of an auto-reply wanted
        if details:
            _ = self._text  # read at once, as every verdict with details reads it

    @cached_property
    def _text(self) -> tuple[str, bool]:
        try:
            return split_quote(plain_text(self.raw))
        except Exception as exc:  # as when it was read at once: a human's
            raise _UnreadableText from exc

    @property
    def body(self) -> str:
        """The text written above any quote of an earlier mail."""
        return self._text[0]

    @property
    def quoted(self) -> bool:
        """Whether the mail quotes an earlier mail."""
        return self._text[1]


MailRule = Callable[[_Mail], Classification | None]


def _parse(raw: bytes) -> Message:
    """The message (compat32, as flufl.bounce expects); an empty one if parsing fails."""
    try:
        return message_from_bytes(raw)
    except Exception:  # the parser is lenient, but "never raise" is our contract
        return Message()


def _subject(msg: Message) -> str:
    """The decoded subject (RFC 2047; raw 8-bit repaired), on one line."""
    return " ".join(decode_words(field_value(msg, "Subject") or "").split())


class _UnreadableText(Exception):
    """The text of a mail could not be read: the mail is a human's (classify_message)."""


def _read_mail(raw: bytes, received: date, *, details: bool = True) -> _Mail:
    """Parse once what every message rule needs; the text when first asked for."""
    return _Mail(raw, received, details=details)


# --- bounce verdicts -------------------------------------------------------------------

_BOUNCE_LABELS = {
    MailKind.BOUNCE_PERMANENT: "Unzustellbar",
    MailKind.BOUNCE_DELAY: "Zustellung verzögert",
}


def _delivery_status_verdict(mail: _Mail) -> Classification | None:
    """RFC 3464 §2.3 (:func:`~nachfass_bot.mail.bounces.bounce_from_statuses`).

    A report that only says ``delivered``/``relayed``/``expanded`` (a success DSN) is
    no answer either; it is filed as an automatic reply without a return date.
    """
    bounce = bounce_from_statuses(mail.statuses)
    if bounce is not None:
        return _bounce_verdict(bounce)
    action = confirmed_delivery(mail.statuses)
    if action is None:
        return None
    return Classification(MailKind.AUTO_REPLY, f"Zustellbestätigung ({action})")


def _bounce_text_verdict(mail: _Mail) -> Classification | None:
    """Non-standard bounces (:func:`~nachfass_bot.mail.bounces.bounce_from_notice`)."""
    if not may_be_bounce_notice(mail.msg, mail.subject):
        return None  # decided by the header: the text need not be read
    bounce = bounce_from_notice(mail.msg, mail.subject, mail.body)
    return None if bounce is None else _bounce_verdict(bounce)


def _bounce_verdict(bounce: Bounce) -> Classification:
    """BOUNCE_PERMANENT or BOUNCE_DELAY, reason "Unzustellbar (5.1.1)" or the bare label."""
    kind = MailKind.BOUNCE_PERMANENT if bounce.permanent else MailKind.BOUNCE_DELAY
    label = _BOUNCE_LABELS[kind]
    reason = f"{label} ({bounce.status})" if bounce.status else label
    return Classification(kind, reason, failed_recipients=bounce.recipients)


# --- auto-reply verdicts ---------------------------------------------------------------

# Out-of-office phrases, German and English. Each is specific enough that a program's
# template is likelier than a person's sentence, but see _body_auto_reply_verdict.
_ABSENCE_PHRASES: tuple[re.Pattern[str], ...] = tuple(
    re.compile(pattern, re.IGNORECASE)
    for pattern in (
        r"\bnicht\s+im\s+(?:büro|buero|hause?|office)\b",
        r"\bau(?:ß|ss)er\s+haus(?:e)?\b",
        r"\b(?:nicht|nur\s+eingeschränkt|eingeschränkt|kaum)\s+erreichbar\b",
        r"\b(?:befinde\s+mich|bin)\b[^!?\n]{0,60}?\b(?:im|in|auf)\s+(?:dem\s+)?"
        r"(?:urlaub|elternzeit|mutterschutz|dienstreise|geschäftsreise)\b",
        r"\bwieder\s+(?:im\s+(?:büro|buero|hause?|office)|erreichbar|für\s+(?:sie|dich|euch)\s+da)",
        r"\b(?:ab|am)\b[^!?\n]{0,40}?\bwieder\s+(?:da|zurück)\b",
        r"\b(?:nachricht|e-?mail|mail)\s+wird\b[^!?\n]{0,40}?"
        r"\bnicht\s+(?:weitergeleitet|gelesen|bearbeitet)\b",
        r"\bwährend\s+meiner\s+abwesenheit\b",
        r"\b(?:bin|sind|befinde\s+mich)\b[^!?\n]{0,60}?\babwesend\b",
        r"\bout\s+of\s+(?:the\s+)?office\b",
        r"\b(?:i\s+will|i'll|i\s+shall)\s+be\s+back\s+(?:in\s+the\s+office\s+)?(?:on|from)\b",
        r"\blimited\s+access\s+to\s+(?:my\s+)?e-?mails?\b",
        r"\b(?:i\s+am|i'm)\s+(?:currently\s+)?(?:away|on\s+(?:annual\s+|parental\s+)?"
        r"(?:leave|vacation|holiday))\b",
        r"\bwill\s+not\s+be\s+(?:forwarded|read)\b",
    )
)
# A person answering, not a template: consent, a decision, our business objects.
_HUMAN_ANSWER_RE = re.compile(
    r"\baber\s+ja\b|(?:^|[\s,.])(?:ja|nein|yes)\s*[,!]|\bwir\s+machen\s+das\b|\bmachen\s+wir\b"
    r"|\beinverstanden\b|\bpasst\s+(?:so|gut)\b|\bklingt\s+gut\b|\bsieht\s+gut\s+aus\b"
    r"|\bfreigegeben\b|\büberweise\b|\büberweisen\s+wir\b|\bbezahlt\b"
    r"|\b(?:ihr|dein|das|die|den|ihre|deine|ihren|deinen)\s+(?:angebot|rechnung|entwurf"
    r"|entwürfe|unterlagen|auftrag|vertrag|kostenvoranschlag)\b"
    r"|\bsounds\s+good\b|\bgo\s+ahead\b|\bagreed\b|\blet'?s\s+do\b|\byour\s+(?:offer|invoice)\b",
    re.IGNORECASE,
)
# Subjects that name an absence but need the body's word for it ("Urlaub" is also what a
# client writes about a date). Used to lift the length limit, never alone.
_VACATION_SUBJECT_RE = re.compile(
    r"^\s*(?:urlaub|im\s+urlaub|vacation|on\s+vacation|on\s+leave|away)\b", re.IGNORECASE
)
# A subject that carries the absence itself ("Abwesend bis 23.01."), not our subject.
_ABSENCE_SUBJECT_RE = re.compile(
    r"^\s*(?:abwesend|urlaub|im\s+urlaub|out\s+of\s+(?:the\s+)?office|ooo|abwesenheit)\b[^:]*$",
    re.IGNORECASE,
)
_OUT_OF_OFFICE_SUBJECT_RE = re.compile(
    r"^\s*(?:abwesenheitsnotiz|abwesend|urlaub|im\s+urlaub|out\s+of\s+(?:the\s+)?office)",
    re.IGNORECASE,
)
# Sentences that programs write and people do not.
_MACHINE_TEXT_RE = re.compile(
    r"(?:automatische\s+antwort|automatisch\s+(?:erstellt|generiert|versandt|versendet)"
    r"|(?:nachricht|e-?mail|mail)\s+wird\s+nicht\s+weitergeleitet"
    r"|this\s+is\s+an\s+auto(?:matic|mated)(?:ally\s+generated)?\s+(?:reply|response|message)"
    r"|(?:message|e-?mail)\s+will\s+not\s+be\s+forwarded)",
    re.IGNORECASE,
)
_MAX_OOF_WORDS = 120  # a longer text is a person's letter, or a company's, not a note
_MAX_OOF_LINES = 10  # the phrase must open the text, as in every template


def _read_receipt_verdict(mail: _Mail) -> Classification | None:
    """RFC 8098 disposition notifications ("Gelesen: …") are machine mail."""
    if _read_receipt(mail.msg) is None:
        return None
    return Classification(MailKind.AUTO_REPLY, "Lesebestätigung (RFC 8098)")


def is_list_mail(msg: Message) -> bool:
    """A newsletter or mailing-list mail (RFC 2369 ``List-Unsubscribe``, RFC 2919
    ``List-Id``, ``Precedence: bulk|list|junk``) that no RFC 3834 auto-reply field marks.

    Gmail's vacation replies also say ``Precedence: bulk`` but carry ``Auto-Submitted``.
    """
    listed = (
        field_value(msg, "List-Id") is not None or field_value(msg, "List-Unsubscribe") is not None
    )
    bulk = field_keyword(field_value(msg, "Precedence")) in {"bulk", "list", "junk"}
    replied = any(rule(msg) for rule in (_auto_submitted, _vendor_auto_reply, _apple_vacation))
    return (listed or bulk) and not replied and not _auto_reply_subject(msg)


def _bulk_verdict(mail: _Mail) -> Classification | None:
    """Mass mail: even from a client's company domain it answers nothing."""
    return Classification(MailKind.BULK, "Rundmail") if is_list_mail(mail.msg) else None


def _header_auto_reply_verdict(mail: _Mail) -> Classification | None:
    """RFC 3834 ``Auto-Submitted``, vendor fields, ``Precedence`` or an OOF subject."""
    evidence = _auto_reply_evidence(mail.msg)
    return None if evidence is None else _auto_reply(mail, evidence)


def _body_auto_reply_verdict(mail: _Mail) -> Classification | None:
    """An out-of-office text whose only header sign is a vacation subject ("Urlaub …").

    Trade-off: a person may write "ich bin bis Freitag nicht im Büro, aber ja, wir machen
    das" — an answer that must stop the escalation. The text alone therefore never makes
    an auto-reply: it needs a subject such as "Urlaub" or "Vacation" or a sentence only a
    program writes ("Ihre Nachricht wird nicht weitergeleitet"), the phrase among the
    first lines, a short text (under 120 words unless the subject names the vacation), no
    quote of an earlier mail and no phrase of consent or of our business
    objects ("Ihr Angebot", "einverstanden", "ja,"). Some real auto-replies become HUMAN
    this way: a wrong "answered" costs the owner one look; a wrong "auto-reply" chases a
    client who answered.
    """
    vacation_subject = bool(_VACATION_SUBJECT_RE.match(mail.subject))
    if not (vacation_subject or _MACHINE_TEXT_RE.search(mail.body)):
        return None
    if mail.quoted or _HUMAN_ANSWER_RE.search(mail.body):
        return None
    if not vacation_subject and _word_count(_without_signature(mail.body)) >= _MAX_OOF_WORDS:
        return None
    opening = "\n".join(line for line in mail.body.splitlines() if line.strip())
    opening = "\n".join(opening.splitlines()[:_MAX_OOF_LINES])
    return _auto_reply(mail, "Text") if _has_absence_phrase(opening) else None


def _auto_reply(mail: _Mail, evidence: str) -> Classification:
    """An AUTO_REPLY verdict with its return date and a German reason; without
    ``details`` only the kind, with a reason that names the evidence."""
    if not mail.details:
        return Classification(MailKind.AUTO_REPLY, f"Automatische Antwort ({evidence})")
    back = find_return_date(mail.body, received=mail.received)
    if back is None and _ABSENCE_SUBJECT_RE.match(mail.subject):
        back = find_return_date(mail.subject, received=mail.received)
    absent = (
        back is not None
        or _has_absence_phrase(mail.body)
        or bool(_OUT_OF_OFFICE_SUBJECT_RE.match(mail.subject))
    )
    label = "Abwesenheitsnotiz" if absent else "Automatische Antwort"
    return Classification(MailKind.AUTO_REPLY, f"{label} ({evidence})", return_date=back)


def _has_absence_phrase(text: str) -> bool:
    """Any out-of-office phrase, German or English (lines joined: templates wrap)."""
    flat = " ".join(text.split())
    return any(phrase.search(flat) for phrase in _ABSENCE_PHRASES)


def _word_count(text: str) -> int:
    return len(re.findall(r"\w+", text))


def _without_signature(text: str) -> str:
    """The text above the signature separator "-- " (RFC 3676 §4.3)."""
    return re.split(r"^-- ?$", text, maxsplit=1, flags=re.MULTILINE)[0]


# --- the message rules -----------------------------------------------------------------

MESSAGE_RULES: tuple[MailRule, ...] = (
    _delivery_status_verdict,
    _bounce_text_verdict,
    _read_receipt_verdict,
    _bulk_verdict,
    _header_auto_reply_verdict,
    _body_auto_reply_verdict,
)


def classify_message(raw: bytes, *, received: date, details: bool = True) -> Classification:
    """Classify a whole message (headers and body) as human answer, auto-reply or bounce.

    ``received`` is the day the mail was written (its Date); it resolves years in return
    dates. Rules in order, first verdict wins (:data:`MESSAGE_RULES`):

    1. Bounces. An RFC 3464 ``message/delivery-status`` part is read per recipient:
       ``Action: failed`` or ``Status: 5.x.x`` → BOUNCE_PERMANENT with those recipients,
       else ``delayed``/4.x.x → BOUNCE_DELAY. Without one, a mail that looks like a
       bounce (mailer-daemon sender, ``X-Failed-Recipients``, typical subjects) is read
       by flufl.bounce, then by its text; it stays a bounce even with no address found.
    2. Read receipts (RFC 8098) and success DSNs: AUTO_REPLY without a return date.
    3. Auto-replies by header (RFC 3834 ``Auto-Submitted`` ≠ ``no``, vendor fields,
       ``Precedence``, an out-of-office subject), then by a short out-of-office text;
       ``return_date`` from :func:`find_return_date`.
    4. Everything else, and anything that fails to parse: HUMAN with reason "".

    ``details=False``: the kind (and a bounce's recipients) only, for a mail that
    concerns no thread: an auto-reply's return date and wording are not looked for,
    which spares reading its text. The kind is the same either way.

    Never raises.
    """
    try:
        mail = _read_mail(raw, received, details=details)
    except Exception:  # a broken mail is a human's until proven otherwise
        return _HUMAN
    for rule in MESSAGE_RULES:
        try:
            verdict = rule(mail)
        except _UnreadableText:
            return _HUMAN  # a broken mail is a human's until proven otherwise
        except Exception:  # one confused rule must not cost the verdict of the others
            verdict = None
        if verdict is not None:
            return verdict
    return _HUMAN
