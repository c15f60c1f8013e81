"""Incremental folder sync by UID (RFC 3501 §2.3.1): new mail only, crash-safe.

The stored ``(uidvalidity, last_uid)`` of a folder moves forward in the same transaction
as the handling of each batch, so a crash or a dropped connection resumes after the last
handled batch. A new UIDVALIDITY voids the stored UIDs: the folder is read again from the
start, and the caller recognises mail it saw before by its Message-ID and the role it
played (:class:`~nachfass_bot.domain.models.SeenRole`).

No network call happens while the transaction is open: ``read_bodies`` downloads the
whole messages a batch needs first, then the batch is handled and committed. A connection
that drops during a download leaves the store as it was after the last batch.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import datetime, timedelta

from nachfass_bot.adapters.mailbox import FetchedHeader, Mailbox
from nachfass_bot.adapters.store import Store
from nachfass_bot.domain.models import EventKind
from nachfass_bot.mail.inbound import HEADER_FIELDS

Batch = list[FetchedHeader]  # (uid, header bytes, INTERNALDATE)
# uid → whole message, for the mails of a batch that need one; None: the mail was gone when
# its body was asked for (moved or deleted by the owner's mail program meanwhile).
Bodies = Mapping[int, bytes | None]
BodyReader = Callable[[Batch], Bodies]
BatchHandler = Callable[[Batch, Bodies], None]
Progress = Callable[[str, int, int], None]  # folder, mails read, mails to read
# folder, first UID, last UID → the UIDs among them that may concern a thread, by a search
# on the server; None: the server cannot say, read them all.
ServerLook = Callable[[str, int, int], Sequence[int] | None]
PROGRESS_FROM = 2000  # only a sync this long reports its progress
# A first sync of a folder this big reads only the window that can matter; a smaller one
# is read whole (it costs little, and the index of synced mail then has all of it).
WINDOW_FROM = 2000
# How long before the earliest listening thread's start mail is still read: a thread's
# start can be a day the owner typed, and SEARCH SINCE counts whole server days.
WINDOW_MARGIN = timedelta(days=14)
# A sync of this many mails or more asks the server which may matter (``server_look``)
# and reads only those; a smaller one reads every header (the index of synced mail then
# has all of them, and a thread created later looks back without the server).
SERVER_LOOK_FROM = 2000


def sync_folder(
    mailbox: Mailbox,
    store: Store,
    folder: str,
    now: datetime,
    handle_batch: BatchHandler,
    progress: Progress | None = None,
    read_bodies: BodyReader | None = None,
    since: datetime | None = None,
    server_look: ServerLook | None = None,
) -> None:
    """Hand every batch of ``(uid, header bytes, INTERNALDATE)`` above the stored UID,
    with the bodies ``read_bodies`` downloaded for it beforehand, to ``handle_batch``
    inside one transaction; ``handle_batch`` must not touch the network. A long sync
    calls ``progress`` after each batch.

    ``since``: mail that reached the server before it cannot matter. A first sync of a
    folder holding at least :data:`WINDOW_FROM` mails then starts at the first UID that
    arrived since that day (``SEARCH SINCE`` on the server); when a later sync is asked
    for an earlier ``since`` (a thread with an earlier start), the older range is read
    once then. Smaller folders are read whole.

    ``server_look``: a range of at least :data:`SERVER_LOOK_FROM` mails is read only where
    it names a mail; the range is recorded as unread (``Store.add_unread_range``)."""
    status = mailbox.folder_status(folder)
    stored = store.folder_state(folder)
    first_sync = stored is None or stored[0] != status.uidvalidity
    last_uid = 0 if first_sync or stored is None else stored[1]
    if stored is not None and first_sync:
        store.add_event(
            now,
            f"Im Ordner {folder} hat sich die UIDVALIDITY geändert; ich lese ihn neu.",
            kind=EventKind.SYNC,
        )
    if first_sync:
        window = _first_window(mailbox, folder, status.uidnext, since)
        last_uid = window[1] - 1 if window is not None else 0
        with store.atomic():
            store.save_folder_state(folder, status.uidvalidity, last_uid, now)
            store.save_folder_window(folder, window, now)
    if last_uid + 1 < status.uidnext:
        high = status.uidnext - 1
        chosen = _looked_up(server_look, store, folder, status.uidvalidity, last_uid + 1, high)
        expected = len(chosen) if chosen is not None else high - last_uid  # at most
        batches = _fetch(mailbox, folder, last_uid + 1, chosen)
        _handle_all(batches, store, folder, now, handle_batch, read_bodies, progress, expected,
                    uidvalidity=status.uidvalidity)  # fmt: skip
        if chosen is not None:
            with store.atomic():  # the mails after the last one named are read too
                store.save_folder_state(folder, status.uidvalidity, high, now)
    if not first_sync and since is not None:
        _read_back(mailbox, store, folder, now, since, handle_batch, read_bodies, server_look,
                   uidvalidity=status.uidvalidity)  # fmt: skip


def _looked_up(
    server_look: ServerLook | None,
    store: Store,
    folder: str,
    uidvalidity: int,
    low: int,
    high: int,
) -> Sequence[int] | None:
    """The UIDs of ``low``..``high`` to read when the server was asked; None: read every
    one. The range is recorded as unread before the server is asked: a thread created
    while the search runs (``track`` in another process) is then either in the search's
    keys or queued to look back on the server; a range read whole is forgotten again."""
    if server_look is None or high - low + 1 < SERVER_LOOK_FROM:
        return None
    with store.atomic():
        store.add_unread_range(folder, uidvalidity, low, high)
    chosen = server_look(folder, low, high)
    if chosen is None:
        with store.atomic():
            store.drop_unread_range(folder, uidvalidity, low)
    return chosen


def _first_window(
    mailbox: Mailbox, folder: str, uidnext: int, since: datetime | None
) -> tuple[datetime, int] | None:
    """``(since, first UID to read)`` for a folder's first sync, None to read it whole."""
    if since is None or uidnext - 1 < WINDOW_FROM:
        return None
    first = mailbox.first_uid_since(folder, since.date())
    return (since, uidnext if first is None else first) if first != 1 else None


