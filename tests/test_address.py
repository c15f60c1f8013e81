"""``--to`` and ``--assistant`` take exactly one plain address (mail/address.py)."""

from __future__ import annotations

import pytest

from nachfass_bot.errors import InvalidAddress
from nachfass_bot.mail.address import BIDI_CONTROLS, parse_address


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("jonas.keller@firma.de", "jonas.keller@firma.de"),
        ("Jonas.Keller@Firma.DE", "jonas.keller@firma.de"),
        ("  info@hoffmann-events.test ", "info@hoffmann-events.test"),
        ("buero+rechnung@kanzlei-sommer.de", "buero+rechnung@kanzlei-sommer.de"),
        ("info@müller-bau.de", "info@xn--mller-bau-q9a.de"),  # as mail headers carry it
    ],
)
def test_one_plain_address_is_taken(text: str, expected: str) -> None:
    assert parse_address(text) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("a@firma.de, b@firma.de", "keine Liste"),
        ("a@firma.de;b@firma.de", "keine Liste"),
        ("a@firma.de,", "keine Liste"),
        ("Jonas Keller <jonas@firma.de>", "ohne Namen"),
        ("<jonas@firma.de>", "ohne Namen"),
        ('"jonas@firma.de" <chef@andere.de>', "ohne Namen"),
        ('"Jonas Keller"@firma.de', "ohne Namen"),
        ("jonas@firma.de <chef@andere.de>", "ohne Namen"),
        ("jonas@firma.de\nBcc: chef@andere.de", "Steuer"),
        ("jonas@firma.de\r\n", "Steuer"),
        ("jonas@firma.de\t", "Steuer"),
        ("jonas@firma.de\x00", "Steuer"),
        ("jonas\u200b@firma.de", "Steuer"),  # zero-width space
        ("jonas keller@firma.de", "keine gültige"),
        ("jonas", "keine gültige"),
        ("jonas@", "keine gültige"),
        ("@firma.de", "keine gültige"),
        ("jonas@@firma.de", "keine gültige"),
        ("jonas@firma..de", "keine gültige"),
        ("jonas@localhost", "keine gültige"),
        ("jonas@[192.0.2.1]", "keine gültige"),
        ("jönas@firma.de", "keine gültige"),  # a local part every server accepts
        ("", "keine gültige"),
    ],
)
def test_refused_forms_have_a_german_message(text: str, message: str) -> None:
    with pytest.raises(InvalidAddress, match=message):
        parse_address(text)


@pytest.mark.parametrize("control", sorted(BIDI_CONTROLS))
def test_bidi_controls_are_refused_and_shown(control: str) -> None:
    assert {f"U+{code:04X}" for code in map(ord, BIDI_CONTROLS)} >= {
        "U+202A", "U+202E", "U+2066", "U+2069", "U+200E", "U+200F",
    }  # fmt: skip
    # "moc.amrif@sanoj" shown right to left reads like another address
    with pytest.raises(InvalidAddress, match="Richtungszeichen") as refused:
        parse_address(f"jonas@{control}ed.amrif")
    assert f"<U+{ord(control):04X}>" in str(refused.value), "the invisible character is named"
