"""Benchmark: cycles and views over many tracked threads (issue 15, point 6).

Builds a store with N threads (default 1,000 and 10,000 in one run), 5 % of them due,
40 % with a sent draft in their history, and an INBOX of 300 mails (30 answers from
tracked clients, the rest newsletters) on a throwaway Dovecot, then times:

* ``tick`` with 5 % due (the inbox read, drafts made and mailed to the owner),
* a quiet ``tick`` right after it (nothing due; new in INBOX only the owner's copies of
  the drafts the due tick mailed),
* an idle ``tick`` after that (nothing new, nothing due),
* ``nachfass-bot list --json``, ``show N``, ``digest --print`` as the owner runs them
  (a fresh process each: interpreter start and imports included).

    .venv/bin/python bench/threads.py [N ...]      # default: 1000 10000

Prints one line per size and step (wall and CPU time); peak RSS from
``resource.getrusage``.
"""

from __future__ import annotations

import cProfile
import os
import pstats
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from contextlib import closing
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from loophelpers import mail, write_config
from nachfass_bot.adapters.store import Store
from nachfass_bot.app.wiring import build_engine, build_texts
from nachfass_bot.config import load_config
from nachfass_bot.domain.models import Client, Kind
from servers import DovecotServer, SmtpSink

CLI = str(Path(sys.executable).with_name("nachfass-bot"))
INBOX_MAILS = 300
ANSWERS = 30


class _Env:
    def setenv(self, key: str, value: str) -> None:
        os.environ[key] = value


def fill_store(store: Store, count: int, now: datetime) -> None:
    """``count`` threads of ``count // 5`` clients; 5 % due now, 40 % with a sent draft."""
    with store.atomic():
        clients = [
            store.upsert_client(Client(email=f"kunde{n}@firma{n % 700}.test"), now)
            for n in range(max(1, count // 5))
        ]
        for number in range(count):
            due = number % 20 == 0
            started = now - timedelta(days=30 if due else 0, hours=1)
            thread_id = store.add_thread(
                kind=(Kind.ANGEBOT, Kind.AUFTRAG, Kind.RECHNUNG)[number % 3],
                client_id=clients[number % len(clients)],
                subject=f"Vorgang {number}",
                started_at=started,
                now=now,
                message_id=f"<thread.{number}@bench.test>",
            )
            if number % 5 < 2 and not due:
                _sent_draft(store, thread_id, number, now)


def _sent_draft(store: Store, thread_id: int, number: int, now: datetime) -> None:
    draft_id = store.add_draft(
        thread_id=thread_id, step_index=9, step_number=10, token=f"{number:020d}",
        recipient="x@y.test", subject="S", body="B", now=now,
        draft_message_id=f"<draft.{number}@bench.test>",
        client_message_id=f"<client.{number}@bench.test>",
    )  # fmt: skip
    store.db.execute("UPDATE drafts SET state = 'sent' WHERE id = ?", [draft_id])


def inbox_mails(count: int, now: datetime, user: str) -> list[bytes]:
    """Newsletters, and ``ANSWERS`` replies from tracked clients (not due ones)."""
    mails = []
    for number in range(INBOX_MAILS):
        if number < ANSWERS:
            client = (number * 20 + 1) % max(1, count // 5)
            sender, subject = f"kunde{client}@firma{client % 700}.test", "Re: Vorgang"
        else:
            sender, subject = f"news{number}@shop{number % 17}.test", f"Angebot {number}"
        mails.append(
            mail(sender=sender, to=user, subject=subject, body="Hallo\n" * 20,
                 date=now - timedelta(minutes=INBOX_MAILS - number))
        )  # fmt: skip
    return mails


def timed(label: str, action: Callable[[], Any]) -> float:
    """Run ``action`` once; with PROFILE=1 also print its cProfile listing."""
    profiler = cProfile.Profile() if os.environ.get("PROFILE") else None
    began, cpu_began = time.perf_counter(), _cpu_seconds()
    if profiler:
        profiler.runcall(action)
        pstats.Stats(profiler).sort_stats(os.environ.get("PROFILE_SORT", "tottime")).print_stats(20)
    else:
        action()
    seconds, cpu = time.perf_counter() - began, _cpu_seconds() - cpu_began
    print(f"  {label:<22} {seconds:7.2f} s   (CPU {cpu:5.2f} s)", flush=True)
    return seconds


def _cpu_seconds() -> float:
    """User and system time of this process and its finished children (a CLI run): on a
    shared machine less sensitive to the others' load than the wall time. Dovecot's share
    is not in it (the SMTP sink's thread is)."""
    times = os.times()
    return times.user + times.system + times.children_user + times.children_system


def run_cli(config: Path, *args: str) -> None:
    subprocess.run(
        [CLI, "--config", str(config), *args], check=True, stdout=subprocess.DEVNULL, env=os.environ
    )


def measure(count: int) -> dict[str, float]:
    now = datetime.now(UTC)
    server = DovecotServer()
    server.start()
    sink = SmtpSink(deliver_to=server)
    sink.start()
    work = Path(tempfile.mkdtemp(prefix="nachfass-bench-threads-"))
    try:
        server.fill_inbox(server, inbox_mails(count, now, server.user))
        config_path = write_config(work, server, sink, _Env())  # type: ignore[arg-type]
        config = load_config(config_path)
        print(f"{count} threads, {INBOX_MAILS} mails in INBOX", flush=True)
        with closing(Store.open(config.store.path)) as store:
            fill_store(store, count, now)
            engine = build_engine(config, store, build_texts(config))
            figures = {
                "tick (5 % due)": timed("tick (5 % due)", lambda: engine.tick(now)),
                # Nothing due; the owner's copies of the due tick's drafts are new in INBOX.
                "quiet tick": timed("quiet tick", lambda: engine.tick(now + timedelta(minutes=1))),
                "idle tick": timed("idle tick", lambda: engine.tick(now + timedelta(minutes=2))),
            }
        runs = [
            timed("list --json", lambda: run_cli(config_path, "list", "--json"))
            for _ in range(int(os.environ.get("LIST_RUNS", "1")))
        ]
        figures["list --json"] = statistics.median(runs)
        if len(runs) > 1:
            print(f"  list --json median   {figures['list --json']:7.2f} s", flush=True)
        figures["show"] = timed("show", lambda: run_cli(config_path, "show", str(count // 2)))
        figures["digest --print"] = timed("digest --print", lambda: run_cli(config_path, "digest"))
        return figures
    finally:
        sink.stop()
        server.stop()


def main() -> None:
    sizes = [int(arg) for arg in sys.argv[1:]] or [1000, 10_000]
    print(f"load average before: {os.getloadavg()}")
    for count in sizes:
        measure(count)
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(f"peak RSS: bench process {own:.0f} MB, largest CLI process {children:.0f} MB")
    print(f"load average after: {os.getloadavg()}")


if __name__ == "__main__":
    main()
