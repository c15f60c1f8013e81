"""``nachfass-bot run``: the cycle on an APScheduler interval, one instance per store.

The store is the truth; the scheduler only says "now". Each cycle opens its own store
connection (SQLite connections belong to one thread) and is retried after a dropped
connection (:mod:`nachfass_bot.adapters.retry`). Where the server offers IMAP IDLE, two
:class:`~nachfass_bot.adapters.idle.IdleWatcher` ask for a cycle as soon as new mail arrives in
INBOX or in the junk folder; other folders wait for the interval. A SIGTERM/SIGINT lets
the running cycle finish, stops the watchers and ends the process.

A second job checks every few minutes (and once at start) whether the weekly digest is
due. The scheduler only asks; the store decides whether this week's digest already went
out (:mod:`nachfass_bot.app.weekly`), so restarts and a daemon that was down at 08:00 still
send it exactly once.

One writer: the scheduler runs its jobs in a thread pool, so the cycle and the digest
check would start together (both run at once at start) and write to the store at the same
time. They share one lock instead: the digest check waits for a running cycle attempt,
and a cycle for a running check (docs/DESIGN.md, "The cycle").
"""

from __future__ import annotations

import fcntl
import logging
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from types import FrameType
from typing import IO

from apscheduler.jobstores.base import JobLookupError
from apscheduler.schedulers import SchedulerNotRunningError
from apscheduler.schedulers.blocking import BlockingScheduler

from nachfass_bot.adapters.idle import Watcher
from nachfass_bot.adapters.retry import DEFAULT_FIRST_DELAY, run_with_retry
from nachfass_bot.adapters.store import lock_problem
from nachfass_bot.errors import NachfassError

log = logging.getLogger(__name__)

JOB_ID = "cycle"
WEEKLY_JOB_ID = "digest"
WEEKLY_CHECK_MINUTES = 5
WATCHER_STOP_SECONDS = 10.0

Cycle = Callable[[datetime], None]
Clock = Callable[[], datetime]
Wake = Callable[[], None]
WatcherFactory = Callable[[Wake], Watcher]


def utc_now() -> datetime:
    """The real clock."""
    return datetime.now(UTC)


def clock_from(start: datetime) -> Clock:
    """A clock that reads ``start`` now and then runs at real speed (``run --now``: a
    daemon in another week, for tests and demonstrations)."""
    began = time.monotonic()
    return lambda: start + timedelta(seconds=time.monotonic() - began)


@contextmanager
def holding(writer: threading.Lock, job: str) -> Iterator[None]:
    """Hold the one-writer lock for ``job``; say so when it has to wait."""
    if not writer.acquire(blocking=False):
        log.info("%s waits for the other job to finish its store writes", job)
        writer.acquire()
    log.debug("%s holds the store", job)
    try:
        yield
    finally:
        log.debug("%s releases the store", job)
        writer.release()


@contextmanager
def single_instance(store_path: Path) -> Iterator[None]:
    """Hold an exclusive lock next to the store; a second daemon is refused."""
    lock_path = store_path.with_name(store_path.name + ".lock")
    try:
        lock_path.parent.mkdir(parents=True, exist_ok=True)
        handle: IO[str] = lock_path.open("a+")
    except OSError as exc:
        raise lock_problem(lock_path, exc) from exc
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


def run_forever(
    cycle: Cycle,
    interval_minutes: int,
    *,
    watcher_factory: WatcherFactory | None = None,
    retry_delay: float = DEFAULT_FIRST_DELAY,
    weekly: Cycle | None = None,
    clock: Clock = utc_now,
) -> None:
    """Run ``cycle(now)`` at once and then every ``interval_minutes`` until a signal.

    ``watcher_factory(wake)`` builds the IDLE watcher; calling ``wake()`` runs the cycle
    now. ``retry_delay`` is the first wait before a failed cycle is tried again.
    ``weekly(now)`` (the digest check) runs at once and every few minutes beside it, never
    at the same time as a cycle attempt (one writer lock). ``clock`` gives both ``now``.
    """
    scheduler = BlockingScheduler(timezone=UTC)
    writer = threading.Lock()
    runner = CycleRunner(cycle, retry_delay=retry_delay, clock=clock, writer=writer)
    scheduler.add_job(
        runner.run,
        "interval",
        minutes=interval_minutes,
        next_run_time=datetime.now(UTC),
        max_instances=1,
        coalesce=True,
        misfire_grace_time=None,  # a late run (laptop resumed, wake-up) still runs once
        id=JOB_ID,
    )
    if weekly is not None:
        add_weekly_job(scheduler, weekly, clock=clock, writer=writer)
    watcher = watcher_factory(partial(wake_cycle, scheduler, runner)) if watcher_factory else None
    _handle_signals(scheduler, runner, watcher)
    log.info("nachfass-bot runs every %s minutes", interval_minutes)
    if watcher is not None:
        watcher.start()
    scheduler.start()
    if watcher is not None and not watcher.join(WATCHER_STOP_SECONDS):
        log.warning("the IDLE watcher did not stop within %.0f s", WATCHER_STOP_SECONDS)
    log.info("nachfass-bot stopped")


