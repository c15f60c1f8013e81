"""The daemon's cycle and its weekly digest check never write at the same time, and the
digest goes out once (issue 10, point 12).

In production the first cycle of a big mailbox and the digest check started together;
three of eight starts logged "database is locked", one lost the cycle, two sent the digest
and then failed to record it, so the next check sent it again.
"""

from __future__ import annotations

import shutil
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from contextlib import closing
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path

import pytest

from loophelpers import cli, mails_to, write_config
from nachfass_bot.cli.daemon import CycleRunner, run_weekly
from servers import DovecotServer, MailAccount, SmtpSink

SCRIPT = shutil.which("nachfass-bot") or str(Path(sys.executable).parent / "nachfass-bot")
MAILS = 2000  # enough to keep the first cycle busy for seconds
NOW = datetime(2026, 3, 9, 8, 0, tzinfo=UTC)
WAIT_SECONDS = 120.0  # upper bound for the daemon's observable effects


def newsletter(number: int, owner: str) -> bytes:
    return (
        f"From: Shop {number % 40} <news@shop{number % 40}.test>\r\nTo: {owner}\r\n"
        f"Subject: Angebot der Woche {number}\r\nDate: Wed, 04 Mar 2026 08:00:00 +0100\r\n"
        f"Message-ID: <news-{number}@shop.test>\r\nList-Id: <angebote.shop.test>\r\n"
        "\r\nNur heute: alles muss raus.\r\n"
    ).encode()


def digests(sink: SmtpSink, owner: str) -> list[EmailMessage]:
    return [m for m in mails_to(sink, owner) if str(m["Subject"]).startswith("Wochenüberblick")]


def run_daemon(config: Path, log_path: Path, now: str, until: Callable[[str], bool]) -> str:
    """Start ``nachfass-bot run --now NOW``, poll until ``until(log so far)`` (bounded),
    then stop it with SIGTERM."""
    with log_path.open("w") as log:
        daemon = subprocess.Popen(
            [SCRIPT, "--config", str(config), "--verbose", "run", "--interval", "60",
             "--now", now],
            stdout=subprocess.DEVNULL,
            stderr=log,
        )  # fmt: skip
        try:
            deadline = time.monotonic() + WAIT_SECONDS
            while not until(log_path.read_text()) and time.monotonic() < deadline:
                time.sleep(0.1)
        finally:
            daemon.send_signal(signal.SIGTERM)
            daemon.wait(timeout=60)
    text = log_path.read_text()
    assert until(text), text[-4000:]
    assert daemon.returncode == 0, text[-4000:]
    return text


def test_run_on_a_busy_mailbox_sends_one_digest_and_records_the_week(
    tmp_path: Path,
    dovecot_server: DovecotServer,
    dovecot: MailAccount,
    smtp_sink: SmtpSink,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    config = write_config(tmp_path, dovecot, smtp_sink, monkeypatch)
    dovecot_server.fill_inbox(dovecot, (newsletter(n, dovecot.user) for n in range(MAILS)))

    # Monday 9 March 2026, 10:00 in Berlin: the digest of KW 11 is due since 08:00.
    log = run_daemon(
        config,
        tmp_path / "daemon.log",
        "2026-03-09T10:00",
        until=lambda text: "cycle done" in text and bool(digests(smtp_sink, dovecot.user)),
    )

    assert "database is locked" not in log
    assert digest_sent_outside_the_cycle(log)
    assert "cycle failed" not in log and "cycle crashed" not in log
    assert "weekly digest not sent" not in log
    assert len(digests(smtp_sink, dovecot.user)) == 1
    with closing(sqlite3.connect(f"file:{tmp_path / 'nachfass.db'}?mode=ro", uri=True)) as db:
        week = db.execute("SELECT value FROM settings WHERE key = 'digest_week'").fetchone()
        notices = db.execute("SELECT key, state FROM notices WHERE key LIKE 'digest:%'")
        assert week == ("2026-W11",)
        assert notices.fetchall() == [("digest:2026-W11", "sent")]
        synced = db.execute("SELECT last_uid FROM folders WHERE name = 'INBOX'").fetchone()
        assert synced[0] >= MAILS, "the first cycle read the whole INBOX"
    # Any later check of the week (here cron's) sends nothing more.
    assert cli(config, "digest", "--if-due", "--now", "2026-03-09T10:10") == 0
    assert len(digests(smtp_sink, dovecot.user)) == 1


def digest_sent_outside_the_cycle(log: str) -> bool:
    """The digest was sent once, while no cycle attempt held the store."""
    holders: set[str] = set()
    sent_during: list[set[str]] = []
    for line in log.splitlines():
        for job in ("the cycle", "the weekly digest check"):
            if f"{job} holds the store" in line:
                holders.add(job)
            if f"{job} releases the store" in line:
                holders.discard(job)
        if "weekly digest 2026-W11 sent" in line:
            sent_during.append(set(holders))
    return sent_during == [{"the weekly digest check"}]


def test_the_digest_check_waits_for_a_running_cycle() -> None:
    """Both jobs hold one lock: the check starts only after the cycle attempt ended."""
    writer = threading.Lock()
    order: list[str] = []
    cycle_started = threading.Event()
    may_finish = threading.Event()

    def cycle(now: datetime) -> None:
        order.append("cycle starts")
        cycle_started.set()
        assert may_finish.wait(10)
        order.append("cycle ends")

    def weekly(now: datetime) -> None:
        order.append("digest check")

    runner = CycleRunner(cycle, retry_delay=0, clock=lambda: NOW, writer=writer)
    cycling = threading.Thread(target=runner.run)
    cycling.start()
    assert cycle_started.wait(10)
    checking = threading.Thread(target=run_weekly, args=[weekly, lambda: NOW, writer])
    checking.start()
    checking.join(0.2)
    assert checking.is_alive(), "the check must wait for the cycle"
    may_finish.set()
    cycling.join(10)
    checking.join(10)
    assert order == ["cycle starts", "cycle ends", "digest check"]
