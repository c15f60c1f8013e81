"""No mail traffic while a database transaction is open.

The engine hands the app layer its mailbox and its transport wrapped in these guards:
every IMAP or SMTP call first asks the store whether a transaction is open. A batch that
rolls back must not have sent anything on the way (the owner would get the same alert
again when it is handled once more), and SQLite's write lock must not be held while a
server talks. So a call inside a transaction is a bug in this program, not a failure of
the outside world: it raises AssertionError — deliberately no NachfassError, which the
cycle would catch and log as an operational problem — and the test suite fails.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from datetime import date, datetime
from email.message import EmailMessage

from nachfass_bot.adapters.mailbox import (
    FetchedHeader,
    FolderInfo,
    FolderStatus,
    Mailbox,
    Namespace,
)
from nachfass_bot.adapters.smtp import Transport
from nachfass_bot.adapters.store import Store


class MailInTransaction(AssertionError):
    """IMAP or SMTP was called while a transaction was open: a bug in this program. The
    engine lets it through where it catches one thread's failure, so a test fails."""


def check_no_transaction(store: Store, call: str) -> None:
    """Raise MailInTransaction (an AssertionError) when ``store`` has a transaction open."""
    if store.in_transaction:
        raise MailInTransaction(f"{call} while a database transaction is open")


class GuardedMailbox:
    """A :class:`Mailbox` that refuses every call inside a transaction of ``store``."""

    def __init__(self, inner: Mailbox, store: Store) -> None:
        self._inner = inner
        self._store = store

    def list_folders(self) -> list[FolderInfo]:
        check_no_transaction(self._store, "IMAP LIST")
        return self._inner.list_folders()

    def namespace(self) -> Namespace:
        check_no_transaction(self._store, "IMAP NAMESPACE")
        return self._inner.namespace()

    def folder_status(self, folder: str) -> FolderStatus:
        check_no_transaction(self._store, "IMAP SELECT")
        return self._inner.folder_status(folder)

    def fetch_headers(
        self,
        folder: str,
        first_uid: int,
        fields: Sequence[str],
        batch_size: int = 500,
        *,
        uids: Sequence[int] | None = None,
    ) -> Iterator[list[FetchedHeader]]:
        """The inner batches; each one is fetched when asked for, so each is checked."""
        if uids is None:
            batches = self._inner.fetch_headers(folder, first_uid, fields, batch_size)
        else:
            batches = self._inner.fetch_headers(folder, first_uid, fields, batch_size, uids=uids)
        while True:
            check_no_transaction(self._store, "IMAP FETCH of headers")
            batch = next(batches, None)
            if batch is None:
                return
            yield batch

    def first_uid_since(self, folder: str, day: date) -> int | None:
        """The inner mailbox's answer; one that cannot search (a test double) reads the
        folder from its first mail, as before windows."""
        check_no_transaction(self._store, "IMAP SEARCH")
        search = getattr(self._inner, "first_uid_since", None)
        return search(folder, day) if search is not None else 1

    def fetch_message(self, folder: str, uid: int) -> bytes | None:
        check_no_transaction(self._store, "IMAP FETCH of a message")
        return self._inner.fetch_message(folder, uid)

    def fetch_messages(self, folder: str, uids: Sequence[int]) -> dict[int, bytes | None]:
        check_no_transaction(self._store, "IMAP FETCH of messages")
        return self._inner.fetch_messages(folder, uids)

    def append(self, folder: str, raw: bytes, when: datetime, seen: bool = True) -> None:
        check_no_transaction(self._store, "IMAP APPEND")
        self._inner.append(folder, raw, when, seen)

    def move(self, folder: str, uid: int, target: str) -> None:
        check_no_transaction(self._store, "IMAP MOVE")
        self._inner.move(folder, uid, target)

    def search_uids(
        self, folder: str, program: str, first_uid: int, last_uid: int
    ) -> list[int] | None:
        check_no_transaction(self._store, "IMAP SEARCH")
        return self._inner.search_uids(folder, program, first_uid, last_uid)

    def contains_message_id(self, folder: str, message_id: str) -> bool:
        check_no_transaction(self._store, "IMAP SEARCH")
        return self._inner.contains_message_id(folder, message_id)

    def close(self) -> None:
        check_no_transaction(self._store, "IMAP LOGOUT")
        self._inner.close()


class GuardedTransport:
    """A :class:`Transport` that refuses to send inside a transaction of ``store``."""

    def __init__(self, inner: Transport, store: Store) -> None:
        self._inner = inner
        self._store = store

    def send(self, message: EmailMessage) -> None:
        check_no_transaction(self._store, "SMTP send")
        self._inner.send(message)

    def session(self) -> contextlib.AbstractContextManager[None]:
        """The inner transport's session (one connection for the mails of a cycle) where
        it has one; else each mail on its own."""
        session = getattr(self._inner, "session", None)
        return session() if session is not None else contextlib.nullcontext()
