"""Shared fixtures.

Mail servers (see ``tests/servers.py``):

- ``dovecot_server`` (session): one Dovecot daemon for the whole run. Starting takes
  ~0.1 s but a clean ``doveadm stop`` ~2 s, too slow to repeat for every test. Tests
  that need their own daemon (other settings, stopping it) build a ``DovecotServer``.
- ``dovecot`` (function): a fresh ``MailAccount`` on that daemon for each test, with its
  own empty INBOX, Junk, Sent, Drafts and Trash; use ``dovecot.user`` and
  ``dovecot.password``, never a fixed address.
- ``smtp_sink`` (function): an ``SmtpSink`` that delivers mail for ``dovecot.user`` into
  that account's INBOX.
- ``laid_out`` and ``laid_out_sink`` (function, parametrised): the same for each server
  layout of ``servers.LAYOUTS`` (Dovecot's own, Cyrus/Courier, Gmail, Outlook); one
  Dovecot per layout for the session. Only the core loop tests use them.

Without Dovecot's IMAP server (the ``dovecot`` binary and its ``imap`` executable from
dovecot-imapd) the IMAP tests are skipped, unless the CI environment variable is set: then
they fail, so CI cannot go green by skipping them.

Hypothesis: the ``suite`` profile (loaded here) runs every property derandomized, without
deadline and without the example database, so the suite is the same on every run; each
property names its example count (``mailstrategies.budget``). ``bench/fuzz.py --examples N``
loads the ``fuzz`` profile instead (``NACHFASS_HYPOTHESIS_PROFILE=fuzz``): fresh random
examples every run, failures kept in ``.hypothesis/``.

Store:

- ``memory_store`` (function): a fresh in-memory ``Store``, closed after the test.
- Every test fails that leaves a sqlite3 connection for the garbage collector to close
  (see ``tests/sqlite_watch.py``): Python 3.13 would fail a random later test for it.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, settings

import sqlite_watch
from nachfass_bot.adapters.store import Store
from servers import (
    LAYOUTS,
    DovecotServer,
    MailAccount,
    OAuthServer,
    SmtpSink,
    find_dovecot_imap,
    find_program,
)

SQLITE_WATCH = sqlite_watch.install()

_PROPERTY_SETTINGS = settings(
    deadline=None,  # a shared 2-core machine: timings say nothing
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    print_blob=True,
)
settings.register_profile("suite", _PROPERTY_SETTINGS, derandomize=True, database=None)
settings.register_profile("fuzz", _PROPERTY_SETTINGS)
settings.load_profile(os.environ.get("NACHFASS_HYPOTHESIS_PROFILE", "suite"))


@pytest.fixture(autouse=True)
def no_unclosed_sqlite() -> Iterator[None]:
    """Fail the test that let a sqlite3 connection be garbage-collected open."""
    SQLITE_WATCH.leaks()  # what died between tests belongs to no test
    yield
    leaks = SQLITE_WATCH.leaks()
    if leaks:
        sites = "\n".join(leaks)
        pytest.fail(f"{len(leaks)} sqlite3 connection(s) never closed, opened at:\n{sites}")


@pytest.fixture(scope="session")
def dovecot_binary() -> str:
    """Path of the dovecot binary; skip (locally) or fail (under CI) when it or its imap
    executable is missing."""
    path = find_program("dovecot")
    if path is not None and find_dovecot_imap(path) is not None:
        return path
    missing = "the dovecot binary" if path is None else f"the imap executable of {path}"
    if os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no"):
        pytest.fail(f"CI is set but {missing} is missing (apt install dovecot-imapd)")
    pytest.skip(f"{missing} not found (apt install dovecot-imapd); CI=true makes this fail")


@pytest.fixture(scope="session")
def dovecot_server(dovecot_binary: str) -> Iterator[DovecotServer]:
    server = DovecotServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def dovecot(dovecot_server: DovecotServer) -> MailAccount:
    return dovecot_server.add_account()


@pytest.fixture(scope="session")
def oauth_server() -> Iterator[OAuthServer]:
    """A local OAuth2 provider: introspection for Dovecot, token endpoint for refresh."""
    server = OAuthServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def oauth_dovecot_server(dovecot_binary: str, oauth_server: OAuthServer) -> Iterator[DovecotServer]:
    """A Dovecot that also takes OAuth2 tokens (XOAUTH2, OAUTHBEARER), checked with
    ``oauth_server``'s introspection endpoint; passwords work as usual."""
    server = DovecotServer(introspection_url=f"{oauth_server.url}/introspect")
    server.start()
    yield server
    server.stop()


@pytest.fixture
def oauth_dovecot(oauth_dovecot_server: DovecotServer) -> MailAccount:
    return oauth_dovecot_server.add_account()


class LayoutServers:
    """One Dovecot per layout for the whole session, started when first asked for; the
    default layout is the session's ``dovecot_server``."""

    def __init__(self, default: DovecotServer) -> None:
        self._servers = {default.layout.name: default}
        self._started: list[DovecotServer] = []

    def account(self, name: str) -> MailAccount:
        if name not in self._servers:
            server = DovecotServer(layout=LAYOUTS[name])
            server.start()
            self._started.append(server)
            self._servers[name] = server
        return self._servers[name].add_account()

    def stop(self) -> None:
        for server in self._started:
            server.stop()


@pytest.fixture(scope="session")
def layout_servers(dovecot_server: DovecotServer) -> Iterator[LayoutServers]:
    servers = LayoutServers(dovecot_server)
    yield servers
    servers.stop()


@pytest.fixture(params=sorted(LAYOUTS))
def laid_out(request: pytest.FixtureRequest, layout_servers: LayoutServers) -> MailAccount:
    """A fresh account on the Dovecot of each layout in turn (``tests/servers.py``,
    ``LAYOUTS``): the same test runs against every way a server presents the folders."""
    return layout_servers.account(request.param)


@pytest.fixture
def laid_out_sink(laid_out: MailAccount) -> Iterator[SmtpSink]:
    """An ``SmtpSink`` delivering to ``laid_out``, filing Sent copies where its layout's
    provider does."""
    sink = SmtpSink(deliver_to=laid_out)
    sink.start()
    yield sink
    sink.stop()


@pytest.fixture
def smtp_sink(dovecot: MailAccount) -> Iterator[SmtpSink]:
    sink = SmtpSink(deliver_to=dovecot)
    sink.start()
    yield sink
    sink.stop()


@pytest.fixture
def memory_store() -> Iterator[Store]:
    """A fresh in-memory store, closed after the test (Python 3.13 warns about open ones)."""
    store = Store.memory()
    yield store
    store.close()
