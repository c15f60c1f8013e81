"""Which open invoice a credit pays (domain/payments.py; docs/DESIGN.md, "Bank
statements"): invoice numbers as payers type them, payer names, and the verdicts."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from mailstrategies import budget
from nachfass_bot.domain.payments import (
    Booking,
    MatchKind,
    OpenInvoice,
    find_invoice_numbers,
    match_credit,
    names_invoice,
    payer_matches,
)


def credit(amount: str, purpose: str = "", payer: str = "", **extra: object) -> Booking:
    fields: dict[str, object] = {
        "booked": date(2026, 3, 18),
        "value_date": date(2026, 3, 18),
        "amount": Decimal(amount),
        "currency": "EUR",
        "payer": payer,
        "payer_iban": None,
        "purpose": purpose,
    }
    fields.update(extra)
    return Booking(**fields)  # type: ignore[arg-type]


def invoice(thread: int, number: str, amount: str, name: str | None, mail: str) -> OpenInvoice:
    return OpenInvoice(thread, number, Decimal(amount), name, mail)


WEISS = invoice(1, "2026-014", "1190.00", "Jürgen Weiß", "buchhaltung@praxis-weiss.test")
WEISS_2 = invoice(2, "2026-031", "238.00", "Jürgen Weiß", "buchhaltung@praxis-weiss.test")
WEISS_3 = invoice(3, "2026-032", "119.00", "Jürgen Weiß", "buchhaltung@praxis-weiss.test")
KELLER = invoice(4, "2025-014", "500.00", "Anna Keller", "anna@gmail.test")
OPEN = [WEISS, WEISS_2, WEISS_3, KELLER]


# --- invoice numbers -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "purpose",
    [
        "RE 2026-014",
        "Rg.-Nr. 2026014",
        "Rechnung 14",
        "rechnung nr. 2026/014",
        "RECHNUNG 2026-14 vom 02.03.2026",
        "re2026-014",
        "Rechnungsnummer: 0014",
        "Re.-Nr. 2026 014, danke",
        "SVWZ+Abschlag RE-2026-014 Praxis",
        "Zahlung zu 2026-014",
        "Rechnung 2026.014",
    ],
)
def test_typed_forms_name_the_invoice(purpose: str) -> None:
    assert names_invoice(purpose, "2026-014")


@pytest.mark.parametrize(
    "purpose",
    [
        "RE 2026-0140",  # another number
        "Rechnung 2026-0141",
        "RE 2025-014",  # another year
        "Rechnung 140",
        "Kd-Nr. 14",  # a customer number, not an invoice label
        "Kundennummer 14",
        "Gutschrift 14,00 EUR",  # an amount
        "Betrag 2.026,14",
        "IBAN DE02 1203 0000 2026 0014 51",  # digits inside an IBAN
        "DE02120300002026001451",
        "Lieferung vom 14.03.2026",  # a date
        "Termin 2026-01-14",
        "Projekt 14",  # no invoice label before a bare running number
        "",
    ],
)
def test_other_numbers_do_not_name_it(purpose: str) -> None:
    assert not names_invoice(purpose, "2026-014")


def test_a_full_number_beats_a_running_number() -> None:
    numbers = ["2026-014", "2025-014"]
    assert find_invoice_numbers("RE 2026-014", numbers) == ["2026-014"]
    assert find_invoice_numbers("Rechnung 14", numbers) == numbers, "ambiguous: both"
    assert find_invoice_numbers("RE 2026-014 und 2025-014", numbers) == numbers


def test_single_group_numbers_need_a_label_when_short() -> None:
    assert names_invoice("Rechnung 7", "7")
    assert not names_invoice("7 Stunden", "7")
    assert names_invoice("Zahlung 1007", "1007"), "four digits stand on their own"


LABELS = ["", "RE ", "Re.-Nr. ", "Rg.-Nr. ", "Rechnung ", "rechnung nr. ", "RECHNUNGSNR: ", "Rg"]
SEPARATORS = ["-", "/", ".", " ", ""]
words = st.text(alphabet="abcdefghijklmnopqrstuvwxyzäöüßABCXYZ ,", max_size=25)


@st.composite
def typed_number(draw: st.DrawFn, year: int, running: int, short: bool) -> str:
    """``year``-``running`` as a payer might type it, inside other words."""
    zeros = draw(st.integers(0, 3))
    if short:
        label = draw(st.sampled_from([label for label in LABELS if label]))
        number = "0" * zeros + str(running)
    else:
        label = draw(st.sampled_from(LABELS))
        separator = draw(st.sampled_from(SEPARATORS))
        padded = f"{running:03d}" if separator == "" else "0" * zeros + str(running)
        number = f"{year}{separator}{padded}"
    if draw(st.booleans()):
        label = label.upper()
    return f"{draw(words)} {label}{number} {draw(words)}"


@budget(200)
@given(st.data(), st.integers(2000, 2099), st.integers(1, 9999), st.booleans())
def test_a_typed_number_is_always_found(
    data: st.DataObject, year: int, running: int, short: bool
) -> None:
    purpose = data.draw(typed_number(year, running, short))
    assert names_invoice(purpose, f"{year}-{running:03d}"), purpose


@budget(200)
@given(
    st.data(),
    st.integers(2000, 2099),
    st.integers(1, 9999),
    st.integers(2000, 2099),
    st.integers(1, 9999),
    st.booleans(),
)
def test_a_different_number_is_never_found(
    data: st.DataObject, year: int, running: int, other_year: int, other: int, short: bool
) -> None:
    assume((year, running) != (other_year, other))
    assume(not short or running != other)  # "Rechnung 14" names every year's 014
    purpose = data.draw(typed_number(other_year, other, short))
    assert not names_invoice(purpose, f"{year}-{running:03d}"), purpose


@budget(100)
@given(st.integers(2000, 2099), st.integers(1, 999), st.integers(0, 10**6), st.booleans())
def test_digits_inside_an_iban_never_name_an_invoice(
    year: int, running: int, filler: int, grouped: bool
) -> None:
    digits = f"{filler:06d}{year}{running:03d}00000"[:18]
    iban = f"DE{filler % 100:02d}{digits}"
    if grouped:
        iban = " ".join(iban[i : i + 4] for i in range(0, len(iban), 4))
    assert not names_invoice(f"Zahlung von {iban} danke", f"{year}-{running:03d}")


# --- payers --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("payer", "name", "mail", "expected"),
    [
        ("PRAXIS DR. JUERGEN WEISS", "Jürgen Weiß", "a@praxis-weiss.test", True),
        ("Weiß, Jürgen", "Jürgen Weiß", "a@web.de", True),
        ("Juergen Weis", "Jürgen Weiß", "a@web.de", True),  # one letter off
        ("Praxis Weiss GbR", None, "buchhaltung@praxis-weiss.test", True),  # the domain
        ("Jürgen Schwarz", "Jürgen Weiß", "a@web.de", False),
        ("Max Weiß", "Jürgen Weiß", "a@gmail.com", False),
        ("Gmail Services", None, "a@gmail.com", False),  # freemail says nothing
        ("", "Jürgen Weiß", "a@web.de", False),
    ],
)
def test_payer_matches(payer: str, name: str | None, mail: str, expected: bool) -> None:
    assert payer_matches(payer, name, mail) is expected


# --- verdicts ------------------------------------------------------------------------------


def test_exact_payment() -> None:
    found = match_credit(credit("1190.00", "RE 2026-014"), OPEN)
    assert (found.kind, found.invoices, found.named) == (MatchKind.EXACT, (WEISS,), ("2026-014",))


def test_partial_payment_leaves_the_remainder_open() -> None:
    found = match_credit(credit("1000.00", "Rg.-Nr. 2026014"), OPEN)
    assert (found.kind, found.invoices) == (MatchKind.PARTIAL, (WEISS,))
    assert found.remainder == Decimal("190.00")


def test_overpayment_names_the_surplus() -> None:
    found = match_credit(credit("1200.00", "RE 2026-014"), OPEN)
    assert (found.kind, found.surplus) == (MatchKind.OVERPAID, Decimal("10.00"))


def test_combined_payment_of_named_invoices() -> None:
    found = match_credit(credit("1428.00", "RE 2026-014 und 2026-031"), OPEN)
    assert (found.kind, set(found.invoices)) == (MatchKind.COMBINED, {WEISS, WEISS_2})


def test_combined_payment_with_one_number_named() -> None:
    """One number typed, the client's other open invoice makes up the sum."""
    found = match_credit(credit("1309.00", "RE 2026-014 u.a."), OPEN)
    assert (found.kind, found.invoices) == (MatchKind.COMBINED, (WEISS, WEISS_3))


