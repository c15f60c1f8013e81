"""Amounts of money as a person types them: one strict parser (docs/DESIGN.md, "Input at
the door"). Pure.

Read without guessing, or refused:

* German: ``1.190,00``, ``1190,00``, ``1.190`` (the dot groups thousands: 1.190,00 €),
  ``1 190,00`` (a space, also a no-break space, groups thousands);
* plain: ``1190.00``, ``1190``, ``1 190.00``;
* an optional ``€`` or ``EUR`` before or after.

Refused: ``1,190.00`` and ``1,190`` (English grouping: a German reader takes the comma for
the decimal point), more than two decimals, more than :data:`MAX_DIGITS` digits before
the decimal point, negative amounts, and everything that is not digits and separators
(``1e30``, ``NaN``, ``Infinity``). The result always has two decimals.
"""

from __future__ import annotations

import re
from decimal import Decimal

from nachfass_bot.errors import InvalidAmount

MAX_DIGITS = 12  # before the decimal point: up to 999.999.999.999,99 €
CENT = Decimal("0.01")

# A no-break space and a narrow no-break space group thousands like a space.
_SPACES = str.maketrans({"\u00a0": " ", "\u202f": " "})
_CURRENCY_RE = re.compile(r"\A(?:€|eur)\s*|\s*(?:€|eur)\Z", re.IGNORECASE)
_CHARACTERS_RE = re.compile(r"[0-9., ]+")
_MINUS = ("-", "\u2212")  # hyphen-minus and the minus sign
_SHOWN = 40  # characters of the input quoted in a message


def parse_amount(text: str) -> Decimal:
    """The amount in ``text`` as a Decimal with two decimals; InvalidAmount (German
    message quoting the input) for every form in the module docstring that is refused."""
    body = _CURRENCY_RE.sub("", text.strip(), count=1).strip().translate(_SPACES)
    if body.startswith(_MINUS):
        raise InvalidAmount(f"„{_shown(text)}“: ein Betrag darf nicht negativ sein")
    if not _CHARACTERS_RE.fullmatch(body):
        raise _not_an_amount(text)
    whole, fraction = _split_decimal(body, text)
    digits = _whole_digits(whole, text)
    if len(fraction) > 2:
        raise InvalidAmount(f"„{_shown(text)}“ hat mehr als zwei Stellen nach dem Komma")
    if len(digits) > MAX_DIGITS:
        raise InvalidAmount(
            f"„{_shown(text)}“ ist zu groß: höchstens {MAX_DIGITS} Stellen vor dem Komma"
        )
    return Decimal(f"{digits}.{fraction or '0'}").quantize(CENT)


def _split_decimal(body: str, text: str) -> tuple[str, str]:
    """``(whole part, decimals)``: which separator is the decimal one, if any."""
    if "," in body:
        whole, _, fraction = body.rpartition(",")
        if "," in whole or "." in fraction or (len(fraction) == 3 and _is_grouped(body, ",")):
            # 1,190.00 / 1,190 / 1,190,000: English grouping, or a German reader's 1,19
            raise InvalidAmount(
                f"„{_shown(text)}“ ist mehrdeutig: bitte 1.190,00 oder 1190.00 schreiben"
            )
        return whole, _digits_only(fraction, text)
    if body.count(".") == 1:
        whole, _, fraction = body.partition(".")
        if len(fraction) == 3 and _is_grouped(body, "."):
            return body, ""  # 1.190: the German thousands dot
        return whole, _digits_only(fraction, text)
    return body, ""  # no separator, or several thousands dots (1.190.000)


def _whole_digits(whole: str, text: str) -> str:
    """The digits before the decimal point, with any thousands grouping checked."""
    if whole.isdigit():
        return whole
    for separator in (".", " "):
        if _is_grouped(whole, separator):
            return whole.replace(separator, "")
    raise _not_an_amount(text)


def _is_grouped(whole: str, separator: str) -> bool:
    """``1.190.000`` / ``1 190``: 1–3 digits (no leading zero), then groups of three."""
    head, *groups = whole.split(separator)
    return (
        bool(groups)
        and 1 <= len(head) <= 3
        and head.isdigit()
        and not head.startswith("0")
        and all(len(group) == 3 and group.isdigit() for group in groups)
    )


def _digits_only(fraction: str, text: str) -> str:
    if not fraction.isdigit():
        raise _not_an_amount(text)
    return fraction


def _not_an_amount(text: str) -> InvalidAmount:
    return InvalidAmount(f"„{_shown(text)}“ ist kein Betrag wie 1.190,00 oder 1190.00")


def _shown(text: str) -> str:
    text = text.strip()
    return text if len(text) <= _SHOWN else text[: _SHOWN - 1] + "…"
