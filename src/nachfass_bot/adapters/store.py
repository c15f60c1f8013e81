"""The embedded store: one SQLite file in WAL mode, the only module that touches SQLite.

The store is the truth: threads, drafts, tasks, every Message-ID we sent or matched,
per-folder sync state and the event log survive restarts; the scheduler and the engine
rebuild everything else from here.
"""

from __future__ import annotations

import enum
import functools
import os
import re
import sqlite3
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, date, datetime
from decimal import Decimal
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar, cast

from nachfass_bot.domain.models import (
    CONVERSATION_ROLES,
    DONE_DRAFT_STATES,
    OWN_ROLES,
    Client,
    Draft,
    DraftState,
    Event,
    EventKind,
    Inbound,
    Kind,
    MessageRole,
    Notice,
    NoticeState,
    Recognition,
    RecognitionState,
    SeenRole,
    Source,
    State,
    Task,
    TaskState,
    Thread,
    ThreadFacts,
    VerdictKind,
    check_draft_transition,
)
from nachfass_bot.errors import StoreError

if TYPE_CHECKING:
    import sqlite_utils

# Each entry moves the schema one version up; never edit a released entry, append one.
MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE clients (
        id INTEGER PRIMARY KEY,
        email TEXT NOT NULL UNIQUE,
        name TEXT,
        du INTEGER NOT NULL DEFAULT 0,
        assistant_email TEXT,
        created_at TEXT NOT NULL
    );
    CREATE TABLE threads (
        id INTEGER PRIMARY KEY,
        kind TEXT NOT NULL,
        client_id INTEGER NOT NULL REFERENCES clients(id),
        subject TEXT NOT NULL,
        state TEXT NOT NULL,
        step INTEGER NOT NULL DEFAULT 0,
        started_at TEXT NOT NULL,
        last_step_at TEXT,
        invoice_no TEXT,
        amount TEXT,
        due_date TEXT,
        answered_at TEXT,
        answered_folder TEXT,
        paused_until TEXT,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL
    );
    CREATE TABLE message_ids (
        message_id TEXT NOT NULL,
        thread_id INTEGER REFERENCES threads(id),
        role TEXT NOT NULL,
        folder TEXT,
        recorded_at TEXT NOT NULL,
        PRIMARY KEY (message_id, role)
    );
    CREATE INDEX message_ids_thread ON message_ids(thread_id);
    CREATE TABLE drafts (
        id INTEGER PRIMARY KEY,
        thread_id INTEGER NOT NULL REFERENCES threads(id),
        step_index INTEGER NOT NULL,
        step_number INTEGER NOT NULL,
        token TEXT NOT NULL UNIQUE,
        state TEXT NOT NULL,
        recipient TEXT NOT NULL,
        subject TEXT NOT NULL,
        body TEXT NOT NULL,
        draft_message_id TEXT NOT NULL,
        client_message_id TEXT NOT NULL,
        created_at TEXT NOT NULL,
        approved_at TEXT,
        send_after TEXT,
        sent_at TEXT,
        updated_at TEXT NOT NULL
    );
    CREATE UNIQUE INDEX drafts_one_per_step ON drafts(thread_id, step_index)
        WHERE state != 'cancelled';
    CREATE TABLE tasks (
        id INTEGER PRIMARY KEY,
        thread_id INTEGER NOT NULL REFERENCES threads(id),
        step_index INTEGER NOT NULL,
        text TEXT NOT NULL,
        due_at TEXT NOT NULL,
        state TEXT NOT NULL DEFAULT 'open',
        created_at TEXT NOT NULL,
        UNIQUE (thread_id, step_index)
    );
    CREATE TABLE folders (
        name TEXT PRIMARY KEY,
        uidvalidity INTEGER NOT NULL,
        last_uid INTEGER NOT NULL,
        updated_at TEXT NOT NULL
    );
    CREATE TABLE seen (
        key TEXT PRIMARY KEY,
        folder TEXT NOT NULL,
        uid INTEGER NOT NULL,
        verdict TEXT NOT NULL,
        seen_at TEXT NOT NULL
    );
    CREATE TABLE events (
        id INTEGER PRIMARY KEY,
        at TEXT NOT NULL,
        thread_id INTEGER REFERENCES threads(id),
        kind TEXT NOT NULL,
        text TEXT NOT NULL
    );
    CREATE INDEX events_thread ON events(thread_id);
    """,
    # 2: form of address and B2B/B2C per client; expenses of an order that may not
    # happen; one payment mail may cover several invoices of a client.
    """
    ALTER TABLE clients ADD COLUMN anrede TEXT;
    ALTER TABLE clients ADD COLUMN customer_type TEXT NOT NULL DEFAULT 'b2b';
    ALTER TABLE threads ADD COLUMN expenses TEXT;
    ALTER TABLE drafts ADD COLUMN extra_thread_ids TEXT NOT NULL DEFAULT '';
    CREATE TABLE settings (
        key TEXT PRIMARY KEY,
        value TEXT NOT NULL,
        updated_at TEXT NOT NULL
    );
    """,
    # 3: the owner answers a task reminder with "erledigt": tasks carry a token too.
    """
    ALTER TABLE tasks ADD COLUMN token TEXT;
    CREATE UNIQUE INDEX tasks_token ON tasks(token) WHERE token IS NOT NULL;
    """,
    # 4: the notice outbox. A notice to the owner is queued in the transaction of its
    # decision and sent after the commit, once; ``key`` names the decision.
    """
    CREATE TABLE notices (
        id INTEGER PRIMARY KEY,
        key TEXT NOT NULL UNIQUE,
        state TEXT NOT NULL,
        thread_id INTEGER REFERENCES threads(id),
        subject TEXT NOT NULL,
        body TEXT NOT NULL,
        message_id TEXT NOT NULL,
        in_reply_to TEXT,
        attempts INTEGER NOT NULL DEFAULT 0,
        send_after TEXT,
        created_at TEXT NOT NULL,
        sent_at TEXT,
        updated_at TEXT NOT NULL
    );
    CREATE INDEX notices_state ON notices(state);
    """,
    # 5: a notice may carry an HTML alternative (the weekly digest goes through the
    # notice outbox too, recorded before it is sent).
    """
    ALTER TABLE notices ADD COLUMN html TEXT;
    """,
    # 6: "seen" by role. The same mail in Sent, INBOX, All Mail and junk is acted on once
    # per role (the owner's command, the owner's mail to a client, the verdict on an
    # inbound mail), whichever folder shows it first; old rows keep the role they stood
    # for.
    """
    CREATE TABLE seen_by_role (
        key TEXT NOT NULL,
        role TEXT NOT NULL,
        folder TEXT NOT NULL,
        uid INTEGER NOT NULL,
        verdict TEXT NOT NULL,
        seen_at TEXT NOT NULL,
        PRIMARY KEY (key, role)
    );
    INSERT INTO seen_by_role (key, role, folder, uid, verdict, seen_at)
        SELECT key,
               CASE verdict
                   WHEN 'command-pending' THEN 'command'
                   WHEN 'command' THEN 'command'
                   WHEN 'owner-sent' THEN 'owner-mail'
                   ELSE 'inbound'
               END,
               folder, uid, verdict, seen_at
        FROM seen;
    DROP TABLE seen;
    ALTER TABLE seen_by_role RENAME TO seen;
    """,
    # 7: an index of the header facts of synced inbound mail, so that a thread created
    # after its answer arrived still finds it without reading the mailbox again.
    """
    CREATE TABLE synced_mail (
        key TEXT PRIMARY KEY,
        folder TEXT NOT NULL,
        uid INTEGER NOT NULL,
        message_id TEXT,
        from_addr TEXT NOT NULL,
        from_domain TEXT NOT NULL,
        date TEXT,
        received TEXT,
        is_junk INTEGER NOT NULL
    );
    CREATE INDEX synced_mail_sender ON synced_mail(from_domain, from_addr);
    CREATE TABLE synced_refs (
        ref TEXT NOT NULL,
        key TEXT NOT NULL,
        PRIMARY KEY (ref, key)
    ) WITHOUT ROWID;
    """,
    # 8: threads started from the Sent folder. ``source`` says how a thread came to be;
    # ``recognitions`` lists every recognised sent mail once (by Message-ID, whichever
    # copy came first: Sent or the Bcc copy in INBOX) and where the owner's
    # confirmation mail lists it.
    """
    ALTER TABLE threads ADD COLUMN source TEXT NOT NULL DEFAULT 'cli';
    ALTER TABLE threads ADD COLUMN first_delay_days INTEGER;
    CREATE TABLE recognitions (
        id INTEGER PRIMARY KEY,
        message_id TEXT NOT NULL UNIQUE,
        state TEXT NOT NULL,
        source TEXT NOT NULL,
        reason TEXT NOT NULL,
        thread_id INTEGER REFERENCES threads(id),
        token TEXT,
        position INTEGER,
        proposal TEXT,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL
    );
    CREATE INDEX recognitions_token ON recognitions(token);
    """,
    # 9: payments (docs/DESIGN.md, "Bank statements"). Every statement line is stored once
    # by its key, with the verdict of the matcher; every statement file once by its
    # SHA-256 (a broken one too, so it is reported once); money received per invoice
    # thread (from the bank or the owner's word), whose sum leaves the open remainder;
    # questions to the owner about a credit without an invoice number, by token.
    """
    CREATE TABLE bookings (
        key TEXT PRIMARY KEY,
        booked TEXT NOT NULL,
        value_date TEXT NOT NULL,
        amount TEXT NOT NULL,
        currency TEXT NOT NULL,
        payer TEXT NOT NULL,
        payer_iban TEXT,
        purpose TEXT NOT NULL,
        reference TEXT,
        end_to_end TEXT,
        reversal INTEGER NOT NULL,
        file TEXT NOT NULL,
        verdict TEXT NOT NULL,
        imported_at TEXT NOT NULL
    );
    CREATE INDEX bookings_reference ON bookings(reference);
    CREATE INDEX bookings_end_to_end ON bookings(end_to_end);
    CREATE TABLE statement_files (
        hash TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        state TEXT NOT NULL,
        problem TEXT,
        bookings INTEGER NOT NULL DEFAULT 0,
        imported_at TEXT NOT NULL
    );
    CREATE TABLE payments (
        id INTEGER PRIMARY KEY,
        thread_id INTEGER NOT NULL REFERENCES threads(id),
        amount TEXT NOT NULL,
        paid_on TEXT NOT NULL,
        source TEXT NOT NULL,
        booking_key TEXT,
        created_at TEXT NOT NULL
    );
    CREATE INDEX payments_thread ON payments(thread_id);
    CREATE INDEX payments_booking ON payments(booking_key);
    CREATE TABLE payment_questions (
        id INTEGER PRIMARY KEY,
        token TEXT NOT NULL UNIQUE,
        booking_key TEXT NOT NULL,
        thread_ids TEXT NOT NULL,
        state TEXT NOT NULL,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL
    );
    CREATE INDEX payment_questions_booking ON payment_questions(booking_key);
    """,
    # 10: which threads a draft covers (its own and the further invoices of one payment
    # mail), indexed by thread: "the drafts of thread N" is a look-up, not a LIKE scan.
    """
    CREATE TABLE draft_threads (
        thread_id INTEGER NOT NULL,
        draft_id INTEGER NOT NULL REFERENCES drafts(id),
        PRIMARY KEY (thread_id, draft_id)
    ) WITHOUT ROWID;
    INSERT OR IGNORE INTO draft_threads (thread_id, draft_id) SELECT thread_id, id FROM drafts;
    WITH RECURSIVE split(draft_id, rest, item) AS (
        SELECT id, extra_thread_ids || ',', '' FROM drafts WHERE extra_thread_ids != ''
        UNION ALL
        SELECT draft_id, substr(rest, instr(rest, ',') + 1),
               substr(rest, 1, instr(rest, ',') - 1)
        FROM split WHERE rest != ''
    )
    INSERT OR IGNORE INTO draft_threads (thread_id, draft_id)
        SELECT CAST(item AS INTEGER), draft_id FROM split WHERE item != '';
    CREATE INDEX drafts_state ON drafts(state);
    """,
    # 11: the window a folder was first read from (docs/DESIGN.md, "The cycle"): mail that
    # arrived before window_since (UIDs below window_uid) was not read. NULL: all was.
    """
    ALTER TABLE folders ADD COLUMN window_since TEXT;
    ALTER TABLE folders ADD COLUMN window_uid INTEGER;
    """,
    # 12: a failed draft (the server refused it for good: nothing went out) no longer
    # blocks its step; after the owner's ``resume`` the step is drafted afresh.
    """
    DROP INDEX drafts_one_per_step;
    CREATE UNIQUE INDEX drafts_one_per_step ON drafts(thread_id, step_index)
        WHERE state NOT IN ('cancelled', 'failed');
    """,
    # 13: mail a big sync left on the server (docs/DESIGN.md, "The cycle", the server's
    # first look): the UIDs ``low``..``high`` of ``folder`` under ``uidvalidity`` were
    # read only where a search on the server named them, so the index of synced mail
    # lacks the rest; a thread created since looks back there on the server, at the end
    # of the next poll (``lookbacks``), and no step of it is planned before.
    """
    CREATE TABLE unread_ranges (
        folder TEXT NOT NULL,
        uidvalidity INTEGER NOT NULL,
        low INTEGER NOT NULL,
        high INTEGER NOT NULL,
        PRIMARY KEY (folder, uidvalidity, low)
    );
    CREATE TABLE lookbacks (
        thread_id INTEGER PRIMARY KEY REFERENCES threads(id)
    );
    """,
)

SCHEMA_VERSION = len(MIGRATIONS)
BUSY_TIMEOUT_SECONDS = 30.0  # how long a writer waits for another connection's write lock


def _sql_list(values: Sequence[str]) -> str:
    """``('a', 'b')`` for constant enum values in SQL (never user input)."""
    return "(" + ", ".join(f"'{value}'" for value in values) + ")"


_CONVERSATION_ROLES = _sql_list(CONVERSATION_ROLES)
_OWN_ROLES = _sql_list(OWN_ROLES)
# Keys per "IN (…)" query: well below SQLite's oldest limit of 999 host parameters.
_KEYS_PER_QUERY = 500
_DONE_DRAFT_STATES = _sql_list(DONE_DRAFT_STATES)

# What :meth:`Store._thread_rows` reads, in the order :func:`_thread_from_row` unpacks it.
_THREAD_COLUMNS = (
    "t.id, t.kind, t.subject, t.state, t.step, t.started_at, t.last_step_at, t.invoice_no, "
    "t.amount, t.due_date, t.answered_at, t.answered_folder, t.paused_until, t.expenses, "
    "t.source, t.first_delay_days, "
    "t.client_id, c.email, c.name, c.du, c.assistant_email, c.anrede, c.customer_type"
)
# What :meth:`Store.thread_facts` reads, in the order of :class:`ThreadFacts`.
_FACTS_COLUMNS = (
    "t.id, t.kind, t.state, t.step, c.email, c.name, c.du, t.subject, t.started_at, "
    "t.last_step_at, t.invoice_no, t.amount, t.due_date, t.answered_at, t.answered_folder, "
    "t.paused_until, t.source, t.first_delay_days"
)
_E = TypeVar("_E", bound=enum.Enum)


class _Members(dict[str, _E]):
    """An enum's members by stored value; an unknown value asks the enum, which raises
    its ValueError."""

    def __init__(self, members: type[_E]) -> None:
        super().__init__((str(member), member) for member in members)
        self.members = members

    def __missing__(self, value: str) -> _E:
        return self.members(value)


def _by_value(members: type[_E]) -> Callable[[str], _E]:
    """The enum member of a stored value: a dict look-up instead of Enum.__call__ per
    row, and no Python frame either (the dict's own ``__getitem__``)."""
    return _Members(members).__getitem__


_kind, _state, _source = _by_value(Kind), _by_value(State), _by_value(Source)
# A thread's oldest draft in the states asked for: its state and send time.
FirstDraft = tuple[DraftState, datetime | None]
_NO_IDS: frozenset[str] = frozenset()
_CENTS = Decimal("0.01")
_NO_PAYMENT = Decimal("0.00")
_fromiso = datetime.fromisoformat
# What to_iso writes: UTC, seconds, and microseconds unless they are zero. A text that
# datetime.fromisoformat reads in this form, to_iso writes back alike (hours to 23: a
# later Python reads 24:00 as the next day).
_TO_ISO_FORM = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}T(?:[01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9]"
    r"(?:\.(?!000000)[0-9]{6})?\+00:00"
).fullmatch