def _read_back(
    mailbox: Mailbox,
    store: Store,
    folder: str,
    now: datetime,
    since: datetime,
    handle_batch: BatchHandler,
    read_bodies: BodyReader | None,
    server_look: ServerLook | None,
    *,
    uidvalidity: int,
) -> None:
    """Read the mail below the folder's window that arrived since ``since``, once, when
    ``since`` lies a day or more before the window; then move the window back."""
    window = store.folder_window(folder)
    if window is None or since.date() >= window[0].date():
        return
    first = mailbox.first_uid_since(folder, since.date())
    if first is not None and first < window[1]:
        end = window[1]
        chosen = _looked_up(server_look, store, folder, uidvalidity, first, end - 1)
        fetched = _fetch(mailbox, folder, first, chosen)
        batches = (
            [header for header in batch if header[0] < end] for batch in _until(fetched, end)
        )
        _handle_all(batches, store, folder, now, handle_batch, read_bodies)
    with store.atomic():
        new_first = window[1] if first is None else min(first, window[1])
        store.save_folder_window(folder, (since, new_first) if new_first > 1 else None, now)


def _fetch(
    mailbox: Mailbox, folder: str, first_uid: int, chosen: Sequence[int] | None
) -> Iterator[Batch]:
    """The header batches from ``first_uid`` on: of every mail, or of ``chosen`` only."""
    if chosen is None:
        return mailbox.fetch_headers(folder, first_uid, HEADER_FIELDS)
    return mailbox.fetch_headers(folder, first_uid, HEADER_FIELDS, uids=chosen)


def _until(batches: Iterator[Batch], end: int) -> Iterator[Batch]:
    """The batches up to the one that reaches UID ``end``; the later ones are not fetched."""
    for batch in batches:
        yield batch
        if batch and batch[-1][0] >= end - 1:
            return


def _handle_all(
    batches: Iterable[Batch],
    store: Store,
    folder: str,
    now: datetime,
    handle_batch: BatchHandler,
    read_bodies: BodyReader | None,
    progress: Progress | None = None,
    expected: int = 0,
    *,
    uidvalidity: int | None = None,
) -> None:
    """Each batch: bodies first, then handled in one transaction (with the folder's new
    last UID when ``uidvalidity`` is given: reading forward, not back)."""
    done = 0
    for batch in batches:
        if not batch:
            continue
        bodies = read_bodies(batch) if read_bodies is not None else {}
        with store.atomic():
            handle_batch(batch, bodies)
            if uidvalidity is not None:
                store.save_folder_state(folder, uidvalidity, batch[-1][0], now)
        done += len(batch)
        if progress is not None and expected >= PROGRESS_FROM:
            progress(folder, done, max(done, expected))
