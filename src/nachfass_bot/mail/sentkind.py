"""What a mail in the owner's Sent folder is: an offer, order documents, an invoice — or none.

docs/DESIGN.md, "What a sent mail is". Pure: the raw bytes of one sent mail and the
owner's settings in, a :class:`SentVerdict` out; nothing here raises on bad input.

Two ordered tuples of small rule functions, first verdict wins (like ``classify.py``):

* :data:`EXCLUSION_RULES` say why a mail is never tracked (the bot's own mail, list
  mail, a reply in a tracked thread, no recipient outside the owner's domains, mass mail);
* :data:`KIND_RULES` name the kind, strongest signal first (a tag of the tracking address,
  an e-invoice attachment, a PDF's file name, the subject, the first lines of the body).
"""

from __future__ import annotations

import email
import email.policy
import re
from collections.abc import Callable, Collection, Iterator
from dataclasses import dataclass
from email.message import Message

from nachfass_bot.domain.models import Kind
from nachfass_bot.mail.classify import is_list_mail
from nachfass_bot.mail.headers import (
    addresses,
    all_raw_headers,
    decode_words,
    message_ids,
    plain_text,
    raw_header,
)
from nachfass_bot.mail.invoice import embedded_xml
from nachfass_bot.mail.matching import FREEMAIL_DOMAINS
from nachfass_bot.mail.quotes import split_quote

__all__ = [
    "EXCLUSION_RULES",
    "KIND_NAMES",
    "KIND_RULES",
    "SentVerdict",
    "classify_sent",
]

_BODY_LINES = 12  # the opening of the owner's own text; offers say what they are up front
_MAX_DELAY_DAYS = 365
_EINVOICE_NAMES = ("factur-x.xml", "zugferd-invoice.xml", "xrechnung.xml", "zugferd.xml")
_XML_INVOICE_MARKERS = (b"CrossIndustryInvoice", b"urn:oasis:names:specification:ubl:schema")
_REPLY_SUBJECT_RE = re.compile(r"^\s*(?:re|aw|antw|wg|fw|fwd)\s*(?:\[\d+\])?\s*:", re.IGNORECASE)
_FORWARD_SUBJECT_RE = re.compile(r"^\s*(?:wg|fw|fwd|weitergeleitet)\s*:", re.IGNORECASE)
_BOT_TOKEN_RE = re.compile(r"\[\s*nf\s*-", re.IGNORECASE)
_TAG_SPLIT_RE = re.compile(r"[+\-._]")
_DELAY_TAG_RE = re.compile(r"^(\d{1,3})(?:tage?|t|d|days?)$")


@dataclass(frozen=True)
class SentVerdict:
    """One sent mail judged: ``kind`` None means "do not track".

    ``reason`` is one German line for the owner's notice and the event log; ``signals``
    names every sign found, strongest first, each with the kind it points to
    (``"rechnung: Anhang rechnung_2026-021.pdf"``); ``delay_days`` comes from a tag of the
    tracking address (``+10tage``); ``requested`` is True when the owner sent a copy to it.
    """

    kind: Kind | None
    reason: str
    signals: tuple[str, ...] = ()
    delay_days: int | None = None
    requested: bool = False


@dataclass(frozen=True)
class _Attachment:
    name: str  # lower-cased, RFC 2231/2047 decoded
    content_type: str
    payload: bytes


@dataclass(frozen=True)
class _Sent:
    """What the rules look at, read once from the raw bytes."""

    msg: Message
    subject: str
    opening: str  # the first lines of the owner's own text, lower-cased, joined
    recipients: tuple[str, ...]  # To + Cc + Bcc, lower-cased, no repeats
    outside: tuple[str, ...]  # recipients not the owner, the tracking address or a colleague
    references: tuple[str, ...]
    attachments: tuple[_Attachment, ...]
    tags: tuple[str, ...] | None  # the tracking address's tags; None: no copy to it


@dataclass(frozen=True)
class _Settings:
    owner_email: str
    owner_domains: frozenset[str]
    tracking_address: str
    max_recipients: int
    tracked_message_ids: frozenset[str]


Exclusion = Callable[[_Sent, _Settings], str | None]
KindRule = Callable[[_Sent], tuple[Kind, str] | None]


