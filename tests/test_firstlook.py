"""The first look (issue 15 point 1): a sync judges in full only the mails that may
concern a thread; the others are marked seen and indexed from a cheap read of their
header bytes, with the very values the full parse gives.

(a) the look reads what ``parse_inbound`` reads, over every ``.eml`` under tests/ and
over generated hostile mails, and a sync with it stores the same seen marks and index
rows as one without it; (b) each sign that makes a mail a candidate does; (c) a thread
tracked later still finds an answer that was no candidate when it was synced.
"""

from __future__ import annotations

import dataclasses
import email.utils
import re
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime, timedelta
from email import message_from_bytes
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from loophelpers import mail
from mailstrategies import budget, raw_mails
from nachfass_bot.adapters.mailbox import FetchedHeader
from nachfass_bot.adapters.smtp import CaptureTransport
from nachfass_bot.adapters.store import Store
from nachfass_bot.app import inbox as inbox_module
from nachfass_bot.app.inbox import InboxReader, answer_from_synced_mail, seen_key
from nachfass_bot.app.outbox import Outbox
from nachfass_bot.config import OwnerConfig
from nachfass_bot.domain.calendar import SendingWindow
from nachfass_bot.domain.models import (
    LISTENING_STATES,
    Client,
    CycleReport,
    Kind,
    MessageRole,
    SeenRole,
    State,
    Thread,
    VerdictKind,
)
from nachfass_bot.mail import headers
from nachfass_bot.mail.approval import find_token
from nachfass_bot.mail.bounces import (
    content_type,
    is_bounce_headers,
    is_bounce_subject,
    is_delivery_system,
    may_be_bounce_notice,
)
from nachfass_bot.mail.firstlook import first_look
from nachfass_bot.mail.headers import parse_date
from nachfass_bot.mail.inbound import parse_inbound
from nachfass_bot.mail.matching import ThreadIndex, index_threads

TESTS = Path(__file__).parent
EML_FILES = sorted(TESTS.rglob("*.eml"))
OWNER = "anna@berger-design.de"
NOW = datetime(2026, 3, 10, 9, 0, tzinfo=UTC)
STARTED = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def as_served(raw: bytes) -> bytes:
    """The mail as an IMAP server sends it: CRLF line ends (RFC 3501 §4.3)."""
    return re.sub(rb"\r?\n", b"\r\n", raw)


def header_block(raw: bytes) -> bytes:
    """What a header-only fetch returns: the block and its empty line, CRLF."""
    served = as_served(raw)
    return served.split(b"\r\n\r\n", 1)[0] + b"\r\n\r\n" if b"\r\n\r\n" in served else served


def assert_reads_like_parse_inbound(raw: bytes) -> bool:
    """The look's values are parse_inbound's; False when the look gave up."""
    look = first_look(raw)
    inbound = parse_inbound(raw, folder="INBOX", uid=1)
    if look is None:
        return False
    assert look.message_id == inbound.message_id
    assert (look.message_id or seen_key(inbound, raw)) == seen_key(inbound, raw)
    assert look.from_addr == inbound.from_addr
    assert look.date == inbound.date
    assert look.in_reply_to == inbound.in_reply_to
    assert look.references == inbound.references
    assert look.bounce_subject == is_bounce_subject(inbound.subject)
    assert look.delivery_system == is_delivery_system(inbound.from_addr)
    if find_token(inbound.subject) is not None:
        assert look.maybe_command
    msg = message_from_bytes(raw)
    bare_report = content_type(msg)[0] in {
        "message/delivery-status",
        "message/global-delivery-status",
    }
    if may_be_bounce_notice(msg, inbound.subject) or is_bounce_headers(msg) or bare_report:
        # a bounce's sign, which the server's first look asks for (mail/prefilter.py)
        assert look.bounce_sign or look.bounce_subject or look.delivery_system
    if not look.machine:  # what decides the index: exact where the look decides alone
        assert look.is_list_mail == inbound.is_list_mail
        assert not inbound.is_auto_reply or inbound.is_list_mail
    return True


