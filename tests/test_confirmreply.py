"""The owner's answer to a "Neu aufgenommen" mail (mail/confirmreply.py) and the facts a
sent mail gives a new thread (mail/sentfacts.py)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from nachfass_bot.domain.models import Kind
from nachfass_bot.mail.confirmreply import ConfirmAction, ConfirmCommand, parse_confirm_reply
from nachfass_bot.mail.sentfacts import (
    Greeting,
    read_greeting,
    read_sent_facts,
    without_reply_prefixes,
)

TODAY = date(2026, 3, 2)


def parse(text: str) -> tuple[tuple[ConfirmCommand, ...], tuple[str, ...]]:
    reply = parse_confirm_reply(text, today=TODAY)
    return reply.commands, reply.not_understood


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("nein 2", ConfirmCommand(ConfirmAction.DROP, (2,))),
        ("Nein 2 und 3", ConfirmCommand(ConfirmAction.DROP, (2, 3))),
        ("stop 1, 4", ConfirmCommand(ConfirmAction.DROP, (1, 4))),
        ("nein", ConfirmCommand(ConfirmAction.DROP, ())),
        ("ok", ConfirmCommand(ConfirmAction.ACCEPT, ())),
        ("OK 1 3!", ConfirmCommand(ConfirmAction.ACCEPT, (1, 3))),
        ("du 1", ConfirmCommand(ConfirmAction.DU, (1,))),
        ("Sie 2.", ConfirmCommand(ConfirmAction.SIE, (2,))),
        ("angebot 2", ConfirmCommand(ConfirmAction.KIND, (2,), kind=Kind.ANGEBOT)),
        (
            "rechnung 1 fällig 31.03.",
            ConfirmCommand(
                ConfirmAction.KIND, (1,), kind=Kind.RECHNUNG, due_date=date(2026, 3, 31)
            ),
        ),
        (
            "Rechnung 3 nr 2026-014 betrag 1.190,00 fällig 31.03.2027",
            ConfirmCommand(
                ConfirmAction.KIND,
                (3,),
                kind=Kind.RECHNUNG,
                invoice_no="2026-014",
                amount=Decimal("1190.00"),
                due_date=date(2027, 3, 31),
            ),
        ),
        (
            "rechnung 2 betrag 1190,00 €",
            ConfirmCommand(ConfirmAction.KIND, (2,), kind=Kind.RECHNUNG, amount=Decimal("1190.00")),
        ),
    ],
)
def test_each_instruction(line: str, expected: ConfirmCommand) -> None:
    assert parse(line) == ((expected,), ())


def test_a_due_date_without_year_is_the_nearest_one() -> None:
    (command,), _ = parse("rechnung 1 fällig 15.12.")  # December 2025: three months ago
    assert command.due_date == date(2025, 12, 15)


@pytest.mark.parametrize(
    "line",
    [
        "nein danke, das war nichts",  # more than an instruction
        "rechnung",  # names no mail
        "rechnung 1 fällig 31.02.",  # no such day
        "rechnung 1 betrag 1,190.00",  # ambiguous amount
        "rechnung 1 irgendwann",
        "vielleicht",
    ],
)
def test_what_is_not_an_instruction_is_reported(line: str) -> None:
    assert parse(line) == ((), (line,))


def test_several_lines_above_the_quote_and_a_closing() -> None:
    body = (
        "nein 1\ndu 2\n\nDanke!\nAnna\n\n"
        "Am 02.03.2026 um 12:00 schrieb nachfass-bot:\n> 1. Angebot an Jonas …\n> nein 2\n"
    )
    commands, unknown = parse(body)
    assert [c.action for c in commands] == [ConfirmAction.DROP, ConfirmAction.DU]
    assert unknown == ("Anna",)  # a name after the closing is not hidden


@given(st.text(max_size=200))
def test_never_raises(text: str) -> None:
    parse_confirm_reply(text, today=TODAY)


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("Hallo Jonas,", Greeting(du=True)),
        ("Liebe Petra,", Greeting(du=True)),
        ("Hi Max!", Greeting(du=True)),
        ("Sehr geehrte Frau Lange,", Greeting(du=False, anrede="frau")),
        ("Hallo Herr Weiß,", Greeting(du=False, anrede="herr")),
        ("Guten Tag Herrn Dr. Weiß,", Greeting(du=False, anrede="herr")),
        ("Sehr geehrte Damen und Herren,", Greeting(du=False)),
        ("Guten Tag,", Greeting(du=False)),
        ("Hallo zusammen,", Greeting(du=None)),
        ("anbei das Angebot.", Greeting(du=None)),
        ("", Greeting(du=None)),
    ],
)
def test_greeting_says_du_or_sie(line: str, expected: Greeting) -> None:
    assert read_greeting(f"\n{line}\n\nanbei …") == expected


def test_topic_drops_reply_prefixes() -> None:
    assert without_reply_prefixes("AW: Re: WG: Website-Relaunch") == "Website-Relaunch"
    assert without_reply_prefixes("Rechnung 2026-014") == "Rechnung 2026-014"


def test_sent_facts_take_the_first_outside_recipient() -> None:
    raw = (
        b"From: Anna <anna@berger.example>\r\n"
        b"To: anna+nachfass@berger.example,\r\n"
        b" =?utf-8?q?J=C3=BCrgen_Wei=C3=9F?= <jw@praxis.example>\r\n"
        b"Cc: office@praxis.example\r\n"
        b"Subject: AW: Angebot Praxis\r\nMessage-ID: <a1@berger.example>\r\n"
        b"Date: Mon, 02 Mar 2026 10:00:00 +0100\r\n\r\nSehr geehrter Herr Wei\xc3\x9f,\r\n"
    )
    facts = read_sent_facts(
        raw, not_clients=("anna@berger.example", "anna+nachfass@berger.example")
    )
    assert facts is not None
    assert (facts.client_email, facts.client_name, facts.subject) == (
        "jw@praxis.example", "Jürgen Weiß", "Angebot Praxis",
    )  # fmt: skip
    assert facts.greeting == Greeting(du=False, anrede="herr")
    assert facts.message_id == "<a1@berger.example>"


def test_sent_facts_of_a_note_to_herself_are_none() -> None:
    raw = b"From: anna@berger.example\r\nTo: anna+nachfass+rechnung@berger.example\r\n\r\nx\r\n"
    assert (
        read_sent_facts(raw, not_clients=("anna@berger.example", "anna+nachfass@berger.example"))
        is None
    )