# --- reading the mail ------------------------------------------------------------------


def _domain(address: str) -> str:
    return address.rpartition("@")[2]


def _tracking_tags(recipient: str, tracking: str) -> tuple[str, ...] | None:
    """The tags of a recipient that is the tracking address (``+angebot``, ``-10tage``).

    ``anna+nachfass+rechnung@x.de`` and ``nachfass-rechnung@x.de`` name the address
    ``anna+nachfass@x.de`` or ``nachfass@x.de`` with one tag; None for other recipients.
    """
    local, _, domain = recipient.rpartition("@")
    base_local, _, base_domain = tracking.rpartition("@")
    if domain != base_domain or not base_local:
        return None
    if local == base_local:
        return ()
    if not local.startswith(base_local) or local[len(base_local)] not in "+-._":
        return None
    return tuple(tag for tag in _TAG_SPLIT_RE.split(local[len(base_local) + 1 :]) if tag)


def _attachments(msg: Message) -> Iterator[_Attachment]:
    for part in msg.walk():
        if part.is_multipart():
            continue
        name = part.get_filename() or ""
        content_type = part.get_content_type()
        if not name and part.get_content_maintype() == "text":
            continue  # the body itself
        try:
            payload = part.get_payload(decode=True)
        except Exception:  # broken base64: the name and type still count
            payload = None
        data = payload if isinstance(payload, bytes) else b""
        yield _Attachment(decode_words(name).lower(), content_type, data)


def _opening(raw: bytes) -> str:
    """The first non-empty lines the owner wrote above any quote, lower-cased, joined."""
    own, _quoted = split_quote(plain_text(raw))
    lines = [line.strip() for line in own.splitlines() if line.strip()]
    return " ".join(" ".join(lines[:_BODY_LINES]).lower().split())


def _read_sent(raw: bytes, settings: _Settings) -> _Sent:
    msg = email.message_from_bytes(raw, policy=email.policy.compat32)
    fields = [v for name in ("To", "Cc", "Bcc") for v in all_raw_headers(msg, name)]
    recipients = tuple(dict.fromkeys(a for value in fields for a in addresses(value)))
    tags: tuple[str, ...] | None = None
    outside = []
    for recipient in recipients:
        found = _tracking_tags(recipient, settings.tracking_address)
        if found is not None:
            tags = found if tags is None else (*tags, *found)
        elif recipient != settings.owner_email and (
            _domain(recipient) not in settings.owner_domains
        ):
            outside.append(recipient)
    references = (
        *message_ids(raw_header(msg, "In-Reply-To")),
        *message_ids(raw_header(msg, "References")),
    )
    return _Sent(
        msg=msg,
        subject=" ".join(decode_words(raw_header(msg, "Subject") or "").split()),
        opening=_opening(raw),
        recipients=recipients,
        outside=tuple(outside),
        references=references,
        attachments=tuple(_attachments(msg)),
        tags=tags,
    )


# --- why a mail is never tracked -------------------------------------------------------


def _bot_mail(sent: _Sent, settings: _Settings) -> str | None:
    """The bot's own mail: ``X-Nachfass``, the ``[NF-`` token, RFC 3834 machine mail."""
    if raw_header(sent.msg, "X-Nachfass") is not None:
        return "eigene Mail des Bots (X-Nachfass)"
    if _BOT_TOKEN_RE.search(sent.subject):
        return "eigene Mail des Bots ([NF-…] im Betreff)"
    submitted = (raw_header(sent.msg, "Auto-Submitted") or "").strip().lower()
    if submitted and not submitted.startswith("no"):
        return "automatisch erzeugte Mail (Auto-Submitted)"
    return None


def _list_mail(sent: _Sent, settings: _Settings) -> str | None:
    """RFC 2369/2919 list fields or ``Precedence: bulk|list``: a newsletter."""
    return "Rundmail oder Newsletter" if is_list_mail(sent.msg) else None


def _tracked_reply(sent: _Sent, settings: _Settings) -> str | None:
    """A reply inside a thread that is already tracked (In-Reply-To/References)."""
    if settings.tracked_message_ids.intersection(sent.references):
        return "Antwort in einem Vorgang, der schon verfolgt wird"
    return None


