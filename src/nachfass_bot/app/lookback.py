"""A new thread looks back on the server where the index of synced mail has gaps
(docs/DESIGN.md, "The cycle", the server's first look).

A big sync reads only the mails a search on the server names (:mod:`nachfass_bot.app.sync`,
``server_look``); the rest of the range is recorded as unread and is in no index. A
thread created after such a sync looks back in the index at once
(:func:`~nachfass_bot.app.inbox.answer_from_synced_mail`) and is also queued here: at the
end of the next poll, one search per unread range asks the server for the mails that
name a queued thread's Message-ID or come from its client, assistant or company domain;
those are read and judged by the same rules as the index's (``match_synced``). No step of
a queued thread is planned before (``Engine.due_threads``).
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime

from nachfass_bot.adapters.mailbox import FolderSet, Mailbox
from nachfass_bot.adapters.store import Store
from nachfass_bot.app.inbox import EARLIER_NOTE, MAY_ANSWER_LATER, record_answer, seen_key
from nachfass_bot.domain.models import LISTENING_STATES, Inbound, SeenRole, Thread
from nachfass_bot.mail.inbound import HEADER_FIELDS, parse_inbound
from nachfass_bot.mail.matching import (
    AnswerKeys,
    Match,
    answer_keys,
    fold_ids,
    match_synced,
    may_answer,
)
from nachfass_bot.mail.prefilter import Wanted, answer_programs

__all__ = ["look_back_on_server"]

log = logging.getLogger(__name__)

_NEVER = datetime.max.replace(tzinfo=UTC)


def look_back_on_server(
    mailbox: Mailbox, store: Store, folders: FolderSet, owner_email: str, now: datetime
) -> None:
    """Let every queued thread look back in the unread ranges, then empty the queue.
    Network first, then one transaction; a MailboxError leaves the queue as it was."""
    queued = store.lookbacks()
    if not queued:
        return
    threads = [
        thread
        for thread_id in sorted(queued)
        if (thread := store.thread(thread_id)) is not None and thread.state in LISTENING_STATES
    ]
    keys = {thread.id: answer_keys(thread) for thread in threads}
    mails = _named_mails(mailbox, store, folders, keys.values()) if threads else []
    found = _MailIndex(_eligible(mails, owner_email, fold_ids(store.own_message_ids())))
    answers = [
        (thread, answer)
        for thread in threads
        if (answer := _answer(thread, keys[thread.id], found)) is not None
    ]  # matched before the transaction: it holds SQLite's write lock
    with store.atomic():
        for thread, (match, mail) in answers:
            if record_answer(store, match, mail, now, note=EARLIER_NOTE) is not None:
                log.info(
                    "thread %s: answer found on the server in %s/%s",
                    thread.id, mail.folder, mail.uid,
                )  # fmt: skip
        store.drop_lookbacks(queued)


def _named_mails(
    mailbox: Mailbox, store: Store, folders: FolderSet, keys: Iterable[AnswerKeys]
) -> list[Inbound]:
    """The mails of the unread ranges that a search for ``keys`` names, parsed, but for
    those the sync judged to be no possible answer: the index keeps only mails judged an
    answer or unrelated, and a judgement that read the body may have found machine mail
    (an out-of-office text, a bounce) that the header does not show. Ranges of folders
    no longer watched, or renumbered (a new UIDVALIDITY: read anew), are dropped."""
    wanted = _wanted(keys)
    mails: list[Inbound] = []
    for folder, uidvalidity, low, high in store.unread_ranges():
        if (
            folder not in folders.inbound
            or mailbox.folder_status(folder).uidvalidity != uidvalidity
        ):
            with store.atomic():
                store.drop_unread_ranges(folder, uidvalidity)
            continue
        uids = _searched(mailbox, folder, wanted, low, high)
        is_junk = folder == folders.junk
        for batch in mailbox.fetch_headers(folder, low, HEADER_FIELDS, uids=uids):
            parsed = [
                (
                    parse_inbound(raw, folder=folder, uid=uid, is_junk_folder=is_junk, received=at),
                    raw,
                )
                for uid, raw, at in batch
            ]
            keyed = [(seen_key(mail, raw), mail) for mail, raw in parsed]
            judged = store.seen_keys_judged_otherwise(
                [key for key, _ in keyed], SeenRole.INBOUND, MAY_ANSWER_LATER
            )
            mails.extend(mail for key, mail in keyed if key not in judged)
    return mails


def _wanted(keys: Iterable[AnswerKeys]) -> Wanted:
    """One search for every queued thread: the union of their keys."""
    references: set[str] = set()
    senders: set[str] = set()
    domains: set[str] = set()
    for key in keys:
        references |= key.references
        senders |= key.senders
        domains |= key.domains
    return Wanted(
        owner="",
        senders=frozenset(senders),
        domains=frozenset(domains),
        message_ids=frozenset(references),
    )


def _searched(mailbox: Mailbox, folder: str, wanted: Wanted, low: int, high: int) -> Sequence[int]:
    """The UIDs of the range the server names; every one where it cannot or will not
    search (never none: that would take the range for empty)."""
    found: set[int] = set()
    for program in answer_programs(wanted):
        uids = mailbox.search_uids(folder, program, low, high)
        if uids is None:
            return range(low, high + 1)
        found.update(uids)
    return sorted(found)


def _eligible(mails: Iterable[Inbound], owner_email: str, own_ids: frozenset[str]) -> list[Inbound]:
    """Only mail the index could have kept counts: not the owner's, not the bot's own, no
    auto-reply or list mail (``inbox._may_answer_later``); earliest first."""
    owner = owner_email.strip().casefold()
    kept = [
        mail
        for mail in mails
        if mail.from_addr
        and mail.from_addr.strip().casefold() != owner
        and (mail.message_id or "").strip().casefold() not in own_ids
        and not mail.is_auto_reply
        and not mail.is_list_mail
    ]
    kept.sort(key=_arrival)
    return kept


class _MailIndex:
    """The eligible mails by folded reference, sender and domain, so that each thread is
    matched only with the mails its keys name, not with every mail found."""

    def __init__(self, mails: Sequence[Inbound]) -> None:
        self.order = {id(mail): position for position, mail in enumerate(mails)}
        self.by_reference: dict[str, list[Inbound]] = defaultdict(list)
        self.by_sender: dict[str, list[Inbound]] = defaultdict(list)
        self.by_domain: dict[str, list[Inbound]] = defaultdict(list)
        for mail in mails:
            for reference in fold_ids((*mail.in_reply_to, *mail.references)):
                self.by_reference[reference].append(mail)
            sender = (mail.from_addr or "").strip().casefold()
            self.by_sender[sender].append(mail)
            self.by_domain[sender.rpartition("@")[2]].append(mail)

    def named(self, keys: AnswerKeys) -> list[Inbound]:
        """The mails ``keys`` may name, earliest first (a superset; ``may_answer`` tests)."""
        lists = [
            *(self.by_reference.get(one, ()) for one in keys.references),
            *(self.by_sender.get(one, ()) for one in keys.senders),
            *(self.by_domain.get(one, ()) for one in keys.domains),
        ]
        unique = {id(mail): mail for found in lists for mail in found}
        return sorted(unique.values(), key=lambda mail: self.order[id(mail)])


def _answer(thread: Thread, keys: AnswerKeys, found: _MailIndex) -> tuple[Match, Inbound] | None:
    """The earliest mail found that answers ``thread`` by the index's rules."""
    for mail in found.named(keys):
        if may_answer(mail, keys) and (match := match_synced(mail, thread)) is not None:
            return match, mail
    return None


def _arrival(mail: Inbound) -> datetime:
    """As the index orders: by INTERNALDATE, else Date; neither: last."""
    return mail.received or mail.date or _NEVER
