"""Benchmark: from a client's answer reaching INBOX or the junk folder to the thread
being ``answered`` under ``nachfass-bot run`` (IMAP IDLE on both folders).

Starts a throwaway Dovecot and SMTP sink (the test suite's helpers), tracks one offer per
answer, starts the real daemon with a poll interval of 60 minutes (so only IDLE can wake
it), waits until it IDLEs on both folders, then, round by round, APPENDs a client's
answer to INBOX and one to the junk folder and polls the store until each thread is
``answered``:

    .venv/bin/python bench/idle_latency.py [ROUNDS]      # default 5 per folder

Prints each answer's latency, then min/median/max per folder. Target (issue 12 point 6,
issue 15 point 3): every answer within 5 seconds; exit code 1 if one is slower.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable
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
FOLDERS = ("inbox", "junk")  # roles; DovecotServer.folder gives the IMAP name


def state_of(store: Path, thread_id: int) -> str | None:
    try:
        with closing(sqlite3.connect(f"file:{store}?mode=ro", uri=True)) as db:
            row = db.execute("SELECT state FROM threads WHERE id = ?", (thread_id,)).fetchone()
    except sqlite3.OperationalError:
        return None
    return row[0] if row else None


def wait(condition: Callable[[], bool], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.01)
    return False


def client(folder: str, number: int) -> str:
    """One client per answer: an answer stops every open thread of its sender's firm."""
    return f"jonas.keller@bau-{folder}-{number}.test"


def thread_id(folder: str, number: int) -> int:
    """The store's id of the offer answered in ``folder`` in round ``number`` (0, 1, …):
    a fresh store numbers the offers in the order :func:`measure` tracks them."""
    return number * len(FOLDERS) + FOLDERS.index(folder) + 1


def track_offer(config: Path, folder: str, number: int) -> None:
    """Track the offer the answer in ``folder`` of round ``number`` will answer."""
    sent = (datetime.now(UTC) - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M")
    options = ["--kind", "angebot", "--to", client(folder, number), "--name", "Jonas Keller",
               "--subject", f"Angebot {folder} {number}",
               "--message-id", f"<bench-{folder}-{number}@b.test>", "--sent-at", sent]  # fmt: skip
    assert cli(config, "track", *options) == 0


def answer_once(server: DovecotServer, store: Path, folder: str, number: int) -> float:
    """APPEND the client's answer to ``folder``; seconds until its thread is answered."""
    answer = mail(
        sender=f"Jonas Keller <{client(folder, number)}>",
        to=server.user,
        subject=f"Re: Angebot {folder} {number}",
        body="Passt, danke!",
        date=datetime.now(UTC),
        in_reply_to=f"<bench-{folder}-{number}@b.test>",
    )
    thread = thread_id(folder, number)
    server.append(server.folder(folder), answer)
    started = time.monotonic()
    if not wait(lambda: state_of(store, thread) == "answered", 60):
        print(f"  {folder} round {number + 1}: not answered after 60 s")
        return float("inf")
    return time.monotonic() - started


def measure(rounds: int) -> dict[str, list[float]]:
    server, sink, monkeypatch = DovecotServer(), SmtpSink(), pytest.MonkeyPatch()
    server.start()
    sink.start()
    took: dict[str, list[float]] = {folder: [] for folder in FOLDERS}
    with TemporaryDirectory() as directory:
        config = write_config(Path(directory), server, sink, monkeypatch)
        store = Path(directory) / "nachfass.db"
        for number in range(rounds):
            for folder in FOLDERS:
                track_offer(config, folder, number)
        daemon = subprocess.Popen(
            [SCRIPT, "--config", str(config), "-v", "run", "--interval", "60"],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        lines: list[str] = []
        reader = threading.Thread(target=lambda: lines.extend(daemon.stderr or []), daemon=True)
        reader.start()
        try:
            ready = wait(lambda: sum("IDLE on" in line for line in lines) >= len(FOLDERS), 30)
            assert ready, "".join(lines)
            time.sleep(2)  # let the start-up cycles end; only the answer may wake one now
            print(f"load {os.getloadavg()[0]:.2f}")
            for number in range(rounds):
                for folder in FOLDERS:
                    took[folder].append(answer_once(server, store, folder, number))
                    print(f"  {folder} round {number + 1}: answered after {took[folder][-1]:.2f} s")
                    time.sleep(1)  # the next answer meets a daemon at rest
            print(f"load {os.getloadavg()[0]:.2f}")
        finally:
            daemon.send_signal(signal.SIGTERM)
            daemon.wait(30)
            server.stop()
            sink.stop()
            monkeypatch.undo()
    return took


def main(rounds: int) -> int:
    took = measure(rounds)
    print("\n| folder | answers | min | median | max |\n|---|---|---|---|---|")
    for folder, seconds in took.items():
        print(f"| {folder} | {len(seconds)} | {min(seconds):.2f} s | "
              f"{statistics.median(seconds):.2f} s | {max(seconds):.2f} s |")  # fmt: skip
    worst = max(max(seconds) for seconds in took.values())
    print(
        f"\nworst {worst:.2f} s, target {TARGET:.0f} s: {'ok' if worst <= TARGET else 'TOO SLOW'}"
    )
    return 0 if worst <= TARGET else 1


if __name__ == "__main__":
    sys.exit(main(int(sys.argv[1]) if len(sys.argv) > 1 else 5))