def _forward(sent: _Sent, settings: _Settings) -> str | None:
    """A forward ("WG:", "Fwd:") passes on someone else's mail, unless a copy asks to track."""
    if sent.tags is None and _FORWARD_SUBJECT_RE.match(sent.subject):
        return "weitergeleitete Mail"
    return None


def _no_outside_recipient(sent: _Sent, settings: _Settings) -> str | None:
    """Only the owner, the tracking address or colleagues at the owner's domains."""
    if sent.outside:
        return None
    own = (settings.owner_email, settings.tracking_address)
    if any(r not in own and _domain(r) in settings.owner_domains for r in sent.recipients):
        return "nur an Kolleginnen und Kollegen der eigenen Domain"
    return "an keinen Kunden (nur an sich selbst)"


def _mass_mail(sent: _Sent, settings: _Settings) -> str | None:
    """More people than ``max_recipients``: a mass mail, unless a copy asks to track it."""
    if sent.tags is not None:
        return None
    others = [r for r in sent.recipients if r != settings.owner_email]
    if len(others) > settings.max_recipients:
        return f"Massenmail an {len(others)} Empfänger"
    return None


EXCLUSION_RULES: tuple[Exclusion, ...] = (
    _list_mail,
    _bot_mail,
    _tracked_reply,
    _forward,
    _no_outside_recipient,
    _mass_mail,
)


# --- what kind it is -------------------------------------------------------------------

_TAG_KINDS = {
    "angebot": Kind.ANGEBOT,
    "kva": Kind.ANGEBOT,
    "auftrag": Kind.AUFTRAG,
    "rechnung": Kind.RECHNUNG,
}

_NAME_KINDS: tuple[tuple[Kind, re.Pattern[str]], ...] = (
    (
        Kind.RECHNUNG,
        re.compile(r"rechnung|invoice|(?:^|[^a-z])re[-_ ]?\d{2,}|(?:^|[^a-z])rg[-_ ]?\d{2,}"),
    ),
    (
        Kind.AUFTRAG,
        re.compile(r"auftragsbest(?:ä|ae|a)tigung|(?:^|[^a-z])ab[-_ ]?\d{2,}|auftrag|vertrag"),
    ),
    (
        Kind.ANGEBOT,
        re.compile(r"angebot|kostenvoranschlag|(?:^|[^a-z])kva|offer|quot(?:e|ation)|proposal"),
    ),
)

_SUBJECT_KINDS: tuple[tuple[Kind, re.Pattern[str]], ...] = (
    (Kind.RECHNUNG, re.compile(r"rechnung\b|\brechnungs-?nr|\binvoice\b", re.IGNORECASE)),
    (
        Kind.AUFTRAG,
        re.compile(
            r"auftragsbest(?:ä|ae)tigung|\bauftrag\b|\bvertrag\b|\bprojektstart\b"
            r"|\bunterlagen\s+(?:und\s+nächste|zu[mr]?\s+(?:ihrem|deinem|eurem|dem)\s+)",
            re.IGNORECASE,
        ),
    ),
    (
        Kind.ANGEBOT,
        re.compile(
            r"\bangebot\b|\bangebots|kostenvoranschlag|\bkva\b|\boffer\b|\bquote\b|\bproposal\b",
            re.IGNORECASE,
        ),
    ),
)