def test_two_ways_to_add_up_is_no_combined_payment() -> None:
    a = invoice(1, "2026-040", "100.00", "A", "a@firma-a.test")
    b = invoice(2, "2026-041", "50.00", "A", "a@firma-a.test")
    c = invoice(3, "2026-042", "50.00", "A", "a@firma-a.test")
    found = match_credit(credit("150.00", "RE 2026-040"), [a, b, c])
    assert (found.kind, found.surplus) == (MatchKind.OVERPAID, Decimal("50.00"))


def test_question_when_only_the_payer_and_amount_fit() -> None:
    found = match_credit(credit("238.00", "Danke!", "Praxis Dr. Jürgen Weiß"), OPEN)
    assert (found.kind, found.invoices) == (MatchKind.QUESTION, (WEISS_2,))


def test_question_for_several_invoices_of_the_payer_adding_up() -> None:
    found = match_credit(credit("357.00", "Sammelzahlung", "J. WEISS PRAXIS"), OPEN)
    assert (found.kind, found.invoices) == (MatchKind.QUESTION, (WEISS_2, WEISS_3))


def test_two_open_invoices_of_that_amount_stay_unmatched() -> None:
    twin = invoice(9, "2026-050", "238.00", "Jürgen Weiß", "buchhaltung@praxis-weiss.test")
    found = match_credit(credit("238.00", "Danke", "Jürgen Weiß"), [*OPEN, twin])
    assert found.kind is MatchKind.UNMATCHED and found.invoices == ()