def to_iso(moment: datetime | None) -> str | None:
    """An aware datetime as an ISO string in UTC (the store keeps only UTC)."""
    if moment is None:
        return None
    if moment.tzinfo is UTC:  # as read from the store or computed: nothing to convert
        return moment.isoformat()
    if moment.tzinfo is None:
        raise ValueError("naive datetime given to the store")
    return moment.astimezone(UTC).isoformat()


def stored_iso(text: str | None, moment: datetime | None) -> str | None:
    """``to_iso(moment)`` for a ``moment`` read from the stored ``text``: the text itself
    where it is in to_iso's form (no formatting), else the moment formatted anew."""
    if text is not None and _TO_ISO_FORM(text):
        return text
    return to_iso(moment)


def from_iso(text: str | None) -> datetime | None:
    """The inverse of :func:`to_iso`."""
    return None if text is None else datetime.fromisoformat(text)


_Method = TypeVar("_Method", bound=Callable[..., Any])


def _bookkeeping_only(method: _Method) -> _Method:
    """A :class:`Store` method whose writes leave every thread as it was: they do not
    move :meth:`Store.threads_mark`."""

    @functools.wraps(method)
    def counted(store: Store, *args: Any, **kwargs: Any) -> Any:
        with store._bookkeeping():
            return method(store, *args, **kwargs)

    return cast(_Method, counted)


