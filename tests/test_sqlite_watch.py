"""The watch that fails a test for a sqlite3 connection it never closed (conftest.py)."""

from __future__ import annotations

import sqlite3
from contextlib import closing

import sqlite_utils

import sqlite_watch

WATCH = sqlite_watch.install()


def test_a_connection_left_open_is_named_where_it_was_opened() -> None:
    WATCH.leaks()
    conn = sqlite3.connect(":memory:")
    del conn
    leaks = WATCH.leaks()
    assert len(leaks) == 1
    assert "test_sqlite_watch.py" in leaks[0] and "sqlite3.connect" in leaks[0]


def test_a_leak_in_a_reference_cycle_is_found_too() -> None:
    WATCH.leaks()
    cycle: list[object] = [sqlite_utils.Database(memory=True)]
    cycle.append(cycle)
    del cycle
    assert len(WATCH.leaks()) == 1


def test_closed_connections_are_no_leak() -> None:
    WATCH.leaks()
    with closing(sqlite3.connect(":memory:")) as conn:
        conn.execute("SELECT 1")
    sqlite_utils.Database(memory=True).close()
    assert WATCH.leaks() == []


def test_sqlite_utils_connects_through_the_watch() -> None:
    db = sqlite_utils.Database(memory=True)
    try:
        assert isinstance(db.conn, sqlite_watch.WatchedConnection)
    finally:
        db.close()
