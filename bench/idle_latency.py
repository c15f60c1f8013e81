"""Benchmark: from a client's answer reaching INBOX to the thread being ``answered``.

Starts a throwaway Dovecot and SMTP sink, tracks one thread, starts ``nachfass-bot run``
(IMAP IDLE on INBOX, a poll interval of 60 minutes, so only IDLE can wake it), waits for
its first cycle, APPENDs the client's answer and polls the store until the thread is
``answered``:

    .venv/bin/python bench/idle_latency.py [ROUNDS]      # default: 5

Prints each round's latency and the median. TODO: junk IDLE (an answer APPENDed to
Junk) once the watcher also IDLEs on the junk folder; today junk is read by the poll.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from loophelpers import mail, write_config
from servers import DovecotServer, SmtpSink

CLI = str(Path(sys.executable).with_name("nachfass-bot"))


class _Env:
    def setenv(self, key: str, value: str) -> None:
        os.environ[key] = value


def state(db: Path, thread_id: int) -> str:
    with sqlite3.connect(db, timeout=30) as conn:
        row = conn.execute("SELECT state FROM threads WHERE id = ?", [thread_id]).fetchone()
    return str(row[0]) if row else ""


def wait_for(check, limit: float) -> float:  # type: ignore[no-untyped-def]
    began = time.perf_counter()
    while not check():
        if time.perf_counter() - began > limit:
            raise TimeoutError("nothing happened in time")
        time.sleep(0.02)
    return time.perf_counter() - began


def main() -> None:
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    server = DovecotServer()
    server.start()
    sink = SmtpSink(deliver_to=server)
    sink.start()
    work = Path(tempfile.mkdtemp(prefix="nachfass-bench-idle-"))
    config = write_config(work, server, sink, _Env())  # type: ignore[arg-type]
    db = work / "nachfass.db"
    started = (datetime.now(UTC) - timedelta(days=1)).isoformat(timespec="seconds")
    ids = []
    for number in range(rounds):
        subprocess.run(
            [CLI, "--config", str(config), "track", "--kind", "angebot", "--to",
             f"kunde{number}@firma{number}.test", "--subject", f"Angebot {number}",
             "--sent-at", started],
            check=True, stdout=subprocess.DEVNULL,
        )  # fmt: skip
        ids.append(number + 1)
    daemon = subprocess.Popen(
        [CLI, "--config", str(config), "run", "--interval", "60"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    latencies = []
    try:
        wait_for(lambda: _folder_synced(db), 60)
        time.sleep(2)  # the watcher enters IDLE after the first cycle
        print(f"load {os.getloadavg()[0]:.2f}")
        for number, thread_id in enumerate(ids):
            answer = mail(sender=f"kunde{number}@firma{number}.test", to=server.user,
                          subject=f"Re: Angebot {number}", body="Passt!\n",
                          date=datetime.now(UTC))  # fmt: skip
            began = time.perf_counter()
            server.append("INBOX", answer)
            wait_for(lambda tid=thread_id: state(db, tid) == "answered", 120)
            latencies.append(time.perf_counter() - began)
            print(f"  INBOX answer → answered: {latencies[-1]:.2f} s", flush=True)
            time.sleep(1)
        print(f"median {statistics.median(latencies):.2f} s over {len(latencies)} rounds, "
              f"load {os.getloadavg()[0]:.2f}")  # fmt: skip
    finally:
        daemon.send_signal(signal.SIGTERM)
        daemon.wait(30)
        sink.stop()
        server.stop()


def _folder_synced(db: Path) -> bool:
    try:
        with sqlite3.connect(db, timeout=30) as conn:
            return conn.execute("SELECT 1 FROM folders WHERE name = 'INBOX'").fetchone() is not None
    except sqlite3.Error:
        return False


if __name__ == "__main__":
    main()