class Store:
    """All persistent state; open with :meth:`open`, close with :meth:`close`.

    ``conn`` is the plain connection: opening, migrating and the reads of ``list``
    use it alone, so a command that only reads does not import sqlite-utils (≈0.1 s of
    start-up); :attr:`db` wraps the same connection when a method first needs it."""

    def __init__(self, conn: sqlite3.Connection, path: Path | None) -> None:
        self.conn = conn
        self.path = path
        self._bookkeeping_changes = 0  # this connection's changes that leave threads as they are
        self._in_bookkeeping = False

    @cached_property
    def db(self) -> sqlite_utils.Database:
        """sqlite-utils over :attr:`conn` (inserts, updates, row dicts)."""
        import sqlite_utils

        return sqlite_utils.Database(self.conn)

    @classmethod
    def open(cls, path: Path | str) -> Store:
        """Open (or create) the store at ``path``, switch to WAL and migrate.

        Every problem with the file or its folder (no rights, read-only, a corrupt file,
        no space) is one StoreError naming the path and what to do; nothing is changed
        then. See :func:`store_problem`.

        ``isolation_level=None``: the sqlite3 module never opens a transaction by itself
        (the same on Python 3.11 and 3.12+, where ``autocommit`` keeps its legacy default,
        which sqlite-utils requires). A lone write commits at once; every transaction is
        :meth:`atomic`'s. ``timeout`` is SQLite's busy timeout: a writer waits up to
        :data:`BUSY_TIMEOUT_SECONDS` for another connection's write lock."""
        target = Path(path)
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(_folder_problem(target.parent, exc)) from exc
        if target.exists() and not os.access(target, os.W_OK):
            # SQLite would open it read-only and fail only at the first write.
            raise StoreError(_read_only(target))
        try:
            conn = sqlite3.connect(target, timeout=BUSY_TIMEOUT_SECONDS, isolation_level=None)
        except sqlite3.Error as exc:
            raise store_problem(target, exc) from exc
        store = cls(conn, target)
        try:
            store.enable_wal()
            store.migrate()
        except sqlite3.Error as exc:
            store.close()
            raise store_problem(target, exc) from exc
        except StoreError:
            store.close()
            raise
        return store

    @staticmethod
    def is_database_error(exc: BaseException) -> bool:
        """True when ``exc`` comes from the database itself (locked, read-only, corrupt):
        a problem of the store, not of the thread that happened to meet it."""
        return isinstance(exc, sqlite3.Error)

    @classmethod
    def memory(cls) -> Store:
        """A throw-away in-memory store (unit tests)."""
        conn = sqlite3.connect(":memory:", isolation_level=None)
        try:
            store = cls(conn, None)
            store.migrate()
        except BaseException:
            conn.close()
            raise
        return store

    def close(self) -> None:
        self.conn.close()

    def enable_wal(self) -> None:
        """Switch the file to WAL (as sqlite-utils' ``enable_wal``: only when it is not)."""
        if self.conn.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
            self.conn.execute("PRAGMA journal_mode=wal")

    def migrate(self) -> None:
        """Apply every migration newer than the file's ``user_version``."""
        version = self.schema_version()
        if version > SCHEMA_VERSION:
            raise StoreError(
                f"Die Datenbank hat Schema-Version {version}, dieses Programm kennt nur "
                f"{SCHEMA_VERSION}. Bitte nachfass-bot aktualisieren."
            )
        for number, script in enumerate(MIGRATIONS[version:], start=version + 1):
            with self.atomic():
                for statement in _statements(script):
                    self.conn.execute(statement)
                self.conn.execute(f"PRAGMA user_version = {number}")

    def schema_version(self) -> int:
        return int(self.conn.execute("PRAGMA user_version").fetchone()[0])

    @contextmanager
    def atomic(self) -> Iterator[None]:
        """One committed transaction; nested blocks become savepoints.

        The outermost block begins with ``BEGIN IMMEDIATE``: it takes SQLite's write lock
        at once, waiting for it up to the busy timeout. A deferred ``BEGIN`` would take
        it only at the first write, after the block's reads, and SQLite cannot wait there
        (another writer may have changed what was read): it fails at once with "database
        is locked". So a transaction never fails because another connection writes; it
        waits its turn."""
        conn = self.conn
        try:
            if conn.in_transaction:
                with self.db.atomic():  # a savepoint in the open transaction
                    yield
                return
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
        except sqlite3.Error as exc:
            raise store_problem(self.path, exc) from exc

    @property
    def in_transaction(self) -> bool:
        """True while a transaction is open on this connection (inside :meth:`atomic`):
        the moment when no mail may be fetched or sent."""
        return bool(self.conn.in_transaction)

    def change_mark(self) -> tuple[int, int]:
        """A value that stays equal as long as nothing in the database changed: SQLite's
        ``data_version`` (commits of other connections) and this connection's
        ``total_changes`` (its own inserts, updates and deletes). What was read under an
        equal mark may be used again."""
        try:
            version = int(self.conn.execute("PRAGMA data_version").fetchone()[0])
        except sqlite3.Error as exc:
            raise store_problem(self.path, exc) from exc
        return version, self.conn.total_changes

    def threads_mark(self) -> tuple[int, int]:
        """As :meth:`change_mark`, but unmoved by this connection's bookkeeping: which
        mails were seen, how far a folder is read, the index of synced mail, drafts,
        notices, events and the bot's own Message-IDs. It stays equal as long as every
        :class:`Thread` (its client, payments and conversation Message-IDs) is as it was;
        any other write, and every commit of another connection, moves it."""
        version, changes = self.change_mark()
        return version, changes - self._bookkeeping_changes

    @contextmanager
    def _bookkeeping(self) -> Iterator[None]:
        """Count the changes of the block as bookkeeping (:meth:`threads_mark`); a block
        inside another counts once, with the outer one."""
        if self._in_bookkeeping:
            yield
            return
        self._in_bookkeeping, before = True, self.conn.total_changes
        try:
            yield
        finally:
            self._bookkeeping_changes += self.conn.total_changes - before
            self._in_bookkeeping = False

    # -- clients and threads -------------------------------------------------------

    def upsert_client(self, client: Client, now: datetime) -> int:
        """Insert the client or update name, Du and assistant; returns its id."""
        email = client.email.lower()
        row = self._first("SELECT id FROM clients WHERE email = ?", [email])
        values = {
            "name": client.name,
            "du": int(client.du),
            "assistant_email": client.assistant_email.lower() if client.assistant_email else None,
            "anrede": client.anrede,
            "customer_type": client.customer_type,
        }
        if row:
            self._table("clients").update(row["id"], values)
            return int(row["id"])
        record = {"email": email, "created_at": to_iso(now), **values}
        return self._insert("clients", record)

    def add_thread(
        self,
        *,
        kind: Kind,
        client_id: int,
        subject: str,
        started_at: datetime,
        now: datetime,
        message_id: str | None = None,
        invoice_no: str | None = None,
        amount: Decimal | None = None,
        due_date: date | None = None,
        expenses: Decimal | None = None,
        source: Source = Source.CLI,
        first_delay_days: int | None = None,
    ) -> int:
        """Store a new open thread (and its original Message-ID); returns the id."""
        with self.atomic():
            record = {
                "kind": str(kind),
                "client_id": client_id,
                "subject": subject,
                "state": str(State.OPEN),
                "step": 0,
                "started_at": to_iso(started_at),
                "invoice_no": invoice_no,
                "amount": str(amount) if amount is not None else None,
                "due_date": due_date.isoformat() if due_date else None,
                "expenses": str(expenses) if expenses is not None else None,
                "source": str(source),
                "first_delay_days": first_delay_days,
                "created_at": to_iso(now),
                "updated_at": to_iso(now),
            }
            thread_id = self._insert("threads", record)
            if message_id:
                self.record_message_id(message_id, MessageRole.ORIGINAL, now, thread_id=thread_id)
        return thread_id

    def thread(self, thread_id: int) -> Thread | None:
        rows = self._thread_rows("t.id = ?", [thread_id])
        return rows[0] if rows else None

    def threads(self, states: Sequence[State] | None = None, *, after: int = 0) -> list[Thread]:
        """All threads, optionally only those in ``states`` and with an id above
        ``after`` (those created since), oldest first."""
        where, args = "t.id > ?", list[Any]([after])
        if states:
            marks = ", ".join("?" for _ in states)
            where, args = f"{where} AND t.state IN ({marks})", [after, *map(str, states)]
        return self._thread_rows(where, args)

    def newest_thread_id(self) -> int:
        """The highest thread id so far, 0 without threads: threads created later have
        higher ids (see :meth:`threads`' ``after``)."""
        row = self.db.execute("SELECT MAX(id) FROM threads").fetchone()
        return int(row[0] or 0)

    def thread_keys(self) -> dict[tuple[str, str, str], int]:
        """Every thread by (client address, subject, invoice number), folded as an import
        compares them (case and runs of spaces aside); one query. The newest thread wins
        where several share a key."""
        sql = (
            "SELECT t.id, c.email, t.subject, t.invoice_no FROM threads t "
            "JOIN clients c ON c.id = t.client_id ORDER BY t.id"
        )
        return {
            (
                row[1].casefold(),
                " ".join(row[2].split()).casefold(),
                " ".join((row[3] or "").split()).casefold(),
            ): int(row[0])
            for row in self.db.execute(sql).fetchall()
        }

    def update_thread(self, thread_id: int, now: datetime, **fields: Any) -> None:
        """Change columns of a thread; datetimes and enums are converted."""
        values = {key: _column_value(value) for key, value in fields.items()}
        values["updated_at"] = to_iso(now)
        self._table("threads").update(thread_id, values)

    def _thread_rows(self, where: str, args: list[Any]) -> list[Thread]:
        """Threads matching ``where`` (columns named ``t.…``), oldest first, from three
        queries whatever their number: plain tuples, no row dicts (docs/DESIGN.md, "The
        store"). The Message-IDs and payments are read by the same condition, joined, so
        no list of thread ids meets SQLite's limit on bound variables."""
        sql = (
            f"SELECT {_THREAD_COLUMNS} FROM threads t "
            f"JOIN clients c ON c.id = t.client_id WHERE {where} ORDER BY t.id"
        )
        rows = self.db.execute(sql, args).fetchall()
        if not rows:
            return []
        ids_by_thread = self._message_ids_by_thread(where, args)
        paid = self._paid_by_thread(where, args)
        clients: dict[tuple[Any, ...], Client] = {}  # threads of one client share its value
        return [
            _thread_from_row(row, ids_by_thread.get(row[0], _NO_IDS), paid.get(row[0]), clients)
            for row in rows
        ]

    def threads_by_id(self, thread_ids: Collection[int]) -> list[Thread]:
        """The threads of ``thread_ids`` (unknown ids are left out), oldest first, as
        :meth:`threads` reads them: three queries per :data:`_KEYS_PER_QUERY` ids."""
        wanted = sorted(set(thread_ids))
        found: list[Thread] = []
        for start in range(0, len(wanted), _KEYS_PER_QUERY):
            chunk = wanted[start : start + _KEYS_PER_QUERY]
            marks = ", ".join("?" for _ in chunk)
            found.extend(self._thread_rows(f"t.id IN ({marks})", list(chunk)))
        return found

    def thread_facts(
        self, thread_id: int | None = None, *, states: Sequence[State] | None = None
    ) -> list[ThreadFacts]:
        """What ``list`` (every thread) and ``show`` (``thread_id``) tell, oldest first:
        two queries, flat rows, no Message-IDs (docs/DESIGN.md, "The store"). ``states``:
        only threads in these states (the cycle's planning reads the open ones)."""
        where, args = "t.id > ?", list[Any]([0])
        if thread_id is not None:
            where, args = "t.id = ?", [thread_id]
        if states:
            marks = ", ".join("?" for _ in states)
            where, args = f"{where} AND t.state IN ({marks})", [*args, *map(str, states)]
        sql = (
            f"SELECT {_FACTS_COLUMNS} FROM threads t "
            f"JOIN clients c ON c.id = t.client_id WHERE {where} ORDER BY t.id"
        )
        rows = self.conn.execute(sql, args).fetchall()
        paid = self._paid_by_thread(where, args) if rows else {}
        return [_facts_from_row(row, paid.get(row[0])) for row in rows]

    def _paid_by_thread(self, where: str, args: list[Any]) -> dict[int, Decimal]:
        """The sum of the payments recorded per thread matching ``where`` (Decimal, never
        SQL's float sum)."""
        sql = (
            "SELECT p.thread_id, p.amount FROM payments p "
            f"JOIN threads t ON t.id = p.thread_id WHERE {where}"
        )
        result: dict[int, Decimal] = {}
        for thread_id, amount in self.conn.execute(sql, args).fetchall():
            result[thread_id] = result.get(thread_id, Decimal(0)) + Decimal(amount)
        return result

    def _message_ids_by_thread(self, where: str, args: list[Any]) -> dict[int, frozenset[str]]:
        # Only the conversation with the client: a reply to a draft is not a client answer.
        sql = (
            "SELECT m.thread_id, m.message_id FROM message_ids m "
            f"JOIN threads t ON t.id = m.thread_id WHERE ({where}) "
            f"AND m.role IN {_CONVERSATION_ROLES}"
        )
        found: dict[int, set[str]] = {}
        for thread_id, message_id in self.db.execute(sql, args).fetchall():
            found.setdefault(thread_id, set()).add(message_id)
        return {thread_id: frozenset(ids) for thread_id, ids in found.items()}

    # -- message ids -----------------------------------------------------------------

    def record_message_id(
        self,
        message_id: str,
        role: MessageRole,
        now: datetime,
        *,
        thread_id: int | None = None,
        folder: str | None = None,
    ) -> None:
        """Remember a Message-ID: ``original``, ``sent``, ``draft``, ``notice``, ``answer``.
        A draft's or notice's is bookkeeping (:meth:`threads_mark`): a thread holds the
        conversation's only, and a row is replaced only under its own role."""
        record = {
            "message_id": message_id,
            "thread_id": thread_id,
            "role": role,
            "folder": folder,
            "recorded_at": to_iso(now),
        }
        if role in CONVERSATION_ROLES:
            self._table("message_ids").insert(record, replace=True)
            return
        with self._bookkeeping():
            self._table("message_ids").insert(record, replace=True)

    def own_message_ids(self) -> set[str]:
        """Message-IDs of every mail the bot itself sent (client mails, drafts, notices)."""
        sql = f"SELECT message_id FROM message_ids WHERE role IN {_OWN_ROLES}"
        return {row[0] for row in self.conn.execute(sql)}  # tuples: thousands of rows

    def thread_references(self, thread_id: int) -> list[str]:
        """Message-IDs of the thread's conversation, oldest first (RFC 5322 References)."""
        sql = (
            "SELECT message_id FROM message_ids WHERE thread_id = ? "
            f"AND role IN {_CONVERSATION_ROLES} ORDER BY recorded_at, rowid"
        )
        return [row["message_id"] for row in self.db.query(sql, [thread_id])]

    def is_known_message(self, message_id: str, roles: Collection[MessageRole]) -> bool:
        """True if ``message_id`` was recognised from the Sent folder or is recorded in
        one of ``roles``: one query (tracking asks for each mail it may download)."""
        marks = ", ".join("?" for _ in roles)
        sql = (
            "SELECT EXISTS (SELECT 1 FROM recognitions WHERE message_id = ?) OR EXISTS "
            f"(SELECT 1 FROM message_ids WHERE message_id = ? AND role IN ({marks}))"
        )
        row = self.db.execute(sql, [message_id, message_id, *map(str, roles)]).fetchone()
        return bool(row[0])

    def has_message_id(self, message_id: str, role: MessageRole) -> bool:
        sql = "SELECT 1 FROM message_ids WHERE message_id = ? AND role = ?"
        return self._first(sql, [message_id, role]) is not None

    # -- drafts ----------------------------------------------------------------------

    @_bookkeeping_only
    def add_draft(
        self,
        *,
        thread_id: int,
        step_index: int,
        step_number: int,
        token: str,
        recipient: str,
        subject: str,
        body: str,
        draft_message_id: str,
        client_message_id: str,
        now: datetime,
        extra_thread_ids: Sequence[int] = (),
    ) -> int:
        """Store a ``new`` draft (not yet mailed to the owner); one per step at most."""
        record = {
            "thread_id": thread_id,
            "step_index": step_index,
            "step_number": step_number,
            "token": token,
            "state": DraftState.NEW,
            "recipient": recipient,
            "subject": subject,
            "body": body,
            "draft_message_id": draft_message_id,
            "client_message_id": client_message_id,
            "extra_thread_ids": ",".join(str(i) for i in extra_thread_ids),
            "created_at": to_iso(now),
            "updated_at": to_iso(now),
        }
        with self.atomic():
            draft_id = self._insert("drafts", record)
            self.conn.executemany(
                "INSERT OR IGNORE INTO draft_threads (thread_id, draft_id) VALUES (?, ?)",
                [(covered, draft_id) for covered in (thread_id, *extra_thread_ids)],
            )
            self.record_message_id(draft_message_id, MessageRole.DRAFT, now, thread_id=thread_id)
        return draft_id

    def draft(self, draft_id: int) -> Draft | None:
        rows = self._draft_rows("id = ?", [draft_id])
        return rows[0] if rows else None

    def draft_by_token(self, token: str) -> Draft | None:
        rows = self._draft_rows("token = ?", [token.lower()])
        return rows[0] if rows else None

    def draft_by_message_id(self, message_id: str) -> Draft | None:
        rows = self._draft_rows("draft_message_id = ?", [message_id])
        return rows[0] if rows else None

    def drafts(self, states: Sequence[DraftState], thread_id: int | None = None) -> list[Draft]:
        """Drafts in ``states``, oldest first; with ``thread_id`` only those covering that
        thread (its own drafts and payment mails that name it among further invoices)."""
        marks = ", ".join("?" for _ in states)
        where, args = f"state IN ({marks})", list[Any](states)
        if thread_id is not None:
            covers = "id IN (SELECT draft_id FROM draft_threads WHERE thread_id = ?)"
            where, args = f"{where} AND {covers}", [*args, thread_id]
        return self._draft_rows(where, args)

    def drafts_by_thread(self, states: Sequence[DraftState]) -> dict[int, list[Draft]]:
        """Every thread's drafts in ``states`` (as :meth:`drafts` with ``thread_id`` would
        give them, oldest first), from one query: for views and cycles over all threads."""
        marks = ", ".join("?" for _ in states)
        sql = (
            "SELECT dt.thread_id AS covered, d.* FROM drafts d "
            "JOIN draft_threads dt ON dt.draft_id = d.id "
            f"WHERE d.state IN ({marks}) ORDER BY d.id"
        )
        result: dict[int, list[Draft]] = {}
        for row in self.db.query(sql, list[Any](states)):
            covered = row.pop("covered")
            result.setdefault(covered, []).append(_draft_from_row(row))
        return result

    def first_drafts(
        self, states: Sequence[DraftState], thread_id: int | None = None
    ) -> dict[int, FirstDraft]:
        """The state and send time of each thread's oldest draft in ``states`` (the first
        of :meth:`drafts_by_thread`, or of :meth:`drafts` with ``thread_id``), from one
        query without building drafts."""
        marks = ", ".join("?" for _ in states)
        where, args = f"d.state IN ({marks})", list[Any](states)
        if thread_id is not None:
            where, args = f"{where} AND dt.thread_id = ?", [*args, thread_id]
        sql = (
            "SELECT dt.thread_id, d.state, d.send_after FROM drafts d "
            f"JOIN draft_threads dt ON dt.draft_id = d.id WHERE {where} ORDER BY d.id"
        )
        result: dict[int, FirstDraft] = {}
        for covered, state, send_after in self.conn.execute(sql, args).fetchall():
            if covered not in result:
                result[covered] = (DraftState(state), from_iso(send_after))
        return result

    @_bookkeeping_only
    def set_draft_state(
        self, draft_id: int, state: DraftState, now: datetime, **fields: Any
    ) -> None:
        """Move a draft to ``state`` (and set ``fields``); a change the draft state machine
        does not allow raises :class:`StateError` and changes nothing."""
        row = self._first("SELECT state FROM drafts WHERE id = ?", [draft_id])
        if row is None:
            raise StoreError(f"Einen Entwurf {draft_id} gibt es nicht.")
        check_draft_transition(draft_id, DraftState(row["state"]), state)
        values = {key: _column_value(value) for key, value in fields.items()}
        self._table("drafts").update(
            draft_id, {"state": str(state), "updated_at": to_iso(now), **values}
        )

    def drafts_sent_between(self, start: datetime, end: datetime) -> list[Draft]:
        """Client mails sent (or possibly sent) with ``start <= sent_at < end``, oldest
        first: the digest's week, not every mail ever sent."""
        where = f"state IN {_DONE_DRAFT_STATES} AND sent_at >= ? AND sent_at < ?"
        return self._draft_rows(where, [to_iso(start), to_iso(end)])

    def client_mails_since(self, moment: datetime) -> int:
        """Client mails sent (or possibly sent) since ``moment``: for the hourly cap."""
        sql = f"SELECT count(*) FROM drafts WHERE state IN {_DONE_DRAFT_STATES} AND sent_at >= ?"
        return int(self.db.execute(sql, [to_iso(moment)]).fetchone()[0])

    def _draft_rows(self, where: str, args: list[Any]) -> list[Draft]:
        sql = f"SELECT * FROM drafts WHERE {where} ORDER BY id"
        return [_draft_from_row(row) for row in self.db.query(sql, args)]

    # -- the notice outbox -------------------------------------------------------------

    @_bookkeeping_only
    def add_notice(
        self,
        *,
        key: str,
        subject: str,
        body: str,
        message_id: str,
        now: datetime,
        thread_id: int | None = None,
        in_reply_to: str | None = None,
        html: str | None = None,
    ) -> bool:
        """Queue a ``pending`` notice to the owner (``html``: an HTML alternative to
        ``body``); False, and nothing queued, when a notice with this ``key`` exists: the
        same decision made again is reported once."""
        cursor = self.db.execute(
            "INSERT OR IGNORE INTO notices (key, state, thread_id, subject, body, html, "
            "message_id, in_reply_to, created_at, updated_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [key, str(NoticeState.PENDING), thread_id, subject, body, html, message_id,
             in_reply_to, to_iso(now), to_iso(now)],
        )  # fmt: skip
        return cursor.rowcount == 1

    def notice(self, key: str) -> Notice | None:
        """The notice queued under ``key``, whatever its state."""
        row = self._first("SELECT * FROM notices WHERE key = ?", [key])
        return _notice_from_row(row) if row else None

    @_bookkeeping_only
    def claim_notice(self, notice_id: int, now: datetime) -> bool:
        """``pending`` → ``sending`` in one committed statement; False when the notice is
        no longer ``pending`` (another process claimed it first): only the claimer sends."""
        cursor = self.db.execute(
            "UPDATE notices SET state = ?, updated_at = ? WHERE id = ? AND state = ?",
            [str(NoticeState.SENDING), to_iso(now), notice_id, str(NoticeState.PENDING)],
        )
        return cursor.rowcount == 1

    def notices(self, states: Sequence[NoticeState]) -> list[Notice]:
        """Notices in ``states``, oldest first."""
        marks = ", ".join("?" for _ in states)
        sql = f"SELECT * FROM notices WHERE state IN ({marks}) ORDER BY id"
        return [_notice_from_row(row) for row in self.db.query(sql, [str(s) for s in states])]

    @_bookkeeping_only
    def set_notice_state(
        self, notice_id: int, state: NoticeState, now: datetime, **fields: Any
    ) -> None:
        """Move a notice on; one statement, so outside :meth:`atomic` it commits at once."""
        values = {key: _column_value(value) for key, value in fields.items()}
        self._table("notices").update(
            notice_id, {"state": str(state), "updated_at": to_iso(now), **values}
        )

    # -- tasks -----------------------------------------------------------------------

    def add_task(
        self,
        *,
        thread_id: int,
        step_index: int,
        text: str,
        due_at: datetime,
        now: datetime,
        token: str | None = None,
    ) -> bool:
        """Record a due task for the owner; False if the step's task already exists."""
        record = {
            "thread_id": thread_id,
            "step_index": step_index,
            "text": text,
            "due_at": to_iso(due_at),
            "created_at": to_iso(now),
            "token": token,
        }
        table = self._table("tasks")
        before = table.count
        table.insert(record, ignore=True)
        return table.count > before

    def task_by_token(self, token: str) -> Task | None:
        row = self._first("SELECT * FROM tasks WHERE token = ?", [token.lower()])
        return _task_from_row(row) if row else None

    def finish_task(self, task_id: int) -> Task | None:
        """Mark an open task done; None when there is no such open task."""
        open_tasks = [task for task in self.tasks(TaskState.OPEN) if task.id == task_id]
        if not open_tasks:
            return None
        self.db.execute("UPDATE tasks SET state = ? WHERE id = ?", [TaskState.DONE, task_id])
        return open_tasks[0]

    def tasks(self, state: TaskState = TaskState.OPEN, thread_id: int | None = None) -> list[Task]:
        where, args = "state = ?", list[Any]([state])
        if thread_id is not None:
            where, args = f"{where} AND thread_id = ?", [state, thread_id]
        rows = self.db.query(f"SELECT * FROM tasks WHERE {where} ORDER BY due_at", args)
        return [_task_from_row(row) for row in rows]

    # -- folder sync state and seen mails -----------------------------------------------

    def folder_state(self, folder: str) -> tuple[int, int] | None:
        """``(uidvalidity, last_uid)`` of the last sync of ``folder``, or None."""
        row = self._first("SELECT uidvalidity, last_uid FROM folders WHERE name = ?", [folder])
        return (int(row["uidvalidity"]), int(row["last_uid"])) if row else None

    @_bookkeeping_only
    def save_folder_state(
        self, folder: str, uidvalidity: int, last_uid: int, now: datetime
    ) -> None:
        """Remember how far ``folder`` is read; its window (:meth:`save_folder_window`)
        stays as it is."""
        self.db.execute(
            "INSERT INTO folders (name, uidvalidity, last_uid, updated_at) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (name) DO UPDATE SET uidvalidity = excluded.uidvalidity, "
            "last_uid = excluded.last_uid, updated_at = excluded.updated_at",
            [folder, uidvalidity, last_uid, to_iso(now)],
        )

    def folder_window(self, folder: str) -> tuple[datetime, int] | None:
        """``(since, first_uid)``: ``folder`` was read from ``first_uid``, the first mail
        that reached the server on or after ``since``; None when it was read whole."""
        sql = "SELECT window_since, window_uid FROM folders WHERE name = ?"
        row = self._first(sql, [folder])
        if row is None or row["window_since"] is None:
            return None
        return _required_dt(row["window_since"]), int(row["window_uid"])

    @_bookkeeping_only
    def save_folder_window(
        self, folder: str, window: tuple[datetime, int] | None, now: datetime
    ) -> None:
        """Record the window ``folder`` is read from (None: from its first mail); the
        folder's state must be saved already."""
        since, first_uid = window if window is not None else (None, None)
        self.db.execute(
            "UPDATE folders SET window_since = ?, window_uid = ?, updated_at = ? WHERE name = ?",
            [to_iso(since), first_uid, to_iso(now), folder],
        )

    def earliest_start(self, states: Sequence[State]) -> datetime | None:
        """The earliest ``started_at`` among the threads in ``states``; None without any."""
        marks = ", ".join("?" for _ in states)
        sql = f"SELECT min(started_at) FROM threads WHERE state IN ({marks})"
        value = self.db.execute(sql, [str(state) for state in states]).fetchone()[0]
        return from_iso(value)

    @_bookkeeping_only
    def mark_seen(
        self,
        key: str,
        role: SeenRole,
        folder: str,
        uid: int,
        verdict: VerdictKind,
        now: datetime,
    ) -> None:
        """Remember that ``role`` of the mail ``key`` was handled (or, with verdict
        ``command-pending``, queued); plain SQL: this runs once per mail of a first sync."""
        self.db.execute(
            "INSERT OR REPLACE INTO seen (key, role, folder, uid, verdict, seen_at) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            [key, role, folder, uid, verdict, to_iso(now)],
        )

    @_bookkeeping_only
    def mark_seen_many(
        self,
        mails: Sequence[tuple[str, str, int]],
        role: SeenRole,
        verdict: VerdictKind,
        now: datetime,
    ) -> None:
        """:meth:`mark_seen` for many mails ``(key, folder, uid)`` with one verdict, in
        one statement: a first sync marks thousands of unrelated mails."""
        seen_at = to_iso(now)
        self.conn.executemany(
            "INSERT OR REPLACE INTO seen (key, role, folder, uid, verdict, seen_at) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            [(key, str(role), folder, uid, str(verdict), seen_at) for key, folder, uid in mails],
        )

    @_bookkeeping_only
    def forget_seen(self, key: str, role: SeenRole) -> None:
        """Let the next copy of the mail ``key`` take ``role`` on again."""
        self.db.execute("DELETE FROM seen WHERE key = ? AND role = ?", [key, role])

    def seen_with_verdict(self, verdict: VerdictKind) -> list[tuple[str, str, int]]:
        """``(key, folder, uid)`` of every seen mail with ``verdict``, oldest first."""
        sql = "SELECT key, folder, uid FROM seen WHERE verdict = ? ORDER BY seen_at, rowid"
        return [(row["key"], row["folder"], row["uid"]) for row in self.db.query(sql, [verdict])]

    def is_seen(self, key: str, role: SeenRole) -> bool:
        """Whether ``role`` of the mail ``key`` was handled (or queued) already."""
        sql = "SELECT 1 FROM seen WHERE key = ? AND role = ?"
        return self._first(sql, [key, role]) is not None

    def seen_keys(self, keys: Collection[str], role: SeenRole) -> set[str]:
        """Those of ``keys`` whose ``role`` was handled (or queued) already: one query
        per :data:`_KEYS_PER_QUERY` keys instead of :meth:`is_seen` per mail."""
        sql = "SELECT key FROM seen WHERE role = ? AND key IN ({marks})"
        return self._found_among(sql, keys, str(role))

    def seen_keys_judged_otherwise(
        self, keys: Collection[str], role: SeenRole, verdicts: Collection[VerdictKind]
    ) -> set[str]:
        """Those of ``keys`` whose ``role`` was handled with a verdict not in ``verdicts``."""
        kept = ", ".join("?" for _ in verdicts) or "NULL"
        sql = (
            f"SELECT key FROM seen WHERE role = ? AND verdict NOT IN ({kept}) "
            "AND key IN ({marks})"
        )
        return self._found_among(sql, keys, str(role), *(str(v) for v in verdicts))

    def drafts_with_message_ids(self, message_ids: Collection[str]) -> set[str]:
        """Those of ``message_ids`` that are a draft's (:meth:`draft_by_message_id`)."""
        sql = "SELECT draft_message_id FROM drafts WHERE draft_message_id IN ({marks})"
        return self._found_among(sql, message_ids)

    def _found_among(self, sql: str, values: Collection[str], *args: str) -> set[str]:
        """The first column of ``sql`` run over ``values`` in chunks (``{marks}``: the
        chunk's placeholders, after ``args``)."""
        found: set[str] = set()
        wanted = list(dict.fromkeys(values))
        for start in range(0, len(wanted), _KEYS_PER_QUERY):
            chunk = wanted[start : start + _KEYS_PER_QUERY]
            query = sql.format(marks=", ".join("?" for _ in chunk))
            found.update(row[0] for row in self.db.execute(query, [*args, *chunk]))
        return found

    # -- mail left on the server by a big sync, and the threads that must look there ----

    @_bookkeeping_only
    def add_unread_range(self, folder: str, uidvalidity: int, low: int, high: int) -> None:
        """Record that ``folder``'s UIDs ``low``..``high`` were read only where the server's
        search named them (the rest is in no index)."""
        self.db.execute(
            "INSERT OR REPLACE INTO unread_ranges (folder, uidvalidity, low, high) "
            "VALUES (?, ?, ?, ?)",
            [folder, uidvalidity, low, high],
        )

    def unread_ranges(self) -> list[tuple[str, int, int, int]]:
        """``(folder, uidvalidity, low, high)`` of every range, by folder and UID."""
        sql = "SELECT folder, uidvalidity, low, high FROM unread_ranges ORDER BY folder, low"
        return [(str(f), int(v), int(lo), int(hi)) for f, v, lo, hi in self.db.execute(sql)]

    @_bookkeeping_only
    def drop_unread_ranges(self, folder: str, uidvalidity: int) -> None:
        """Forget ``folder``'s ranges under ``uidvalidity`` (the folder is gone or renumbered:
        it is read anew)."""
        self.db.execute(
            "DELETE FROM unread_ranges WHERE folder = ? AND uidvalidity = ?", [folder, uidvalidity]
        )

    @_bookkeeping_only
    def drop_unread_range(self, folder: str, uidvalidity: int, low: int) -> None:
        """Forget the range of ``folder`` from ``low`` (it is read whole after all)."""
        self.db.execute(
            "DELETE FROM unread_ranges WHERE folder = ? AND uidvalidity = ? AND low = ?",
            [folder, uidvalidity, low],
        )

    def has_unread_ranges(self) -> bool:
        return self.db.execute("SELECT 1 FROM unread_ranges LIMIT 1").fetchone() is not None

    @_bookkeeping_only
    def add_lookback(self, thread_id: int) -> None:
        """``thread_id`` must look back on the server before any step of it is planned."""
        self.db.execute("INSERT OR IGNORE INTO lookbacks (thread_id) VALUES (?)", [thread_id])

    def lookbacks(self) -> set[int]:
        return {int(row[0]) for row in self.db.execute("SELECT thread_id FROM lookbacks")}

    @_bookkeeping_only
    def drop_lookbacks(self, thread_ids: Iterable[int]) -> None:
        self.db.conn.executemany(
            "DELETE FROM lookbacks WHERE thread_id = ?", [(tid,) for tid in thread_ids]
        )

    # -- the index of synced inbound mail ------------------------------------------------

    @_bookkeeping_only
    def add_synced_mails(self, mails: Sequence[tuple[str, Inbound]]) -> None:
        """Keep the header facts of inbound mails that may answer a thread created later:
        sender, dates, folder, and each Message-ID they reference. The first copy of a
        mail (``key``) stays. Two ``executemany`` per batch: this runs in a first sync."""
        rows: list[tuple[Any, ...]] = []
        refs: list[tuple[str, str]] = []
        for key, mail in mails:
            sender = (mail.from_addr or "").casefold()
            rows.append(
                (key, mail.folder, mail.uid, mail.message_id, sender,
                 sender.rpartition("@")[2], to_iso(mail.date), to_iso(mail.received),
                 int(mail.is_junk_folder))
            )  # fmt: skip
            named = {ref.strip().casefold() for ref in (*mail.in_reply_to, *mail.references)}
            refs.extend((ref, key) for ref in named)
        self.conn.executemany(
            "INSERT OR IGNORE INTO synced_mail (key, folder, uid, message_id, from_addr, "
            "from_domain, date, received, is_junk) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            rows,
        )
        if refs:
            self.conn.executemany(
                "INSERT OR IGNORE INTO synced_refs (ref, key) VALUES (?, ?)", refs
            )

    def synced_mails(
        self,
        *,
        references: Collection[str],
        senders: Collection[str],
        domains: Collection[str],
        since: datetime,
    ) -> list[Inbound]:
        """Synced inbound mails that reference one of ``references`` (whenever they came),
        or come from one of ``senders`` or from a domain in ``domains`` and arrived at or
        after ``since`` (INTERNALDATE, else Date; neither counts as new); earliest first.
        Arguments are folded (lower case) like the stored values."""
        where, args = [], list[Any]()
        if references:
            marks = ", ".join("?" for _ in references)
            where.append(f"m.key IN (SELECT key FROM synced_refs WHERE ref IN ({marks}))")
            args.extend(references)
        by_sender = [
            *(("(m.from_domain = ? AND m.from_addr = ?)", [a.rpartition("@")[2], a])
              for a in senders),
            *(("m.from_domain = ?", [domain]) for domain in domains),
        ]  # fmt: skip
        if by_sender:
            arrived = "coalesce(m.received, m.date, '9999') >= ?"
            where.append(f"(({' OR '.join(sql for sql, _ in by_sender)}) AND {arrived})")
            args.extend(value for _, values in by_sender for value in values)
            args.append(to_iso(since))
        if not where:
            return []
        sql = (
            "SELECT m.*, (SELECT group_concat(r.ref, ' ') FROM synced_refs r "
            "WHERE r.key = m.key) AS refs FROM synced_mail m "
            f"WHERE {' OR '.join(where)} ORDER BY coalesce(m.received, m.date), m.rowid"
        )
        return [_synced_from_row(row) for row in self.db.query(sql, args)]

    # -- recognised sent mail -----------------------------------------------------------

    def add_recognition(
        self,
        *,
        message_id: str,
        state: RecognitionState,
        source: Source,
        reason: str,
        now: datetime,
        thread_id: int | None = None,
        proposal: str | None = None,
    ) -> bool:
        """Record a recognised sent mail; False, and nothing recorded, when its
        Message-ID was recognised before (the other copy of the same mail)."""
        cursor = self.db.execute(
            "INSERT OR IGNORE INTO recognitions (message_id, state, source, reason, "
            "thread_id, proposal, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            [message_id, str(state), str(source), reason, thread_id, proposal,
             to_iso(now), to_iso(now)],
        )  # fmt: skip
        return cursor.rowcount == 1

    def recognition(self, message_id: str) -> Recognition | None:
        row = self._first("SELECT * FROM recognitions WHERE message_id = ?", [message_id])
        return _recognition_from_row(row) if row else None

    def unconfirmed_recognitions(self) -> list[Recognition]:
        """Recognitions no confirmation mail has listed yet, oldest first."""
        sql = "SELECT * FROM recognitions WHERE token IS NULL ORDER BY id"
        return [_recognition_from_row(row) for row in self.db.query(sql)]

    def recognitions_by_token(self, token: str) -> list[Recognition]:
        """The recognitions one confirmation mail listed, by their number in it."""
        sql = "SELECT * FROM recognitions WHERE token = ? ORDER BY position"
        return [_recognition_from_row(row) for row in self.db.query(sql, [token])]

    def update_recognition(self, recognition_id: int, now: datetime, **fields: Any) -> None:
        values = {key: _column_value(value) for key, value in fields.items()}
        self._table("recognitions").update(recognition_id, {**values, "updated_at": to_iso(now)})

    # -- small named values (the owner's vacation, the last digest week …) ----------------

    def setting(self, key: str) -> str | None:
        """A named value the bot keeps between runs, or None."""
        row = self._first("SELECT value FROM settings WHERE key = ?", [key])
        return str(row["value"]) if row else None

    def set_setting(self, key: str, value: str, now: datetime) -> None:
        self.db.execute(
            "INSERT OR REPLACE INTO settings (key, value, updated_at) VALUES (?, ?, ?)",
            [key, value, to_iso(now)],
        )

    # -- events ------------------------------------------------------------------------

    @_bookkeeping_only
    def add_event(
        self,
        at: datetime,
        text: str,
        *,
        thread_id: int | None = None,
        kind: EventKind = EventKind.INFO,
    ) -> None:
        """Append a decision with its German reason to the event log."""
        record = {"at": to_iso(at), "thread_id": thread_id, "kind": kind, "text": text}
        self._table("events").insert(record)

    def events(self, thread_id: int | None = None) -> list[Event]:
        where, args = ("thread_id = ?", [thread_id]) if thread_id is not None else ("1 = 1", [])
        rows = self.db.query(f"SELECT * FROM events WHERE {where} ORDER BY id", args)
        return [_event_from_row(row) for row in rows]

    def _insert(self, table: str, record: dict[str, Any]) -> int:
        """Insert a row and return its integer primary key."""
        return int(self._table(table).insert(record).last_pk or 0)

    def _table(self, name: str) -> sqlite_utils.db.Table:
        return self.db.table(name)

    def _first(self, sql: str, args: list[Any]) -> dict[str, Any] | None:
        return next(iter(self.db.query(sql, args)), None)

    # -- read-only queries for the weekly digest ------------------------------------------

    def events_between(
        self, start: datetime, end: datetime, kinds: Sequence[EventKind] | None = None
    ) -> list[Event]:
        """Events with ``start <= at < end`` (optionally only ``kinds``), oldest first."""
        where, args = "at >= ? AND at < ?", list[Any]([to_iso(start), to_iso(end)])
        if kinds:
            where += f" AND kind IN ({', '.join('?' for _ in kinds)})"
            args.extend(kinds)
        rows = self.db.query(f"SELECT * FROM events WHERE {where} ORDER BY at, id", args)
        return [_event_from_row(row) for row in rows]


