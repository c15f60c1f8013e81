"""``nachfass-bot run``: the cycle on an APScheduler interval, one instance per store.

The store is the truth; the scheduler only says "now". Each cycle opens its own store
connection (SQLite connections belong to one thread) and a SIGTERM/SIGINT lets the
running cycle finish before the process ends.
"""

from __future__ import annotations

import fcntl
import logging
import os
import signal
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import IO

from apscheduler.schedulers.blocking import BlockingScheduler

from .errors import NachfassError

log = logging.getLogger(__name__)


@contextmanager
def single_instance(store_path: Path) -> Iterator[None]:
    """Hold an exclusive lock next to the store; a second daemon is refused."""
    lock_path = store_path.with_name(store_path.name + ".lock")
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    handle: IO[str] = lock_path.open("a+")
    try:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            raise NachfassError(
                f"nachfass-bot läuft schon für {store_path} (Sperre {lock_path}). "
                "Ein zweiter Dienst würde Mails doppelt verschicken und startet daher nicht."
            ) from exc
        handle.seek(0)
        handle.truncate()
        handle.write(f"{os.getpid()}\n")
        handle.flush()
        yield
    finally:
        handle.close()


def run_forever(cycle: Callable[[datetime], None], interval_minutes: int) -> None:
    """Run ``cycle(now)`` at once and then every ``interval_minutes`` until a signal."""
    scheduler = BlockingScheduler(timezone=UTC)

    def job() -> None:
        try:
            cycle(datetime.now(UTC))
        except NachfassError as exc:
            log.error("cycle failed: %s", exc)
        except Exception:
            log.exception("cycle crashed; the next one runs as planned")

    scheduler.add_job(
        job,
        "interval",
        minutes=interval_minutes,
        next_run_time=datetime.now(UTC),
        max_instances=1,
        coalesce=True,
        id="cycle",
    )

    def stop(signum: int, _frame: FrameType | None) -> None:
        log.info("signal %s: finishing the current cycle, then stopping", signum)
        scheduler.shutdown(wait=True)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    log.info("nachfass-bot runs every %s minutes", interval_minutes)
    scheduler.start()
    log.info("nachfass-bot stopped")