_BODY_KINDS: tuple[tuple[Kind, re.Pattern[str]], ...] = (
    (
        Kind.RECHNUNG,
        re.compile(
            r"(?:anbei|im anhang|beigefügt|angehängt|hier)\b[^.!?]{0,60}?\w*rechnung\b"
            r"|\b(?:meine|unsere|die)\s+(?:\w+)?rechnung\s+(?:nr\.?\s*|nummer\s*)?[a-z]{0,3}[-\d]*\d"
            r"|\brechnung\s+(?:nr\.?\s*|nummer\s*)?\d{2,4}[-/]\d+"
            r"|\bzahlbar\s+(?:bis|innerhalb)|\bzahlungsziel\b"
            r"|\b(?:please\s+find\s+)?(?:attached|enclosed)\b[^.!?]{0,30}\binvoice\b"
        ),
    ),
    (
        Kind.AUFTRAG,
        re.compile(
            r"auftragsbest(?:ä|ae)tigung"
            r"|\b(?:die|alle|meine|unsere|ihre)\s+unterlagen\s+(?:zu|für|zum|zur)\b(?![^.!?]{0,40}steuer)"
            r"|\b(?:danke|dank)\s+(?:schön\s+)?für\s+(?:ihren|deinen|euren|den)\s+auftrag"
            r"|\bvertrag\s+zur\s+unterschrift|\bprojektvertrag\b"
        ),
    ),
    (
        Kind.ANGEBOT,
        re.compile(
            r"(?:anbei|im anhang|beigefügt|angehängt|hier)\b[^.!?]{0,60}?"
            r"(?:angebot|kostenvoranschlag)"
            r"|\b(?:mein|unser)\s+(?:\w+)?angebot\b|\bangebot\s+(?:für|über|zu)\b"
            r"|\bkostenvoranschlag\b"
            r"|(?:€|eur|euro)\s*(?:netto|zzgl|zuzüglich|plus\s+mwst)"
            r"|\b(?:pauschal|festpreis)\w*\s+(?:von|für|:)?\s*[\d.]+(?:,\d\d)?\s*(?:€|eur)"
            r"|\bplease\s+find\s+(?:attached\s+)?(?:my|our)\s+(?:offer|quote|proposal)"
        ),
    ),
)


def _tag_kind(sent: _Sent) -> tuple[Kind, str] | None:
    """A kind named in the tracking address's tag (``anna+nachfass+rechnung@…``)."""
    for tag in sent.tags or ():
        if tag in _TAG_KINDS:
            return _TAG_KINDS[tag], f"Kopie an die Nachfass-Adresse (+{tag})"
    return None


def _einvoice(sent: _Sent) -> tuple[Kind, str] | None:
    """ZUGFeRD/Factur-X (a PDF with ``factur-x.xml`` embedded) or XRechnung (CII/UBL XML)."""
    for attachment in sent.attachments:
        if attachment.name in _EINVOICE_NAMES:
            return Kind.RECHNUNG, f"E-Rechnung im Anhang ({attachment.name})"
        if _is_pdf(attachment) and _embeds_einvoice(attachment.payload):
            return Kind.RECHNUNG, f"E-Rechnung (ZUGFeRD/Factur-X in {attachment.name or 'PDF'})"
        if _is_xml(attachment) and any(m in attachment.payload for m in _XML_INVOICE_MARKERS):
            return Kind.RECHNUNG, f"XRechnung im Anhang ({attachment.name or 'XML'})"
    return None


def _is_pdf(attachment: _Attachment) -> bool:
    return attachment.content_type == "application/pdf" or attachment.name.endswith(".pdf")


def _is_xml(attachment: _Attachment) -> bool:
    return attachment.content_type.endswith("/xml") or attachment.name.endswith(".xml")


def _embeds_einvoice(pdf: bytes) -> bool:
    """An e-invoice embedded in the PDF: its file name in clear text (cheap), else the
    PDF's embedded files as pypdf reads them (compressed object streams hide the name)."""
    lowered = pdf.lower()
    if any(name.encode() in lowered for name in _EINVOICE_NAMES):
        return True
    return embedded_xml(pdf) is not None


def _pdf_name(sent: _Sent) -> tuple[Kind, str] | None:
    """A PDF (or office document) whose file name says what it is."""
    documents = [a for a in sent.attachments if _is_pdf(a) or a.name.endswith((".docx", ".odt"))]
    for kind, pattern in _NAME_KINDS:
        for attachment in documents:
            if pattern.search(attachment.name):
                return kind, f"Anhang {attachment.name}"
    return None


def _subject_kind(sent: _Sent) -> tuple[Kind, str] | None:
    """The subject of a new mail (a reply's subject is the client's topic, not ours)."""
    if _REPLY_SUBJECT_RE.match(sent.subject):
        return None
    for kind, pattern in _SUBJECT_KINDS:
        if pattern.search(sent.subject):
            return kind, f"Betreff „{sent.subject}“"
    return None


def _body_kind(sent: _Sent) -> tuple[Kind, str] | None:
    """A sentence among the first lines: "anbei mein Angebot", "Rechnung 2026-014" …"""
    for kind, pattern in _BODY_KINDS:
        found = pattern.search(sent.opening)
        if found:
            return kind, f"Text „{found.group(0)}“"
    return None


