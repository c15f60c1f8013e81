"""The facts of an invoice the owner sent, read from the mail itself (docs/DESIGN.md,
"Invoice facts"). Pure: a whole RFC 5322 message in, :class:`InvoiceFacts` or None out.

Signals, strongest first; the first that yields number, issue date and amount wins:

1. a PDF attachment with an embedded EN 16931 XML (Factur-X / ZUGFeRD 2.x:
   ``factur-x.xml``, ``zugferd-invoice.xml``, ``xrechnung.xml``) → "factur-x";
2. an XML attachment (XRechnung) in CII → "xrechnung-cii" or UBL → "xrechnung-ubl";
3. the text of a PDF attachment (German labels) → "pdf-text";
4. the mail's own text and subject → "mail-text".

Without a due date the terms in the invoice ("Zahlungsziel 30 Tage") or the caller's
default terms count from the issue date, and the facts say so (``due_from_terms``).
Attachments above ``max_attachment_bytes`` are not read. Nothing here raises on bad input.
"""

from __future__ import annotations

import email
import email.policy
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from email.message import EmailMessage, Message
from email.utils import getaddresses, parsedate_to_datetime
from io import BytesIO
from typing import Literal

from pypdf import PdfReader

from nachfass_bot.domain.dates import in_date_window
from nachfass_bot.mail.einvoice import EInvoiceFields, read_einvoice
from nachfass_bot.mail.headers import clean_line, decode_words, parse_date, plain_text
from nachfass_bot.mail.invoicetext import TextFields, read_invoice_text, terms_days_in

Source = Literal["factur-x", "xrechnung-cii", "xrechnung-ubl", "pdf-text", "mail-text"]

MAX_ATTACHMENT_BYTES = 20 * 1024 * 1024  # an invoice PDF is rarely above 1 MB
MAX_PDF_PAGES = 5  # the facts stand on the first page; more is only cost
EMBEDDED_NAMES = ("factur-x.xml", "zugferd-invoice.xml", "xrechnung.xml")


@dataclass(frozen=True)
class InvoiceFacts:
    """An invoice as the bot tracks it. ``due_from_terms`` is True when ``due_date`` was
    computed as issue date + ``terms_days`` (from the invoice's terms or the default)."""

    number: str
    issue_date: date
    due_date: date | None
    amount_due: Decimal
    currency: str
    buyer_name: str | None
    buyer_email: str | None
    source: Source
    due_from_terms: bool = False
    terms_days: int | None = None


def read_invoice(
    raw_message: bytes,
    *,
    default_terms_days: int,
    max_attachment_bytes: int = MAX_ATTACHMENT_BYTES,
) -> InvoiceFacts | None:
    """The invoice facts in ``raw_message`` (RFC 5322 bytes), or None when it is no
    invoice this module can read. ``default_terms_days`` fixes the due date when the
    invoice names neither a date nor terms."""
    try:
        msg = email.message_from_bytes(raw_message, policy=email.policy.default)
    except Exception:  # never raise on bad input
        return None
    if not isinstance(msg, EmailMessage):
        return None
    try:
        found = _read(msg, raw_message, default_terms_days, max_attachment_bytes)
        return found if found is not None and _plausible(found, _mail_day(msg)) else None
    except OverflowError:  # a date near 9999-12-31 plus the terms
        return None
    except Exception:  # the stdlib header parser's rare crashes on hostile headers
        return None


def _read(
    msg: EmailMessage, raw_message: bytes, default_terms_days: int, max_attachment_bytes: int
) -> InvoiceFacts | None:
    """The first signal that yields facts, strongest first (module docstring)."""
    attachments = list(_attachments(msg, max_attachment_bytes))
    for name, data in attachments:
        if _is_pdf(name, data):
            xml = embedded_xml(data)
            fields = read_einvoice(xml) if xml is not None else None
            if fields is not None:
                return _from_einvoice(fields, "factur-x", default_terms_days)
    for name, data in attachments:
        if name.endswith(".xml") or data[:64].lstrip(b"\xef\xbb\xbf \t\r\n")[:5] == b"<?xml":
            fields = read_einvoice(data)
            if fields is not None:
                source: Source = "xrechnung-cii" if fields.syntax == "cii" else "xrechnung-ubl"
                return _from_einvoice(fields, source, default_terms_days)
    fallback = _mail_day(msg)
    recipient = _recipient(msg)
    for name, data in attachments:
        if _is_pdf(name, data):
            found = read_invoice_text(_pdf_text(data))
            if found is not None:
                return _from_text(found, "pdf-text", fallback, recipient, default_terms_days)
    subject = decode_words(clean_line(str(msg.get("Subject", ""))))
    found = read_invoice_text(plain_text(raw_message), subject=subject)
    if found is None:
        return None
    return _from_text(found, "mail-text", fallback, recipient, default_terms_days)


