"""Invoice facts in German free text: a PDF's text layer or a mail body (docs/DESIGN.md,
"Invoice facts"). Pure.

Labels read (case does not matter):

* number: "Rechnungs-Nr.", "Rechnungsnummer", "Rechnung Nr.", "Rechnung #", or the
  subject "Rechnung 2026-014";
* issue date: "Rechnungsdatum", "Datum der Rechnung";
* due date: "zahlbar bis (zum)", "fällig am/bis", "Fälligkeitsdatum", "Zahlungsziel:" with a
  date, all as DD.MM.YYYY;
* terms: "Zahlungsziel 14 Tage", "innerhalb von 14 Tagen", "14 Tage netto";
* amount: "zu zahlen(der Betrag)", "Rechnungsbetrag", "Gesamtbetrag", "Gesamtsumme",
  "Endbetrag", in that order of trust (a "netto" between label and amount skips it),
  with an amount like "1.190,00 €" or "EUR 1.190,00" read by
  :func:`~nachfass_bot.domain.money.parse_amount`.

A text without both a number and an amount is no invoice.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from nachfass_bot.domain.money import parse_amount
from nachfass_bot.errors import InvalidAmount

MAX_TERMS_DAYS = 120
MAX_TEXT = 200_000  # characters read; an invoice says what matters early

_NUMBER = r"([A-Za-z0-9][A-Za-z0-9/_.\-]{0,40}[A-Za-z0-9]|[0-9])"
_NUMBER_RES = (
    re.compile(r"\brechnungs[\s-]*(?:nr\.?|nummer|no\.?)\s*[:#]?\s*" + _NUMBER, re.IGNORECASE),
    re.compile(r"\brechnung\s+(?:nr\.?|nummer|#)\s*:?\s*" + _NUMBER, re.IGNORECASE),
)
_SUBJECT_RE = re.compile(
    r"\brechnung\s+(?:nr\.?\s*|#\s*)?([A-Za-z]{0,6}[-/]?\d[A-Za-z0-9/_.\-]{0,40}[A-Za-z0-9]|\d)",
    re.IGNORECASE,
)
_DATE = r"(\d{1,2})\.\s?(\d{1,2})\.\s?(\d{4})"
_ISSUE_RE = re.compile(r"\b(?:rechnungsdatum|datum der rechnung)\s*:?\s*" + _DATE, re.IGNORECASE)
_DUE_RES = (
    re.compile(r"\bzahlbar\s+(?:bis\s+(?:zum\s+|spätestens\s+)?|am\s+)" + _DATE, re.IGNORECASE),
    re.compile(r"\bfällig(?:keitsdatum)?\s*(?:am|bis(?:\s+zum)?)?\s*:?\s*" + _DATE, re.IGNORECASE),
    re.compile(r"\bzahlungsziel\s*:?\s*(?:bis\s+(?:zum\s+)?)?" + _DATE, re.IGNORECASE),
)
_TERMS_RES = (
    re.compile(r"\bzahlungsziel\s*:?\s*(\d{1,3})\s*tage", re.IGNORECASE),
    re.compile(r"\binnerhalb\s+(?:von\s+)?(\d{1,3})\s+tag", re.IGNORECASE),
    re.compile(r"\b(\d{1,3})\s+tage\s+(?:netto|ohne\s+abzug)", re.IGNORECASE),
)
_AMOUNT = (
    r"((?:(?:EUR|€)\s?)?"
    r"(?:\d{1,3}(?:[.\u00a0\u202f ]\d{3})+(?:,\d{2})?|\d+(?:[.,]\d{2})?)(?!\d|[.,]\d|\s?%)"
    r"(?:\s?(?:EUR|€))?)"
)
_AMOUNT_LABELS = (
    r"zu\s+zahlen(?:der\s+betrag)?",
    r"rechnungsbetrag",
    r"gesamtbetrag",
    r"gesamtsumme",
    r"endbetrag",
)
# Between label and amount: words and a VAT rate ("inkl. 19 % USt.:"), on one line.
_GAP = r"((?:[^\d\n€]|\d{1,2}(?:,\d{1,2})?\s?%){0,40}?)"
_AMOUNT_RES = tuple(
    re.compile(r"\b" + label + r"\b" + _GAP + _AMOUNT, re.IGNORECASE) for label in _AMOUNT_LABELS
)


@dataclass(frozen=True)
class TextFields:
    """What a German invoice text says; dates and terms may be missing."""

    number: str
    amount: Decimal
    currency: str
    issue_date: date | None
    due_date: date | None
    terms_days: int | None


def read_invoice_text(text: str, *, subject: str = "") -> TextFields | None:
    """The invoice fields of ``text`` (and the mail's ``subject``), or None without a
    number or an amount."""
    text = text[:MAX_TEXT]
    number = _number(text, subject)
    found = _amount(text)
    if number is None or found is None:
        return None
    amount, currency = found
    return TextFields(
        number=number,
        amount=amount,
        currency=currency,
        issue_date=_first_date((_ISSUE_RE,), text),
        due_date=_first_date(_DUE_RES, text),
        terms_days=terms_days_in(text),
    )


def terms_days_in(text: str) -> int | None:
    """The payment terms in days ("Zahlungsziel 30 Tage", "innerhalb von 14 Tagen"), or
    None; 0 and more than :data:`MAX_TERMS_DAYS` are not believed."""
    for pattern in _TERMS_RES:
        match = pattern.search(text)
        if match is not None and 0 < int(match.group(1)) <= MAX_TERMS_DAYS:
            return int(match.group(1))
    return None


def _number(text: str, subject: str) -> str | None:
    for pattern in _NUMBER_RES:
        match = pattern.search(text)
        if match is not None and any(ch.isdigit() for ch in match.group(1)):
            return match.group(1)
    match = _SUBJECT_RE.search(subject)
    return match.group(1) if match is not None else None


def _amount(text: str) -> tuple[Decimal, str] | None:
    """The amount after the most trusted label, with its currency (EUR by default)."""
    for pattern in _AMOUNT_RES:
        for match in pattern.finditer(text):
            gap, token = match.groups()
            if "netto" in gap.lower():  # "Gesamtbetrag netto": before VAT, not what is due
                continue
            try:
                return parse_amount(token), "EUR"
            except InvalidAmount:
                continue
    return None


def _first_date(patterns: tuple[re.Pattern[str], ...], text: str) -> date | None:
    for pattern in patterns:
        for match in pattern.finditer(text):
            day, month, year = (int(group) for group in match.groups())
            try:
                return date(year, month, day)
            except ValueError:
                continue
    return None
