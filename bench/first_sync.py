"""Benchmark: the first sync of a big mailbox, then an incremental cycle.

Starts a throwaway Dovecot (the test suite's helper), fills INBOX with N mails written
straight into its Maildir, and runs the real engine:

    .venv/bin/python bench/first_sync.py [N]      # default 20000

Prints the time and the peak of Python memory (tracemalloc) for the first cycle, which
must read headers only and in batches, and for a second cycle with one new mail, which
must fetch only the new UID. Target: the first cycle's peak memory stays flat (a few MB,
independent of N); the second cycle takes well under a second.
"""

from __future__ import annotations

import cProfile
import os
import pstats
import pwd
import sys
import tempfile
import time
import tracemalloc
from contextlib import closing
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from loophelpers import mail
from nachfass_bot.adapters.store import Store
from nachfass_bot.app.wiring import build_engine, build_texts
from nachfass_bot.config import load_config
from nachfass_bot.domain.models import Client, Kind
from servers import DovecotServer, SmtpSink

START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def fill_maildir(server: DovecotServer, count: int) -> None:
    """Write ``count`` mails into the account's Maildir/cur, owned by the dovecot user."""
    home = server.workdir / "mail" / server.user / "Maildir"
    for sub in ("cur", "new", "tmp"):
        (home / sub).mkdir(parents=True, exist_ok=True)
    dovecot = pwd.getpwnam("dovecot")
    for number in range(count):
        raw = mail(
            sender=f"news{number % 300}@shop{number % 17}.test",
            to=server.user,
            subject=f"Angebot der Woche {number}",
            body=("Liebe Kundin, lieber Kunde,\n" + "Rabatt! " * 60 + "\n") * 3,
            date=START - timedelta(days=400) + timedelta(minutes=number),
        )
        path = home / "cur" / f"{1_700_000_000 + number}.M{number}P1.bench:2,S"
        path.write_bytes(raw)
    for root, dirs, files in os.walk(server.workdir / "mail"):
        for name in [*dirs, *files]:
            os.chown(Path(root) / name, dovecot.pw_uid, dovecot.pw_gid)
        os.chown(root, dovecot.pw_uid, dovecot.pw_gid)


def measure(label: str, action) -> None:
    """Time and peak memory of ``action``; with PROFILE=1 also a cProfile listing."""
    profiler = cProfile.Profile() if os.environ.get("PROFILE") else None
    tracemalloc.start()
    began = time.perf_counter()
    if profiler:
        profiler.enable()
    report = action()
    if profiler:
        profiler.disable()
        pstats.Stats(profiler).sort_stats("cumulative").print_stats(25)
    seconds = time.perf_counter() - began
    _current, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    print(f"{label}: {seconds:6.2f} s, peak Python memory {peak / 1e6:6.1f} MB, {report}")


def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 20_000
    server = DovecotServer()
    server.start()
    sink = SmtpSink(deliver_to=server)
    sink.start()
    work = Path(tempfile.mkdtemp(prefix="nachfass-bench-"))
    try:
        fill_maildir(server, count)
        os.environ["NACHFASS_TEST_PASSWORT"] = server.password
        config_path = work / "config.toml"

        class Env:
            def setenv(self, key: str, value: str) -> None:
                os.environ[key] = value

        from loophelpers import write_config

        write_config(work, server, sink, Env())
        config = load_config(config_path)
        with closing(Store.open(config.store.path)) as store:
            client_id = store.upsert_client(Client(email="kunde@firma.test"), START)
            store.add_thread(
                kind=Kind.ANGEBOT,
                client_id=client_id,
                subject="Angebot",
                started_at=START,
                now=START,
            )
            engine = build_engine(config, store, build_texts(config))
            print(f"mailbox: {count} mails in INBOX")
            measure("first cycle  ", lambda: engine.tick(START + timedelta(hours=1)))
            server.append("INBOX", mail(sender="kunde@firma.test", to=server.user,
                                        subject="Re: Angebot", body="Passt!\n",
                                        date=START + timedelta(hours=2)))  # fmt: skip
            measure("second cycle ", lambda: engine.tick(START + timedelta(hours=3)))
    finally:
        sink.stop()
        server.stop()


if __name__ == "__main__":
    main()
