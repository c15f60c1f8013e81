"""Bookings from a bank statement and which open invoices a credit pays (docs/DESIGN.md,
"Bank statements"). Pure: no clock, no files, no store.

A statement reader (``adapters/bankfiles.py``, later a FinTS fetch) turns a file into
:class:`Booking` values; :func:`match_credit` decides, for one booking and the open
invoices the caller read from the store, what it means. Nothing here changes state: the
caller records the verdict.

Rules, first verdict wins (:data:`_RULES`):

1. A booking that is not a credit: a reversal when it names an earlier credit's reference,
   else a debit, left alone.
2. The purpose names invoice numbers (:func:`find_invoice_numbers`): the amount decides
   between exact, combined (the named invoices, or the named ones plus other open ones of
   the same client, add up exactly), partial and overpaid.
3. No number, but the payer is a client (:func:`payer_matches`) with exactly one open
   invoice of that amount, or exactly one set of open invoices adding up to it: a question
   to the owner; never paid without a yes.
4. Everything else: unmatched.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from difflib import SequenceMatcher
from enum import StrEnum
from itertools import combinations

CENT = Decimal("0.01")
MAX_COMBINED = 10  # open invoices of one client searched for a combined payment (2**10 sets)


@dataclass(frozen=True)
class Booking:
    """One line of a bank statement. ``amount`` is negative for a debit.

    ``reference`` is the bank's own reference for the line (CAMT ``AcctSvcrRef``, the
    MT940 bank reference after ``//``), unique per line at that bank; ``end_to_end`` is
    the payer's end-to-end reference (CAMT ``EndToEndId``, MT940 ``EREF+``), which a
    reversal repeats. ``reversal`` is what the bank marked (CAMT ``RvslInd``, MT940
    ``RC``/``RD``)."""

    booked: date
    value_date: date
    amount: Decimal
    currency: str
    payer: str
    payer_iban: str | None
    purpose: str
    reference: str | None = None
    end_to_end: str | None = None
    reversal: bool = False

    @property
    def key(self) -> str:
        """The identity under which the booking is stored once: the bank's reference
        (a debit gets its own, since a reversal can repeat the credit's), else a SHA-256
        of booking date, amount, purpose and payer (whitespace and case folded)."""
        if self.reference:
            return f"ref:{self.reference}" + (":debit" if self.amount < 0 else "")
        facts = "\x1f".join(
            (
                self.booked.isoformat(),
                str(self.amount.quantize(CENT)),
                _folded(self.purpose),
                _folded(self.payer),
            )
        )
        return "sha256:" + hashlib.sha256(facts.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class OpenInvoice:
    """An invoice thread that still waits for money, as the store knows it."""

    thread_id: int
    number: str
    open_amount: Decimal
    client_name: str | None
    client_email: str
    currency: str = "EUR"


class MatchKind(StrEnum):
    EXACT = "exact"  # one named invoice, amount equal to what is open
    PARTIAL = "partial"  # one named invoice, less than open: ``remainder`` stays open
    OVERPAID = "overpaid"  # one named invoice, more than open: ``surplus`` to tell
    COMBINED = "combined"  # several invoices of one client add up exactly
    QUESTION = "question"  # no number, but the payer's open invoice(s) fit: ask the owner
    UNMATCHED = "unmatched"  # a credit nothing fits: listed in the digest
    REVERSAL = "reversal"  # a debit that takes back an earlier credit (``reverses``)
    DEBIT = "debit"  # money going out: not our business


@dataclass(frozen=True)
class PaymentMatch:
    """What one booking means. ``invoices`` are the ones it pays (or, for a question, may
    pay); for a partial payment ``remainder`` is what stays open, for an overpayment
    ``surplus`` is the money above the open amount."""

    kind: MatchKind
    booking: Booking
    invoices: tuple[OpenInvoice, ...] = ()
    remainder: Decimal = Decimal("0.00")
    surplus: Decimal = Decimal("0.00")
    reverses: Booking | None = None
    named: tuple[str, ...] = ()  # invoice numbers found in the purpose


# ---------------------------------------------------------------------------------------
# Invoice numbers in a purpose text

# "Rechnung", "Rechnungsnummer", "Rechnungs-Nr.", "Rg.-Nr.", "RE", "Re-Nr", "Nr.", "Inv" …
_LABEL = r"(?:rechnungs?(?:nummer|nr)?|rechn|rgnr|rg|renr|re|rn|nummer|nr|no|inv(?:oice)?)"
_NUMBER_RE = re.compile(
    rf"""
    (?<![0-9a-z])(?<![0-9a-z][-/.])       # not glued to a word or number ("Kd-Nr", "2026-")
    (?P<label>(?:{_LABEL}[\s.:#-]*)+)?
    (?P<number>(?:20\d\d\s(?=\d))?\d+(?:[-/._]\d+)*)
    (?![0-9a-z]|[-/.,]\d)                 # not a prefix of a longer number or an amount
    """,
    re.IGNORECASE | re.VERBOSE,
)
# Numbers that are never invoice numbers: IBANs (also in groups of four) and dates.
_IBAN_RE = re.compile(r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,3})?\b", re.I)
_DATE_RE = re.compile(
    r"\b(?:\d{1,2}\.\d{1,2}\.(?:\d{4}|\d{2})?|\d{4}-\d{2}-\d{2}|\d{1,2}/\d{1,2}/\d{4})(?!\d)"
)


@dataclass(frozen=True)
class _Mention:
    groups: tuple[str, ...]  # the digit groups as typed
    labelled: bool  # an invoice label stood right before it


def invoice_groups(number: str) -> tuple[str, ...]:
    """The digit groups of an invoice number: ``RE-2026-014`` → ``("2026", "014")``.
    Letters and separators do not count: payers drop or change them."""
    return tuple(re.findall(r"\d+", number))


def _mentions(purpose: str) -> list[_Mention]:
    text = _DATE_RE.sub(" ", _IBAN_RE.sub(" ", purpose))
    return [
        _Mention(tuple(re.findall(r"\d+", found["number"])), bool(found["label"]))
        for found in _NUMBER_RE.finditer(text)
    ]


def _names(groups: tuple[str, ...], mention: _Mention) -> bool | None:
    """True: the mention names the number in full; False: only by its last group after a
    label ("Rechnung 14" for 2026-014); None: not at all."""
    typed = mention.groups
    if not groups:
        return None
    if len(typed) == len(groups) and all(
        int(a) == int(b) for a, b in zip(typed, groups, strict=True)
    ):
        return True if len(groups) > 1 or mention.labelled or len(groups[0]) >= 4 else None
    if len(typed) == 1 and len(groups) > 1 and typed[0] == "".join(groups):
        return True  # 2026014
    if len(typed) == 1 and len(groups) > 1 and mention.labelled and int(typed[0]) != 0:
        return False if int(typed[0]) == int(groups[-1]) else None
    return None


def names_invoice(purpose: str, number: str) -> bool:
    """Whether ``purpose`` names the invoice ``number`` as a payer would type it: with or
    without a label, any separator or none, any case, leading zeros dropped or added, or
    only the running number after a label ("Rechnung 14"). Never inside another number,
    an IBAN, a date or an amount."""
    groups = invoice_groups(number)
    return any(_names(groups, mention) is not None for mention in _mentions(purpose))


def find_invoice_numbers(purpose: str, numbers: Iterable[str]) -> list[str]:
    """The ``numbers`` that ``purpose`` names. A number named in full beats one named only
    by its running number: "RE 2026-014" does not also name 2025-014."""
    mentions = _mentions(purpose)
    verdicts = {
        number: {_names(invoice_groups(number), mention) for mention in mentions}
        for number in numbers
    }
    full = [number for number, found in verdicts.items() if True in found]
    short = [number for number, found in verdicts.items() if False in found]
    return full if full else short


# ---------------------------------------------------------------------------------------
# Payer names

# Word lists read best as one string each.
_FREEMAIL = frozenset(  # mail domains that say nothing about the client
    "gmail googlemail gmx web t-online yahoo outlook hotmail live icloud me mail posteo "  # noqa: SIM905
    "mailbox freenet aol protonmail proton arcor online".split()
)
_NOISE = frozenset(  # titles, legal forms, filler: not what tells one client from another
    "gmbh mbh ug ag kg ohg gbr ek ev eg co und der die das dr prof herr frau hr fr dipl ing "  # noqa: SIM905
    "haftungsbeschraenkt".split()
)
_FOLD = str.maketrans({"ä": "ae", "ö": "oe", "ü": "ue", "ß": "ss"})


def name_tokens(name: str) -> frozenset[str]:
    """Words of a name as a bank prints them: case folded, umlauts spelled out (bank
    systems often write "WEISS JUERGEN"), accents, titles and legal forms dropped."""
    folded = unicodedata.normalize("NFKD", name.casefold().translate(_FOLD))
    plain = "".join(char for char in folded if not unicodedata.combining(char))
    words = re.findall(r"[a-z0-9]+", plain)
    return frozenset(word for word in words if len(word) > 1 and word not in _NOISE)


def payer_matches(payer: str, client_name: str | None, client_email: str) -> bool:
    """Whether the account holder ``payer`` is this client: every word of the client's
    name (or of the company in the mail domain, "praxis-weiss.de") is in the payer's
    name, or the two names differ by a typo at most."""
    payer_words = name_tokens(payer)
    if not payer_words:
        return False
    candidates = [name_tokens(client_name or "")]
    domain = client_email.rpartition("@")[2].split(".")
    if len(domain) >= 2 and domain[-2] not in _FREEMAIL:
        candidates.append(name_tokens(domain[-2].replace("-", " ")))
    for words in candidates:
        if words and words <= payer_words:
            return True
        if len(words) >= 2 and _similar(words, payer_words):
            return True
    return False


def _similar(left: frozenset[str], right: frozenset[str]) -> bool:
    ratio = SequenceMatcher(None, " ".join(sorted(left)), " ".join(sorted(right))).ratio()
    return ratio >= 0.9


# ---------------------------------------------------------------------------------------
# The decision


def match_credit(
    booking: Booking, open_invoices: Sequence[OpenInvoice], *, earlier: Sequence[Booking] = ()
) -> PaymentMatch:
    """What ``booking`` means for ``open_invoices`` (the module docstring's rules, first
    verdict wins). ``earlier`` are bookings already stored, searched for the credit a
    reversal takes back. Only invoices in the booking's currency count."""
    invoices = [inv for inv in open_invoices if inv.currency == booking.currency]
    for rule in _RULES:
        verdict = rule(booking, invoices, earlier)
        if verdict is not None:
            return verdict
    return PaymentMatch(MatchKind.UNMATCHED, booking)


def _not_a_credit(
    booking: Booking, invoices: Sequence[OpenInvoice], earlier: Sequence[Booking]
) -> PaymentMatch | None:
    if booking.amount > 0:
        return None
    for credit in earlier:
        if credit.amount > 0 and _same_payment(credit, booking):
            return PaymentMatch(MatchKind.REVERSAL, booking, reverses=credit)
    return PaymentMatch(MatchKind.DEBIT, booking)


def _same_payment(credit: Booking, debit: Booking) -> bool:
    return bool(
        (credit.reference and credit.reference == debit.reference)
        or (credit.end_to_end and credit.end_to_end == debit.end_to_end)
    )


def _by_number(
    booking: Booking, invoices: Sequence[OpenInvoice], earlier: Sequence[Booking]
) -> PaymentMatch | None:
    named_numbers = find_invoice_numbers(booking.purpose, [inv.number for inv in invoices])
    named = [inv for inv in invoices if inv.number in named_numbers]
    if not named:
        return None
    numbers = tuple(inv.number for inv in named)
    amount = booking.amount
    clients = {inv.client_email.casefold() for inv in named}
    if len(named) == 1 and named[0].open_amount == amount:
        return PaymentMatch(MatchKind.EXACT, booking, (named[0],), named=numbers)
    if len(clients) == 1:
        same_client = [inv for inv in invoices if inv.client_email.casefold() in clients]
        combined = _unique_sum(same_client, amount, required=named)
        if combined is not None and len(combined) > 1:
            return PaymentMatch(MatchKind.COMBINED, booking, combined, named=numbers)
    if len(named) == 1:
        invoice = named[0]
        if amount < invoice.open_amount:
            remainder = invoice.open_amount - amount
            return PaymentMatch(
                MatchKind.PARTIAL, booking, (invoice,), remainder=remainder, named=numbers
            )
        surplus = amount - invoice.open_amount
        return PaymentMatch(MatchKind.OVERPAID, booking, (invoice,), surplus=surplus, named=numbers)
    exact = [inv for inv in named if inv.open_amount == amount]
    if len(exact) == 1:
        return PaymentMatch(MatchKind.EXACT, booking, (exact[0],), named=numbers)
    return PaymentMatch(MatchKind.UNMATCHED, booking, named=numbers)  # ambiguous


def _by_payer(
    booking: Booking, invoices: Sequence[OpenInvoice], earlier: Sequence[Booking]
) -> PaymentMatch | None:
    theirs = [
        inv for inv in invoices if payer_matches(booking.payer, inv.client_name, inv.client_email)
    ]
    exact = [inv for inv in theirs if inv.open_amount == booking.amount]
    if len(exact) == 1:
        return PaymentMatch(MatchKind.QUESTION, booking, (exact[0],))
    if exact:
        return None  # several open invoices of exactly that amount: which one?
    clients = {inv.client_email.casefold() for inv in theirs}
    found = [
        subset
        for client in clients
        if (
            subset := _unique_sum(
                [inv for inv in theirs if inv.client_email.casefold() == client], booking.amount
            )
        )
        is not None
    ]
    if len(found) == 1:
        return PaymentMatch(MatchKind.QUESTION, booking, found[0])
    return None


def _unique_sum(
    invoices: Sequence[OpenInvoice], amount: Decimal, required: Sequence[OpenInvoice] = ()
) -> tuple[OpenInvoice, ...] | None:
    """The one set of ``invoices`` (containing all of ``required``) whose open amounts add
    up to ``amount``; None when there is none or more than one, or too many to search."""
    optional = [inv for inv in invoices if inv not in required]
    if len(optional) > MAX_COMBINED:
        return None
    rest = amount - sum((inv.open_amount for inv in required), Decimal(0))
    found: list[tuple[OpenInvoice, ...]] = []
    for size in range(len(optional) + 1):
        for subset in combinations(optional, size):
            if sum((inv.open_amount for inv in subset), Decimal(0)) == rest:
                found.append((*required, *subset))
    return found[0] if len(found) == 1 else None


_Rule = Callable[[Booking, Sequence[OpenInvoice], Sequence[Booking]], PaymentMatch | None]
_RULES: tuple[_Rule, ...] = (_not_a_credit, _by_number, _by_payer)


def _folded(text: str) -> str:
    return " ".join(text.split()).casefold()
