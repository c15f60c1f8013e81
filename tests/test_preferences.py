"""[schedule], [clients] and [payment]: the owner's rules, checked at start-up."""

from __future__ import annotations

from decimal import Decimal

import pytest

from nachfass_bot.config import parse_config
from nachfass_bot.domain.models import Kind
from nachfass_bot.domain.schedule import Delay
from nachfass_bot.errors import ConfigError
from test_config import CONFIG_PATH, minimal


def parse(**sections):
    data = minimal()
    data.update(sections)
    return parse_config(data, CONFIG_PATH).preferences


def test_delays_auto_send_and_client_overrides() -> None:
    prefs = parse(
        schedule={
            "auto_reply_wait_days": 5,
            "angebot": {"step_1": "10 Tage", "step_2": 5, "auto_send": [2]},
            "auftrag": {"step_2": "2 Werktage"},
        },
        clients={
            "Jonas@Keller-Bau.de": {
                "du": True,
                "anrede": "Herr",
                "type": "b2c",
                "assistant": "empfang@keller-bau.de",
                "schedule": {"angebot": {"step_1": 14}},
            }
        },
    )
    assert prefs.schedule.auto_reply_wait_days == 5
    assert prefs.schedule.for_kind(Kind.ANGEBOT).auto_send == frozenset({2})
    assert prefs.delays(Kind.ANGEBOT, "someone@else.de") == {1: Delay(10), 2: Delay(5)}
    assert prefs.delays(Kind.ANGEBOT, "jonas@keller-bau.de") == {1: Delay(14), 2: Delay(5)}
    assert prefs.delays(Kind.AUFTRAG, "x@y.de") == {2: Delay(2, business_days=True)}
    client = prefs.client("JONAS@keller-bau.de")
    assert (client.du, client.anrede, client.customer_type) == (True, "herr", "b2c")
    assert client.assistant == "empfang@keller-bau.de"


def test_payment_options() -> None:
    prefs = parse(
        payment={
            "reminder_days": 14,
            "interest": True,
            "flat_fee": True,
            "base_rate": "1,27",
            "final_step": "Inkasso",
        }
    )
    payment = prefs.payment
    assert (payment.reminder_days, payment.interest, payment.flat_fee) == (14, True, True)
    assert payment.base_rate == Decimal("1.27")
    assert payment.final_step == "inkasso"


def test_defaults_send_nothing_automatically_and_mention_no_interest() -> None:
    prefs = parse()
    assert all(not prefs.schedule.for_kind(kind).auto_send for kind in Kind)
    assert not prefs.payment.interest and not prefs.payment.flat_fee
    assert prefs.payment.final_step is None


@pytest.mark.parametrize(
    ("sections", "expected"),
    [
        ({"schedule": {"angebot": {"step_7": 3}}}, "[schedule.angebot] step_7 gibt es bei"),
        ({"schedule": {"angebot": {"step_1": "bald"}}}, "[schedule.angebot] step_1 muss eine Zahl"),
        ({"schedule": {"rechnung": {"auto_send": [4]}}}, "[schedule.rechnung] auto_send muss"),
        ({"schedule": {"angebt": {}}}, "angebt"),
        ({"clients": {"jonas": {"du": True}}}, "[clients] jonas ist keine E-Mail-Adresse"),
        ({"clients": {"a@b.de": {"anrede": "divers"}}}, "[clients.a@b.de] anrede muss „frau“"),
        ({"clients": {"a@b.de": {"typ": "b2c"}}}, "typ"),
        ({"payment": {"reminder_days": 3}}, "[payment] reminder_days muss zwischen 7 und 30"),
        ({"payment": {"base_rate": "hoch"}}, "[payment] base_rate muss ein Prozentsatz"),
        (
            {"payment": {"final_step": "einen Mahnbescheid beantragen und die Polizei rufen"}},
            "[payment] final_step muss „mahnbescheid“, „inkasso“ oder „anwalt“ sein",
        ),
        ({"payment": {"final_step": "pfändung"}}, "[payment] final_step muss „mahnbescheid“"),
    ],
)
def test_problems_name_the_key(sections, expected: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse(**sections)
    assert expected in str(caught.value)