def test_a_stranger_with_a_fitting_amount_stays_unmatched() -> None:
    found = match_credit(credit("1190.00", "Spende", "Erika Mustermann"), OPEN)
    assert found.kind is MatchKind.UNMATCHED


def test_running_number_of_two_years_decided_by_the_amount() -> None:
    found = match_credit(credit("500.00", "Rechnung 14"), OPEN)
    assert (found.kind, found.invoices) == (MatchKind.EXACT, (KELLER,))
    unclear = match_credit(credit("77.00", "Rechnung 14"), OPEN)
    assert unclear.kind is MatchKind.UNMATCHED and set(unclear.named) == {"2026-014", "2025-014"}


def test_other_currency_counts_for_nothing() -> None:
    found = match_credit(credit("1190.00", "RE 2026-014", currency="CHF"), OPEN)
    assert found.kind is MatchKind.UNMATCHED


def test_reversal_found_by_reference_or_end_to_end() -> None:
    paid = credit("1190.00", "RE 2026-014", reference="R1", end_to_end="E1")
    by_reference = credit("-1190.00", "Storno", reference="R1")
    by_end_to_end = credit("-1190.00", "Rueckbuchung", reference="R9", end_to_end="E1")
    for debit in (by_reference, by_end_to_end):
        found = match_credit(debit, OPEN, earlier=[paid])
        assert (found.kind, found.reverses) == (MatchKind.REVERSAL, paid)


def test_a_debit_is_left_alone() -> None:
    assert match_credit(credit("-1190.00", "RE 2026-014"), OPEN).kind is MatchKind.DEBIT
    assert match_credit(credit("0.00", "RE 2026-014"), OPEN).kind is MatchKind.DEBIT
    unrelated = credit("50.00", reference="R2")
    found = match_credit(credit("-50.00", reference="R3"), OPEN, earlier=[unrelated])
    assert found.kind is MatchKind.DEBIT


@budget(100)
@given(st.integers(1, 10**7), st.integers(1, 10**7))
def test_partial_and_overpaid_add_up(open_cents: int, paid_cents: int) -> None:
    open_amount = Decimal(open_cents) / 100
    paid = Decimal(paid_cents) / 100
    target = OpenInvoice(1, "2026-014", open_amount, None, "a@b.test")
    found = match_credit(credit(str(paid), "RE 2026-014"), [target])
    assert found.invoices == (target,)
    assert paid + found.remainder - found.surplus == open_amount
    expected = (
        MatchKind.EXACT
        if paid == open_amount
        else MatchKind.PARTIAL
        if paid < open_amount
        else MatchKind.OVERPAID
    )
    assert found.kind is expected


# --- the key -------------------------------------------------------------------------------


def test_key_is_the_bank_reference() -> None:
    assert credit("10.00", reference="2026031800123").key == "ref:2026031800123"
    debit = credit("-10.00", reference="2026031800123")
    assert debit.key != "ref:2026031800123", "a reversal may repeat the credit's reference"


def test_key_without_reference_hashes_date_amount_purpose_payer() -> None:
    one = credit("10.00", "RE  2026-014", "Jürgen Weiß")
    assert one.key.startswith("sha256:") and len(one.key) == len("sha256:") + 64
    assert one.key == credit("10.0", "re 2026-014 ", "JÜRGEN WEISS").key
    assert one.key != credit("10.01", "RE 2026-014", "Jürgen Weiß").key
    assert one.key != credit("10.00", "RE 2026-015", "Jürgen Weiß").key
    assert one.key != credit("10.00", "RE 2026-014", "Anna Keller").key
    assert one.key != credit("10.00", "RE 2026-014", "Jürgen Weiß", booked=date(2026, 3, 19)).key
