"""The UID sync on its own: batches, folder state, UIDVALIDITY, progress."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta

import pytest

from nachfass_bot.adapters.mailbox import FetchedHeader, FolderStatus
from nachfass_bot.adapters.store import Store
from nachfass_bot.app.sync import SERVER_LOOK_FROM, WINDOW_FROM, sync_folder

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


class ListMailbox:
    """Just enough of a mailbox: one folder of numbered header blocks."""

    def __init__(self, count: int, uidvalidity: int = 7) -> None:
        self.uids = list(range(1, count + 1))
        self.uidvalidity = uidvalidity
        self.fetched_from: list[int] = []

    def folder_status(self, folder: str) -> FolderStatus:
        return FolderStatus(self.uidvalidity, max(self.uids, default=0) + 1)

    def fetch_headers(
        self, folder: str, first_uid: int, fields: object, batch_size: int = 500, uids=None
    ) -> Iterator:
        self.fetched_from.append(first_uid)
        chosen = self.uids if uids is None else uids
        wanted = [uid for uid in chosen if uid >= first_uid]
        for start in range(0, len(wanted), batch_size):
            chunk = wanted[start : start + batch_size]
            yield [FetchedHeader(uid, b"Subject: %d\r\n" % uid, NOW) for uid in chunk]


def test_batches_progress_and_resume(memory_store: Store) -> None:
    store, mailbox = memory_store, ListMailbox(2600)
    seen: list[int] = []
    reports: list[tuple[str, int, int]] = []

    def handle(batch, bodies):
        seen.extend(uid for uid, _raw, _received in batch)

    def progress(folder, done, total):
        reports.append((folder, done, total))

    sync_folder(mailbox, store, "INBOX", NOW, handle, progress)

    assert seen == list(range(1, 2601))
    assert store.folder_state("INBOX") == (7, 2600)
    assert reports[0] == ("INBOX", 500, 2600) and reports[-1] == ("INBOX", 2600, 2600)

    mailbox.uids.append(2601)
    sync_folder(mailbox, store, "INBOX", NOW, handle, progress)
    assert seen[-1] == 2601 and mailbox.fetched_from[-1] == 2601
    assert len(reports) == 6, "a short incremental sync reports no progress"


def test_new_uidvalidity_reads_the_folder_again(memory_store: Store) -> None:
    store, mailbox = memory_store, ListMailbox(3)
    sync_folder(mailbox, store, "INBOX", NOW, lambda batch, bodies: None)
    mailbox.uidvalidity = 8
    again: list[int] = []
    sync_folder(mailbox, store, "INBOX", NOW, lambda b, _: again.extend(item.uid for item in b))
    assert again == [1, 2, 3]
    assert store.folder_state("INBOX") == (8, 3)
    assert any("UIDVALIDITY" in event.text for event in store.events())


def test_a_failing_batch_keeps_the_state_of_the_last_good_one(memory_store: Store) -> None:
    store, mailbox = memory_store, ListMailbox(1200)

    def handle(batch, bodies):
        if batch[0][0] > 500:
            raise ConnectionError("dropped")

    with pytest.raises(ConnectionError):
        sync_folder(mailbox, store, "INBOX", NOW, handle)
    assert store.folder_state("INBOX") == (7, 500)


def test_bodies_are_read_before_the_transaction_and_a_failed_read_changes_nothing(
    memory_store: Store,
) -> None:
    store, mailbox = memory_store, ListMailbox(1200)
    handled: dict[int, bytes] = {}

    def read(batch):
        assert not store.in_transaction, "no network call inside the transaction"
        if batch[0][0] > 500:
            raise ConnectionError("dropped during a body fetch")
        return {uid: b"body %d" % uid for uid, _raw, _received in batch if uid % 100 == 0}

    def handle(batch, bodies):
        assert store.in_transaction
        handled.update(bodies)

    with pytest.raises(ConnectionError):
        sync_folder(mailbox, store, "INBOX", NOW, handle, read_bodies=read)
    assert handled == {uid: b"body %d" % uid for uid in range(100, 501, 100)}
    assert store.folder_state("INBOX") == (7, 500)


class DatedMailbox(ListMailbox):
    """One mail a day: UID n arrived n days after DAY_ZERO; SEARCH SINCE by that day."""

    def __init__(self, count: int) -> None:
        super().__init__(count)
        self.searches: list[date] = []

    def arrived(self, uid: int) -> datetime:
        return DAY_ZERO + timedelta(days=uid)

    def first_uid_since(self, folder: str, day: date) -> int | None:
        self.searches.append(day)
        return min((uid for uid in self.uids if self.arrived(uid).date() >= day), default=None)


DAY_ZERO = datetime(2020, 1, 1, 12, 0, tzinfo=UTC)


def test_a_big_folder_is_read_from_the_window_and_an_earlier_start_reads_back_once(
    memory_store: Store,
) -> None:
    store, mailbox = memory_store, DatedMailbox(WINDOW_FROM + 500)
    seen: list[int] = []

    def handle(batch, bodies):
        seen.extend(uid for uid, _raw, _received in batch)

    last = WINDOW_FROM + 500
    sync_folder(mailbox, store, "INBOX", NOW, handle, since=mailbox.arrived(last - 99))
    assert seen == list(range(last - 99, last + 1)), "only the window is read"
    assert store.folder_window("INBOX") == (mailbox.arrived(last - 99), last - 99)
    assert store.folder_state("INBOX") == (7, last)

    seen.clear()
    sync_folder(mailbox, store, "INBOX", NOW, handle, since=mailbox.arrived(last - 299))
    assert seen == list(range(last - 299, last - 99)), "the older range, once"
    assert store.folder_window("INBOX") == (mailbox.arrived(last - 299), last - 299)
    assert store.folder_state("INBOX") == (7, last), "reading back leaves the last UID"

    seen.clear()
    sync_folder(mailbox, store, "INBOX", NOW, handle, since=mailbox.arrived(last - 299))
    assert seen == []


def test_a_small_folder_is_read_whole_whatever_the_window(memory_store: Store) -> None:
    store, mailbox = memory_store, DatedMailbox(300)
    seen: list[int] = []
    sync_folder(
        mailbox, store, "INBOX", NOW, lambda b, _: seen.extend(h[0] for h in b),
        since=mailbox.arrived(250),
    )  # fmt: skip
    assert seen == list(range(1, 301))
    assert store.folder_window("INBOX") is None and mailbox.searches == []


def test_a_big_range_is_read_where_the_server_names_a_mail(memory_store: Store) -> None:
    store, mailbox = memory_store, ListMailbox(SERVER_LOOK_FROM + 100)
    seen: list[int] = []
    asked: list[tuple[str, int, int]] = []

    def look(folder: str, low: int, high: int) -> list[int]:
        asked.append((folder, low, high))
        return [3, 1500, 2050]

    sync_folder(mailbox, store, "INBOX", NOW, lambda b, _: seen.extend(h[0] for h in b),
                server_look=look)  # fmt: skip
    last = SERVER_LOOK_FROM + 100
    assert asked == [("INBOX", 1, last)] and seen == [3, 1500, 2050]
    assert store.unread_ranges() == [("INBOX", 7, 1, last)]
    assert store.folder_state("INBOX") == (7, last), "the next sync starts after the range"

    mailbox.uids.extend(range(last + 1, last + 11))  # ten new mails: too few to ask
    sync_folder(mailbox, store, "INBOX", NOW, lambda b, _: seen.extend(h[0] for h in b),
                server_look=look)  # fmt: skip
    assert seen[3:] == list(range(last + 1, last + 11)) and len(asked) == 1


def test_a_server_that_cannot_search_has_every_header_read(memory_store: Store) -> None:
    store, mailbox = memory_store, ListMailbox(SERVER_LOOK_FROM)
    seen: list[int] = []
    sync_folder(mailbox, store, "INBOX", NOW, lambda b, _: seen.extend(h[0] for h in b),
                server_look=lambda folder, low, high: None)  # fmt: skip
    assert seen == list(range(1, SERVER_LOOK_FROM + 1))
    assert store.unread_ranges() == []
