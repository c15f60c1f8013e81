"""The look back on the server (app/lookback.py) with a mailbox double: how much work it
does, and where (docs/DESIGN.md, "What stops the escalation")."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from nachfass_bot.adapters.mailbox import FetchedHeader, FolderSet, FolderStatus
from nachfass_bot.adapters.store import Store
from nachfass_bot.app import lookback
from nachfass_bot.app.lookback import look_back_on_server
from nachfass_bot.app.threads import NewThread, track_thread
from nachfass_bot.domain.models import Kind

NOW = datetime(2026, 3, 4, 12, 0, tzinfo=UTC)
ARRIVED = datetime(2026, 3, 3, 9, 0, tzinfo=UTC)
FOLDERS = FolderSet(inbox="INBOX", junk=None, sent=None)


class NamingMailbox:
    """One folder whose server names every mail of a range."""

    def __init__(self, headers: dict[int, bytes]) -> None:
        self.headers = headers

    def folder_status(self, folder: str) -> FolderStatus:
        return FolderStatus(7, max(self.headers) + 1)

    def search_uids(self, folder: str, program: str, low: int, high: int) -> list[int]:
        return [uid for uid in sorted(self.headers) if low <= uid <= high]

    def fetch_headers(  # type: ignore[no-untyped-def]
        self, folder, first_uid, fields, batch_size=500, *, uids=None
    ) -> Iterator[list[FetchedHeader]]:
        yield [FetchedHeader(uid, self.headers[uid], ARRIVED) for uid in uids or ()]


def _reply(number: int) -> bytes:
    return (
        f"From: Someone <someone{number}@elsewhere{number}.test>\r\n"
        f"Subject: Re: Termin {number}\r\nMessage-ID: <m{number}@elsewhere.test>\r\n"
        f"In-Reply-To: <r{number}@elsewhere.test>\r\n"
        "Date: Tue, 03 Mar 2026 10:00:00 +0100\r\n\r\n"
    ).encode()


def test_the_look_back_matches_each_mail_only_with_the_threads_it_may_answer(
    memory_store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = memory_store
    with store.atomic():
        store.add_unread_range("INBOX", 7, 1, 400)
    for number in range(40):  # an import after the first sync
        track_thread(store, NewThread(
            kind=Kind.ANGEBOT, email=f"kunde{number}@firma{number}.test",
            subject=f"Angebot {number}", started_at=datetime(2026, 2, 2, tzinfo=UTC),
        ), NOW)  # fmt: skip
    assert len(store.lookbacks()) == 40
    mailbox = NamingMailbox({uid: _reply(uid) for uid in range(1, 401)})  # any reply
    tests: list[int] = []
    original = lookback.may_answer

    def counted(*args, **kwargs):  # type: ignore[no-untyped-def]
        tests.append(1)
        assert not store.db.conn.in_transaction, "matching holds the write lock"
        return original(*args, **kwargs)

    monkeypatch.setattr(lookback, "may_answer", counted)

    look_back_on_server(mailbox, store, FOLDERS, "owner@berger.test", NOW)  # type: ignore[arg-type]

    assert store.lookbacks() == set()
    assert len(tests) < 400, "no mail names any of the threads"


def test_each_thread_gets_the_earliest_mail_that_answers_it(memory_store: Store) -> None:
    store = memory_store
    with store.atomic():
        store.add_unread_range("INBOX", 7, 1, 10)
    ids = [
        track_thread(store, NewThread(
            kind=Kind.ANGEBOT, email=f"kunde{number}@firma{number}.test",
            subject=f"Angebot {number}", started_at=datetime(2026, 2, 2, tzinfo=UTC),
            message_id=f"<angebot{number}@berger.test>",
        ), NOW).id
        for number in range(3)
    ]  # fmt: skip
    colleague = (
        b"From: Eva <eva@FIRMA1.test>\r\nSubject: Re: Angebot 1\r\n"
        b"Message-ID: <e1@firma1.test>\r\nDate: Tue, 03 Mar 2026 10:00:00 +0100\r\n\r\n"
    )
    by_reference = (
        b"From: privat@freemail.test\r\nSubject: Re: Angebot 2\r\n"
        b"In-Reply-To: <ANGEBOT2@berger.test>\r\nMessage-ID: <p2@freemail.test>\r\n"
        b"Date: Tue, 03 Mar 2026 10:00:00 +0100\r\n\r\n"
    )
    mailbox = NamingMailbox({3: _reply(3), 4: colleague, 5: by_reference})

    look_back_on_server(mailbox, store, FOLDERS, "owner@berger.test", NOW)  # type: ignore[arg-type]

    states = [thread.state for thread in (store.thread(one) for one in ids) if thread]
    assert [str(state) for state in states] == ["open", "answered", "answered"]
    assert store.lookbacks() == set()


def test_a_server_that_will_not_search_has_the_whole_range_read(memory_store: Store) -> None:
    store = memory_store
    with store.atomic():
        store.add_unread_range("INBOX", 7, 1, 3)
    thread = track_thread(store, NewThread(
        kind=Kind.ANGEBOT, email="kunde@firma.test", subject="Angebot",
        started_at=datetime(2026, 2, 2, tzinfo=UTC),
    ), NOW)  # fmt: skip
    answer = (
        b"From: kunde@firma.test\r\nSubject: Re: Angebot\r\nMessage-ID: <k@firma.test>\r\n"
        b"Date: Tue, 03 Mar 2026 10:00:00 +0100\r\n\r\n"
    )
    mailbox = NamingMailbox({1: _reply(1), 2: answer, 3: _reply(3)})
    mailbox.search_uids = lambda folder, program, low, high: None  # type: ignore[method-assign,assignment]

    look_back_on_server(mailbox, store, FOLDERS, "owner@berger.test", NOW)  # type: ignore[arg-type]

    found = store.thread(thread.id)
    assert found is not None and str(found.state) == "answered"
