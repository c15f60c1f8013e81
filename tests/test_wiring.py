"""The wiring builds each part once and from the config (app.wiring)."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from nachfass_bot.adapters.mailbox import Mailbox
from nachfass_bot.adapters.smtp import CaptureTransport
from nachfass_bot.adapters.store import Store
from nachfass_bot.app.wiring import build_engine, build_preview_engine, build_texts, open_store
from nachfass_bot.config import Config, parse_config
from nachfass_bot.errors import ConfigError, NachfassError

UNSET = "NACHFASS_TEST_UNSET"


@pytest.fixture
def config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Config:
    monkeypatch.delenv(UNSET, raising=False)
    server = {"host": "127.0.0.1", "port": 1, "security": "none", "username": "anna@x.test"}
    data = {
        "owner": {"name": "Anna Berger", "email": "anna@x.test", "signature": "Anna"},
        "imap": {**server, "password_env": UNSET},
        "smtp": {**server, "password_env": UNSET},
        "store": {"path": "nachfass.db"},
    }
    return parse_config(data, tmp_path / "config.toml")


@pytest.fixture
def store() -> Iterator[Store]:
    opened = Store.memory()
    yield opened
    opened.close()


def no_mailbox() -> Mailbox:
    raise AssertionError("never opened")


def test_every_part_of_the_engine_renders_with_the_one_texts(config: Config, store: Store) -> None:
    texts = build_texts(config)

    engine = build_engine(
        config, store, texts, transport=CaptureTransport(), open_mailbox=no_mailbox
    )
    preview = build_preview_engine(config, store, texts)

    assert engine.texts is texts and engine.outbox.texts is texts
    assert preview.texts is texts and preview.outbox.texts is texts


def test_the_real_engine_reads_the_passwords_when_it_is_built(config: Config, store: Store) -> None:
    # Given a mailbox and a transport (above), no password is needed; without, it is.
    with pytest.raises(ConfigError, match=UNSET):
        build_engine(config, store, build_texts(config))


def test_the_preview_engine_never_opens_a_mailbox(config: Config, store: Store) -> None:
    engine = build_preview_engine(config, store, build_texts(config))
    with pytest.raises(NachfassError, match="Vorschau"):
        engine.open_mailbox()


def test_open_store_closes_the_store(config: Config) -> None:
    with open_store(config) as store:
        assert store.path == config.store.path
    with pytest.raises(sqlite3.ProgrammingError, match="closed"):
        store.threads()