@contextmanager
def opened(path: Path | str) -> Iterator[Store]:
    """The store at ``path`` for one block, closed after it. A database error that
    escapes the block (a query outside :meth:`Store.atomic`) becomes a StoreError with
    the German text of :func:`store_problem`, so no command ends in a traceback."""
    store = Store.open(path)
    try:
        yield store
    except sqlite3.Error as exc:
        raise store_problem(store.path, exc) from exc
    finally:
        store.close()


def store_problem(path: Path | None, exc: sqlite3.Error) -> StoreError:
    """One German line for a database error: what is wrong with ``path`` and what to do
    (by SQLite's error code; an unknown one keeps SQLite's own text)."""
    name = getattr(exc, "sqlite_errorname", "") or ""
    if path is None:
        return StoreError(f"Datenbankfehler: {exc}")
    folder = path.parent
    if name == "SQLITE_READONLY_DIRECTORY":
        return StoreError(
            f"Im Ordner {folder} darf nachfass-bot nicht schreiben, die Datenbank {path} "
            "braucht dort aber ihre Dateien -wal und -shm: bitte dem Benutzer, unter dem "
            "nachfass-bot läuft, Schreibrechte für den Ordner geben oder [store] path ändern."
        )
    if name.startswith(("SQLITE_READONLY", "SQLITE_PERM", "SQLITE_AUTH")):
        return StoreError(_read_only(path))
    if name.startswith("SQLITE_CANTOPEN"):
        return StoreError(
            f"Die Datenbank {path} lässt sich nicht öffnen oder anlegen: bitte prüfen, ob der "
            f"Ordner {folder} existiert und beschreibbar ist, oder [store] path ändern."
        )
    if name.startswith(("SQLITE_NOTADB", "SQLITE_CORRUPT")):
        return StoreError(
            f"Die Datenbank {path} ist beschädigt oder keine Datenbank von nachfass-bot: bitte "
            "aus einer Sicherung zurückholen oder die Datei umbenennen, dann legt "
            "nachfass-bot eine neue, leere an."
        )
    if name.startswith(("SQLITE_BUSY", "SQLITE_LOCKED")):
        return StoreError(
            f"Die Datenbank {path} ist gesperrt, ein anderes Programm schreibt gerade: bitte "
            "gleich noch einmal versuchen."
        )
    if name == "SQLITE_FULL":
        return StoreError(
            f"Kein Platz mehr für die Datenbank {path}: bitte auf dem Datenträger Platz schaffen."
        )
    if name.startswith("SQLITE_IOERR"):
        return StoreError(
            f"Lese- oder Schreibfehler bei der Datenbank {path} ({name}): bitte den "
            "Datenträger prüfen."
        )
    return StoreError(f"Datenbankfehler bei {path}: {exc}")


