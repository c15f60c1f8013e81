"""Find sqlite3 connections that a test leaves for the garbage collector to close.

Python 3.13 warns (ResourceWarning) when it collects an open ``sqlite3.Connection``, and
``filterwarnings = error`` fails whichever test happens to run at that moment: a different
one each run, and not at all on Python 3.11 or 3.12. ``install()`` makes every
``sqlite3.connect()`` (sqlite-utils' too) return a :class:`WatchedConnection` that
remembers where it was opened; :meth:`ConnectionWatch.leaks` names the connections that
died open since the last call. The ``conftest.py`` fixture fails the test that leaked,
on any Python.
"""

from __future__ import annotations

import contextlib
import gc
import sqlite3
import threading
import traceback
import weakref
from typing import Any, ClassVar

PROJECT_FRAMES = ("/src/nachfass_bot/", "/tests/", "/bench/")


class WatchedConnection(sqlite3.Connection):
    """A connection that knows whether it was closed and where it was opened."""

    watch: ClassVar[ConnectionWatch | None] = None
    was_closed = True  # until the connection is open: a failed connect leaves nothing open
    opened_at = ""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.was_closed = False
        self.opened_at = _project_stack()
        if self.watch is not None:
            self.watch.opened(self)

    def close(self) -> None:
        self.was_closed = True
        super().close()

    def __del__(self) -> None:
        if self.was_closed or self.watch is None:
            return
        self.watch.died_open(self.opened_at)
        # Spare Python 3.13 its own warning; a connection collected in another thread
        # than its own refuses close().
        with contextlib.suppress(sqlite3.ProgrammingError):
            self.close()


class ConnectionWatch:
    def __init__(self) -> None:
        self._lock = threading.RLock()  # __del__ may run inside opened() or leaks()
        self._recent: weakref.WeakSet[WatchedConnection] = weakref.WeakSet()
        self._leaks: list[str] = []

    def opened(self, conn: WatchedConnection) -> None:
        with self._lock:
            self._recent.add(conn)

    def died_open(self, opened_at: str) -> None:
        with self._lock:
            self._leaks.append(opened_at)

    def leaks(self) -> list[str]:
        """Where the connections opened since the last call and collected open were opened.

        Most die by reference counting at once; only when one opened since the last call
        is still open does this run the cycle collector (it is slow to run for every test).
        """
        with self._lock:
            recent, self._recent = list(self._recent), weakref.WeakSet()
        if any(not conn.was_closed for conn in recent):
            del recent
            gc.collect()
        with self._lock:
            leaks, self._leaks = self._leaks, []
        return leaks


def install() -> ConnectionWatch:
    """Route ``sqlite3.connect`` through :class:`WatchedConnection` for this process.

    Installs once; later calls return the watch already in place.
    """
    if WatchedConnection.watch is not None:
        return WatchedConnection.watch
    watch = ConnectionWatch()
    WatchedConnection.watch = watch
    connect = sqlite3.connect

    def watched_connect(*args: Any, **kwargs: Any) -> sqlite3.Connection:
        kwargs.setdefault("factory", WatchedConnection)
        return connect(*args, **kwargs)

    sqlite3.connect = watched_connect  # type: ignore[assignment]
    return watch


def _project_stack() -> str:
    frames = [frame for frame in traceback.extract_stack() if _ours(frame.filename)]
    return "".join(traceback.format_list(frames[-6:])) or "(outside the project)\n"


def _ours(filename: str) -> bool:
    if "/.venv/" in filename or filename == __file__:
        return False
    return any(part in filename for part in PROJECT_FRAMES)
