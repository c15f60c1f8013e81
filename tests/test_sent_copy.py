"""One copy of a client mail in Sent (issue 12, point 4): the provider's own copy is
looked for (a short wait, learned once per store) before the bot APPENDs one, and
``sent_copy = "server"`` never APPENDs. The layouts' loop tests show it against Dovecot;
here the wait and what is learned, without a server."""

from __future__ import annotations

from datetime import UTC, datetime
from email.message import EmailMessage

import pytest

from nachfass_bot.adapters.smtp import CaptureTransport
from nachfass_bot.adapters.store import Store
from nachfass_bot.app.outbox import SENT_COPY_POLL, SENT_COPY_WAIT, Outbox
from nachfass_bot.config import OwnerConfig
from nachfass_bot.domain.models import SentCopy, SettingKey
from nachfass_bot.texts.render import Texts

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
OWNER = OwnerConfig(name="Anna Berger", email="anna@berger-design.test", signature="Anna")


class SentFolder:
    """A Sent folder where the provider's copy shows up after ``appears_after`` looks."""

    def __init__(self, appears_after: int | None) -> None:
        self.appears_after = appears_after
        self.looks = 0
        self.appended: list[bytes] = []

    def contains_message_id(self, folder: str, message_id: str) -> bool:
        self.looks += 1
        return self.appears_after is not None and self.looks > self.appears_after

    def append(self, folder: str, raw: bytes, when: datetime, seen: bool = True) -> None:
        self.appended.append(raw)


def message(number: int) -> EmailMessage:
    mail = EmailMessage()
    mail["Message-ID"] = f"<m{number}@berger-design.test>"
    mail.set_content("x")
    return mail


def copy(store: Store, folder: SentFolder, number: int, mode: SentCopy = SentCopy.AUTO) -> int:
    """File mail ``number``; returns how often the outbox slept."""
    naps: list[float] = []
    outbox = Outbox(
        owner=OWNER,
        store=store,
        transport=CaptureTransport(),
        texts=Texts(),
        sent_copy=mode,
        sleep=naps.append,
    )
    outbox._copy_to_sent(folder, "Sent", message(number), 1, NOW)  # type: ignore[arg-type]
    return len(naps)


def test_a_provider_that_files_sent_mail_gets_no_second_copy(memory_store: Store) -> None:
    folder = SentFolder(appears_after=2)  # Gmail's copy shows up a moment after the 250
    assert copy(memory_store, folder, 1) == 2
    assert folder.appended == []
    assert memory_store.setting(SettingKey.SENT_COPY_BY) == "server"


def test_a_provider_that_does_not_gets_one_copy_and_no_wait_after_the_first(
    memory_store: Store,
) -> None:
    folder = SentFolder(appears_after=None)
    assert copy(memory_store, folder, 1) == round(SENT_COPY_WAIT / SENT_COPY_POLL)
    assert len(folder.appended) == 1
    assert memory_store.setting(SettingKey.SENT_COPY_BY) == "bot"

    looks = folder.looks
    assert copy(memory_store, folder, 2) == 0, "learned: no wait any more"
    assert folder.looks == looks + 1 and len(folder.appended) == 2


@pytest.mark.parametrize("appears_after", [None, 0])
def test_sent_copy_server_never_appends_nor_looks(memory_store: Store, appears_after) -> None:
    folder = SentFolder(appears_after)
    assert copy(memory_store, folder, 1, SentCopy.SERVER) == 0
    assert (folder.looks, folder.appended) == (0, [])
