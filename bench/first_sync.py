"""Benchmark: the bot's first sync of a big INBOX against the raw header fetch.

Starts a throwaway Dovecot (the test suite's helper), writes N mails straight into its
Maildir INBOX (newsletters over the last 400 days, one open thread started a week ago),
and measures, each part in a fresh process so that its peak RSS is its own:

* ``raw``: plain ``imaplib``, one ``UID FETCH`` per 500 mails of the very header fields
  and INTERNALDATE the bot asks for, nothing parsed: the floor (the fastest of
  ``RAW_RUNS`` fetches, each on its own connection);
* ``bot``: the real engine's first cycle on a fresh store, then two idle cycles (nothing
  new), the second the "idle cycle" of the ratio. The time the bot waits for SELECT is
  printed apart: Dovecot rescans a changed Maildir folder there (see _count_select_waits),
  and the ratio without those waits is the bot's own cost.

    .venv/bin/python bench/first_sync.py [N ...]      # default: 20000
    WHOLE=1 .venv/bin/python bench/first_sync.py N     # a thread older than every mail
    MIX=1 WHOLE=1 .venv/bin/python bench/first_sync.py N  # an inbox of many kinds
    DUE=1 …                                             # the thread's step due: a draft too

Prints wall time, peak RSS (the kernel's high-water mark, not tracemalloc, which slows
Python down several times), the bytes Dovecot sent per connection (its "Logged out … out=" log
lines) and the ratio of the first cycle beyond an idle cycle to the raw fetch.
"""

from __future__ import annotations

import cProfile
import imaplib
import json
import os
import pstats
import re
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import closing
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from loophelpers import mail, write_config
from nachfass_bot.adapters.imap import ImapMailbox
from nachfass_bot.adapters.store import Store
from nachfass_bot.app.wiring import build_engine, build_texts
from nachfass_bot.config import load_config
from nachfass_bot.domain.models import Client, Kind
from nachfass_bot.mail.inbound import HEADER_FIELDS
from servers import DovecotServer, SmtpSink

NOW = datetime.now(UTC).replace(microsecond=0)
# The open thread's start: a week ago, or with WHOLE=1 before the oldest mail, so that
# the sync window covers the whole folder (what every mail costs the bot).
START = NOW - timedelta(days=420 if os.environ.get("WHOLE") else 7)
CLIENT = "kunde@firma.test"
# The raw fetch swings by 3x from run to run on a shared machine: the fastest of a few is
# the floor the ratio compares with (the stricter choice).
RAW_RUNS = 3
_OUT = re.compile(rb"Logged out in=(\d+) out=(\d+)")


class _Env:
    def setenv(self, key: str, value: str) -> None:
        os.environ[key] = value


def newsletters(count: int, user: str) -> Iterator[bytes]:
    """``count`` newsletters, the newest last, spread over the 400 days before NOW; with
    MIX=1 an inbox as it might be instead (:func:`mixed`)."""
    step = timedelta(days=400) / max(1, count)
    if os.environ.get("MIX"):
        return (mixed(number, user, NOW - timedelta(days=400) + step * number)
                for number in range(count))  # fmt: skip
    return (
        mail(
            sender=f"news{number % 300}@shop{number % 17}.test",
            to=user,
            subject=f"Angebot der Woche {number}",
            body=("Liebe Kundin, lieber Kunde,\n" + "Rabatt! " * 60 + "\n") * 3,
            date=NOW - timedelta(days=400) + step * number,
        )
        for number in range(count)
    )


