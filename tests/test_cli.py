"""The CLI as a new user meets it: the installed console script in a subprocess."""

from __future__ import annotations

import email
import email.policy
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from contextlib import closing
from pathlib import Path

import pytest

from loophelpers import PASSWORD_ENV, write_config
from servers import MailAccount, SmtpSink

SCRIPT = shutil.which("nachfass-bot") or str(Path(sys.executable).parent / "nachfass-bot")


def run_cli(*args: str, env: dict[str, str] | None = None, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(
        [SCRIPT, *args],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=60,
        **kwargs,
    )


def test_help_lists_the_commands() -> None:
    result = run_cli("--help")
    assert result.returncode == 0
    for command in ("track", "tick", "run", "list", "show", "demo"):
        assert command in result.stdout


# Import names of the libraries that cost start-up time (factur-x is imported as facturx).
HEAVY_MODULES = (
    "rich",
    "babel",
    "holidays",
    "apscheduler",
    "jinja2",
    "imapclient",
    "aiosmtplib",
    "pypdf",
    "facturx",
    "lxml",
    "msal",
    "email_validator",
)

# Runs --help of the group and of every command in one interpreter, then names the
# heavy libraries that got imported on the way.
_HELP_PROBE = """
import contextlib, io, sys
import click
from nachfass_bot.cli.main import cli, main

def paths(group, prefix):
    for name, command in group.commands.items():
        yield [*prefix, name]
        if isinstance(command, click.Group):
            yield from paths(command, [*prefix, name])

runs = [[]] + list(paths(cli, []))
with contextlib.redirect_stdout(io.StringIO()):
    codes = [main([*path, "--help"]) for path in runs]
heavy = [name for name in HEAVY if name in sys.modules]
print(len(runs), sum(codes), *heavy)
"""


def test_the_command_line_imports_heavy_libraries_only_for_a_command() -> None:
    """``--help`` and every command's parsing load no template engine, calendar, scheduler
    or mail library: the commands import what they need when they run."""
    probe = f"HEAVY = {HEAVY_MODULES!r}\n{_HELP_PROBE}"
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=True
    )
    runs, failed, *heavy = result.stdout.split()
    assert int(runs) > 20  # the group and every command and subcommand
    assert failed == "0"
    assert heavy == []


def test_the_probe_sees_the_libraries_a_command_imports() -> None:
    """The probe above would pass if nothing ever imported the libraries: ``demo``'s
    imports, done the way a command does them, and a first holiday look-up (the
    calendar imports ``holidays`` then) pull the heavy ones in."""
    probe = (
        "import sys, datetime, nachfass_bot.cli.main, nachfass_bot.cli.demo, "
        "nachfass_bot.cli.views, nachfass_bot.domain.calendar as calendar; "
        "calendar.is_public_holiday(datetime.date(2026, 1, 1), 'NW'); "
        f"print(' '.join(m for m in {HEAVY_MODULES!r} if m in sys.modules))"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=True
    )
    assert {"rich", "jinja2", "babel", "holidays"} <= set(result.stdout.split())