def lock_problem(lock_path: Path, exc: OSError) -> StoreError:
    """The lock file next to the store cannot be created or written."""
    why = "keine Berechtigung" if isinstance(exc, PermissionError) else exc.strerror
    return StoreError(
        f"Die Sperrdatei {lock_path} lässt sich nicht anlegen oder schreiben ({why}): bitte "
        "dem Benutzer, unter dem nachfass-bot läuft, Schreibrechte für sie und ihren Ordner "
        "geben oder [store] path ändern."
    )


def _read_only(path: Path) -> str:
    return (
        f"Die Datenbank {path} ist schreibgeschützt: bitte dem Benutzer, unter dem "
        f"nachfass-bot läuft, Schreibrechte geben (ls -l {path} zeigt Eigentümer und "
        "Rechte) oder [store] path ändern."
    )


def _folder_problem(folder: Path, exc: OSError) -> str:
    if isinstance(exc, FileExistsError | NotADirectoryError):
        return f"{folder} ist kein Ordner: bitte in der Konfiguration [store] path ändern."
    why = "keine Berechtigung" if isinstance(exc, PermissionError) else exc.strerror
    return (
        f"Der Ordner {folder} für die Datenbank lässt sich nicht anlegen ({why}): bitte "
        "anlegen oder [store] path ändern."
    )