def mixed(number: int, user: str, date: datetime) -> bytes:
    """One mail of an inbox of many kinds (a guess at a freelancer's, not a measured
    one): of every 20, 12 newsletters with List-Unsubscribe and ``Precedence: bulk``, 3
    notifications with ``Auto-Submitted: auto-generated`` (shops, services), 4 mails of
    strangers (2 of them replies to mails the bot never knew) and one with an English
    subject that reads like an auto-reply's ("Office …"); of every 100, one of those is
    a Postfix bounce of the owner's mail to a stranger instead (read whole: a bounce
    may name a thread in its text alone)."""
    if number % 100 == 99:
        return bounce(number, date)
    kind = number % 20
    body = ("Guten Tag,\n" + "Text " * 60 + "\n") * 3
    if kind < 12:
        extra = {"List-Unsubscribe": f"<mailto:off@shop{number % 17}.test>",
                 "Precedence": "bulk"}  # fmt: skip
        return mail(sender=f"news{number % 300}@shop{number % 17}.test", to=user,
                    subject=f"Angebot der Woche {number}", body=body, date=date,
                    extra=extra)  # fmt: skip
    if kind < 15:
        return mail(sender=f"noreply@service{number % 23}.test", to=user,
                    subject=f"Ihre Bestellung {number} ist unterwegs", body=body, date=date,
                    extra={"Auto-Submitted": "auto-generated"})  # fmt: skip
    if kind < 19:
        reply = f"<{number}.older@person{number % 97}.test>" if kind < 17 else None
        return mail(sender=f"person{number % 97}@privat{number % 41}.test", to=user,
                    subject=f"Re: Treffen {number}" if reply else f"Frage {number}",
                    body=body, date=date, in_reply_to=reply)  # fmt: skip
    return mail(sender=f"team@office{number % 13}.test", to=user,
                subject=f"Office hours {number}", body=body, date=date)  # fmt: skip


_BOUNCE = Path(__file__).resolve().parents[1] / "tests" / "corpus" / "postfix_dsn_adler.eml"


def bounce(number: int, date: datetime) -> bytes:
    """The corpus' Postfix bounce (RFC 3464) as the ``number``-th mail: its own
    Message-ID and Date, CRLF line ends."""
    raw = _BOUNCE.read_bytes().replace(b"\r\n", b"\n")
    raw = re.sub(rb"(?mi)^Message-Id: .*$", f"Message-Id: <{number}.bounce@mx.test>".encode(),
                 raw, count=1)  # fmt: skip
    raw = re.sub(rb"(?m)^Date: .*$", f"Date: {format_datetime(date)}".encode(), raw, count=1)
    return raw.replace(b"\n", b"\r\n")


def backdate(server: DovecotServer, count: int) -> None:
    """Give each Maildir file the mtime of its Date: Dovecot takes INTERNALDATE from it,
    and a real mailbox's old mail arrived long ago (``fill_inbox`` names the files by
    their number, 1 to ``count``)."""
    step = timedelta(days=400) / max(1, count)
    cur = server.workdir / "mail" / server.user / "Maildir" / "cur" if server.workdir else None
    folder = cur or next((server._dir / "mail").glob("*/Maildir/cur"))
    for path in folder.iterdir():
        number = int(path.name.split(".", 1)[0]) - 1_700_000_000 - 1
        moment = (NOW - timedelta(days=400) + step * number).timestamp()
        os.utime(path, (moment, moment))


def raw_fetch(host: str, port: int, user: str, password: str) -> int:
    """The floor: the bot's header fields of every mail, in batches of 500, unparsed."""
    fields = " ".join(HEADER_FIELDS).upper()
    imap = imaplib.IMAP4(host, port)
    imap.login(user, password)
    imap.select("INBOX", readonly=True)
    _typ, data = imap.uid("SEARCH", "ALL")
    uids = data[0].split()
    received = 0
    for start in range(0, len(uids), 500):
        chunk = b",".join(uids[start : start + 500]).decode()
        _typ, answer = imap.uid(
            "FETCH", chunk, f"(BODY.PEEK[HEADER.FIELDS ({fields})] INTERNALDATE)"
        )
        received += sum(len(part[1]) for part in answer if isinstance(part, tuple))
    imap.logout()
    return received


