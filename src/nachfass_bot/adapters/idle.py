"""Watching INBOX and the junk folder with IMAP IDLE (RFC 2177) so that a client's answer
is seen at once, wherever the provider's filter put it.

An :class:`IdleWatcher` runs in a thread with its own IMAP connection; IDLE watches only
the selected mailbox, so the daemon runs one per watched folder (:class:`Watchers`). The
junk folder's name is found on each connection the way the cycle finds it. It decides
nothing: when the server announces new mail (``EXISTS`` / ``RECENT``) it calls ``wake``,
and the daemon runs the normal cycle, whose UID sync finds the new mail. The watcher
also calls ``wake`` after every (re)connect, because mail may have arrived while no IDLE
was running; the cycle's sync does the catch-up.

IDLE is renewed every ``renew_seconds`` (9 minutes): RFC 2177 allows 29, but firewalls,
NAT routers and some providers drop quiet connections much earlier. After an error the
watcher reconnects with a growing delay; a refused login waits the longest delay, since
repeated failed logins can lock the account.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import closing
from typing import Generic, Protocol, TypeVar

from nachfass_bot.adapters.retry import backoff_delays
from nachfass_bot.errors import LoginFailed, NachfassError

log = logging.getLogger(__name__)

RENEW_SECONDS = 9 * 60
CHECK_SECONDS = 1.0  # how often the watcher looks whether it should stop
FIRST_RECONNECT_DELAY = 2.0
MAX_RECONNECT_DELAY = 300.0
HEALTHY_SECONDS = 60.0  # a session that lasted this long resets the reconnect delay


class IdleMailbox(Protocol):
    """What the watcher needs from a connection (``imap.ImapMailbox`` has it)."""

    def supports_idle(self) -> bool: ...

    def start_idle(self, folder: str) -> None: ...

    def wait_idle(self, timeout: float) -> bool: ...

    def end_idle(self) -> bool: ...

    def close(self) -> None: ...


M = TypeVar("M", bound=IdleMailbox)


class IdleWatcher(Generic[M]):
    """Calls ``wake()`` when new mail arrives in ``folder``, until :meth:`stop`.

    ``folder`` is a name, or a function that picks it on each new connection (the junk
    folder: from the config, SPECIAL-USE or known names); None there means the account
    has no such folder, and the watcher ends."""

    def __init__(
        self,
        connect: Callable[[], M],
        wake: Callable[[], None],
        *,
        folder: str | Callable[[M], str | None] = "INBOX",
        renew_seconds: float = RENEW_SECONDS,
        check_seconds: float = CHECK_SECONDS,
        first_delay: float = FIRST_RECONNECT_DELAY,
        max_delay: float = MAX_RECONNECT_DELAY,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._connect = connect
        self._wake = wake
        self._folder = folder
        self._label = folder if isinstance(folder, str) else "the junk folder"
        self._renew_seconds = renew_seconds
        self._check_seconds = check_seconds
        self._first_delay = first_delay
        self._max_delay = max_delay
        self._clock = clock
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Run :meth:`run` in a daemon thread."""
        name = f"imap-idle-{self._folder if isinstance(self._folder, str) else 'junk'}"
        self._thread = threading.Thread(target=self.run, name=name, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Ask the watcher to end; it leaves IDLE and logs out within ``check_seconds``.

        Only sets a flag, so it is safe to call from a signal handler.
        """
        self._stopping.set()

    def join(self, timeout: float) -> bool:
        """Wait for the thread to end; False if it is still running after ``timeout``."""
        if self._thread is None:
            return True
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def run(self) -> None:
        """Connect, IDLE, reconnect after errors, until stopped or the server has no IDLE."""
        delays = self._delays()
        while not self._stopping.is_set():
            started = self._clock()
            try:
                if not self._session():
                    return
            except LoginFailed as exc:
                self._pause(self._max_delay, exc)
            except NachfassError as exc:
                if self._clock() - started >= HEALTHY_SECONDS:
                    delays = self._delays()
                self._pause(next(delays), exc)
            except Exception as exc:  # a bug must not end the watching for good
                log.exception("IDLE watcher failed")
                self._pause(next(delays), exc)

    def _delays(self) -> Iterator[float]:
        return backoff_delays(self._first_delay, 2.0, self._max_delay)

    def _pause(self, delay: float, exc: BaseException) -> None:
        if self._stopping.is_set():
            return
        log.warning("IDLE on %s interrupted: %s; reconnecting in %.0f s", self._label, exc, delay)
        self._stopping.wait(delay)

    def _session(self) -> bool:
        """One connection: IDLE until stopped (True) or an error; False without IDLE."""
        with closing(self._connect()) as mailbox:
            if not mailbox.supports_idle():
                log.info(
                    "the IMAP server offers no IDLE: new mail in %s is found by the "
                    "regular polling only",
                    self._label,
                )
                return False
            folder = self._folder if isinstance(self._folder, str) else self._folder(mailbox)
            if folder is None:
                log.info("no junk folder found: IDLE watches INBOX only")
                return False
            self._label = folder
            mailbox.start_idle(folder)
            log.info("IDLE on %s: new mail starts a cycle at once", folder)
            self._wake()  # catch-up: mail may have come while nobody was listening
            while not self._stopping.is_set():
                self._idle_until_renewal(mailbox)
                if not self._stopping.is_set():
                    log.debug("renewing IDLE on %s", folder)
                    mailbox.start_idle(folder)
        return True

    def _idle_until_renewal(self, mailbox: IdleMailbox) -> None:
        """Wait in IDLE until the renewal time or a stop, then leave IDLE."""
        started = self._clock()
        while not self._stopping.is_set() and self._clock() - started < self._renew_seconds:
            if mailbox.wait_idle(self._check_seconds):
                self._new_mail()
        if mailbox.end_idle():
            self._new_mail()

    def _new_mail(self) -> None:
        log.info("new mail in %s: starting a cycle", self._label)
        self._wake()


class Watcher(Protocol):
    """What the daemon starts and stops: one watcher or several."""

    def start(self) -> None: ...

    def stop(self) -> None: ...

    def join(self, timeout: float) -> bool: ...


class Watchers:
    """Several watchers started, stopped and joined as one (INBOX and junk, each on a
    connection of its own: IDLE sees only the selected mailbox)."""

    def __init__(self, watchers: Sequence[Watcher]) -> None:
        self._watchers = tuple(watchers)

    def start(self) -> None:
        for watcher in self._watchers:
            watcher.start()

    def stop(self) -> None:
        """Only sets flags; safe in a signal handler."""
        for watcher in self._watchers:
            watcher.stop()

    def join(self, timeout: float) -> bool:
        """Wait for all, ``timeout`` seconds in total; False if one still runs."""
        deadline = time.monotonic() + timeout
        stopped = True
        for watcher in self._watchers:
            stopped = watcher.join(max(0.0, deadline - time.monotonic())) and stopped
        return stopped