def _statements(script: str) -> list[str]:
    return [part.strip() for part in script.split(";") if part.strip()]


def _column_value(value: Any) -> Any:
    if isinstance(value, datetime):
        return to_iso(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal | enum.Enum):
        return str(value)
    return value


def _required_dt(text: str) -> datetime:
    moment = from_iso(text)
    assert moment is not None
    return moment


def _thread_from_row(
    row: tuple[Any, ...],
    message_ids: frozenset[str],
    paid: Decimal | None,
    clients: dict[tuple[Any, ...], Client],
) -> Thread:
    """A thread from a row of :data:`_THREAD_COLUMNS`; ``clients`` keeps one Client value
    per distinct client row across a read."""
    (thread_id, kind, subject, state, step, started_at, last_step_at, invoice_no, amount,
     due_date, answered_at, answered_folder, paused_until, expenses, source,
     first_delay_days) = row[:16]  # fmt: skip
    client_row = row[16:]
    client = clients.get(client_row)
    if client is None:
        client_id, email, name, du, assistant_email, anrede, customer_type = client_row
        client = clients[client_row] = Client(
            id=client_id,
            email=email,
            name=name,
            du=bool(du),
            assistant_email=assistant_email,
            anrede=anrede,
            customer_type=customer_type,
        )
    return Thread(
        id=thread_id,
        kind=_kind(kind),
        client=client,
        subject=subject,
        state=_state(state),
        step=step,
        started_at=_fromiso(started_at),  # NOT NULL; inline, not through from_iso (10,000s)
        last_step_at=_fromiso(last_step_at) if last_step_at is not None else None,
        invoice_no=invoice_no,
        amount=Decimal(amount) if amount is not None else None,
        due_date=date.fromisoformat(due_date) if due_date else None,
        answered_at=_fromiso(answered_at) if answered_at is not None else None,
        answered_folder=answered_folder,
        paused_until=_fromiso(paused_until) if paused_until is not None else None,
        expenses=Decimal(expenses) if expenses is not None else None,
        message_ids=message_ids,
        source=_source(source),
        first_delay_days=first_delay_days,
        paid_amount=_paid_amount(paid),
    )