def bot_cycles(work: Path) -> dict[str, float]:
    """The engine's first cycle on a fresh store and two idle cycles."""
    config = load_config(work / "config.toml")
    figures: dict[str, float] = {}
    with closing(Store.open(config.store.path)) as store:
        client_id = store.upsert_client(Client(email=CLIENT), START)
        thread_id = store.add_thread(
            kind=Kind.ANGEBOT, client_id=client_id, subject="Angebot", started_at=START, now=START
        )
        if not os.environ.get("DUE"):
            # Nothing due in the measured cycles: the first cycle is the sync alone, not
            # also a draft mailed to the owner (≈0.8 s through the sink into Dovecot).
            store.update_thread(thread_id, START, paused_until=NOW + timedelta(days=30))
        engine = build_engine(config, store, build_texts(config))
        waits = _count_select_waits()
        figures["first cycle"] = _timed(lambda: engine.tick(NOW))
        figures["first cycle SELECT"] = waits.pop()
        figures["idle after sync"] = _timed(lambda: engine.tick(NOW + timedelta(minutes=1)))
        waits.pop()
        figures["idle cycle"] = _timed(lambda: engine.tick(NOW + timedelta(minutes=2)))
        figures["idle cycle SELECT"] = waits.pop()
    return figures


class _Waits:
    """Seconds spent in SELECT/EXAMINE (``folder_status``) since the last ``pop``."""

    def __init__(self) -> None:
        self.seconds = 0.0

    def pop(self) -> float:
        seconds, self.seconds = self.seconds, 0.0
        return seconds


def _count_select_waits() -> _Waits:
    """Time the bot's SELECTs: after a change to a Maildir folder (the bot's own mail
    to the owner, delivered into INBOX by the sink; the cache Dovecot writes during a
    big FETCH) Dovecot 2.3 rescans the whole folder at the next SELECT or STATUS, once,
    ≈2 s at 20,000 files. That is the server's work, paid by whichever client looks next
    (the raw fetch pays it too, in its slowest run), not the bot's."""
    waits = _Waits()
    original = ImapMailbox.folder_status

    def timed(self: ImapMailbox, folder: str) -> Any:
        began = time.perf_counter()
        try:
            return original(self, folder)
        finally:
            waits.seconds += time.perf_counter() - began

    ImapMailbox.folder_status = timed
    return waits


def _timed(action: Callable[[], Any]) -> float:
    """Wall time of ``action``; with PROFILE=1 its cProfile listing goes to stderr (by
    ``PROFILE_SORT``, default tottime), and with PROFILE_DUMP=FILE the first profile
    (the first cycle's) is saved there for ``pstats``."""
    profiler = cProfile.Profile() if os.environ.get("PROFILE") else None
    began = time.perf_counter()
    if profiler is not None:
        profiler.runcall(action)
        order = os.environ.get("PROFILE_SORT", "tottime")  # or "cumulative"
        pstats.Stats(profiler, stream=sys.stderr).sort_stats(order).print_stats(25)
        if os.environ.get("PROFILE_DUMP") and not os.path.exists(os.environ["PROFILE_DUMP"]):
            profiler.dump_stats(os.environ["PROFILE_DUMP"])
    else:
        action()
    return time.perf_counter() - began