def test_missing_key_gives_one_german_line_and_exit_2(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text(
        '[owner]\nname = "Anna"\nemail = "anna@example.test"\nsignature = "Anna"\n'
        '[imap]\nport = 993\nusername = "anna"\npassword_env = "X"\n'
        '[smtp]\nhost = "smtp.example.test"\nusername = "anna"\npassword_env = "X"\n',
        encoding="utf-8",
    )
    result = run_cli("--config", str(config), "list")
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert "[imap] host" in lines[0]
    assert "fehlt" in lines[0]


def test_no_security_for_a_remote_host_is_refused(tmp_path: Path) -> None:
    example = Path(__file__).parents[1] / "config.example.toml"
    text = example.read_text(encoding="utf-8").replace('security = "ssl"', 'security = "none"')
    config = tmp_path / "config.toml"
    config.write_text(text, encoding="utf-8")
    result = run_cli("--config", str(config), "list")
    assert result.returncode == 2
    assert "[imap] security" in result.stderr
    assert "Traceback" not in result.stderr


def test_config_path_from_environment_then_xdg(tmp_path: Path) -> None:
    xdg = tmp_path / "xdg"
    result = run_cli("list", env={"XDG_CONFIG_HOME": str(xdg), "NACHFASS_CONFIG": ""})
    assert result.returncode == 2
    assert str(xdg / "nachfass-bot" / "config.toml") in result.stderr

    other = tmp_path / "elsewhere.toml"
    result = run_cli("list", env={"NACHFASS_CONFIG": str(other)})
    assert result.returncode == 2
    assert str(other) in result.stderr


def test_wrong_imap_password_is_a_german_error_without_the_password(
    tmp_path: Path, dovecot: MailAccount, smtp_sink: SmtpSink, monkeypatch
) -> None:
    config = write_config(tmp_path, dovecot, smtp_sink, monkeypatch)
    result = run_cli("--config", str(config), "tick", env={PASSWORD_ENV: "falsch-geheim-123"})
    assert result.returncode == 1
    assert "Passwort falsch" in result.stderr
    assert "falsch-geheim-123" not in result.stderr + result.stdout
    assert "Traceback" not in result.stderr


def test_track_tick_list_show_through_the_console_script(
    tmp_path: Path, dovecot: MailAccount, smtp_sink: SmtpSink, monkeypatch
) -> None:
    config = write_config(tmp_path, dovecot, smtp_sink, monkeypatch)
    tracked = run_cli(
        "--config", str(config), "track",
        "--kind", "auftrag",
        "--to", "info@hoffmann-events.test",
        "--name", "Lena Hoffmann",
        "--subject", "Flyer Sommerfest – Unterlagen",
        "--sent-at", "2026-06-01T15:00",
        "--du",
    )  # fmt: skip
    assert tracked.returncode == 0, tracked.stderr
    assert "Vorgang 1 angelegt" in tracked.stdout

    ticked = run_cli("--config", str(config), "tick", "--now", "2026-06-02T15:30")
    assert ticked.returncode == 0, ticked.stderr
    assert "1 Aufgabe" in ticked.stdout
    owner_mails = [m.message for m in smtp_sink.messages if dovecot.user in m.rcpt_tos]
    assert len(owner_mails) == 1
    assert "anrufen" in owner_mails[0].get_content().lower()

    listed = json.loads(run_cli("--config", str(config), "list", "--json").stdout)
    keys = {"id", "kind", "state", "step", "client_email", "next_due_at"}
    assert keys | {"answered_at", "answered_folder"} <= set(listed[0])
    assert listed[0]["kind"] == "auftrag"
    assert listed[0]["step"] == 1
    assert listed[0]["next_due_at"].startswith("2026-06-09")

    shown = run_cli("--config", str(config), "show", "1")
    assert shown.returncode == 0
    assert "Lena Hoffmann" in shown.stdout
    assert "eine Aufgabe für Dich" in shown.stdout

    table = run_cli("--config", str(config), "list")
    assert "Hoffmann" in table.stdout


def test_run_stops_cleanly_on_sigterm_and_refuses_a_second_instance(
    tmp_path: Path, dovecot: MailAccount, smtp_sink: SmtpSink, monkeypatch
) -> None:
    config = write_config(tmp_path, dovecot, smtp_sink, monkeypatch)
    daemon = subprocess.Popen(
        [SCRIPT, "--config", str(config), "run", "--interval", "60"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert _wait_for(lambda: (tmp_path / "nachfass.db.lock").exists() and _cycles(config))
        second = run_cli("--config", str(config), "run")
        assert second.returncode == 1
        assert "läuft schon" in second.stderr
    finally:
        daemon.send_signal(signal.SIGTERM)
        _out, err = daemon.communicate(timeout=30)
    assert daemon.returncode == 0, err
    assert "stopped" in err


def _cycles(config: Path) -> bool:
    import sqlite3

    db = config.parent / "nachfass.db"
    if not db.exists():
        return False
    # A connection's own ``with`` only commits; closing() closes it.
    with closing(sqlite3.connect(db)) as conn:
        try:
            return conn.execute("SELECT count(*) FROM folders").fetchone()[0] > 0
        except sqlite3.OperationalError:
            return False


def _wait_for(condition, timeout: float = 20.0) -> bool:
    """Poll a condition of another process (not a sleep-based test of our own timing)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return False


def test_demo_runs_in_seconds_and_leaves_nothing_behind(tmp_path: Path) -> None:
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    workdir = tmp_path / "cwd"
    workdir.mkdir()
    result = run_cli("demo", cwd=workdir, env={"TMPDIR": str(scratch)})
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "Spam-Ordner" in out
    assert "Vorgang ruht" in out
    assert "Zahlungserinnerung / 1. Mahnung" in out
    assert "antwortet auf die erste Nachfrage" in out
    assert "beantwortet, Antwort im Ordner Junk" in out
    # It starts from the Sent folder: the e-invoice's facts read from its Factur-X XML,
    # the private mail left alone.
    assert "Rechnung erkannt: E-Rechnung" in out
    assert "Rechnung 2026-014 an Jürgen Weiß (gesendet 2. März 2026), 1.190,00 €" in out
    assert "Du schickst Mama" in out and "Vorgang 5" not in out
    assert "Die Demo hat alle ihre Dateien wieder gelöscht." in out
    assert list(workdir.iterdir()) == []
    assert list(scratch.iterdir()) == [], "the temporary mailbox and store are gone"


# "Angebot „Angebot …“", "die die": a word said twice in a row, across a quote mark.
DOUBLED_WORD = re.compile(r"(?<![\w-])(\w{2,})[ \t]+[„“\"]?\1(?![\w-])", re.IGNORECASE)


def test_demo_output_and_mails_read_as_sentences_without_doubled_words(tmp_path: Path) -> None:
    target = tmp_path / "demo"
    result = run_cli("demo", "--keep", str(target))
    assert result.returncode == 0, result.stderr
    texts = {"Ausgabe": result.stdout}  # and every mail the bot wrote
    for path in (target / "Postfach").rglob("*"):
        if path.is_file() and path.parent.name in ("cur", "new"):
            message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
            if "anna@berger-design.example" not in str(message["From"]):
                continue  # a client's own words are theirs
            part = message.get_body(preferencelist=("plain",))
            assert part is not None
            texts[path.name] = f"{message['Subject']}\n{part.get_content()}"
    assert len(texts) > 5

    for name, text in texts.items():
        assert not DOUBLED_WORD.search(text), (name, DOUBLED_WORD.search(text))
        assert not re.search(r"\b[Ww]ir\b", text), name
        assert "Schritt(e)" not in text and " → " not in text, name
    assert "noch kein Schritt erledigt" in result.stdout


def test_demo_keep_writes_only_where_it_says(tmp_path: Path) -> None:
    target = tmp_path / "demo"
    result = run_cli("demo", "--keep", str(target))
    assert result.returncode == 0, result.stderr
    assert str(target) in result.stdout
    assert (target / "nachfass-demo.db").exists()
    assert (target / "Postfach" / ".Junk").is_dir()


@pytest.mark.parametrize("bad", ["2026-13-01", "morgen"])
def test_bad_now_is_a_clear_message(tmp_path: Path, bad: str, dovecot, smtp_sink, monkeypatch):
    config = write_config(tmp_path, dovecot, smtp_sink, monkeypatch)
    result = run_cli("--config", str(config), "tick", "--now", bad)
    assert result.returncode == 2
    assert "kein Zeitpunkt" in result.stderr
    assert "Traceback" not in result.stderr


def test_owner_marks_paid_pauses_resumes_and_finishes_tasks(
    tmp_path: Path, dovecot: MailAccount, smtp_sink: SmtpSink, monkeypatch
) -> None:
    config = write_config(tmp_path, dovecot, smtp_sink, monkeypatch)
    base = ["--config", str(config)]
    run_cli(*base, "track", "--kind", "rechnung", "--to", "kasse@praxis.test", "--subject", "R1",
            "--invoice-no", "R1", "--amount", "100", "--due", "2026-03-16")  # fmt: skip
    run_cli(*base, "track", "--kind", "auftrag", "--to", "info@hoffmann.test", "--subject", "Flyer",
            "--sent-at", "2026-06-01T15:00")  # fmt: skip
    assert run_cli(*base, "tick", "--now", "2026-06-02T15:30").returncode == 0

    paid = run_cli(*base, "paid", "1")
    assert paid.returncode == 0 and "bezahlt" in paid.stdout
    assert run_cli(*base, "paid", "2").returncode == 1, "an order is no invoice"
    assert run_cli(*base, "pause", "2").returncode == 0
    states = {
        row["id"]: row["state"] for row in json.loads(run_cli(*base, "list", "--json").stdout)
    }
    assert states == {1: "paid", 2: "paused"}
    assert run_cli(*base, "resume", "2").returncode == 0

    shown = json.loads(run_cli(*base, "show", "2", "--json").stdout)
    assert shown["state"] == "open"
    task_id = shown["tasks"][0]["id"]
    assert run_cli(*base, "done", str(task_id)).returncode == 0
    assert json.loads(run_cli(*base, "show", "2", "--json").stdout)["tasks"] == []
    assert run_cli(*base, "done", str(task_id)).returncode == 1


def test_owner_answers_a_task_reminder_with_erledigt(
    tmp_path: Path, dovecot: MailAccount, smtp_sink: SmtpSink, monkeypatch
) -> None:
    from loophelpers import local, owner_reply

    config = write_config(tmp_path, dovecot, smtp_sink, monkeypatch)
    base = ["--config", str(config)]
    run_cli(*base, "track", "--kind", "auftrag", "--to", "info@hoffmann.test", "--subject", "Flyer",
            "--sent-at", "2026-06-01T15:00")  # fmt: skip
    assert run_cli(*base, "tick", "--now", "2026-06-02T15:30").returncode == 0
    reminder = [m.message for m in smtp_sink.messages if dovecot.user in m.rcpt_tos][-1]
    assert "[NF-" in reminder["Subject"]

    dovecot.append("INBOX", owner_reply(dovecot, reminder, "Erledigt.", local("2026-06-02T16:00")))
    assert run_cli(*base, "tick", "--now", "2026-06-02T16:05").returncode == 0

    shown = json.loads(run_cli(*base, "show", "1", "--json").stdout)
    assert shown["tasks"] == []
    assert any(event["text"].startswith("Aufgabe erledigt") for event in shown["events"])
