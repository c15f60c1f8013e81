"""``nachfass-bot check`` against the test Dovecot and SMTP sink: right and wrong."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from loophelpers import PASSWORD_ENV, cli, write_config
from nachfass_bot.cli.checkup import Level, check_base_rate, check_smtp
from nachfass_bot.config import ServerConfig
from nachfass_bot.domain.interest import BASE_RATES, base_rate_table_stale_since
from nachfass_bot.domain.preferences import PaymentConfig
from servers import MailAccount, SmtpSink, free_port


@pytest.fixture
def strict_sink(dovecot: MailAccount) -> Iterator[SmtpSink]:
    """An SMTP server that accepts only the account's own password."""
    sink = SmtpSink(deliver_to=dovecot, require_auth=(dovecot.user, dovecot.password))
    sink.start()
    yield sink
    sink.stop()


def run_check(config: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    capsys.readouterr()
    code = cli(config, "check")
    captured = capsys.readouterr()
    return code, captured.out + captured.err


def test_right_password_lists_the_watched_folders(
    tmp_path: Path,
    dovecot: MailAccount,
    strict_sink: SmtpSink,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    config = write_config(tmp_path, dovecot, strict_sink, monkeypatch)

    code, out = run_check(config, capsys)

    assert code == 0, out
    assert f"angemeldet als {dovecot.user}" in out
    assert "✓ Posteingang: „INBOX“ wird beobachtet" in out
    assert "✓ Spam-Ordner: „Junk“ wird auf Antworten geprüft" in out
    assert "✓ Gesendet: „Sent“" in out
    assert "nichts gesendet" in out
    assert "Alles bereit" in out
    assert strict_sink.messages == []  # a check never sends
    assert strict_sink.auth_logins == [dovecot.user]


def test_wrong_password_says_so_for_both_servers(
    tmp_path: Path,
    dovecot: MailAccount,
    strict_sink: SmtpSink,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    config = write_config(tmp_path, dovecot, strict_sink, monkeypatch)
    monkeypatch.setenv(PASSWORD_ENV, "falsch-geheim-123")

    code, out = run_check(config, capsys)

    assert code == 1
    lines = [line for line in out.splitlines() if "Passwort falsch" in line]
    assert [line.partition(": ")[0] for line in lines] == [
        f"✗ IMAP {dovecot.host}:{dovecot.port} (none)",
        f"✗ SMTP {strict_sink.host}:{strict_sink.port} (none)",
    ]
    assert f"die Umgebungsvariable {PASSWORD_ENV}" in out
    assert "2 Probleme gefunden" in out
    assert "falsch-geheim-123" not in out
    assert "Traceback" not in out


def test_missing_password_variable_is_named(
    tmp_path: Path,
    dovecot: MailAccount,
    smtp_sink: SmtpSink,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    config = write_config(tmp_path, dovecot, smtp_sink, monkeypatch)
    monkeypatch.delenv(PASSWORD_ENV)

    code, out = run_check(config, capsys)

    assert code == 1
    assert f"{PASSWORD_ENV} ist nicht gesetzt" in out
    assert f"export {PASSWORD_ENV}=" in out


def test_a_configured_folder_that_does_not_exist(
    tmp_path: Path,
    dovecot: MailAccount,
    smtp_sink: SmtpSink,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    config = write_config(
        tmp_path, dovecot, smtp_sink, monkeypatch, '\n[mailbox]\njunk_folder = "Spam"\n'
    )

    code, out = run_check(config, capsys)

    assert code == 1
    assert "„Spam“ gibt es im Postfach nicht" in out
    assert "Junk" in out  # the folders that do exist are named
    assert "So behebst du es" in out


def test_tls_against_a_plain_port_is_a_tls_problem(
    tmp_path: Path,
    dovecot: MailAccount,
    smtp_sink: SmtpSink,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    config = write_config(tmp_path, dovecot, smtp_sink, monkeypatch)
    text = config.read_text(encoding="utf-8").replace('security = "none"', 'security = "ssl"')
    config.write_text(text, encoding="utf-8")

    code, out = run_check(config, capsys)

    assert code == 1
    assert out.count("Die TLS-Verbindung kam nicht zustande") == 2, out
    assert 'security = "ssl" mit Port 993' in out
    assert 'security = "ssl" mit Port 465' in out


def test_nobody_listening(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    account = MailAccount("127.0.0.1", free_port(), "anna@example.test", "geheim")
    sink = SmtpSink()  # never started: nothing listens on its port
    config = write_config(tmp_path, account, sink, monkeypatch)

    code, out = run_check(config, capsys)

    assert code == 1
    assert out.count("nimmt auf Port") == 2, out


def test_a_broken_config_is_reported_with_exit_code_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "config.toml"
    config.write_text('[owner]\nname = "Anna"\n', encoding="utf-8")

    code, out = run_check(config, capsys)

    assert code == 1
    assert "[owner] email fehlt" in out


def test_unknown_host_is_named() -> None:
    server = ServerConfig(
        host="mail.gibt-es-nicht.invalid",
        port=587,
        security="starttls",
        username="",
        password_env=None,
        password_command=None,
        section="smtp",
    )
    finding = check_smtp(server, timeout=5)
    assert finding.level is Level.ERROR
    assert "Name nicht auflösbar" in finding.detail
    assert finding.fix is not None and "[smtp] host" in finding.fix


def test_starttls_not_offered(
    tmp_path: Path,
    dovecot: MailAccount,
    smtp_sink: SmtpSink,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    config = write_config(tmp_path, dovecot, smtp_sink, monkeypatch)
    text = config.read_text(encoding="utf-8").replace('security = "none"', 'security = "starttls"')
    config.write_text(text, encoding="utf-8")

    code, out = run_check(config, capsys)

    assert code == 1
    assert out.count("bietet kein STARTTLS an") == 2, out


# -- the base-rate table (issue 13, point 11) --------------------------------------------------


def test_check_warns_when_interest_uses_a_stale_base_rate_table() -> None:
    last = BASE_RATES[-1][0]
    stale_day = date(last.year + 1, last.month, last.day)
    fresh_day = last + timedelta(days=30)

    warning = check_base_rate(PaymentConfig(interest=True), stale_day)

    assert warning is not None and warning.level is Level.WARNING
    assert f"{last:%d.%m.%Y}" in warning.detail
    assert warning.fix is not None and "Bundesbank" in warning.fix and "base_rate" in warning.fix
    assert check_base_rate(PaymentConfig(interest=True), fresh_day) is None
    assert check_base_rate(PaymentConfig(interest=False), stale_day) is None
    overridden = PaymentConfig(interest=True, base_rate=Decimal("1.27"))
    assert check_base_rate(overridden, stale_day) is None
    assert base_rate_table_stale_since(fresh_day) is None


def test_the_check_command_shows_the_base_rate_warning(
    tmp_path: Path,
    dovecot: MailAccount,
    strict_sink: SmtpSink,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    config = write_config(tmp_path, dovecot, strict_sink, monkeypatch)
    config.write_text(config.read_text() + "\n[payment]\ninterest = true\n")
    old_table = ((date(2019, 7, 1), Decimal("-0.88")), (date(2020, 1, 1), Decimal("-0.88")))
    monkeypatch.setattr("nachfass_bot.domain.interest.BASE_RATES", old_table)
    monkeypatch.setattr("nachfass_bot.cli.checkup.BASE_RATES", old_table)

    code, out = run_check(config, capsys)

    assert code == 0, out  # a warning, not an error
    assert "! Basiszinssatz: Die eingebaute Tabelle endet mit dem Satz vom 01.01.2020" in out
    assert "Bundesbank" in out