def peak_rss_mb() -> float:
    """This process's peak RSS (VmHWM): unlike ``ru_maxrss``, which Linux carries over
    from the parent across fork and exec, it starts afresh in the child."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def child(part: str, work: Path) -> None:
    """One part in this process; prints its figures as JSON."""
    settings = json.loads((work / "server.json").read_text())
    os.environ.update(settings["env"])
    if part == "raw":
        times, size = [], 0
        for _ in range(RAW_RUNS):
            began = time.perf_counter()
            size = raw_fetch(
                settings["host"], settings["port"], settings["user"], settings["password"]
            )
            times.append(time.perf_counter() - began)
        figures = {"raw fetch": min(times), "raw slowest": max(times), "header bytes": float(size)}
    else:
        figures = bot_cycles(work)
    figures["peak RSS MB"] = peak_rss_mb()
    print(json.dumps(figures))


def server_bytes(log: Path, offset: int, sessions: int = 1) -> tuple[int, int]:
    """Bytes Dovecot sent in the sessions that logged out after ``offset``; new offset.
    Waits (up to 10 s) for ``sessions`` such lines: Dovecot writes them a little after
    the client is gone, and a late one would count in the next part."""
    deadline = time.monotonic() + 10
    while True:
        data = log.read_bytes()
        found = _OUT.findall(data[offset:])
        if len(found) >= sessions or time.monotonic() > deadline:
            return sum(int(match[1]) for match in found), len(data)
        time.sleep(0.1)


def run_part(part: str, work: Path) -> dict[str, float]:
    output = subprocess.run(
        [sys.executable, __file__, "--part", part, str(work)],
        check=True,
        stdout=subprocess.PIPE,
        text=True,
    ).stdout
    return dict(json.loads(output.strip().splitlines()[-1]))


def measure(count: int) -> None:
    server = DovecotServer()
    server.start()
    sink = SmtpSink(deliver_to=server)
    sink.start()
    work = Path(tempfile.mkdtemp(prefix="nachfass-bench-"))
    try:
        began = time.perf_counter()
        server.fill_inbox(server, newsletters(count, server.user))
        backdate(server, count)
        write_config(work, server, sink, _Env())  # type: ignore[arg-type]
        settings = {
            "host": server.host, "port": server.port, "user": server.user,
            "password": server.password,
            "env": {k: v for k, v in os.environ.items() if k.startswith("NACHFASS")},
        }  # fmt: skip
        (work / "server.json").write_text(json.dumps(settings))
        # Dovecot indexes the new Maildir at the first SELECT: not part of any figure.
        raw_fetch(server.host, server.port, server.user, server.password)
        _, offset = server_bytes(server.log_path, 0)
        window = "whole folder" if os.environ.get("WHOLE") else "thread started 7 days ago"
        window += ", mixed inbox" if os.environ.get("MIX") else ", newsletters"
        print(f"{count} mails in INBOX, {window} (built in {time.perf_counter() - began:.0f} s), "
              f"load {os.getloadavg()[0]:.2f}", flush=True)  # fmt: skip
        raw = run_part("raw", work)
        raw_sent, offset = server_bytes(server.log_path, offset, sessions=RAW_RUNS)
        raw_sent //= RAW_RUNS
        bot = run_part("bot", work)
        bot_sent, offset = server_bytes(server.log_path, offset, sessions=3)
        beyond = bot["first cycle"] - bot["idle cycle"]
        print(f"  raw header fetch  {raw['raw fetch']:7.2f} s  RSS {raw['peak RSS MB']:5.0f} MB"
              f"  server sent {raw_sent / 1e6:6.1f} MB  (fastest of {RAW_RUNS}, slowest "
              f"{raw['raw slowest']:.2f} s)")  # fmt: skip
        print(f"  bot first cycle   {bot['first cycle']:7.2f} s  RSS {bot['peak RSS MB']:5.0f} MB"
              f"  server sent {bot_sent / 1e6:6.1f} MB (all cycles)")  # fmt: skip
        print(f"  bot idle cycle    {bot['idle cycle']:7.2f} s  (the one right after the first "
              f"cycle: {bot['idle after sync']:.2f} s)")  # fmt: skip
        own = beyond - bot["first cycle SELECT"] + bot["idle cycle SELECT"]
        print(
            f"  SELECT waits      {bot['first cycle SELECT']:7.2f} s first cycle, "
            f"{bot['idle cycle SELECT']:.2f} s idle cycle (Dovecot's Maildir rescans)"
        )
        print(f"  ratio (first - idle) / raw: {beyond / raw['raw fetch']:.2f}; "
              f"without SELECT waits: {own / raw['raw fetch']:.2f}, "
              f"load {os.getloadavg()[0]:.2f}", flush=True)  # fmt: skip
    finally:
        sink.stop()
        server.stop()


def main() -> None:
    if sys.argv[1:2] == ["--part"]:
        child(sys.argv[2], Path(sys.argv[3]))
        return
    for count in [int(arg) for arg in sys.argv[1:]] or [20_000]:
        measure(count)


if __name__ == "__main__":
    main()