KIND_RULES: tuple[KindRule, ...] = (_tag_kind, _einvoice, _pdf_name, _subject_kind, _body_kind)


# --- the verdict -----------------------------------------------------------------------


def _delay_days(tags: tuple[str, ...] | None) -> int | None:
    for tag in tags or ():
        found = _DELAY_TAG_RE.match(tag)
        if found and 0 < int(found.group(1)) <= _MAX_DELAY_DAYS:
            return int(found.group(1))
    return None


def _signals(sent: _Sent) -> list[tuple[Kind, str]]:
    found = []
    for rule in KIND_RULES:
        try:
            hit = rule(sent)
        except Exception:  # one confused rule must not cost the verdict of the others
            hit = None
        if hit is not None:
            found.append(hit)
    return found


def _verdict(sent: _Sent, settings: _Settings) -> SentVerdict:
    for exclusion in EXCLUSION_RULES:
        reason = exclusion(sent, settings)
        if reason is not None:
            return SentVerdict(None, f"Nicht verfolgt: {reason}.")
    requested = sent.tags is not None
    delay = _delay_days(sent.tags)
    found = _signals(sent)
    signals = tuple(f"{kind}: {signal}" for kind, signal in found)
    if not found:
        reason = (
            "Kopie an die Nachfass-Adresse, aber die Art ist unklar"
            if requested
            else ("kein Angebot, keine Auftragsunterlagen und keine Rechnung erkannt")
        )
        return SentVerdict(None, f"Nicht verfolgt: {reason}.", (), delay, requested)
    kind, strongest = found[0]
    return SentVerdict(kind, f"{KIND_NAMES[kind]} erkannt: {strongest}.", signals, delay, requested)


KIND_NAMES = {Kind.ANGEBOT: "Angebot", Kind.AUFTRAG: "Auftrag", Kind.RECHNUNG: "Rechnung"}


def classify_sent(
    raw: bytes,
    *,
    owner_email: str,
    owner_domains: Collection[str],
    tracking_address: str | None,
    max_recipients: int = 3,
    tracked_message_ids: Collection[str] = (),
) -> SentVerdict:
    """What one mail of the owner's Sent folder is (docs/DESIGN.md, "What a sent mail is").

    First the exclusions (:data:`EXCLUSION_RULES`, first reason wins): the bot's own mail
    (``X-Nachfass``, ``[NF-…]``, RFC 3834 ``Auto-Submitted``), list mail (RFC 2369/2919,
    ``Precedence``), a reply whose ``In-Reply-To``/``References`` (RFC 5322 §3.6.4) names
    a tracked Message-ID, no recipient outside the owner's address and ``owner_domains``,
    more than ``max_recipients`` people in To+Cc+Bcc (unless a copy went to the tracking
    address). Then the kind (:data:`KIND_RULES`, first wins): a tag of the tracking
    address, an e-invoice attachment, a document's file name, a new mail's subject, the
    first lines of the owner's text. No sign: kind None.

    ``tracking_address`` None means ``<owner local part>+nachfass@<owner domain>``; a
    recipient equal to it, or to it with tags (``+rechnung``, ``+10tage``, ``-angebot``),
    sets ``requested`` and may name kind and ``delay_days``. Freemail domains in
    ``owner_domains`` are ignored: a client at gmx.de is no colleague. Never raises: a mail that
    cannot be read is not tracked.
    """
    owner = owner_email.strip().lower()
    if tracking_address is None:
        local, _, domain = owner.rpartition("@")
        tracking_address = f"{local}+nachfass@{domain}"
    settings = _Settings(
        owner_email=owner,
        # A shared freemail domain says nothing about colleagues (gmx.de, gmail.com …).
        owner_domains=frozenset(d.strip().lower() for d in owner_domains) - FREEMAIL_DOMAINS,
        tracking_address=tracking_address.strip().lower(),
        max_recipients=max_recipients,
        tracked_message_ids=frozenset(tracked_message_ids),
    )
    try:
        sent = _read_sent(raw, settings)
        return _verdict(sent, settings)
    except Exception:  # "never raise" is the contract of mail/
        return SentVerdict(None, "Nicht verfolgt: die Mail ließ sich nicht lesen.")