def add_weekly_job(
    scheduler: BlockingScheduler,
    weekly: Cycle,
    *,
    clock: Clock = utc_now,
    writer: threading.Lock | None = None,
) -> None:
    """Check for the weekly digest at once and every :data:`WEEKLY_CHECK_MINUTES`,
    holding ``writer`` (shared with the cycle) while it runs."""
    scheduler.add_job(
        run_weekly,
        "interval",
        args=[weekly, clock, writer or threading.Lock()],
        minutes=WEEKLY_CHECK_MINUTES,
        next_run_time=datetime.now(UTC),
        max_instances=1,
        coalesce=True,
        misfire_grace_time=None,
        id=WEEKLY_JOB_ID,
    )


def run_weekly(weekly: Cycle, clock: Clock = utc_now, writer: threading.Lock | None = None) -> None:
    """One digest check, holding ``writer``; a failure is logged and the next check
    tries again."""
    try:
        with holding(writer or threading.Lock(), "the weekly digest check"):
            weekly(clock())
    except NachfassError as exc:
        log.error("weekly digest not sent: %s", exc)
    except Exception:
        log.exception("weekly digest check crashed; the next check runs as planned")


def wake_cycle(scheduler: BlockingScheduler, runner: CycleRunner) -> None:
    """Run the cycle now; during a running cycle, once more right after it."""
    log.debug("cycle requested")
    if not runner.request():
        return
    try:
        scheduler.modify_job(JOB_ID, next_run_time=datetime.now(UTC))
    except JobLookupError:
        log.debug("wake-up after the scheduler stopped: ignored")


def _handle_signals(
    scheduler: BlockingScheduler, runner: CycleRunner, watcher: Watcher | None
) -> None:
    def stop(signum: int, _frame: FrameType | None) -> None:
        log.info("signal %s: finishing the current cycle, then stopping", signum)
        runner.stop()
        if watcher is not None:
            watcher.stop()
        try:
            scheduler.shutdown(wait=True)
        except SchedulerNotRunningError:
            log.debug("signal %s during shutdown: already stopping", signum)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)


class _Stopping(Exception):
    """The daemon is stopping while a failed cycle waits for its retry."""


class CycleRunner:
    """The scheduler's job: one cycle with retries, repeated while wake-ups came in.

    The scheduler never runs two cycles at once (``max_instances=1``) and would drop a
    run requested during a cycle; :meth:`request` remembers it instead, and the running
    cycle goes round once more, however many wake-ups arrived. Each attempt holds
    ``writer``, the lock the digest check shares; the wait before a retry does not.
    """

    def __init__(
        self,
        cycle: Cycle,
        *,
        retry_delay: float = DEFAULT_FIRST_DELAY,
        clock: Clock = utc_now,
        writer: threading.Lock | None = None,
    ) -> None:
        self._cycle = cycle
        self._retry_delay = retry_delay
        self._clock = clock
        self._writer = writer or threading.Lock()
        self._lock = threading.Lock()
        self._running = False
        self._again = False
        self._stopping = threading.Event()

    def run(self) -> None:
        """Run the cycle, and again as long as :meth:`request` was called meanwhile."""
        with self._lock:
            self._running = True
        try:
            self._run_once()
            while self._wanted_again():
                log.info("woken during the cycle: running it once more")
                self._run_once()
        except BaseException:
            with self._lock:
                self._running = False
            raise

    def request(self) -> bool:
        """Ask for a cycle. True: none is running, the caller must schedule one now."""
        with self._lock:
            if self._stopping.is_set():
                return False
            if self._running:
                self._again = True
                return False
            return True

    def stop(self) -> None:
        """No further round or retry; the cycle that runs now ends normally."""
        self._stopping.set()

    def _wanted_again(self) -> bool:
        with self._lock:
            if self._again and not self._stopping.is_set():
                self._again = False
                return True
            self._running = False
            self._again = False
            return False

    def _run_once(self) -> None:
        log.debug("cycle starts")
        try:
            run_with_retry(self._attempt, first_delay=self._retry_delay, sleep=self._pause)
        except _Stopping:
            log.info("stopping: the failed cycle is not tried again")
        except NachfassError as exc:
            log.error("cycle failed: %s", exc)
        except Exception:
            log.exception("cycle crashed; the next one runs as planned")

    def _attempt(self) -> None:
        with holding(self._writer, "the cycle"):
            self._cycle(self._clock())

    def _pause(self, seconds: float) -> None:
        if self._stopping.wait(seconds):
            raise _Stopping
