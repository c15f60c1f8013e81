"""Exactly one digest per week: when it is due, and sending it.

The store decides, not the scheduler: the ISO week of the last digest is kept as the
setting ``digest_week`` (``"2026-W11"``). The digest of a week is due from the configured
weekday and time (default Monday 08:00, owner's time zone) until the week ends, once. A
daemon that was down at 08:00 sends it on its next start that week; a restart after the
send sends nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import date, datetime
from zoneinfo import ZoneInfo

from nachfass_bot.adapters.smtp import Transport
from nachfass_bot.adapters.store import Store
from nachfass_bot.app.digest_facts import gather_week
from nachfass_bot.config import Config, DigestConfig
from nachfass_bot.domain.models import EventKind, MessageRole, SettingKey
from nachfass_bot.errors import DeliveryError
from nachfass_bot.texts.compose import new_message_id
from nachfass_bot.texts.digest import Digest, digest_message, render_digest, week_label
from nachfass_bot.texts.render import Texts

log = logging.getLogger(__name__)


def digest_slot(now: datetime, schedule: DigestConfig, zone: ZoneInfo) -> datetime:
    """The moment the digest of ``now``'s ISO week is due (aware, in ``zone``)."""
    year, week, _ = now.astimezone(zone).isocalendar()
    day = date.fromisocalendar(year, week, schedule.day + 1)
    return datetime.combine(day, schedule.at, tzinfo=zone)


def digest_due(store: Store, now: datetime, schedule: DigestConfig, zone: ZoneInfo) -> bool:
    """True when this week's slot has passed and no digest went out this week yet."""
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
    """Render the digest for the week before ``now``, mail it to the owner, and record
    the week as sent. A refused send raises DeliveryError and records nothing (the next
    check tries again); a send that broke off after the server may have accepted it
    counts as sent, so the owner never gets the same digest twice."""
    zone = ZoneInfo(config.sending.timezone)
    digest = render_digest(gather_week(store, config, now), texts)
    owner = config.owner
    message_id = new_message_id(owner.email)
    message = digest_message(
        digest, owner_email=owner.email, owner_name=owner.name, message_id=message_id, now=now
    )
    # Recorded first: the digest lands in the owner's INBOX and must count as our own.
    store.record_message_id(message_id, MessageRole.NOTICE, now)
    week = week_label(now, zone)
    try:
        transport.send(message)
    except DeliveryError as exc:
        if not exc.uncertain:
            raise
        log.warning("digest for %s may not have arrived: %s", week, exc)
    with store.atomic():
        record_sent(store, now, zone)
        store.add_event(now, f"Wochenüberblick {week} an Dich gesendet", kind=EventKind.DIGEST)
    log.info("weekly digest %s sent", week)
    return digest


def send_if_due(
    store: Store,
    config: Config,
    texts: Texts,
    transport: Callable[[], Transport],
    now: datetime,
) -> bool:
    """Send this week's digest if it is due; True when it was sent now.

    ``transport`` is called only when the digest is due, so a password command runs
    once a week, not at every check.
    """
    zone = ZoneInfo(config.sending.timezone)
    if not digest_due(store, now, config.digest, zone):
        log.debug(
            "weekly digest not due (last sent: %s)",
            store.setting(SettingKey.DIGEST_WEEK) or "never",
        )
        return False
    send_digest(store, config, texts, transport(), now)
    return True