@pytest.mark.parametrize("path", EML_FILES, ids=lambda path: str(path.relative_to(TESTS)))
def test_the_look_reads_what_the_full_parse_reads(path: Path) -> None:
    raw = path.read_bytes()
    assert_reads_like_parse_inbound(raw)  # as stored: LF ends, mostly left to the parse
    assert_reads_like_parse_inbound(as_served(raw))
    assert_reads_like_parse_inbound(header_block(raw))


def test_most_corpus_headers_are_read_by_the_look() -> None:
    read = [path for path in EML_FILES if first_look(header_block(path.read_bytes())) is not None]
    assert len(read) >= 0.8 * len(EML_FILES), "the look gives up only on odd header blocks"


@budget(300)
@given(raw_mails())
def test_the_look_reads_what_the_full_parse_reads_in_generated_mail(raw: bytes) -> None:
    assert_reads_like_parse_inbound(raw)
    assert_reads_like_parse_inbound(raw.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n"))


@budget(300)
@given(
    st.sampled_from(["", "Mon, ", "Sun, "]),
    st.integers(0, 35),
    st.sampled_from(MONTHS),
    st.one_of(st.integers(1000, 9999), st.integers(1960, 2100)),
    st.tuples(st.integers(0, 25), st.integers(0, 61), st.integers(0, 61)),
    st.sampled_from("+-"),
    st.one_of(st.integers(0, 9999), st.sampled_from([0, 100, 2359, 2400])),
)
def test_a_plain_date_reads_as_the_email_package_reads_it(
    weekday: str,
    day: int,
    month: str,
    year: int,
    clock: tuple[int, int, int],
    sign: str,
    zone: int,
) -> None:
    value = f"{weekday}{day} {month} {year} {clock[0]:02d}:{clock[1]:02d}:{clock[2]:02d} "
    value += f"{sign}{zone:04d}"
    try:
        parsed = email.utils.parsedate_to_datetime(value)
        expected = (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).astimezone(UTC)
    except (ValueError, OverflowError):
        expected = None
    assert parse_date(value) == expected


# -- a sync with the look and one without ----------------------------------------------


class CorpusMailbox:
    """One folder of mails; headers come as a header-only fetch would bring them."""

    def __init__(self, mails: list[bytes]) -> None:
        self.mails = mails
        self.fetched: list[int] = []

    def fetch_message(self, folder: str, uid: int) -> bytes | None:
        self.fetched.append(uid)
        return self.mails[uid - 1]

    def fetch_messages(self, folder: str, uids: list[int]) -> dict[int, bytes | None]:
        return {uid: self.fetch_message(folder, uid) for uid in uids}

    def batch(self) -> list[FetchedHeader]:
        return [
            FetchedHeader(uid, header_block(raw), STARTED + timedelta(hours=uid))
            for uid, raw in enumerate(self.mails, 1)
        ]


def reader_with_threads(store: Store) -> InboxReader:
    """The corpus world, roughly: threads of a company client, an assistant, a freemail
    client, and the bot's own Message-IDs."""
    outbox = Outbox(
        owner=OwnerConfig(name="Anna Berger", email=OWNER, signature="A"),
        store=store,
        transport=CaptureTransport(),
        texts=None,  # type: ignore[arg-type]  # nothing is mailed here
    )
    clients = [
        Client(email="jonas.keller@keller-bau.de"),
        Client(email="buchhaltung@praxis-weiss.de", assistant_email="empfang@praxis-weiss.de"),
        Client(email="lena.hoffmann@gmx.de"),
    ]
    for number, client in enumerate(clients, 1):
        client_id = store.upsert_client(client, STARTED)
        store.add_thread(
            kind=Kind.ANGEBOT, client_id=client_id, subject=f"Angebot {number}",
            started_at=STARTED, now=STARTED, message_id=f"<thread-{number}@berger-design.de>",
        )  # fmt: skip
    for own in ("<nf-sent-1@berger-design.de>", "<nf-sent-2@berger-design.de>"):
        store.record_message_id(own, MessageRole.SENT, STARTED, thread_id=1)
    return InboxReader(store=store, outbox=outbox, window=SendingWindow())


def synced_rows(store: Store) -> dict[str, list[tuple]]:
    tables = {
        "seen": "SELECT key, role, folder, uid, verdict FROM seen ORDER BY key, role",
        "synced_mail": "SELECT * FROM synced_mail ORDER BY key",
        "synced_refs": "SELECT * FROM synced_refs ORDER BY ref, key",
        "threads": "SELECT id, state, answered_at, paused_until FROM threads ORDER BY id",
    }
    return {name: [tuple(row) for row in store.db.execute(sql)] for name, sql in tables.items()}


def sync_once(store: Store, mails: list[bytes], *, folder: str = "INBOX") -> CorpusMailbox:
    reader, mailbox = reader_with_threads(store), CorpusMailbox(mails)
    batch = mailbox.batch()
    is_junk = folder == "Junk"
    bodies = reader._read_bodies(mailbox, batch, folder=folder, is_junk=is_junk)  # type: ignore[arg-type]
    with store.atomic():
        reader._inbound_batch(
            batch, bodies, folder=folder, is_junk=is_junk, now=NOW, report=CycleReport()
        )
    return mailbox


@pytest.fixture
def stores() -> Iterator[tuple[Store, Store]]:
    fast, slow = Store.open(":memory:"), Store.open(":memory:")
    yield fast, slow
    fast.close()
    slow.close()


def corpus_mails() -> list[bytes]:
    """Every corpus mail, and a copy of each without Message-ID and with a broken line
    ending, so that hashed keys, duplicates and the look's fallback are in the batch."""
    mails = [as_served(path.read_bytes()) for path in EML_FILES]
    mails += [raw.replace(b"Message-ID:", b"X-Old-Id:", 1) for raw in mails[:20]]
    mails += [raw.replace(b"\r\n", b"\n", 3) for raw in mails[20:30]]
    return mails + mails[:5]  # the same mails again: judged once


@pytest.mark.parametrize("folder", ["INBOX", "Junk"])
def test_a_sync_stores_what_the_full_parse_of_every_mail_stores(
    stores: tuple[Store, Store], monkeypatch: pytest.MonkeyPatch, folder: str
) -> None:
    fast, slow = stores
    mails = corpus_mails()
    parsed: list[bytes] = []
    real_parse = inbox_module.parse_inbound
    monkeypatch.setattr(
        inbox_module, "parse_inbound", lambda raw, **kw: parsed.append(raw) or real_parse(raw, **kw)
    )
    fast_box = sync_once(fast, mails, folder=folder)
    parsed_by_look = len(parsed)
    monkeypatch.setattr(inbox_module, "first_look", lambda raw: None)  # everything in full
    slow_box = sync_once(slow, mails, folder=folder)
    assert len(parsed) - parsed_by_look == len(mails), "without the look: each parsed once"
    assert parsed_by_look < len(mails) - 30, "strangers' mail: the look alone"

    assert synced_rows(fast) == synced_rows(slow)
    assert sorted(fast_box.fetched) == sorted(slow_box.fetched), "the same bodies are read"
    assert [e.text for e in fast.events()] == [e.text for e in slow.events()]


def test_the_bots_own_mail_is_seen_as_own_without_the_full_parse(
    stores: tuple[Store, Store], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The owner's copy of a draft (its token in the subject, from the owner) and a
    stranger's mail under one of the bot's Message-IDs: ``own``, as the full parse and
    the rule chain find, with neither parsed."""
    fast, slow = stores
    own = [
        mail(
            sender=f"Anna Berger <{OWNER}>",
            to=OWNER,
            date=NOW - timedelta(hours=1),
            subject="[NF-0123456789abcdef0123] Entwurf: Nachfass",
            body="Entwurf\n",
            message_id="<nf-sent-1@berger-design.de>",
        ),
        stranger(message_id="<nf-sent-2@berger-design.de>", extra={"Auto-Submitted": "no"}),
    ]
    parsed: list[bytes] = []
    real_parse = inbox_module.parse_inbound
    monkeypatch.setattr(
        inbox_module, "parse_inbound", lambda raw, **kw: parsed.append(raw) or real_parse(raw, **kw)
    )
    fast_box = sync_once(fast, own)
    assert parsed == []
    monkeypatch.setattr(inbox_module, "first_look", lambda raw: None)  # everything in full
    sync_once(slow, own)
    assert synced_rows(fast) == synced_rows(slow)
    assert [row[4] for row in synced_rows(fast)["seen"]] == ["own", "own"]
    assert fast_box.fetched == []


# -- (b) what makes a candidate ---------------------------------------------------------


def stranger(**changes: object) -> bytes:
    fields: dict = {
        "sender": "News <news@shop.test>",
        "to": OWNER,
        "subject": "Angebot der Woche",
        "body": "Rabatt!\n",
        "date": NOW - timedelta(days=1),
    }
    return mail(**{**fields, **changes})


CANDIDATES = {
    "own Message-ID in References": stranger(in_reply_to="<nf-sent-2@berger-design.de>"),
    "a thread's Message-ID in In-Reply-To": stranger(in_reply_to="<thread-1@berger-design.de>"),
    "the client's address": stranger(sender="Jonas <Jonas.Keller@keller-bau.de>"),
    "the assistant's address": stranger(sender="empfang@praxis-weiss.de"),
    "the company domain": stranger(sender="chefin@keller-bau.de"),
    "the owner": stranger(sender=f"Anna Berger <{OWNER}>"),
    "the bot's own mail": stranger(message_id="<nf-sent-1@berger-design.de>"),
    "a bounce report": b"Content-Type: multipart/report; report-type=delivery-status\r\n"
    + stranger(),
    "a delivery system": stranger(sender="MAILER-DAEMON@mx.shop.test"),
    "a bounce subject": stranger(subject="Undelivered Mail Returned to Sender"),
    "X-Failed-Recipients": stranger(extra={"X-Failed-Recipients": "x@shop.test"}),
    "Return-Path <>": b"Return-Path: <>\r\n" + stranger(),
    "Auto-Submitted": stranger(extra={"Auto-Submitted": "auto-replied"}),
    "X-Autoreply": stranger(extra={"X-Autoreply": "yes"}),
    "Precedence: auto_reply": stranger(extra={"Precedence": "auto_reply"}),
    "an auto-reply subject": stranger(subject="Abwesenheitsnotiz: Angebot"),
    "an encoded auto-reply subject": stranger(subject="=?utf-8?q?Automatische_Antwort?="),
    "a draft's token": stranger(subject="AW: [NF-0123456789abcdef0123] Entwurf"),
    "a header the look cannot read": b"X-Odd: a\x01b\r\n" + stranger(),
    "a header line without a colon": b"Nonsense\r\n" + stranger(),
}


@pytest.mark.parametrize("raw", CANDIDATES.values(), ids=CANDIDATES.keys())
def test_each_sign_makes_a_candidate(memory_store: Store, raw: bytes) -> None:
    reader = reader_with_threads(memory_store)
    look = first_look(header_block(raw))
    assert reader._candidate(look, reader._known(), set())


def test_an_answer_to_a_draft_is_a_candidate(memory_store: Store) -> None:
    reader = reader_with_threads(memory_store)
    look = first_look(header_block(stranger(in_reply_to="<draft-7@berger-design.de>")))
    assert not reader._candidate(look, reader._known(), set())
    assert reader._candidate(look, reader._known(), {"<draft-7@berger-design.de>"})


@pytest.mark.parametrize(
    "raw",
    [stranger(), stranger(extra={"List-Unsubscribe": "<https://shop.test/x>"}),
     stranger(sender="kollege@gmx.de"), stranger(extra={"Precedence": "bulk"})],
    ids=["newsletter", "list mail", "freemail colleague", "Precedence bulk"],
)  # fmt: skip
def test_mail_that_names_nothing_known_is_no_candidate(memory_store: Store, raw: bytes) -> None:
    reader = reader_with_threads(memory_store)
    assert not reader._candidate(first_look(header_block(raw)), reader._known(), set())


# -- (c) a thread tracked later ---------------------------------------------------------


def test_a_thread_tracked_later_finds_an_answer_that_was_no_candidate(
    memory_store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = memory_store
    answer = stranger(sender="Petra Sommer <petra@sommer-druck.de>", subject="Ja, gern")
    parsed: list[bytes] = []
    real_parse = inbox_module.parse_inbound
    monkeypatch.setattr(
        inbox_module, "parse_inbound", lambda raw, **kw: parsed.append(raw) or real_parse(raw, **kw)
    )
    mailbox = sync_once(store, [answer])
    assert parsed == [] and mailbox.fetched == [], "no parse, no download: the first look"

    client_id = store.upsert_client(Client(email="petra@sommer-druck.de"), NOW)
    thread_id = store.add_thread(
        kind=Kind.ANGEBOT, client_id=client_id, subject="Angebot Druck",
        started_at=STARTED - timedelta(days=1), now=NOW,
    )  # fmt: skip
    with store.atomic():
        match = answer_from_synced_mail(store, thread_id, NOW)
    assert match is not None and match.rule == "client-address"
    thread = store.thread(thread_id)
    assert thread is not None and thread.state is State.ANSWERED


# -- the shortcuts inside the decoding functions ------------------------------------------

_PIECES = (
    "jonas", "Keller", "x.y", "a@b.de", "<", ">", '"', '"Anna Berger"', "@", ".", " ", "\t",
    ",", "=?utf-8?q?J=C3=BCrgen?=", "'", "..", "-", "+", "_", "keller-bau.test", "(c)",
    "[1]", ":", ";", "\\", "ö", "<a@b.de>", "a@b", "@b.de",
)  # fmt: skip


@budget(500)
@given(st.lists(st.sampled_from(_PIECES), min_size=1, max_size=8).map("".join))
def test_a_plain_address_reads_as_the_parser_reads_it(value: str) -> None:
    assert headers.addresses(value) == headers._parsed_addresses(
        headers._FOLD_RE.sub("", headers._repair_8bit(value))
    )


@budget(500)
@given(st.lists(st.sampled_from(["<", ">", "@", "a", "b.c", " ", "\t", "x@y", "<a@b>", "(c)",
                                 '"', ".", "<@>", "@>", "<@", "ü"]),
                min_size=1, max_size=7).map("".join))  # fmt: skip
def test_a_single_message_id_reads_as_the_loop_reads_it(value: str) -> None:
    text = headers._FOLD_RE.sub("", headers._repair_8bit(value))
    expected: dict[str, None] = {}
    for found in headers._MSG_ID_RE.finditer(text):
        inner = found.group(1)
        if "@" in inner and not inner.startswith("@") and not inner.endswith("@"):
            expected.setdefault(f"<{inner}>", None)
    assert headers.message_ids(value) == tuple(expected)


def sync_with_a_thread_added_meanwhile(store: Store, raw: bytes) -> None:
    """Bodies read, then another process tracks the sender, then the batch is handled."""
    reader, mailbox = reader_with_threads(store), CorpusMailbox([raw])
    batch = mailbox.batch()
    bodies = reader._read_bodies(mailbox, batch, folder="INBOX", is_junk=False)  # type: ignore[arg-type]
    client_id = store.upsert_client(Client(email="petra@sommer-druck.de"), NOW)
    store.add_thread(
        kind=Kind.ANGEBOT, client_id=client_id, subject="Angebot Druck",
        started_at=STARTED, now=NOW,
    )  # fmt: skip
    with store.atomic():
        reader._inbound_batch(
            batch, bodies, folder="INBOX", is_junk=False, now=NOW, report=CycleReport()
        )


def test_a_thread_tracked_between_reading_and_handling_a_batch_changes_nothing(
    stores: tuple[Store, Store], monkeypatch: pytest.MonkeyPatch
) -> None:
    fast, slow = stores
    raw = stranger(sender="Petra Sommer <petra@sommer-druck.de>", subject="Ja, gern")
    sync_with_a_thread_added_meanwhile(fast, raw)
    monkeypatch.setattr(inbox_module, "first_look", lambda raw: None)
    sync_with_a_thread_added_meanwhile(slow, raw)
    assert synced_rows(fast) == synced_rows(slow)
    assert [row[4] for row in synced_rows(fast)["seen"]] == ["unrelated"]


# -- the Sent folder ----------------------------------------------------------------------


def sync_sent_once(store: Store, mails: list[bytes]) -> CorpusMailbox:
    reader, mailbox = reader_with_threads(store), CorpusMailbox(mails)
    batch = mailbox.batch()
    bodies = reader._read_sent_bodies(mailbox, batch, folder="Sent")  # type: ignore[arg-type]
    with store.atomic():
        reader._sent_batch(batch, bodies, folder="Sent", now=NOW)
    return mailbox


def test_the_sent_folder_stores_what_the_full_parse_of_every_mail_stores(
    stores: tuple[Store, Store], monkeypatch: pytest.MonkeyPatch
) -> None:
    fast, slow = stores
    owner_to_client = mail(
        sender=f"Anna Berger <{OWNER}>", to="Jonas Keller <jonas.keller@keller-bau.de>",
        subject="Noch eine Frage", body="Hallo Jonas,\n", date=NOW - timedelta(hours=2),
    )  # fmt: skip
    sent = [as_served(path.read_bytes()) for path in sorted((TESTS / "corpus_sent").glob("*.eml"))]
    mails = [owner_to_client, *sent, *corpus_mails()[:40], owner_to_client]
    sync_sent_once(fast, mails)
    monkeypatch.setattr(inbox_module, "first_look", lambda raw: None)
    sync_sent_once(slow, mails)
    assert synced_rows(fast) == synced_rows(slow)
    verdicts = {row[4] for row in synced_rows(fast)["seen"]}
    assert {"own", "owner-sent"} <= verdicts
    assert [e.text for e in fast.events()] == [e.text for e in slow.events()]
    assert any("selbst geschrieben" in e.text for e in fast.events()), "a count restarted"


def test_the_sync_reads_the_threads_again_only_when_one_may_have_changed(
    memory_store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Seen marks, a notice's Message-ID or a draft change the database but no thread: the
    # index is kept (with the new own Message-IDs), as a fresh read would build it.
    reader = reader_with_threads(memory_store)
    reads: list[object] = []
    threads = memory_store.threads

    def counted(*args: Any, **kwargs: Any) -> list[Thread]:
        reads.append(args)
        return threads(*args, **kwargs)

    monkeypatch.setattr(memory_store, "threads", counted)

    def fresh() -> tuple[frozenset[str], tuple[Any, ...]]:
        own = frozenset(memory_store.own_message_ids())
        return own, fields_of(index_threads(threads(sorted(LISTENING_STATES)), own))

    first = reader._known()
    assert len(reads) == 1 and (first.own_ids, fields_of(first.index)) == fresh()
    memory_store.mark_seen("k", SeenRole.INBOUND, "INBOX", 1, VerdictKind.OWN, STARTED)
    memory_store.record_message_id("<nf-notice@berger-design.de>", MessageRole.NOTICE, STARTED)
    known = reader._known()
    assert len(reads) == 1, "no thread changed: not read again"
    assert "<nf-notice@berger-design.de>" in known.own_ids
    assert (known.own_ids, fields_of(known.index)) == fresh()
    memory_store.update_thread(2, STARTED, state=State.ANSWERED)
    known = reader._known()
    assert len(reads) == 2 and (known.own_ids, fields_of(known.index)) == fresh()
    assert 2 not in known.index.by_id


def fields_of(index: ThreadIndex) -> tuple[Any, ...]:
    """An index's fields, compared as values (the index itself compares by identity)."""
    values = (getattr(index, field.name) for field in dataclasses.fields(index))
    return tuple(list(v.items()) if isinstance(v, Mapping) else v for v in values)
