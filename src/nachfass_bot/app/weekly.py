"""Exactly one digest per week: when it is due, recording it, sending it.

The store decides, not the scheduler: the ISO week of the last digest is kept as the
setting ``digest_week`` (``"2026-W11"``). The digest of a week is due from the configured
weekday and time (default Monday 08:00, owner's time zone) until the week ends, once. A
daemon that was down at 08:00 sends it on its next start that week; a restart after the
send sends nothing.

The digest is recorded before it is sent (docs/DESIGN.md, "Weekly digest"): one
transaction checks that it is still due, sets the week marker and queues the mail in the
notice outbox under the key ``digest:<ISO week>``; the outbox sends it after the commit,
at most once. A check that finds a digest still waiting (a refused send) sends only that.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import date, datetime
from email.message import EmailMessage
from zoneinfo import ZoneInfo

from nachfass_bot.adapters.smtp import Transport
from nachfass_bot.adapters.store import Store
from nachfass_bot.app.digest_facts import gather_week
from nachfass_bot.app.guard import GuardedTransport
from nachfass_bot.app.outbox import Outbox
from nachfass_bot.config import Config, DigestConfig
from nachfass_bot.domain.models import EventKind, NoticeState, SettingKey
from nachfass_bot.errors import DeliveryError
from nachfass_bot.texts.compose import new_message_id
from nachfass_bot.texts.digest import Digest, render_digest, week_label
from nachfass_bot.texts.render import Texts

log = logging.getLogger(__name__)

DIGEST_KEY_PREFIX = "digest:"


def digest_key(week: str) -> str:
    """The notice key of the scheduled digest of ``week`` ("digest:2026-W11")."""
    return f"{DIGEST_KEY_PREFIX}{week}"


def digest_slot(now: datetime, schedule: DigestConfig, zone: ZoneInfo) -> datetime:
    """The moment the digest of ``now``'s ISO week is due (aware, in ``zone``)."""
    year, week, _ = now.astimezone(zone).isocalendar()
    day = date.fromisocalendar(year, week, schedule.day + 1)
    return datetime.combine(day, schedule.at, tzinfo=zone)


def digest_due(store: Store, now: datetime, schedule: DigestConfig, zone: ZoneInfo) -> bool:
    """True when this week's slot has passed and no digest was recorded this week yet."""
    if now < digest_slot(now, schedule, zone):
        return False
    return store.setting(SettingKey.DIGEST_WEEK) != week_label(now, zone)


def record_sent(store: Store, now: datetime, zone: ZoneInfo) -> None:
    """Remember ``now``'s week as done; an older week never overwrites a newer one."""
    week = week_label(now, zone)
    stored = store.setting(SettingKey.DIGEST_WEEK)
    if stored is None or week > stored:  # "2026-W09" < "2026-W11": ISO labels sort
        store.set_setting(SettingKey.DIGEST_WEEK, week, now)


def send_digest(
    store: Store, config: Config, texts: Texts, transport: Transport, now: datetime
) -> Digest:
    """The owner asked for the digest now (``digest --send``): render the week before
    ``now``, record the week and queue the mail, send it. It counts as the week's digest;
    asked for twice, it is sent twice. Raises DeliveryError when the server refused it (a
    4xx is tried again by the next check or cycle); a send that broke off after the server
    may have accepted it counts as sent."""
    digest = render_digest(gather_week(store, config, now), texts)
    outbox = _outbox(store, config, texts, lambda: transport)
    message_id = new_message_id(config.owner.email)
    key = f"{digest_key(_week(config, now))}:{message_id}"
    _record(store, config, outbox, digest, now, key=key, message_id=message_id)
    _deliver(store, outbox, now)
    return digest


def send_if_due(
    store: Store,
    config: Config,
    texts: Texts,
    transport: Callable[[], Transport],
    now: datetime,
) -> bool:
    """Record and send this week's digest if it is due, or send a digest whose earlier
    send was refused; True when a digest went out now. Raises DeliveryError when the
    server refused it (recorded all the same: the next check tries again).

    ``transport`` is called only when a digest is to be sent, so a password command runs
    once a week, not at every check.
    """
    zone = ZoneInfo(config.sending.timezone)
    outbox = _outbox(store, config, texts, transport)
    if digest_due(store, now, config.digest, zone):
        digest = render_digest(gather_week(store, config, now), texts)  # reads, no lock
        _record(store, config, outbox, digest, now, key=digest_key(week_label(now, zone)))
    return _deliver(store, outbox, now)


def _week(config: Config, now: datetime) -> str:
    return week_label(now, ZoneInfo(config.sending.timezone))


def _record(
    store: Store,
    config: Config,
    outbox: Outbox,
    digest: Digest,
    now: datetime,
    *,
    key: str,
    message_id: str | None = None,
) -> None:
    """In one transaction: set the week marker and queue the digest. The scheduled
    digest (``key`` of the week) is checked again inside it, so of two processes that
    both found it due only the first records and queues it."""
    zone = ZoneInfo(config.sending.timezone)
    week = week_label(now, zone)
    with store.atomic():
        if key == digest_key(week) and not digest_due(store, now, config.digest, zone):
            log.info("weekly digest %s was recorded meanwhile; not queued twice", week)
            return
        record_sent(store, now, zone)
        outbox.queue(key, digest.subject, digest.text, now, html=digest.html, message_id=message_id)
        store.add_event(
            now,
            f"Wochenüberblick {week} erstellt und zum Versand an Dich vorgemerkt",
            kind=EventKind.DIGEST,
        )


def _deliver(store: Store, outbox: Outbox, now: datetime) -> bool:
    """Send the digests waiting in the outbox; True when one went out (or may have)."""
    waiting = [
        notice
        for notice in store.notices([NoticeState.PENDING])
        if notice.key.startswith(DIGEST_KEY_PREFIX)
        and (notice.send_after is None or notice.send_after <= now)
    ]
    if not waiting:
        log.debug(
            "weekly digest not due (last sent: %s)",
            store.setting(SettingKey.DIGEST_WEEK) or "never",
        )
        return False
    refused = outbox.send_notices(now, key_prefix=DIGEST_KEY_PREFIX)
    for notice in waiting:
        error = refused.get(notice.key)
        if error is not None and not error.uncertain:
            raise DeliveryError(
                f"Wochenüberblick „{notice.subject}“ nicht zugestellt: {error}",
                permanent=error.permanent,
            ) from error
        if error is not None:
            log.warning("weekly digest %s may not have arrived: %s", notice.key, error)
        log.info("weekly digest %s sent", notice.key.removeprefix(DIGEST_KEY_PREFIX))
    return True


def _outbox(
    store: Store, config: Config, texts: Texts, transport: Callable[[], Transport]
) -> Outbox:
    """An outbox whose transport is built on its first send (the password is read
    then), guarded like the engine's: no SMTP inside a transaction."""
    return Outbox(
        owner=config.owner,
        store=store,
        transport=GuardedTransport(_OnDemand(transport), store),
        texts=texts,
    )


class _OnDemand:
    """A transport built by ``factory`` when the first mail is sent."""

    def __init__(self, factory: Callable[[], Transport]) -> None:
        self._factory = factory
        self._inner: Transport | None = None

    def send(self, message: EmailMessage) -> None:
        if self._inner is None:
            self._inner = self._factory()
        self._inner.send(message)