def _facts_from_row(row: tuple[Any, ...], paid: Decimal | None) -> ThreadFacts:
    """A :class:`ThreadFacts` from a row of :data:`_FACTS_COLUMNS`, each column read as
    :func:`_thread_from_row` reads it."""
    (thread_id, kind, state, step, email, name, du, subject, started_at, last_step_at,
     invoice_no, amount, due_date, answered_at, answered_folder, paused_until, source,
     first_delay_days) = row  # fmt: skip
    return ThreadFacts(
        thread_id,
        _kind(kind),
        _state(state),
        step,
        email,
        name,
        bool(du),
        subject,
        _fromiso(started_at),
        _fromiso(last_step_at) if last_step_at is not None else None,
        invoice_no,
        Decimal(amount) if amount is not None else None,
        date.fromisoformat(due_date) if due_date else None,
        _fromiso(answered_at) if answered_at is not None else None,
        answered_folder,
        _fromiso(paused_until) if paused_until is not None else None,
        _source(source),
        first_delay_days,
        _paid_amount(paid),
        started_at,
        answered_at,
        paused_until,
    )


def _paid_amount(paid: Decimal | None) -> Decimal:
    """A thread's paid amount from the sum of its payments (None: none), to the cent."""
    return _NO_PAYMENT if paid is None else paid.quantize(_CENTS)