def _plausible(facts: InvoiceFacts, mail_day: date | None) -> bool:
    """Issue and due date lie in the date window (docs/DESIGN.md, "Input at the door")
    around the day the mail was written; without a Date field the caller checks."""
    if mail_day is None:
        return True
    return all(in_date_window(day, mail_day) for day in (facts.issue_date, facts.due_date) if day)


def _attachments(msg: EmailMessage, limit: int) -> Iterator[tuple[str, bytes]]:
    """``(lower-case file name, bytes)`` of each non-text leaf part up to ``limit`` bytes;
    larger parts are skipped before they are decoded."""
    for part in msg.walk():
        if part.is_multipart():
            continue
        name = (part.get_filename() or "").strip().lower()
        if part.get_content_maintype() == "text" and not name:
            continue
        try:
            encoded = part.get_payload(decode=False)
            if not isinstance(encoded, str) or len(encoded) > limit * 4 // 3 + 4096:
                continue
            data = part.get_payload(decode=True)
        except Exception:
            continue
        if isinstance(data, bytes) and 0 < len(data) <= limit:
            yield name, data


def _is_pdf(name: str, data: bytes) -> bool:
    return data[:1024].lstrip().startswith(b"%PDF-") or (
        name.endswith(".pdf") and b"%PDF-" in data[:1024]
    )


def _open_pdf(data: bytes) -> PdfReader:
    return PdfReader(BytesIO(data), strict=False)


def embedded_xml(data: bytes) -> bytes | None:
    """The invoice XML a PDF/A-3 carries as an embedded file (Factur-X §6), or None."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            files = _open_pdf(data).attachments
            for name in files:
                if name.strip().lower() in EMBEDDED_NAMES and files[name]:
                    return files[name][0]
    except Exception:  # pypdf on a broken or hostile PDF
        return None
    return None


def _pdf_text(data: bytes) -> str:
    """The text of the first pages of a PDF; "" when pypdf cannot read it."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            pages = _open_pdf(data).pages
            return "\n".join(page.extract_text() for page in pages[:MAX_PDF_PAGES])
    except Exception:  # pypdf on a broken or hostile PDF
        return ""


def _mail_day(msg: Message) -> date | None:
    """The calendar day of the Date field (RFC 5322 §3.3) in the sender's own zone: a mail
    written at 00:30 in Berlin is dated that day, not the day before in UTC."""
    value = msg.get("Date")
    if value is None or parse_date(str(value)) is None:
        return None
    try:
        return parsedate_to_datetime(str(value)).date()
    except (TypeError, ValueError, IndexError, OverflowError):
        return None


def _recipient(msg: Message) -> tuple[str | None, str | None]:
    """``(display name, address)`` of the single To recipient, else ``(None, None)``."""
    to = msg.get("To")
    found = getaddresses([str(to)]) if to is not None else []
    if len(found) != 1 or "@" not in found[0][1]:
        return None, None
    name, addr = found[0]
    return name.strip() or None, addr.strip().lower()


def _due(
    issued: date, due: date | None, terms_days: int | None, default: int
) -> tuple[date, bool, int | None]:
    if due is not None:
        return due, False, None
    days = terms_days if terms_days is not None else default
    return issued + timedelta(days=days), True, days


def _from_einvoice(fields: EInvoiceFields, source: Source, default: int) -> InvoiceFacts:
    terms = terms_days_in(fields.terms_text or "")
    due, computed, days = _due(fields.issue_date, fields.due_date, terms, default)
    return InvoiceFacts(
        number=fields.number,
        issue_date=fields.issue_date,
        due_date=due,
        amount_due=fields.amount_due,
        currency=fields.currency,
        buyer_name=fields.buyer_name,
        buyer_email=fields.buyer_email,
        source=source,
        due_from_terms=computed,
        terms_days=days,
    )


def _from_text(
    found: TextFields,
    source: Source,
    mail_date: date | None,
    recipient: tuple[str | None, str | None],
    default: int,
) -> InvoiceFacts | None:
    issued = found.issue_date or mail_date
    if issued is None:
        return None
    due, computed, days = _due(issued, found.due_date, found.terms_days, default)
    return InvoiceFacts(
        number=found.number,
        issue_date=issued,
        due_date=due,
        amount_due=found.amount,
        currency=found.currency,
        buyer_name=recipient[0],
        buyer_email=recipient[1],
        source=source,
        due_from_terms=computed,
        terms_days=days,
    )
