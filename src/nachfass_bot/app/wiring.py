"""The parts the commands run with, built from the config: store, texts, transports,
the engine, the daemon's jobs.

Texts are built once per command or daemon and passed in; passwords are read when a
connection is built, so a changed password or a password command is picked up by the
next cycle.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime

from nachfass_bot.adapters.idle import IdleWatcher, Watchers
from nachfass_bot.adapters.imap import ImapMailbox
from nachfass_bot.adapters.mailbox import Mailbox
from nachfass_bot.adapters.oauth import TokenCache, login_secret, sign_in, token_cache_path
from nachfass_bot.adapters.retry import run_with_retry
from nachfass_bot.adapters.smtp import CaptureTransport, SmtpTransport, Transport
from nachfass_bot.adapters.store import Store, opened
from nachfass_bot.app.engine import Engine, sending_window, watched_folders
from nachfass_bot.app.outbox import SENT_COPY_WAIT, Outbox
from nachfass_bot.app.payments import Payments
from nachfass_bot.app.weekly import send_if_due
from nachfass_bot.config import Config, ServerConfig
from nachfass_bot.domain.models import CycleReport
from nachfass_bot.errors import NachfassError, SignInNeeded
from nachfass_bot.texts.render import Texts

log = logging.getLogger(__name__)


@contextmanager
def open_store(config: Config) -> Iterator[Store]:
    """The store at the configured path, closed again when the block ends; any database
    problem on the way is a StoreError with one German line (docs/DESIGN.md, "The
    store")."""
    with opened(config.store.path) as store:
        yield store


def build_texts(config: Config) -> Texts:
    """The mail texts in the owner's time zone, with the owner's own templates first."""
    return Texts(timezone=config.sending.timezone, override_dir=config.templates_dir)


def build_payments(config: Config, store: Store) -> Payments:
    """``bank import`` outside the cycle: no mail is sent here (no password is read);
    a question to the owner waits in the notice outbox for the next cycle."""
    outbox = Outbox(
        owner=config.owner, store=store, transport=CaptureTransport(), texts=build_texts(config)
    )
    return Payments(store=store, outbox=outbox, window=sending_window(config), bank=config.bank)


def server_secret(config: Config, server: ServerConfig) -> str:
    """The password, or with ``auth = "oauth2"`` an access token (token command, or the
    built-in flow's cache beside the store, refreshed when due)."""
    return login_secret(server, token_cache_path(config.store.path))


def sign_in_once(config: Config, say: Callable[[str], None]) -> list[str]:
    """``auth login``: the built-in OAuth2 sign-in for every server section that uses it,
    once per provider and account (IMAP and SMTP of one account share the tokens).
    Returns the sections signed in; none when no section has ``oauth_provider``."""
    cache = TokenCache(token_cache_path(config.store.path))
    done: dict[tuple[object, str], str] = {}
    for server in (config.imap, config.smtp):
        if server.auth != "oauth2" or server.oauth is None:
            continue
        account = (server.oauth, server.username.strip().lower())
        if account not in done:
            sign_in(server, cache, say=say)
            done[account] = server.section
    return list(done.values())


def smtp_transport(config: Config) -> SmtpTransport:
    """SMTP from the config. A password is read now (once, when it is needed); an
    OAuth2 token before every login, since it expires within the hour."""
    if not config.smtp.username:
        return SmtpTransport(config.smtp, None)
    if config.smtp.auth == "oauth2":
        return SmtpTransport(config.smtp, lambda: server_secret(config, config.smtp))
    return SmtpTransport(config.smtp, config.smtp.password())


def build_engine(
    config: Config,
    store: Store,
    texts: Texts,
    *,
    transport: Transport | None = None,
    open_mailbox: Callable[[], Mailbox] | None = None,
) -> Engine:
    """The engine for ``config``: IMAP and SMTP from the config, passwords read now,
    unless a mailbox or transport is given (the demo's Maildir, the preview's capture).
    Only a provider's IMAP server may file a sent mail in Sent by itself: with a mailbox
    of its own the engine never waits for that copy."""
    sent_copy_wait = SENT_COPY_WAIT if open_mailbox is None else 0.0
    if open_mailbox is None:
        open_mailbox = _imap_connector(config)
    if transport is None:
        transport = smtp_transport(config)
    return Engine(
        config=config,
        store=store,
        texts=texts,
        transport=transport,
        open_mailbox=open_mailbox,
        sent_copy_wait=sent_copy_wait,
    )


def _imap_connector(config: Config) -> Callable[[], Mailbox]:
    """Opens an IMAP connection per call; the password is read now, once."""
    password = server_secret(config, config.imap)
    if config.imap.auth == "oauth2":
        # Read at once, so a missing sign-in stops the cycle before it starts; every
        # further connection asks again (tokens expire within the hour).
        first = [password]
        return lambda: ImapMailbox.connect(
            config.imap, first.pop() if first else server_secret(config, config.imap)
        )
    return lambda: ImapMailbox.connect(config.imap, password)


def build_preview_engine(config: Config, store: Store, texts: Texts) -> Engine:
    """An engine that renders but never connects: no mailbox, mail is only captured."""
    return build_engine(
        config, store, texts, transport=CaptureTransport(), open_mailbox=_no_mailbox
    )


def _no_mailbox() -> Mailbox:
    raise NachfassError("Die Vorschau braucht kein Postfach.")


def tick_with_retry(engine: Engine, now: datetime, first_delay: float) -> CycleReport:
    """One cycle at ``now``; a dropped connection is retried and the UID sync resumes
    after the last batch. The report counts what every attempt did."""
    report = CycleReport()
    run_with_retry(lambda: engine.tick(now, report), first_delay=first_delay)
    return report


def check_startup(config: Config, texts: Texts, now: datetime) -> None:
    """Open the store and log into the mailbox once: a missing password or a refused
    login raises here, before a daemon starts (a refused OAuth2 sign-in alerts the owner
    first: a service restarted by systemd has nobody reading its terminal)."""
    with open_store(config) as store:
        build_signed_in_engine(config, store, texts, now).open_mailbox().close()


def run_cycle(config: Config, texts: Texts, now: datetime) -> CycleReport:
    """The daemon's cycle: its own store connection (SQLite connections belong to one
    thread) and an engine with passwords read again."""
    with open_store(config) as store:
        return build_signed_in_engine(config, store, texts, now).tick(now)


def build_signed_in_engine(config: Config, store: Store, texts: Texts, now: datetime) -> Engine:
    """:func:`build_engine`; when the provider no longer accepts the OAuth2 sign-in, the
    owner is told once by mail (:func:`alert_sign_in`) before the error goes up."""
    try:
        return build_engine(config, store, texts)
    except SignInNeeded as exc:
        if exc.revoked:
            try:
                alert_sign_in(config, store, texts, exc, now)
            except NachfassError as problem:  # the sign-in error is the one to report
                log.warning("the owner could not be told about the sign-in: %s", problem)
        raise


def alert_sign_in(
    config: Config, store: Store, texts: Texts, problem: SignInNeeded, now: datetime
) -> None:
    """One owner alert per refused refresh token (notice key ``sign-in:<hash>``),
    through the notice outbox. If SMTP signs in with the same refused token, the alert
    waits in the outbox and goes out after the next ``auth login``."""
    outbox = Outbox(owner=config.owner, store=store, transport=smtp_transport(config), texts=texts)
    with store.atomic():
        outbox.notify_owner(
            "owner_alert",
            now,
            key=f"sign-in:{problem.key}",
            headline="Anmeldung beim Mailanbieter erneuern",
            message=str(problem),
            thread_id=None,
        )
    outbox.send_notices(now, key_prefix="sign-in:")


def build_watcher(config: Config, wake: Callable[[], None]) -> Watchers:
    """IMAP IDLE on INBOX and on the junk folder, each on a connection of its own (IDLE
    sees only the selected mailbox): an answer the provider filed as spam wakes the cycle
    as fast as one in INBOX. The password or token is read again for every reconnect;
    the junk folder is found on each connection as the cycle finds it."""

    def connect() -> ImapMailbox:
        return ImapMailbox.connect(config.imap, server_secret(config, config.imap))

    def junk(mailbox: ImapMailbox) -> str | None:
        return watched_folders(config.mailbox, mailbox).junk

    return Watchers([IdleWatcher(connect, wake), IdleWatcher(connect, wake, folder=junk)])


def weekly_digest_job(config: Config, texts: Texts) -> Callable[[datetime], None]:
    """The daemon's digest check: mails this week's digest once; the store decides."""

    def job(now: datetime) -> None:
        with open_store(config) as store:
            send_if_due(store, config, texts, lambda: smtp_transport(config), now)

    return job
