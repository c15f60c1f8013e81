"""``scan`` and ``track --from-sent``: the Sent folder's history read on the owner's
request (docs/DESIGN.md, "Tracking from the Sent folder", "Scanning the history").

Both first run the cycle's poll, so that the index of synced mail knows the answers that
came already; then they read the Sent folder's header fields, download only the mails
that may start a thread and judge them with the cycle's :class:`SentReader`.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import closing
from dataclasses import dataclass
from datetime import date, datetime

from nachfass_bot.adapters.mailbox import Mailbox
from nachfass_bot.adapters.store import Store
from nachfass_bot.app.engine import Engine
from nachfass_bot.app.guard import GuardedMailbox
from nachfass_bot.app.recognise import Finding
from nachfass_bot.app.threads import track_thread
from nachfass_bot.domain.models import Client, CycleReport, Kind, MessageRole, Source, Thread
from nachfass_bot.errors import NachfassError
from nachfass_bot.mail.headers import normalize_message_id
from nachfass_bot.mail.inbound import HEADER_FIELDS, parse_inbound

__all__ = ["ScanRow", "SentNotFound", "apply_scan", "find_sent", "scan_sent"]


class SentNotFound(NachfassError):
    """``track --from-sent``: no sent mail, or more than one, matches."""


@dataclass(frozen=True)
class ScanRow:
    """One mail of the Sent folder's history and what the bot would do with it."""

    uid: int
    subject: str
    to: str
    sent_at: datetime | None
    finding: Finding
    known: bool  # a thread already started with this mail


@dataclass(frozen=True)
class _Header:
    uid: int
    raw: bytes
    received: datetime | None


def scan_sent(engine: Engine, *, since: date | None, now: datetime) -> list[ScanRow]:
    """Every mail of the owner's in the Sent folder since ``since`` that looks like an
    offer, order document or invoice, judged; oldest first. Mails that are nothing are
    left out."""
    with closing(GuardedMailbox(engine.open_mailbox(), engine.store)) as mailbox:
        sent = _sync(engine, mailbox, now)
        known = _Known(*engine.tracker.known_threads())
        headers = [
            h for h in _own_mail(engine, mailbox, sent, since) if _candidate(engine, h, known)
        ]
        rows = [_row(engine, mailbox, sent, header, now, known) for header in headers]
    return [row for row in rows if row is not None and row.finding.proposal is not None]


def apply_scan(store: Store, rows: list[ScanRow], now: datetime) -> dict[int, Thread]:
    """Track every row not tracked yet (``source`` ``scan``), by the mail's UID; a
    thread whose client answered already is ``answered`` (the index of synced mail says
    so)."""
    threads = {}
    for row in rows:
        proposal = row.finding.proposal
        if row.known or proposal is None or proposal.missing:
            continue
        threads[row.uid] = track_thread(store, proposal.new_thread(Source.SCAN), now)
    return threads


def find_sent(
    engine: Engine,
    *,
    subject: str | None,
    message_id: str | None,
    now: datetime,
    kind: Kind | None = None,
) -> ScanRow:
    """The one sent mail whose subject contains ``subject`` (case-insensitive; the
    newest when several share the same subject) or whose Message-ID is ``message_id``;
    SentNotFound with a German message otherwise."""
    wanted_id = normalize_message_id(message_id) if message_id else None
    needle = (subject or "").casefold()
    with closing(GuardedMailbox(engine.open_mailbox(), engine.store)) as mailbox:
        sent = _sync(engine, mailbox, now)
        matches = []
        for header in _own_mail(engine, mailbox, sent, None):
            mail = parse_inbound(header.raw, folder=sent, uid=header.uid, received=header.received)
            by_id = wanted_id is not None and mail.message_id == wanted_id
            if by_id or (needle and needle in mail.subject.casefold()):
                matches.append((header, mail.subject))
        chosen = _one_match(matches, subject or message_id or "")
        known = _Known(*engine.tracker.known_threads())
        row = _row(engine, mailbox, sent, chosen, now, known, kind=kind)
    assert row is not None
    return row


def _one_match(matches: list[tuple[_Header, str]], wanted: str) -> _Header:
    if not matches:
        raise SentNotFound(f"Im Ordner Gesendet gibt es keine Mail zu „{wanted}“.")
    subjects = {subject.casefold() for _, subject in matches}
    if len(subjects) > 1:
        shown = "; ".join(sorted({subject for _, subject in matches})[:5])
        raise SentNotFound(
            f"„{wanted}“ passt zu mehreren Mails ({shown}). Bitte genauer angeben oder "
            "--from-sent-id mit der Message-ID nehmen."
        )
    return matches[-1][0]  # the same subject sent again: the newest counts


def _sync(engine: Engine, mailbox: Mailbox, now: datetime) -> str:
    folders = engine.folders(mailbox)
    if folders.sent is None:
        raise SentNotFound(
            "Ich finde keinen Gesendet-Ordner: bitte [mailbox] sent_folder in der "
            "Konfiguration setzen (nachfass-bot check zeigt die Ordner)."
        )
    engine.poll(mailbox, folders, now, CycleReport())
    return folders.sent


def _own_mail(
    engine: Engine, mailbox: Mailbox, folder: str, since: date | None
) -> Iterator[_Header]:
    owner = engine.owner_email
    for batch in mailbox.fetch_headers(folder, 1, HEADER_FIELDS):
        for uid, raw, received in batch:
            mail = parse_inbound(raw, folder=folder, uid=uid, received=received)
            moment = mail.date or received
            if mail.from_addr != owner or mail.is_list_mail:
                continue
            if since is not None and (moment is None or moment.date() < since):
                continue
            yield _Header(uid, raw, received)


@dataclass(frozen=True)
class _Known:
    """What the store knows, read once per scan: Message-IDs of threads, clients."""

    tracked_ids: set[str]
    clients: dict[str, Client]


def _candidate(engine: Engine, header: _Header, known: _Known) -> bool:
    """By header alone: a mail to somebody else than the owner, not in a thread the bot
    follows already. Only these are downloaded whole."""
    mail = parse_inbound(header.raw, folder="", uid=header.uid, received=header.received)
    reader = engine.tracker.reader
    outside = [a for a in mail.to_addrs if a not in (reader.owner_email, reader.tracking_address)]
    refs = (*mail.in_reply_to, *mail.references)
    return bool(outside) and not any(ref in known.tracked_ids for ref in refs)


def _row(
    engine: Engine,
    mailbox: Mailbox,
    folder: str,
    header: _Header,
    now: datetime,
    known: _Known,
    *,
    kind: Kind | None = None,
) -> ScanRow | None:
    mail = parse_inbound(header.raw, folder=folder, uid=header.uid, received=header.received)
    tracked = bool(mail.message_id) and engine.store.has_message_id(
        mail.message_id or "", MessageRole.ORIGINAL
    )
    raw = mailbox.fetch_message(folder, header.uid)
    if raw is None:
        return None
    finding = engine.tracker.reader.read(
        raw,
        now=now,
        received=header.received,
        tracked_message_ids=known.tracked_ids,
        clients=known.clients,
        kind=kind,
    )
    return ScanRow(
        uid=header.uid,
        subject=mail.subject,
        to=", ".join(mail.to_addrs),
        sent_at=mail.date or header.received,
        finding=finding,
        known=tracked,
    )
