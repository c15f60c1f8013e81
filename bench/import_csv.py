"""Benchmark: ``nachfass-bot import`` of a big list of open items.

Writes an N-row CSV file the way a German spreadsheet exports it (``;``, decimal comma,
``31.03.2026``, Windows-1252), then runs the import's parts as the command does, on a
fresh SQLite file:

    .venv/bin/python bench/import_csv.py [N] [SYNCED]   # default 10000 rows, 20000 mails

Prints the time of each phase: reading and decoding, parsing the rows, checking them
(the same check as ``track``), the duplicate look-up, and storing in one transaction.
Storing is measured twice: with an empty index of synced mail and with SYNCED indexed
mails (the look-back of each new thread for an answer that came first). A second import
of the same file then finds every row a duplicate and stores nothing.
"""

from __future__ import annotations

import os
import platform
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TypeVar
from zoneinfo import ZoneInfo

from nachfass_bot.adapters.importfile import read_table_text
from nachfass_bot.adapters.store import Store
from nachfass_bot.app.importing import check_rows, import_threads, plan_import
from nachfass_bot.app.importrows import parse_table
from nachfass_bot.domain.models import Inbound

NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)
ZONE = ZoneInfo("Europe/Berlin")
_T = TypeVar("_T")


def write_file(path: Path, rows: int) -> None:
    lines = ["Art;E-Mail;Name;Betreff;Rechnungs-Nr.;Betrag;Fällig am;Gesendet;Du;Anrede"]
    for number in range(rows):
        client = number % 2000
        sent = (NOW - timedelta(days=number % 300)).strftime("%d.%m.%Y %H:%M")
        due = (NOW + timedelta(days=number % 60 - 30)).strftime("%d.%m.%Y")
        du = "ja" if number % 3 == 0 else "nein"
        anrede = ("Frau", "Herr", "")[number % 3]
        name = f"Jürgen Müller-Weiß {client}"
        if number % 3 == 0:
            lines.append(f"Rechnung;kasse{client}@kunde{client % 400}.test;{name};"
                         f"Rechnung 2026-{number:05d};2026-{number:05d};1.{number % 1000:03d},50;"
                         f"{due};{sent};{du};{anrede}")  # fmt: skip
        else:
            kind = "Angebot" if number % 3 == 1 else "Auftrag"
            lines.append(f"{kind};info{client}@kunde{client % 400}.test;{name};"
                         f"{kind} Projekt {number};;;;{sent};{du};{anrede}")  # fmt: skip
    path.write_bytes(("\r\n".join(lines) + "\r\n").encode("cp1252"))


def fill_index(store: Store, count: int) -> None:
    """``count`` synced inbound mails, some from the clients' domains (colleagues who may
    answer), none answering a thread."""
    mails = []
    for number in range(count):
        sender = f"news{number % 300}@shop{number % 17}.test"
        if number % 10 == 0:
            sender = f"kollege{number}@kunde{number % 400}.test"
        moment = NOW - timedelta(days=400, minutes=-number)
        inbound = Inbound(
            folder="INBOX", uid=number + 1, message_id=f"<m{number}@bench.test>",
            from_addr=sender, to_addrs=("anna@berger.test",), subject=f"Frage {number}",
            date=moment, received=moment,
        )  # fmt: skip
        mails.append((f"<m{number}@bench.test>", inbound))
    with store.atomic():
        store.add_synced_mails(mails)


def timed(label: str, work: Callable[[], _T]) -> _T:
    start = time.perf_counter()
    result = work()
    print(f"  {label:<38} {time.perf_counter() - start:7.2f} s")
    return result


def run(path: Path, db: Path, synced: int) -> None:
    store = Store.open(db)
    try:
        if synced:
            fill_index(store, synced)
        text = timed("read and decode (cp1252)", lambda: read_table_text(path))
        table = timed("parse rows", lambda: parse_table(text))
        checked = timed("check rows (as track does)", lambda: check_rows(table, NOW, ZONE))
        plan = timed("look up duplicates", lambda: plan_import(store, checked))
        result = timed("store, one transaction", lambda: import_threads(store, plan, NOW))
        print(f"  → {len(result.thread_ids)} threads stored, {result.answered} answered")
        again = timed("second import: duplicates only", lambda: plan_import(store, checked))
        print(f"  → {len(again.threads)} new, {len(again.duplicates)} duplicates")
    finally:
        store.close()


def main() -> None:
    rows = int(sys.argv[1]) if len(sys.argv) > 1 else 10_000
    synced = int(sys.argv[2]) if len(sys.argv) > 2 else 20_000
    load = ", ".join(f"{value:.1f}" for value in os.getloadavg())
    print(f"Measured on {platform.node()}: {platform.platform()}, Python "
          f"{platform.python_version()}, {os.cpu_count()} CPUs, load average {load}, "
          f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC")  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="nachfass-bench-") as folder:
        path = Path(folder) / "offene-posten.csv"
        write_file(path, rows)
        print(f"{rows} rows, {path.stat().st_size // 1024} KiB")
        for count in (0, synced):
            print(f"\nFresh store, {count} synced mails in the index:")
            total = time.perf_counter()
            run(path, Path(folder) / f"bench-{count}.db", count)
            print(f"  total {time.perf_counter() - total:.2f} s")


if __name__ == "__main__":
    main()
