"""Input is checked at the door: dates within one window, amounts and addresses strictly,
refused with a German message that names the option (exit code 2) before anything is
stored (docs/DESIGN.md, "Input at the door")."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from nachfass_bot.adapters.store import Store
from nachfass_bot.app.threads import NewThread, track_thread
from nachfass_bot.cli.main import main
from nachfass_bot.domain.dates import check_date, check_moment, date_window, in_date_window
from nachfass_bot.domain.models import CommandKind, Kind
from nachfass_bot.errors import DateOutOfRange
from nachfass_bot.mail.approval import parse_command, parse_owner_request

TODAY = date(2026, 3, 11)


# -- the window ----------------------------------------------------------------------------


def test_the_window_is_ten_years_back_and_five_ahead() -> None:
    assert date_window(TODAY) == (date(2016, 3, 11), date(2031, 3, 11))
    assert date_window(date(2028, 2, 29)) == (date(2018, 2, 28), date(2033, 2, 28))
    assert in_date_window(date(2016, 3, 11), TODAY)
    assert in_date_window(date(2031, 3, 11), TODAY)
    assert not in_date_window(date(2016, 3, 10), TODAY)
    assert not in_date_window(date(2031, 3, 12), TODAY)


@pytest.mark.parametrize(
    ("day", "message"),
    [
        (date(9999, 12, 31), "31.12.9999 liegt zu weit in der Zukunft"),
        (date(1, 1, 1), "01.01.0001 liegt zu weit in der Vergangenheit"),
        (date(2031, 3, 12), "vom 11.03.2016 bis zum 11.03.2031"),
    ],
)
def test_a_date_outside_is_refused_in_german(day: date, message: str) -> None:
    with pytest.raises(DateOutOfRange, match=message):
        check_date(day, TODAY)


def test_a_moment_at_the_end_of_the_calendar_is_checked_without_overflow() -> None:
    now = datetime(2026, 3, 11, 10, tzinfo=UTC)
    for moment in (datetime.max.replace(tzinfo=UTC), datetime.min.replace(tzinfo=UTC)):
        with pytest.raises(DateOutOfRange):
            check_moment(moment, now)
    assert check_moment(now - timedelta(days=3), now) == now - timedelta(days=3)


# -- the owner's words in mail ---------------------------------------------------------------


@pytest.mark.parametrize(
    "answer",
    ["später 31.12.9999", "später 01.01.0001", "später 12.03.2031", "später 31.02.2027"],
)
def test_later_with_a_date_outside_the_window_is_not_understood(answer: str) -> None:
    command = parse_command(answer, today=TODAY)
    assert command.kind is CommandKind.UNKNOWN
    assert command.text == answer


def test_later_within_the_window_still_works() -> None:
    assert parse_command("später 11.03.2031", today=TODAY).until == date(2031, 3, 11)
    assert parse_command("später 29.02.", today=TODAY).until == date(2028, 2, 29)
    assert parse_command("später 7", today=TODAY).days == 7


@pytest.mark.parametrize(
    "request_line", ["urlaub bis 31.12.9999", "urlaub bis 31.02.", "urlaub bis 01.03.2026"]
)
def test_vacation_with_an_unusable_date_is_not_understood(request_line: str) -> None:
    command = parse_owner_request(request_line, "", today=TODAY)
    assert command is not None
    assert command.kind is CommandKind.UNKNOWN
    assert command.text == request_line


def test_vacation_within_the_window_still_works() -> None:
    command = parse_owner_request("", "urlaub bis 06.01.2027", today=TODAY)
    assert command is not None and command.until == date(2027, 1, 6)


# -- the app refuses too (the demo or a script that skips the CLI) ---------------------------


def test_track_thread_refuses_dates_outside_the_window_and_stores_nothing(
    memory_store: Store,
) -> None:
    store = memory_store
    now = datetime(2026, 3, 11, 10, tzinfo=UTC)
    invoice = NewThread(
        kind=Kind.RECHNUNG, email="kasse@praxis.test", subject="R1", invoice_no="R1",
        amount=Decimal("100.00"), due_date=date(9999, 12, 31),
    )  # fmt: skip
    with pytest.raises(DateOutOfRange):
        track_thread(store, invoice, now)
    offer = NewThread(
        kind=Kind.ANGEBOT, email="a@firma.test", subject="A",
        started_at=datetime(1, 1, 1, tzinfo=UTC),
    )  # fmt: skip
    with pytest.raises(DateOutOfRange):
        track_thread(store, offer, now)
    assert store.threads() == []


# -- the command line ---------------------------------------------------------------------


@pytest.fixture
def config(tmp_path: Path) -> Path:
    """A config whose servers are never reached: every command here stops at the door."""
    path = tmp_path / "config.toml"
    path.write_text(
        '[owner]\nname = "Anna Berger"\nemail = "anna@berger-design.test"\nsignature = "Anna"\n'
        '[imap]\nhost = "localhost"\nport = 1\nsecurity = "none"\nusername = "anna"\n'
        'password_env = "NACHFASS_TEST_UNUSED"\n'
        '[smtp]\nhost = "localhost"\nport = 1\nsecurity = "none"\nusername = "anna"\n'
        'password_env = "NACHFASS_TEST_UNUSED"\n'
        '[store]\npath = "nachfass.db"\n',
        encoding="utf-8",
    )
    return path


INVOICE = ("track", "--kind", "rechnung", "--to", "kasse@praxis.test", "--subject", "R1",
           "--invoice-no", "R1")  # fmt: skip
ORDER = ("track", "--kind", "auftrag", "--to", "info@hoffmann.test", "--subject", "Flyer")


@pytest.mark.parametrize(
    ("args", "option", "message"),
    [
        ((*INVOICE, "--amount", "100", "--due", "9999-12-31"), "--due", "zu weit in der Zukunft"),
        ((*INVOICE, "--amount", "100", "--due", "2010-01-01"), "--due", "Vergangenheit"),
        ((*ORDER, "--sent-at", "0001-01-01"), "--sent-at", "zu weit in der Vergangenheit"),
        ((*ORDER, "--sent-at", "9999-12-31T23:59"), "--sent-at", "zu weit in der Zukunft"),
        ((*INVOICE, "--amount", "1,190.00", "--due", "2026-12-31"), "--amount", "mehrdeutig"),
        ((*INVOICE, "--amount", "1e30", "--due", "2026-12-31"), "--amount", "kein Betrag"),
        ((*INVOICE, "--amount", "NaN", "--due", "2026-12-31"), "--amount", "kein Betrag"),
        ((*INVOICE, "--amount", "-5", "--due", "2026-12-31"), "--amount", "nicht negativ"),
        ((*INVOICE, "--amount", "1" * 13, "--due", "2026-12-31"), "--amount", "zu groß"),
        ((*INVOICE, "--amount", "1,999", "--due", "2026-12-31"), "--amount", "mehrdeutig"),
        ((*ORDER, "--expenses", "350,5055"), "--expenses", "mehr als zwei Stellen"),
        ((*ORDER, "--expenses", "Infinity"), "--expenses", "kein Betrag"),
        (("track", "--kind", "angebot", "--to", "a@firma.de, b@firma.de", "--subject", "A"),
         "--to", "keine Liste"),
        (("track", "--kind", "angebot", "--to", "Chef <a@firma.de>", "--subject", "A"),
         "--to", "ohne Namen"),
        (("track", "--kind", "angebot", "--to", "a@firma.de\u202e", "--subject", "A"),
         "--to", "Richtungszeichen"),
        ((*ORDER, "--assistant", "sek@firma.de;chef@firma.de"), "--assistant", "keine Liste"),
        (("tick", "--now", "9999-12-31T10:00"), "--now", "zu weit in der Zukunft"),
        (("digest", "--now", "0001-01-01"), "--now", "zu weit in der Vergangenheit"),
    ],
)  # fmt: skip
def test_the_cli_refuses_with_exit_code_2_naming_the_option(
    config: Path, capsys, args: tuple[str, ...], option: str, message: str
) -> None:
    assert main(["--config", str(config), *args]) == 2
    err = capsys.readouterr().err
    assert f"{option}:" in err
    assert message in err
    assert "Traceback" not in err
    assert not (config.parent / "nachfass.db").exists(), "nothing was stored"


def test_the_cli_takes_german_amounts_and_a_date_in_the_window(config: Path, capsys) -> None:
    due = (datetime.now(UTC).date() + timedelta(days=14)).isoformat()
    args = (*INVOICE, "--amount", "1.190", "--due", due, "--to", "Kasse@Praxis.TEST", "--json")
    assert main(["--config", str(config), *args]) == 0
    assert '"amount": "1190.00"' in capsys.readouterr().out
    store = Store.open(config.parent / "nachfass.db")
    try:
        (thread,) = store.threads()
    finally:
        store.close()
    assert thread.amount == Decimal("1190.00")
    assert thread.client.email == "kasse@praxis.test"