def _task_from_row(row: dict[str, Any]) -> Task:
    return Task(
        id=row["id"],
        thread_id=row["thread_id"],
        step_index=row["step_index"],
        text=row["text"],
        due_at=_required_dt(row["due_at"]),
        state=TaskState(row["state"]),
        token=row["token"],
    )


def _recognition_from_row(row: dict[str, Any]) -> Recognition:
    return Recognition(
        id=row["id"],
        message_id=row["message_id"],
        state=RecognitionState(row["state"]),
        source=Source(row["source"]),
        reason=row["reason"],
        thread_id=row["thread_id"],
        token=row["token"],
        position=row["position"],
        proposal=row["proposal"],
        created_at=_required_dt(row["created_at"]),
    )


def _notice_from_row(row: dict[str, Any]) -> Notice:
    return Notice(
        id=row["id"],
        key=row["key"],
        state=NoticeState(row["state"]),
        thread_id=row["thread_id"],
        subject=row["subject"],
        body=row["body"],
        html=row["html"],
        message_id=row["message_id"],
        in_reply_to=row["in_reply_to"],
        attempts=row["attempts"],
        send_after=from_iso(row["send_after"]),
        created_at=_required_dt(row["created_at"]),
        sent_at=from_iso(row["sent_at"]),
    )


def _draft_from_row(row: dict[str, Any]) -> Draft:
    return Draft(
        id=row["id"],
        thread_id=row["thread_id"],
        step_index=row["step_index"],
        step_number=row["step_number"],
        token=row["token"],
        state=DraftState(row["state"]),
        recipient=row["recipient"],
        subject=row["subject"],
        body=row["body"],
        draft_message_id=row["draft_message_id"],
        client_message_id=row["client_message_id"],
        created_at=_required_dt(row["created_at"]),
        approved_at=from_iso(row["approved_at"]),
        send_after=from_iso(row["send_after"]),
        sent_at=from_iso(row["sent_at"]),
        extra_thread_ids=tuple(int(i) for i in row["extra_thread_ids"].split(",") if i),
    )


def _synced_from_row(row: dict[str, Any]) -> Inbound:
    return Inbound(
        folder=row["folder"],
        uid=row["uid"],
        message_id=row["message_id"],
        from_addr=row["from_addr"],
        to_addrs=(),
        subject="",
        date=from_iso(row["date"]),
        references=tuple((row["refs"] or "").split()),
        is_junk_folder=bool(row["is_junk"]),
        received=from_iso(row["received"]),
    )


def _event_from_row(row: dict[str, Any]) -> Event:
    return Event(_required_dt(row["at"]), row["thread_id"], EventKind(row["kind"]), row["text"])
