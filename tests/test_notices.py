"""The notice outbox: queued in the decision's transaction, sent after it, exactly once;
and the guard that makes any mail traffic inside a transaction a failing test."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage

import pytest

from nachfass_bot.adapters.mailbox import FolderStatus
from nachfass_bot.adapters.smtp import CaptureTransport
from nachfass_bot.adapters.store import Store
from nachfass_bot.app.guard import GuardedMailbox, GuardedTransport
from nachfass_bot.app.outbox import Outbox
from nachfass_bot.config import OwnerConfig
from nachfass_bot.domain.models import NoticeState
from nachfass_bot.errors import DeliveryError
from nachfass_bot.texts.render import Texts

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
OWNER = OwnerConfig(name="Anna Berger", email="anna@berger-design.test", signature="Anna")


class ScriptedTransport(CaptureTransport):
    """Raises the scripted errors first, then captures."""

    def __init__(self, *errors: DeliveryError) -> None:
        super().__init__()
        self.errors = list(errors)
        self.attempts = 0

    def send(self, message: EmailMessage) -> None:
        self.attempts += 1
        if self.errors:
            raise self.errors.pop(0)
        super().send(message)


class Rollback(Exception):
    pass


@pytest.fixture
def store(memory_store: Store) -> Store:
    return memory_store


def outbox_for(store: Store, transport: CaptureTransport | None = None) -> Outbox:
    return Outbox(
        owner=OWNER,
        store=store,
        transport=GuardedTransport(transport or CaptureTransport(), store),
        texts=Texts(),
    )


def alert(outbox: Outbox, key: str = "bounce:thread 1:<b1@x>", headline: str = "Achtung") -> None:
    outbox.notify_owner(
        "owner_alert", NOW, key=key, headline=headline, message="Text", thread_id=None,
        client_label=None,
    )  # fmt: skip


def states(store: Store) -> list[NoticeState]:
    return [notice.state for notice in store.notices(list(NoticeState))]


def test_a_notice_queued_in_a_transaction_that_rolls_back_is_never_sent(store: Store) -> None:
    transport = CaptureTransport()
    outbox = outbox_for(store, transport)
    with pytest.raises(Rollback), store.atomic():
        alert(outbox)
        assert states(store) == [NoticeState.PENDING]
        raise Rollback
    outbox.send_notices(NOW)
    assert transport.sent == []
    assert states(store) == []
    assert store.own_message_ids() == set()


def test_a_notice_is_sent_once_even_if_the_send_loop_runs_twice(store: Store) -> None:
    transport = CaptureTransport()
    outbox = outbox_for(store, transport)
    with store.atomic():
        alert(outbox)
    outbox.send_notices(NOW)
    outbox.send_notices(NOW + timedelta(minutes=5))
    assert len(transport.sent) == 1
    assert states(store) == [NoticeState.SENT]
    message = transport.sent[0]
    assert str(message["Message-ID"]) in store.own_message_ids(), "known as our own"
    assert message["Auto-Submitted"] == "auto-generated"


def test_the_same_decision_made_twice_queues_one_notice(store: Store) -> None:
    transport = CaptureTransport()
    outbox = outbox_for(store, transport)
    alert(outbox)
    outbox.send_notices(NOW)
    alert(outbox, headline="noch einmal")  # e.g. a batch handled again
    alert(outbox, key="bounce:thread 1:<b2@x>")  # another bounce: its own notice
    outbox.send_notices(NOW)
    assert [m["Subject"] for m in transport.sent] == ["nachfass-bot: Achtung"] * 2
    assert len(store.notices([NoticeState.SENT])) == 2


def test_a_notice_left_sending_by_a_crash_becomes_unclear_and_is_never_sent(
    store: Store,
) -> None:
    transport = CaptureTransport()
    outbox = outbox_for(store, transport)
    alert(outbox)
    notice = store.notices([NoticeState.PENDING])[0]
    store.set_notice_state(notice.id, NoticeState.SENDING, NOW)  # then the process died

    outbox.settle_interrupted_notices(NOW)
    outbox.send_notices(NOW)

    assert transport.sent == []
    assert states(store) == [NoticeState.UNCLEAR]
    assert any("unklar" in event.text for event in store.events())


def test_a_refused_notice_waits_and_is_tried_again_then_fails_at_a_5xx(store: Store) -> None:
    transport = ScriptedTransport(
        DeliveryError("451 busy"), DeliveryError("550 refused", permanent=True)
    )
    outbox = outbox_for(store, transport)
    alert(outbox, key="first")
    alert(outbox, key="second")

    outbox.send_notices(NOW)
    assert transport.attempts == 1, "after a 4xx the others wait too"
    assert states(store) == [NoticeState.PENDING, NoticeState.PENDING]
    outbox.send_notices(NOW + timedelta(minutes=1))
    assert transport.attempts == 2, "the first waits its 5 minutes, the second is refused"
    assert states(store) == [NoticeState.PENDING, NoticeState.FAILED]
    outbox.send_notices(NOW + timedelta(minutes=5))
    outbox.send_notices(NOW + timedelta(minutes=10))
    assert len(transport.sent) == 1
    assert states(store) == [NoticeState.SENT, NoticeState.FAILED]
    assert any("nicht zugestellt" in event.text for event in store.events())


def test_a_notice_whose_connection_broke_after_data_is_unclear_and_not_resent(
    store: Store,
) -> None:
    transport = ScriptedTransport(DeliveryError("Verbindung weg", uncertain=True))
    outbox = outbox_for(store, transport)
    alert(outbox)
    outbox.send_notices(NOW)
    outbox.send_notices(NOW + timedelta(hours=1))
    assert transport.attempts == 1
    assert states(store) == [NoticeState.UNCLEAR]


# -- the guard: no IMAP or SMTP call inside a transaction --------------------------------


class TwoBatches:
    """Just enough of a mailbox for the guard."""

    def folder_status(self, folder: str) -> FolderStatus:
        return FolderStatus(1, 3)

    def fetch_headers(
        self, folder: str, first_uid: int, fields: object, batch_size: int = 500
    ) -> Iterator[list[tuple[int, bytes]]]:
        yield [(1, b"Subject: 1\r\n")]
        yield [(2, b"Subject: 2\r\n")]

    def fetch_message(self, folder: str, uid: int) -> bytes | None:
        return b"Subject: %d\r\n\r\nText\r\n" % uid


def test_mail_traffic_inside_a_transaction_fails(store: Store) -> None:
    mailbox = GuardedMailbox(TwoBatches(), store)  # type: ignore[arg-type]
    transport = GuardedTransport(CaptureTransport(), store)
    message = EmailMessage()
    with store.atomic():
        with pytest.raises(AssertionError, match="SMTP send while a database transaction"):
            transport.send(message)
        with pytest.raises(AssertionError, match="IMAP FETCH of a message"):
            mailbox.fetch_message("INBOX", 1)
        with pytest.raises(AssertionError, match="IMAP FETCH of messages"):
            mailbox.fetch_messages("INBOX", [1, 2])
        with pytest.raises(AssertionError, match="IMAP SELECT"):
            mailbox.folder_status("INBOX")
    batches = mailbox.fetch_headers("INBOX", 1, ())
    assert next(batches) == [(1, b"Subject: 1\r\n")]
    with store.atomic(), pytest.raises(AssertionError, match="IMAP FETCH of headers"):
        next(batches)
    assert mailbox.fetch_message("INBOX", 2) is not None, "outside a transaction all is well"
    transport.send(message)
