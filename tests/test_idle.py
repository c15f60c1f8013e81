"""IMAP IDLE: a client's answer in INBOX stops the escalation within seconds."""

from __future__ import annotations

import logging
import signal
import sqlite3
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from loophelpers import BERLIN, mail, track, write_config
from nachfass_bot.adapters.idle import IdleWatcher
from nachfass_bot.adapters.imap import ImapMailbox
from nachfass_bot.cli.daemon import CycleRunner
from nachfass_bot.config import ServerConfig
from nachfass_bot.errors import MailboxError
from servers import CuttingProxy, MailAccount, SmtpSink
from test_cli import SCRIPT

CLIENT = "jonas.keller@keller-bau.test"
OFFER_ID = "<angebot-idle@berger-design.test>"
ANSWER_DEADLINE = 15.0  # seconds; the polling interval is 60 minutes


def wait_for(condition: Callable[[], bool], timeout: float = 10.0) -> bool:
    """Poll a condition of another thread or process until it holds or time runs out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return condition()


# -- the daemon end to end -----------------------------------------------------------------


@pytest.fixture
def quiet_sink() -> Iterator[SmtpSink]:
    """A sink that delivers nothing: the daemon's own mail (the weekly digest) must not
    land in INBOX and wake the cycle that is to be woken by the answer alone."""
    sink = SmtpSink()
    sink.start()
    yield sink
    sink.stop()


@pytest.mark.parametrize("folder", ["INBOX", "Junk"])
def test_answer_arriving_in_inbox_or_junk_is_seen_at_once_although_the_interval_is_an_hour(
    tmp_path: Path, dovecot: MailAccount, quiet_sink: SmtpSink, monkeypatch, capsys, folder: str
) -> None:
    """Each folder has its own IDLE connection: an answer the provider's filter put in
    the junk folder wakes the cycle as fast as one in INBOX (issue 12, point 6; the
    seconds it takes are measured by bench/, not here)."""
    config = write_config(tmp_path, dovecot, quiet_sink, monkeypatch)
    yesterday = (datetime.now(BERLIN) - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M")
    thread_id = track(
        config, capsys,
        "--kind", "angebot",
        "--to", CLIENT,
        "--name", "Jonas Keller",
        "--subject", "Angebot Gestaltung Geschäftsräume",
        "--message-id", OFFER_ID,
        "--sent-at", yesterday,
    )  # fmt: skip
    store = tmp_path / "nachfass.db"
    daemon = subprocess.Popen(
        [SCRIPT, "--config", str(config), "-v", "run", "--interval", "60"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    log = DaemonLog(daemon)
    try:
        assert wait_for(lambda: _store_value(store, "SELECT count(*) FROM folders") > 0, 20)
        # Start-up is over when the cycle asked for after IDLE began has run: from now
        # on only IDLE (or the 60-minute interval) can start a cycle.
        assert wait_for(log.settled, 20), log.text()
        answer = mail(
            sender=f"Jonas Keller <{CLIENT}>",
            to=dovecot.user,
            subject="Re: Angebot Gestaltung Geschäftsräume",
            body="Danke, passt gut. Wann können Sie anfangen?",
            date=datetime.now(UTC),
            in_reply_to=OFFER_ID,
        )
        dovecot.append(folder, answer)
        appended = time.monotonic()
        state = "SELECT state FROM threads WHERE id = ?"
        answered = wait_for(
            lambda: _store_value(store, state, thread_id) == "answered", ANSWER_DEADLINE
        )
        took = time.monotonic() - appended
    finally:
        daemon.send_signal(signal.SIGTERM)
        stopped = _stopped(daemon, 30)
        log.close()
    assert stopped, f"not stopped within 30 s of SIGTERM:\n{log.text()}"
    err = log.text()
    assert answered, f"not answered within {ANSWER_DEADLINE} s:\n{err}"
    assert took < ANSWER_DEADLINE
    assert daemon.returncode == 0, err
    assert -1 < log.first(f"new mail in {folder}") < log.first("thread 1 answered"), err
    other = "Junk" if folder == "INBOX" else "INBOX"
    assert not -1 < log.first(f"new mail in {other}") < log.first("thread 1 answered"), err
    assert "nachfass-bot stopped" in err
    assert "Traceback" not in err
    assert dovecot.password not in err


def _stopped(process: subprocess.Popen[str], timeout: float) -> bool:
    """Whether ``process`` ended within ``timeout``; if not it is killed, so that a hang
    fails this test alone and leaves no process behind for the next one."""
    try:
        process.wait(timeout=timeout)
        return True
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
        return False


class DaemonLog:
    """The daemon's stderr, read line by line in a thread (a full pipe would block it)."""

    def __init__(self, process: subprocess.Popen[str]) -> None:
        assert process.stderr is not None
        self._stream = process.stderr
        self._lines: list[str] = []
        self._lock = threading.Lock()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        for line in self._stream:
            with self._lock:
                self._lines.append(line)

    def close(self) -> None:
        self._reader.join(10)
        self._stream.close()

    def lines(self) -> list[str]:
        with self._lock:
            return list(self._lines)

    def text(self) -> str:
        return "".join(self.lines())

    def first(self, fragment: str) -> int:
        return next((i for i, line in enumerate(self.lines()) if fragment in line), -1)

    def settled(self, folders: tuple[str, ...] = ("INBOX", "Junk")) -> bool:
        """IDLE runs on every folder, and a cycle started after the last request has
        finished."""
        lines = self.lines()

        def last(fragment: str) -> int:
            found = [i for i, line in enumerate(lines) if fragment in line]
            return found[-1] if found else -1

        idle = min(last(f"IDLE on {folder}:") for folder in folders)
        requested = last("cycle requested")
        started, done = last("cycle starts"), last("cycle done")
        return -1 < idle < requested < started < done


