"""One strict parser for every amount a person types (domain/money.py)."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nachfass_bot.domain.money import MAX_DIGITS, parse_amount
from nachfass_bot.errors import InvalidAmount, InvalidInput
from nachfass_bot.texts.render import format_money

# Seeded and without an example database: the same few hundred cases on every run.
PROPERTY = settings(max_examples=300, derandomize=True, database=None, deadline=None)

# Every amount the formatters can show: up to 12 digits before the comma, two after.
amounts = st.integers(min_value=0, max_value=10**MAX_DIGITS * 100 - 1).map(
    lambda cents: Decimal(cents).scaleb(-2)
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1.190,00", "1190.00"),
        ("1190,00", "1190.00"),
        ("1190.00", "1190.00"),
        ("1.190", "1190.00"),  # the German thousands dot
        ("1 190,00", "1190.00"),
        ("1\u00a0190,00", "1190.00"),  # no-break space, as copied from a document
        ("1\u202f190,00", "1190.00"),
        ("1 190.00", "1190.00"),
        ("1.190.000", "1190000.00"),
        ("12.345.678,90", "12345678.90"),
        ("1,5", "1.50"),
        ("1.19", "1.19"),
        ("100", "100.00"),
        ("0", "0.00"),
        ("1.190,00 €", "1190.00"),
        ("€ 1190", "1190.00"),
        ("EUR 1.190,00", "1190.00"),
        ("1190 eur", "1190.00"),
        ("  350 ", "350.00"),
        ("999.999.999.999,99", "999999999999.99"),
    ],
)
def test_accepted_forms(text: str, expected: str) -> None:
    assert parse_amount(text) == Decimal(expected)
    assert str(parse_amount(text)) == expected, "always two decimals"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("1,190.00", "mehrdeutig"),
        ("1,190", "mehrdeutig"),
        ("1,190,000", "mehrdeutig"),
        ("1e30", "kein Betrag"),
        ("NaN", "kein Betrag"),
        ("nan", "kein Betrag"),
        ("Infinity", "kein Betrag"),
        ("-Infinity", "nicht negativ"),
        ("-5", "nicht negativ"),
        ("−5,00", "nicht negativ"),  # U+2212 MINUS SIGN
        ("+5", "kein Betrag"),
        ("1190,001", "mehr als zwei Stellen"),
        ("1.190,001", "mehr als zwei Stellen"),
        ("1190.000", "mehr als zwei Stellen"),
        ("0.125", "mehr als zwei Stellen"),
        ("0,125", "mehr als zwei Stellen"),
        ("1234567890123", "zu groß"),
        ("1.234.567.890.123", "zu groß"),
        ("9" * 40, "zu groß"),
        ("", "kein Betrag"),
        ("€", "kein Betrag"),
        ("1190,", "kein Betrag"),
        (",50", "kein Betrag"),
        ("1.19.000", "kein Betrag"),
        ("1  190", "kein Betrag"),
        ("1.190 000", "kein Betrag"),
        ("0.190.000", "kein Betrag"),
        ("١٢٣", "kein Betrag"),  # Arabic-Indic digits: Decimal() would take them
        ("12²", "kein Betrag"),
        ("0x10", "kein Betrag"),
        ("1_000", "kein Betrag"),
        ("€€5", "kein Betrag"),
    ],
)
def test_refused_forms_have_a_german_message(text: str, message: str) -> None:
    with pytest.raises(InvalidAmount, match=message) as refused:
        parse_amount(text)
    assert isinstance(refused.value, InvalidInput)


def test_a_long_input_is_shortened_in_the_message() -> None:
    with pytest.raises(InvalidAmount) as refused:
        parse_amount("x" * 500)
    assert len(str(refused.value)) < 120


@PROPERTY
@given(amounts)
def test_round_trip_through_the_german_formatter_of_the_mails(amount: Decimal) -> None:
    assert parse_amount(format_money(amount)) == amount


@PROPERTY
@given(amounts)
def test_round_trip_through_plain_forms(amount: Decimal) -> None:
    plain = f"{amount:.2f}"  # 1190.00
    assert parse_amount(plain) == amount
    assert parse_amount(plain.replace(".", ",")) == amount  # 1190,00
    spaced = f"{amount:,.2f}".replace(",", " ").replace(".", ",")  # 1 190,00
    assert parse_amount(spaced) == amount


@PROPERTY
@given(amounts)
def test_english_grouping_is_never_guessed(amount: Decimal) -> None:
    english = f"{amount:,.2f}"  # 1,190.00
    if amount < 1000:
        assert parse_amount(english) == amount  # no comma: plain
    else:
        with pytest.raises(InvalidAmount, match="mehrdeutig"):
            parse_amount(english)


@PROPERTY
@given(amounts.filter(lambda amount: amount > 0))
def test_negative_amounts_are_refused(amount: Decimal) -> None:
    with pytest.raises(InvalidAmount, match="nicht negativ"):
        parse_amount(f"-{amount:.2f}")


@PROPERTY
@given(st.text(max_size=30))
def test_any_text_is_an_amount_or_a_german_refusal(text: str) -> None:
    try:
        amount = parse_amount(text)
    except InvalidAmount as refused:
        assert str(refused)
        return
    assert amount.is_finite()
    assert amount >= 0
    assert amount == amount.quantize(Decimal("0.01"))
    assert amount < Decimal(10) ** MAX_DIGITS
