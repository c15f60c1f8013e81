"""The store: migrations keep old data, WAL is on, a draft per step at most."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable
from contextlib import closing
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from nachfass_bot.adapters.ledger import Ledger
from nachfass_bot.adapters.store import MIGRATIONS, SCHEMA_VERSION, Store
from nachfass_bot.domain.models import (
    DRAFT_TRANSITIONS,
    Client,
    DraftState,
    Inbound,
    Kind,
    MessageRole,
    NoticeState,
    PaymentSource,
    SeenRole,
    State,
    VerdictKind,
)
from nachfass_bot.errors import StateError, StoreError

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def version_one_database(path: Path) -> None:
    """A database as the first released schema wrote it, with one client and thread."""
    with closing(sqlite3.connect(path)) as conn:
        conn.executescript(MIGRATIONS[0])
        conn.execute("PRAGMA user_version = 1")
        conn.execute(
            "INSERT INTO clients (email, name, du, created_at) VALUES (?, ?, 1, ?)",
            ["lena@hoffmann.test", "Lena Hoffmann", NOW.isoformat()],
        )
        conn.execute(
            "INSERT INTO threads (kind, client_id, subject, state, step, started_at, created_at,"
            " updated_at) VALUES ('angebot', 1, 'Flyer', 'open', 1, ?, ?, ?)",
            [NOW.isoformat()] * 3,
        )
        conn.commit()


def test_migration_keeps_old_data_and_adds_the_new_columns(tmp_path: Path) -> None:
    path = tmp_path / "nachfass.db"
    version_one_database(path)

    store = Store.open(path)
    try:
        assert store.schema_version() == SCHEMA_VERSION >= 2
        thread = store.thread(1)
        assert thread is not None
        assert (thread.client.name, thread.client.du, thread.step) == ("Lena Hoffmann", True, 1)
        assert thread.client.customer_type == "b2b"
        assert thread.client.anrede is None and thread.expenses is None
        assert store.notices(list(NoticeState)) == [], "the notice outbox starts empty"
        journal = store.db.execute("PRAGMA journal_mode").fetchone()[0]
        assert journal == "wal"
    finally:
        store.close()


def newer_schema(path: Path) -> None:
    with closing(sqlite3.connect(path)) as conn:
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")


def not_a_database(path: Path) -> None:
    path.write_bytes(b"Kein SQLite, nur Text.\n" * 100)


def test_a_newer_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "nachfass.db"
    newer_schema(path)
    with pytest.raises(StoreError, match="aktualisieren"):
        Store.open(path)


@pytest.mark.parametrize("spoil", [newer_schema, not_a_database])
def test_a_refused_file_leaves_no_connection_open(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, spoil: Callable[[Path], None]
) -> None:
    # Python 3.13 warns about every connection the garbage collector has to close.
    path = tmp_path / "nachfass.db"
    spoil(path)
    opened: list[sqlite3.Connection] = []
    connect = sqlite3.connect

    def recording_connect(*args: Any, **kwargs: Any) -> sqlite3.Connection:
        opened.append(connect(*args, **kwargs))
        return opened[-1]

    monkeypatch.setattr(sqlite3, "connect", recording_connect)
    with pytest.raises(StoreError):
        Store.open(path)
    assert len(opened) == 1
    with pytest.raises(sqlite3.ProgrammingError, match="closed"):
        opened[0].execute("SELECT 1")


def test_one_live_draft_per_step_and_drafts_covering_other_threads(memory_store: Store) -> None:
    store = memory_store
    client_id = store.upsert_client(Client(email="kasse@praxis.test"), NOW)
    first, second = (
        store.add_thread(
            kind=Kind.RECHNUNG, client_id=client_id, subject=s, started_at=NOW, now=NOW
        )
        for s in ("R1", "R2")
    )
    fields = {"step_index": 0, "step_number": 1, "recipient": "kasse@praxis.test",
              "subject": "S", "body": "B", "now": NOW, "thread_id": first}  # fmt: skip
    draft_id = store.add_draft(
        token="a" * 20, draft_message_id="<d1@x>", client_message_id="<c1@x>",
        extra_thread_ids=[second], **fields,
    )  # fmt: skip
    with pytest.raises(StoreError):
        store.add_draft(
            token="b" * 20, draft_message_id="<d2@x>", client_message_id="<c2@x>", **fields
        )
    assert [d.id for d in store.drafts([DraftState.NEW], second)] == [draft_id]
    assert store.draft(draft_id).thread_ids == (first, second)
    by_thread = store.drafts_by_thread([DraftState.NEW])
    assert {thread: [d.id for d in found] for thread, found in by_thread.items()} == {
        first: [draft_id],
        second: [draft_id],
    }
    assert store.drafts_by_thread([DraftState.SENT]) == {}


def test_migration_indexes_the_threads_of_existing_drafts(tmp_path: Path) -> None:
    """Drafts written before the draft_threads table are found per thread afterwards,
    the further invoices of a payment mail included."""
    path = tmp_path / "nachfass.db"
    conn = sqlite3.connect(path)
    before = next(n for n, script in enumerate(MIGRATIONS) if "draft_threads" in script)
    for script in MIGRATIONS[:before]:
        conn.executescript(script)
    conn.execute(f"PRAGMA user_version = {before}")
    conn.execute(
        "INSERT INTO clients (id, email, created_at) VALUES (1, 'k@x.test', ?)", [NOW.isoformat()]
    )
    conn.executemany(
        "INSERT INTO threads (id, kind, client_id, subject, state, started_at, created_at, "
        "updated_at) VALUES (?, 'rechnung', 1, 'R', 'open', ?, ?, ?)",
        [(number, *[NOW.isoformat()] * 3) for number in (1, 2, 3, 12)],
    )
    conn.executemany(
        "INSERT INTO drafts (id, thread_id, step_index, step_number, token, state, recipient, "
        "subject, body, draft_message_id, client_message_id, created_at, updated_at, "
        "extra_thread_ids) VALUES (?, ?, 0, 1, ?, 'new', 'k@x.test', 'S', 'B', ?, ?, ?, ?, ?)",
        [
            (1, 1, "a" * 20, "<d1@x>", "<c1@x>", NOW.isoformat(), NOW.isoformat(), "2,12"),
            (2, 3, "b" * 20, "<d2@x>", "<c2@x>", NOW.isoformat(), NOW.isoformat(), ""),
        ],
    )
    conn.commit()
    conn.close()
    store = Store.open(path)
    try:
        found = {n: [d.id for d in store.drafts([DraftState.NEW], n)] for n in (1, 2, 3, 12)}
        assert found == {1: [1], 2: [1], 3: [2], 12: [1]}
    finally:
        store.close()


def _one_draft(store: Store) -> int:
    client_id = store.upsert_client(Client(email="kasse@praxis.test"), NOW)
    thread_id = store.add_thread(
        kind=Kind.RECHNUNG, client_id=client_id, subject="R1", started_at=NOW, now=NOW
    )
    return store.add_draft(
        thread_id=thread_id, step_index=0, step_number=1, token="c" * 20,
        recipient="kasse@praxis.test", subject="S", body="B", now=NOW,
        draft_message_id="<d3@x>", client_message_id="<c3@x>",
    )  # fmt: skip


def test_a_draft_walks_the_state_machine_and_comes_back_typed() -> None:
    store = Store.memory()
    draft_id = _one_draft(store)
    for state in (DraftState.PENDING, DraftState.APPROVED, DraftState.SENDING, DraftState.SENT):
        store.set_draft_state(draft_id, state, NOW)
        draft = store.draft(draft_id)
        assert draft is not None and draft.state is state
    store.close()


@pytest.mark.parametrize(
    ("walk", "refused"),
    [
        ((DraftState.PENDING, DraftState.APPROVED, DraftState.SENDING, DraftState.SENT),
         DraftState.APPROVED),
        ((DraftState.PENDING, DraftState.CANCELLED), DraftState.APPROVED),
        ((DraftState.PENDING, DraftState.APPROVED, DraftState.SENDING, DraftState.UNCLEAR),
         DraftState.SENDING),
        ((DraftState.PENDING,), DraftState.SENDING),  # never sent without an approval
        ((DraftState.PENDING, DraftState.APPROVED, DraftState.SENDING), DraftState.CANCELLED),
    ],
)  # fmt: skip
def test_a_transition_the_state_machine_forbids_is_refused_and_changes_nothing(
    walk: tuple[DraftState, ...], refused: DraftState
) -> None:
    store = Store.memory()
    draft_id = _one_draft(store)
    for state in walk:
        store.set_draft_state(draft_id, state, NOW)
    with pytest.raises(StateError):
        store.set_draft_state(draft_id, refused, NOW, body="anders")
    draft = store.draft(draft_id)
    assert draft is not None and draft.state is walk[-1] and draft.body == "B"
    store.close()


def test_every_draft_state_is_reachable_and_the_final_ones_have_no_exit() -> None:
    reachable, frontier = {DraftState.NEW}, [DraftState.NEW]
    while frontier:
        for successor in DRAFT_TRANSITIONS[frontier.pop()]:
            if successor not in reachable:
                reachable.add(successor)
                frontier.append(successor)
    assert reachable == set(DraftState)
    for final in (DraftState.SENT, DraftState.UNCLEAR, DraftState.FAILED, DraftState.CANCELLED):
        assert DRAFT_TRANSITIONS[final] == frozenset()


# -- one writer at a time: transactions wait for the write lock, never fail on it ----------


def test_a_transaction_takes_the_write_lock_before_its_first_read(tmp_path: Path) -> None:
    path = tmp_path / "nachfass.db"
    store = Store.open(path)
    other = sqlite3.connect(path, timeout=0, isolation_level=None)
    try:
        with store.atomic():
            store.setting("digest_week")  # only a read so far
            with pytest.raises(sqlite3.OperationalError, match="locked"):
                other.execute("BEGIN IMMEDIATE")
        other.execute("BEGIN IMMEDIATE")  # free again after the commit
        other.execute("ROLLBACK")
    finally:
        other.close()
        store.close()


def test_a_transaction_that_reads_then_writes_waits_for_another_writer(tmp_path: Path) -> None:
    """With a deferred BEGIN the second connection reads, then fails at its write with
    "database is locked" at once: SQLite cannot wait there. It must wait its turn."""
    path = tmp_path / "nachfass.db"
    first = Store.open(path)
    errors: list[BaseException] = []
    asking = threading.Event()

    def increment() -> None:
        second = Store.open(path)  # a connection of this thread
        try:
            asking.set()
            with second.atomic():
                value = int(second.setting("counter") or 0)
                second.set_setting("counter", str(value + 1), NOW)
        except BaseException as exc:
            errors.append(exc)
        finally:
            second.close()

    worker = threading.Thread(target=increment)
    try:
        with first.atomic():
            first.set_setting("counter", "1", NOW)
            worker.start()
            assert asking.wait(10)
            worker.join(0.3)
            assert worker.is_alive(), f"the second writer must wait, not fail: {errors}"
        worker.join(10)
        assert errors == []
        assert first.setting("counter") == "2"
    finally:
        worker.join(10)
        first.close()


# -- seen by role (schema 6) and the index of synced inbound mail ----------------------------

SEEN_MIGRATION = 6  # the schema that keys seen mail by Message-ID and role


def _database_before_seen_by_role(path: Path) -> None:
    """A database just before seen-by-role, whose seen mail was keyed by Message-ID alone."""
    conn = sqlite3.connect(path)
    for script in MIGRATIONS[: SEEN_MIGRATION - 1]:
        conn.executescript(script)
    conn.execute(f"PRAGMA user_version = {SEEN_MIGRATION - 1}")
    rows = [
        ("<ok@owner>", "INBOX", 1, "command-pending"),
        ("<done@owner>", "INBOX", 2, "command"),
        ("<by-hand@owner>", "Sent", 3, "owner-sent"),
        ("<answer@client>", "Junk", 4, "answer"),
        ("<digest@bot>", "INBOX", 5, "own"),
    ]
    conn.executemany(
        "INSERT INTO seen (key, folder, uid, verdict, seen_at) VALUES (?, ?, ?, ?, ?)",
        [(*row, NOW.isoformat()) for row in rows],
    )
    conn.commit()
    conn.close()


def test_migration_keeps_seen_mail_under_the_role_it_stood_for(tmp_path: Path) -> None:
    path = tmp_path / "nachfass.db"
    _database_before_seen_by_role(path)
    store = Store.open(path)
    try:
        assert store.schema_version() == SCHEMA_VERSION
        roles = {
            "<ok@owner>": SeenRole.COMMAND,
            "<done@owner>": SeenRole.COMMAND,
            "<by-hand@owner>": SeenRole.OWNER_MAIL,
            "<answer@client>": SeenRole.INBOUND,
            "<digest@bot>": SeenRole.INBOUND,
        }
        for key, role in roles.items():
            assert [r for r in SeenRole if store.is_seen(key, r)] == [role], key
        assert store.seen_with_verdict(VerdictKind.COMMAND_PENDING) == [("<ok@owner>", "INBOX", 1)]
    finally:
        store.close()


def test_seen_is_kept_per_role_and_a_role_can_be_forgotten(memory_store: Store) -> None:
    store = memory_store
    store.mark_seen("<m@x>", SeenRole.INBOUND, "INBOX", 7, VerdictKind.OWNER, NOW)
    assert store.is_seen("<m@x>", SeenRole.INBOUND)
    assert not store.is_seen("<m@x>", SeenRole.COMMAND), "one role never hides another"
    store.mark_seen("<m@x>", SeenRole.COMMAND, "Sent", 3, VerdictKind.COMMAND_PENDING, NOW)
    assert store.seen_with_verdict(VerdictKind.COMMAND_PENDING) == [("<m@x>", "Sent", 3)]
    store.forget_seen("<m@x>", SeenRole.COMMAND)
    assert not store.is_seen("<m@x>", SeenRole.COMMAND)
    assert store.is_seen("<m@x>", SeenRole.INBOUND)


def _synced(key: str, **changes: object) -> tuple[str, Inbound]:
    base = Inbound(
        folder="INBOX", uid=1, message_id=key, from_addr="stranger@elsewhere.test",
        to_addrs=("anna@berger-design.test",), subject="Hallo",
        date=NOW + timedelta(days=1), received=NOW + timedelta(days=1),
    )  # fmt: skip
    return key, replace(base, **changes)  # type: ignore[arg-type]


def test_the_synced_mail_index_finds_references_whenever_and_senders_since(
    memory_store: Store,
) -> None:
    store = memory_store
    old, later = NOW - timedelta(days=3), NOW + timedelta(days=2)
    store.add_synced_mails([
        _synced("<reply-1900@x>", date=datetime(1900, 1, 1, tzinfo=UTC), received=old,
                in_reply_to=("<Offer@Berger>",), folder="Junk", is_junk_folder=True),
        _synced("<client-late@x>", from_addr="Jonas@Keller.test", date=old, received=later),
        _synced("<client-early@x>", from_addr="jonas@keller.test", date=later, received=old),
        _synced("<colleague@x>", from_addr="empfang@keller.test", received=None, date=None),
        _synced("<stranger@x>"),
    ])  # fmt: skip
    store.add_synced_mails([_synced("<client-late@x>", folder="Junk", is_junk_folder=True)])

    found = store.synced_mails(
        references={"<offer@berger>"}, senders={"jonas@keller.test"}, domains=(), since=NOW
    )
    assert [mail.message_id for mail in found] == ["<reply-1900@x>", "<client-late@x>"]
    reply, client = found
    assert reply.references == ("<offer@berger>",) and reply.is_junk_folder
    assert reply.date == datetime(1900, 1, 1, tzinfo=UTC) and reply.received == old
    assert (client.folder, client.from_addr) == ("INBOX", "jonas@keller.test"), "first copy"
    by_domain = store.synced_mails(references=(), senders=(), domains={"keller.test"}, since=NOW)
    assert {m.message_id for m in by_domain} == {"<client-late@x>", "<colleague@x>"}
    assert store.synced_mails(references=(), senders=(), domains=(), since=NOW) == []


def test_more_threads_than_sqlite_binds_variables_are_read_whole(memory_store: Store) -> None:
    # SQLite allows at most 32,766 bound variables per statement: reading every thread
    # must not pass their ids as a list (issue 15, many threads).
    count = 33_500
    client_id = memory_store.upsert_client(Client(email="viele@firma.test"), NOW)
    stamp = NOW.isoformat()
    with memory_store.atomic():
        memory_store.db.conn.executemany(
            "INSERT INTO threads (id, kind, client_id, subject, state, step, started_at, "
            "created_at, updated_at) VALUES (?, 'rechnung', ?, ?, 'open', 0, ?, ?, ?)",
            [(n, client_id, f"Vorgang {n}", stamp, stamp, stamp) for n in range(1, count + 1)],
        )
        memory_store.record_message_id("<last@firma.test>", MessageRole.ORIGINAL, NOW,
                                       thread_id=count)  # fmt: skip
        memory_store.db.conn.execute(
            "INSERT INTO payments (thread_id, amount, paid_on, source, created_at) "
            "VALUES (?, '12.5', '2026-03-02', 'owner', ?)",
            [count - 1, stamp],
        )

    threads = memory_store.threads()

    assert len(threads) == count
    assert threads[-1].message_ids == {"<last@firma.test>"}
    assert threads[-2].paid_amount == Decimal("12.50") and threads[0].paid_amount == 0
    assert len(memory_store.threads([State.OPEN], after=count - 10)) == 10
    # The cycle's planning: flat rows of the open threads, then the due ones by id.
    memory_store.update_thread(7, NOW, state=State.PAUSED)
    facts = memory_store.thread_facts(states=[State.OPEN])
    assert len(facts) == count - 1 and 7 not in {row.id for row in facts}
    wanted = [count, count - 1, 7, 1, count + 5, *range(100, 1100)]  # more than one query
    by_id = memory_store.threads_by_id(wanted)
    assert [t.id for t in by_id] == sorted(set(wanted) - {count + 5})  # oldest first
    assert by_id == [t for t in memory_store.threads() if t.id in set(wanted)]
    assert memory_store.threads_by_id([]) == []


def test_the_change_mark_moves_with_every_write_of_this_or_another_connection(
    tmp_path: Path,
) -> None:
    # What the sync read under an equal mark it uses again (app/inbox.py _known).
    path = tmp_path / "nachfass.db"
    with closing(Store.open(path)) as store, closing(Store.open(path)) as other:
        mark = store.change_mark()
        store.threads()
        assert store.change_mark() == mark  # reading changes nothing
        store.set_setting("digest_week", "2026-10", NOW)
        assert store.change_mark() != mark
        mark = store.change_mark()
        other.set_setting("digest_week", "2026-11", NOW)
        assert store.change_mark() != mark


def test_the_threads_mark_ignores_bookkeeping_but_moves_with_every_thread_change(
    tmp_path: Path,
) -> None:
    # The sync reads the listening threads again only when this mark moved (app/inbox.py
    # _known): seen marks, drafts, notices and own Message-IDs leave every Thread as it was.
    path = tmp_path / "nachfass.db"
    with closing(Store.open(path)) as store, closing(Store.open(path)) as other:
        client_id = store.upsert_client(Client(email="kunde@firma.test"), NOW)
        thread_id = store.add_thread(kind=Kind.ANGEBOT, client_id=client_id, subject="S",
                                     started_at=NOW, now=NOW, message_id="<o@x.test>")  # fmt: skip
        mark, changes = store.threads_mark(), store.change_mark()
        with store.atomic():
            store.mark_seen("k", SeenRole.INBOUND, "INBOX", 1, VerdictKind.OWN, NOW)
            store.mark_seen_many([("k2", "INBOX", 2)], SeenRole.INBOUND, VerdictKind.OWN, NOW)
            store.save_folder_state("INBOX", 1, 2, NOW)
            store.add_event(NOW, "E", thread_id=thread_id)
            store.record_message_id("<n@x.test>", MessageRole.NOTICE, NOW)
            store.add_draft(
                thread_id=thread_id, step_index=0, step_number=1, token="d" * 20,
                recipient="kunde@firma.test", subject="S", body="B", now=NOW,
                draft_message_id="<d@x.test>", client_message_id="<c@x.test>",
            )  # fmt: skip
        assert store.change_mark() != changes and store.threads_mark() == mark
        before = store.threads()
        for write in (
            lambda: store.update_thread(thread_id, NOW, step=1),
            lambda: store.record_message_id(
                "<a@x.test>", MessageRole.ANSWER, NOW, thread_id=thread_id
            ),
            lambda: store.upsert_client(Client(email="kunde@firma.test", name="K"), NOW),
            lambda: Ledger(store).add_payment(
                thread_id, Decimal("1"), NOW.date(), PaymentSource.OWNER, NOW
            ),
            lambda: store.conn.execute("UPDATE threads SET subject = 'T'"),  # any other write
            lambda: other.update_thread(thread_id, NOW, step=2),  # another connection's
        ):
            mark = store.threads_mark()
            write()
            assert store.threads_mark() != mark
        assert store.threads() != before
