"""Benchmark: how fast an answer in the junk folder stops its thread under ``run``.

Starts a throwaway Dovecot and an SMTP sink (the test suite's helpers), tracks an offer,
starts the real daemon (``nachfass-bot run --interval 60``: polling alone would take an
hour) and, round by round, drops a client's answer into the junk folder, timing until the
thread is ``answered`` in the store:

    .venv/bin/python bench/junk_latency.py [ROUNDS]      # default 5

Target (issue 12, point 6): every round within 5 seconds. Exit code 1 if one is slower.
"""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
import threading
import time
from contextlib import closing
from datetime import UTC, datetime, timedelta
from pathlib import Path
from tempfile import TemporaryDirectory

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from loophelpers import cli, mail, write_config
from servers import DovecotServer, SmtpSink

TARGET = 5.0
SCRIPT = str(Path(sys.executable).with_name("nachfass-bot"))


def state_of(store: Path, thread_id: int) -> str | None:
    try:
        with closing(sqlite3.connect(f"file:{store}?mode=ro", uri=True)) as db:
            row = db.execute("SELECT state FROM threads WHERE id = ?", (thread_id,)).fetchone()
    except sqlite3.OperationalError:
        return None
    return row[0] if row else None


def wait(condition: object, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():  # type: ignore[operator]
            return True
        time.sleep(0.01)
    return False


def client(number: int) -> str:
    """One client per round: an answer stops every open thread of its sender's firm."""
    return f"jonas.keller@bau-{number}.test"


def track_offer(config: Path, number: int) -> int:
    sent = (datetime.now(UTC) - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M")
    options = ["--kind", "angebot", "--to", client(number), "--name", "Jonas Keller",
               "--subject", f"Angebot {number}", "--message-id", f"<bench-{number}@b.test>",
               "--sent-at", sent]  # fmt: skip
    assert cli(config, "track", *options) == 0
    return number


def main(rounds: int) -> int:
    server, sink, monkeypatch = DovecotServer(), SmtpSink(), pytest.MonkeyPatch()
    server.start()
    sink.start()
    with TemporaryDirectory() as directory:
        config = write_config(Path(directory), server, sink, monkeypatch)
        store = Path(directory) / "nachfass.db"
        for number in range(1, rounds + 1):
            track_offer(config, number)
        daemon = subprocess.Popen(
            [SCRIPT, "--config", str(config), "-v", "run", "--interval", "60"],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        lines: list[str] = []
        reader = threading.Thread(target=lambda: lines.extend(daemon.stderr or []), daemon=True)
        reader.start()
        took: list[float] = []
        try:
            ready = wait(lambda: sum("IDLE on" in line for line in lines) >= 2, 30)
            assert ready, "".join(lines)
            time.sleep(2)  # let the start-up cycles end; only the answer may wake one now
            for number in range(1, rounds + 1):
                answer = mail(
                    sender=f"Jonas Keller <{client(number)}>",
                    to=server.user,
                    subject=f"Re: Angebot {number}",
                    body="Passt, danke!",
                    date=datetime.now(UTC),
                    in_reply_to=f"<bench-{number}@b.test>",
                )
                server.append(server.folder("junk"), answer)
                started = time.monotonic()
                wait(lambda n=number: state_of(store, n) == "answered", 60)
                took.append(time.monotonic() - started)
                print(f"round {number}: answered after {took[-1]:.2f} s")
        finally:
            daemon.send_signal(signal.SIGTERM)
            daemon.wait(30)
            server.stop()
            sink.stop()
            monkeypatch.undo()
    worst = max(took)
    print(f"worst {worst:.2f} s, target {TARGET:.0f} s: {'ok' if worst <= TARGET else 'TOO SLOW'}")
    return 0 if worst <= TARGET else 1


if __name__ == "__main__":
    sys.exit(main(int(sys.argv[1]) if len(sys.argv) > 1 else 5))