def _store_value(path: Path, sql: str, *args: object) -> object:
    """One value from the daemon's store, read-only; None while it does not exist yet."""
    if not path.exists():
        return None
    try:
        with closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as db:
            row = db.execute(sql, args).fetchone()
    except sqlite3.OperationalError:  # the schema is still being created
        return None
    return row[0] if row else None


# -- the watcher against Dovecot -----------------------------------------------------------


class FakeClock:
    """A monotonic clock the test moves; counts how often the watcher looked at it."""

    def __init__(self) -> None:
        self.now = 0.0
        self.calls = 0

    def __call__(self) -> float:
        self.calls += 1
        return self.now


class Wakes:
    """Counts the watcher's wake-up calls (from its thread)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.count = 0

    def __call__(self) -> None:
        with self._lock:
            self.count += 1


@contextmanager
def watching(
    account: MailAccount, **options: object
) -> Iterator[tuple[IdleWatcher, CuttingProxy, Wakes]]:
    """An IdleWatcher on ``account``'s INBOX through a recording proxy, stopped at the end."""
    with CuttingProxy(account.host, account.port, cut_after_bytes=None) as proxy:
        server = ServerConfig(
            host=proxy.host,
            port=proxy.port,
            security="none",
            username=account.user,
            password_env=None,
            password_command=None,
            section="imap",
        )
        wakes = Wakes()
        watcher = IdleWatcher(
            lambda: ImapMailbox.connect(server, account.password, timeout=10),
            wakes,
            check_seconds=0.01,
            first_delay=0.01,
            **options,  # type: ignore[arg-type]
        )
        watcher.start()
        try:
            yield watcher, proxy, wakes
        finally:
            watcher.stop()
            assert watcher.join(5), "the watcher must stop promptly"


def idle_commands(proxy: CuttingProxy, connection: int = 1) -> int:
    if len(proxy.connections) < connection:
        return 0
    return proxy.client_data(connection).count(b" IDLE\r\n")


def test_watcher_renews_idle_when_its_clock_passes_the_renewal_interval(
    dovecot: MailAccount,
) -> None:
    clock = FakeClock()
    with watching(dovecot, renew_seconds=540, clock=clock) as (_watcher, proxy, wakes):
        assert wait_for(lambda: idle_commands(proxy) == 1 and wakes.count == 1)
        clock.now = 539.0
        looked = clock.calls
        assert wait_for(lambda: clock.calls >= looked + 10), "the watcher keeps checking"
        assert idle_commands(proxy) == 1, "no renewal before the interval has passed"

        clock.now = 541.0
        assert wait_for(lambda: idle_commands(proxy) == 2)
        assert proxy.client_data(1).count(b"DONE\r\n") == 1
        assert len(proxy.connections) == 1, "a renewal keeps the connection"
        assert wakes.count == 1, "a renewal is no reconnect: no catch-up cycle"
    sent = proxy.client_data(1)
    assert sent.endswith(b" LOGOUT\r\n"), "leaves IDLE and logs out on stop"
    assert sent.count(b"DONE\r\n") == 2


def test_new_mail_in_inbox_wakes_the_cycle(dovecot: MailAccount) -> None:
    with watching(dovecot) as (_watcher, proxy, wakes):
        assert wait_for(lambda: idle_commands(proxy) == 1 and wakes.count == 1)
        dovecot.append("INBOX", b"From: a@b.test\r\nSubject: neu\r\n\r\nHallo\r\n")
        assert wait_for(lambda: wakes.count == 2), "EXISTS wakes the cycle"


def test_new_mail_in_the_junk_folder_wakes_the_junk_watcher(dovecot: MailAccount) -> None:
    """The junk watcher picks its folder on the connection (here: Dovecot's \\Junk)."""
    picked: list[str] = []

    def junk(mailbox: ImapMailbox) -> str | None:
        picked.append(next(f.name for f in mailbox.list_folders() if "\\Junk" in f.flags))
        return picked[-1]

    with watching(dovecot, folder=junk) as (_watcher, proxy, wakes):
        assert wait_for(lambda: idle_commands(proxy) == 1 and wakes.count == 1)
        dovecot.append("INBOX", b"From: a@b.test\r\nSubject: nicht hier\r\n\r\nHallo\r\n")
        dovecot.append("Junk", b"From: a@b.test\r\nSubject: Spam?\r\n\r\nHallo\r\n")
        assert wait_for(lambda: wakes.count == 2), "EXISTS in Junk wakes the cycle"
    assert picked == ["Junk"]
    assert b'EXAMINE "Junk"' in proxy.client_data(1)


def test_without_a_junk_folder_the_junk_watcher_ends_quietly(dovecot: MailAccount, caplog) -> None:
    caplog.set_level(logging.INFO, logger="nachfass_bot")
    with watching(dovecot, folder=lambda mailbox: None) as (watcher, proxy, wakes):
        assert watcher.join(10), "nothing to watch: the thread ends"
    assert wakes.count == 0 and idle_commands(proxy) == 0
    assert "no junk folder found" in caplog.text


def test_watcher_reconnects_after_a_dropped_connection_and_catches_up(
    dovecot: MailAccount, caplog
) -> None:
    caplog.set_level(logging.INFO, logger="nachfass_bot")
    with watching(dovecot) as (_watcher, proxy, wakes):
        assert wait_for(lambda: idle_commands(proxy) == 1 and wakes.count == 1)
        proxy.cut()
        assert wait_for(lambda: idle_commands(proxy, connection=2) == 1 and wakes.count == 2)
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any("IDLE on INBOX interrupted" in text for text in warnings)


class NoIdleMailbox:
    """A server without the IDLE capability."""

    def __init__(self) -> None:
        self.closed = False

    def supports_idle(self) -> bool:
        return False

    def start_idle(self, folder: str) -> None:
        raise AssertionError("IDLE without the capability")

    def wait_idle(self, timeout: float) -> bool:
        raise AssertionError("IDLE without the capability")

    def end_idle(self) -> bool:
        raise AssertionError("IDLE without the capability")

    def close(self) -> None:
        self.closed = True


def test_without_idle_capability_only_polling_is_used(caplog) -> None:
    caplog.set_level(logging.INFO, logger="nachfass_bot")
    mailbox = NoIdleMailbox()
    wakes = Wakes()
    IdleWatcher(lambda: mailbox, wakes).run()  # returns at once
    assert mailbox.closed
    assert wakes.count == 0
    infos = [r.getMessage() for r in caplog.records if r.levelno == logging.INFO]
    assert any("offers no IDLE" in text and "polling" in text for text in infos)


# -- the daemon's cycle runner --------------------------------------------------------------

NOW = datetime(2026, 3, 11, 9, 0, tzinfo=UTC)


def test_wake_ups_during_a_cycle_run_it_once_more() -> None:
    runs: list[datetime] = []

    def cycle(now: datetime) -> None:
        runs.append(now)
        if len(runs) == 1:
            assert runner.request() is False, "a cycle runs: remembered, not scheduled"
            assert runner.request() is False

    runner = CycleRunner(cycle, clock=lambda: NOW)
    assert runner.request() is True, "nothing runs: the caller schedules the cycle now"
    runner.run()
    assert runs == [NOW, NOW], "two wake-ups during the first round make one more round"
    assert runner.request() is True


def test_stop_ends_a_failing_cycle_without_retry_or_another_round(caplog) -> None:
    caplog.set_level(logging.INFO, logger="nachfass_bot")
    runs: list[datetime] = []

    def cycle(now: datetime) -> None:
        runs.append(now)
        runner.request()
        runner.stop()  # SIGTERM arrives during the cycle
        raise MailboxError("Verbindung weg")

    runner = CycleRunner(cycle, retry_delay=60, clock=lambda: NOW)
    started = time.monotonic()
    runner.run()
    assert time.monotonic() - started < 5, "the retry wait ends on stop"
    assert runs == [NOW]
    assert runner.request() is False, "no wake-up is accepted while stopping"
    assert any("not tried again" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize("failures", [1, 3])
def test_a_failed_cycle_is_retried(failures: int) -> None:
    runs: list[datetime] = []

    def cycle(now: datetime) -> None:
        runs.append(now)
        if len(runs) <= failures:
            raise MailboxError("Verbindung weg")

    CycleRunner(cycle, retry_delay=0, clock=lambda: NOW).run()
    assert len(runs) == failures + 1
