"""Reading the mailbox: what each new mail means, and what the bot does about it.

Inbound folders (INBOX, junk, extra folders): a client's answer stops the thread, an
auto-reply postpones it until the return date, a permanent bounce pauses it with a task
for the owner. The Sent folder: a mail the owner wrote to a client by hand restarts the
count. In either: the owner's answers to drafts (and mails to the bot's own address) are
queued for :mod:`nachfass_bot.app.commands`.

"Seen" is kept per role (:class:`~nachfass_bot.domain.models.SeenRole`): the same mail
in Sent, INBOX, All Mail and junk is queued as a command once, restarts the count once
and gets one verdict, whichever folder shows it first; a role handled in one folder never
hides another role of the same mail. Inbound mail that may answer a thread is also kept
in the store's index of header facts, so that a thread created later finds an answer
that came before it (:func:`answer_from_synced_mail`).

Headers come first; a body is downloaded only when the header says the mail may concern
a thread (:func:`nachfass_bot.mail.judge.needs_body`), a batch's bodies together
(``Mailbox.fetch_messages``) and before the batch's transaction opens: the verdicts are
applied, and notices to the owner queued, with no network call in between
(:mod:`nachfass_bot.app.sync`). A mail that breaks the judgement is logged
with folder and UID and skipped, so one bad mail never stops the loop.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from functools import partial
from typing import Protocol

from nachfass_bot.adapters.mailbox import FolderSet, Mailbox
from nachfass_bot.adapters.store import Store
from nachfass_bot.app.outbox import Outbox, mail_ref
from nachfass_bot.app.sync import WINDOW_MARGIN, Batch, Bodies, Progress, sync_folder
from nachfass_bot.domain.calendar import SendingWindow
from nachfass_bot.domain.dates import in_date_window
from nachfass_bot.domain.models import (
    CANCELLABLE_DRAFT_STATES,
    LISTENING_STATES,
    CycleReport,
    Draft,
    DraftState,
    EventKind,
    Inbound,
    MessageRole,
    SeenRole,
    SettingKey,
    State,
    TaskState,
    Thread,
    VerdictKind,
)
from nachfass_bot.errors import MailboxError
from nachfass_bot.mail.approval import find_token, new_token, token_tag
from nachfass_bot.mail.firstlook import FirstLook, first_look
from nachfass_bot.mail.inbound import HEADER_FIELDS, parse_inbound
from nachfass_bot.mail.judge import Verdict, judge_inbound, needs_body
from nachfass_bot.mail.matching import (
    Match,
    ThreadIndex,
    answer_keys,
    answer_time,
    index_threads,
    match_synced,
)
from nachfass_bot.mail.prefilter import Wanted, probe_program, search_programs
from nachfass_bot.texts.labels import client_label, local_text, moment_text
from nachfass_bot.texts.render import format_date_long

log = logging.getLogger(__name__)

BOUNCE_TASK = "E-Mail kam nicht an – bitte anrufen oder Adresse prüfen."
BOUNCE_TASK_STEP = -1  # tasks of a step use the step index; a bounce task has its own slot
_EPOCH_YEAR = 1970  # a thread "started" before this has a broken date: no sync window
# Parsed headers kept between reading a batch's bodies and handling it (batches are 500).
_PARSE_CACHE_SIZE = 2000
# The server's first look asks at most this many searches (each up to 200 keys): a key
# costs the server about 10 ms per 20,000 mails, reading a header about 150 µs a mail,
# so beyond some 300 keys (thousands of tracked clients) reading every header is cheaper.
_MAX_SEARCHES = 2
# What a mail that breaks the judgement raises; it is skipped, not retried forever.
_UNREADABLE = (ValueError, LookupError, TypeError, AttributeError, UnicodeError)


@dataclass(frozen=True)
class _Known:
    """What a sync compares each mail with; refreshed after a mail changed it. ``index``
    looks the listening threads up by Message-ID, address and domain, and holds
    ``own_ids`` folded."""

    own_ids: frozenset[str]
    index: ThreadIndex


@dataclass(slots=True)
class _Looked:
    """One mail of a batch at first look: ``look`` is None where the look gave up."""

    uid: int
    raw: bytes
    received: datetime | None
    look: FirstLook | None
    key: str  # seen_key
    # No candidate when the bodies were read: nothing was downloaded for it, so however
    # the threads change before the batch is handled, the rule chain could only call it
    # unrelated (it would lack the body); None: not tested then.
    plain: bool | None = None


# Verdicts of mails a thread created later may count as its answer: no machine mail, not
# the owner's, not the bot's own (see _may_answer_later).
MAY_ANSWER_LATER = frozenset({VerdictKind.ANSWER, VerdictKind.UNRELATED})

# Verdicts after which the listening threads and our own Message-IDs are as before.
_NOTHING_CHANGED = frozenset(
    {
        VerdictKind.OWN,
        VerdictKind.OWNER,
        VerdictKind.COMMAND_PENDING,
        VerdictKind.UNRELATED,
        VerdictKind.ERROR,
    }
)


class SentMailHook(Protocol):
    """Where the owner's own new mail goes to start threads (app/tracking.py)."""

    def begin(self, now: datetime) -> None: ...

    def wants_body(self, mail: Inbound, header: bytes, *, in_sent: bool) -> bool: ...

    def consider(
        self, mail: Inbound, header: bytes, raw: bytes, now: datetime, *, in_sent: bool
    ) -> None: ...


class InboxReader:
    """Syncs the watched folders and applies each new mail's verdict to the store."""

    def __init__(
        self,
        *,
        store: Store,
        outbox: Outbox,
        window: SendingWindow,
        auto_reply_wait_days: int = 7,
        move_spam_replies: bool = False,
        warn_rejected: Callable[[Draft | None, str, datetime], None] | None = None,
        tracker: SentMailHook | None = None,
    ) -> None:
        self.warn_rejected = warn_rejected
        self.tracker = tracker
        self.progress: Progress | None = None  # set by the CLI on a terminal
        self.store = store
        self.move_spam_replies = move_spam_replies
        self._spam_answers: dict[tuple[str, int], str] = {}
        self._parse_cache: dict[tuple[str, int], tuple[bytes, Inbound]] = {}
        # What _known read, under which change_mark and threads_mark.
        self._known_read: tuple[tuple[int, int], tuple[int, int], _Known] | None = None
        self._look_cache: dict[tuple[str, int], _Looked] = {}
        self._search_trusted: dict[str, bool] = {}  # folder → its search finds word parts
        self.outbox = outbox
        self.window = window
        self.owner_email = outbox.owner_email
        self.auto_reply_wait = timedelta(days=auto_reply_wait_days)

    def poll(
        self, mailbox: Mailbox, folders: FolderSet, now: datetime, report: CycleReport
    ) -> None:
        """Sync the inbound folders, then the Sent folder."""
        if self.tracker is not None:
            self.tracker.begin(now)
        since = self._window_start(now)
        for folder in folders.inbound:
            is_junk = folder == folders.junk
            handle = partial(
                self._inbound_batch, folder=folder, is_junk=is_junk, now=now, report=report
            )
            read = partial(self._read_bodies, mailbox, folder=folder, is_junk=is_junk)
            look = partial(self._server_look, mailbox)
            sync_folder(mailbox, self.store, folder, now, handle, self.progress, read, since, look)
        if folders.sent and folders.sent not in folders.inbound:
            sent = partial(self._sent_batch, folder=folders.sent, now=now)
            read = partial(self._read_sent_bodies, mailbox, folder=folders.sent)
            sync_folder(mailbox, self.store, folders.sent, now, sent, self.progress, read, since)
        self._move_spam_answers(mailbox, folders.inbox, now)

    def _server_look(self, mailbox: Mailbox, folder: str, low: int, high: int) -> list[int] | None:
        """The UIDs of ``low``..``high`` that a search on the server names as candidates
        (:mod:`nachfass_bot.mail.prefilter`: a superset of :meth:`_may_act`); None when
        the server cannot search."""
        known = self._known()
        index = known.index
        wanted = Wanted(
            owner=self.owner_email,
            senders=frozenset(index.by_sender),
            domains=frozenset(index.by_domain),
            message_ids=frozenset({*index.by_reference, *known.own_ids}),
        )
        programs = search_programs(wanted)
        if len(programs) > _MAX_SEARCHES:
            log.info("%s: %d searches would cost more than reading every header", folder,
                     len(programs))  # fmt: skip
            return None
        if not self._search_finds_word_parts(mailbox, folder, low, high):
            return None
        found: set[int] = set()
        for program in programs:
            uids = mailbox.search_uids(folder, program, low, high)
            if uids is None:
                return None
            found.update(uids)
        log.info("%s: the server names %d of UIDs %d-%d", folder, len(found), low, high)
        return sorted(found)

    def _search_finds_word_parts(self, mailbox: Mailbox, folder: str, low: int, high: int) -> bool:
        """Whether the server's search finds a part of a word in a header, as RFC 3501
        asks and the first look's keys need: asked once per folder with the last mail of
        the range (:func:`~nachfass_bot.mail.prefilter.probe_program`). A server that
        searches a word index (full-text plugins) would miss candidates: its folders are
        read whole. No mail to ask with, or no piece to ask for: not trusted."""
        trusted = self._search_trusted.get(folder)
        if trusted is None:
            trusted = self._search_trusted[folder] = self._probe(mailbox, folder, low, high)
            if not trusted:
                log.warning("%s: the server's search is not trusted; reading every header", folder)
        return trusted

    def _probe(self, mailbox: Mailbox, folder: str, low: int, high: int) -> bool:
        everything = mailbox.search_uids(folder, "ALL", low, high)
        if not everything:
            return False
        uid = everything[-1]
        batches = mailbox.fetch_headers(folder, uid, HEADER_FIELDS, uids=[uid])
        header = next((raw for batch in batches for found, raw, _ in batch if found == uid), None)
        program = probe_program(header) if header is not None else None
        return program is not None and mailbox.search_uids(folder, program, uid, uid) == [uid]

    def _window_start(self, now: datetime) -> datetime | None:
        """Mail that reached the server before this cannot matter: it is older than every
        listening thread and than tracking from the Sent folder (which only looks at mail
        since it began), by :data:`~nachfass_bot.app.sync.WINDOW_MARGIN`. None (read all)
        when a thread claims to have started before 1970: a broken date, no window."""
        moments = [now]
        if (earliest := self.store.earliest_start(sorted(LISTENING_STATES))) is not None:
            moments.append(earliest)
        if (tracking := self.store.setting(SettingKey.TRACKING_SINCE)) is not None:
            moments.append(datetime.fromisoformat(tracking))
        start = min(moments)
        return start - WINDOW_MARGIN if start.year >= _EPOCH_YEAR else None

    def _move_spam_answers(self, mailbox: Mailbox, inbox: str, now: datetime) -> None:
        """With ``move_spam_replies``: client answers found in junk go to INBOX, after the
        sync (the answer is already recorded; moving is a courtesy that may fail)."""
        moves, self._spam_answers = self._spam_answers, {}
        for (folder, uid), sender in moves.items():
            try:
                mailbox.move(folder, uid, inbox)
            except MailboxError as exc:
                log.warning("could not move mail %s/%s to %s: %s", folder, uid, inbox, exc)
                continue
            self.store.add_event(
                now, f"Antwort von {sender} aus dem Ordner {folder} in den Posteingang verschoben"
            )

    def _known(self) -> _Known:
        """The listening threads and our own Message-IDs; read again only when the
        database changed since the last read (:meth:`Store.change_mark`): reading a
        batch's bodies and handling it ask twice, and reading 10,000 threads is most of
        a sync's cost. Where only bookkeeping changed (:meth:`Store.threads_mark`: seen
        marks, drafts, notices, the bot's own Message-IDs), the threads are not read
        again: only our own Message-IDs are."""
        mark = self.store.change_mark()
        read = self._known_read
        if read is not None and read[0] == mark:
            return read[2]
        threads_mark = self.store.threads_mark()
        own_ids = frozenset(self.store.own_message_ids())
        if read is not None and read[1] == threads_mark:
            index = read[2].index.updated({}, own_ids)  # the same threads
        else:
            index = index_threads(self.store.threads(sorted(LISTENING_STATES)), own_ids)
        known = _Known(own_ids=own_ids, index=index)
        self._known_read = (mark, threads_mark, known)
        return known

    def _refresh(self, known: _Known, thread_ids: Iterable[int]) -> _Known:
        """``known`` after a mail changed the threads ``thread_ids`` (and perhaps created
        some): what :meth:`_known` would read, reading only those threads again, the ones
        created since, and our own Message-IDs: a reload per answer would cost a read of
        every thread (docs/DESIGN.md, "The cycle")."""
        own_ids = frozenset(self.store.own_message_ids())
        changed: dict[int, Thread | None] = {tid: self.store.thread(tid) for tid in thread_ids}
        newest = max(known.index.rank, default=0)
        for thread in self.store.threads(sorted(LISTENING_STATES), after=newest):
            changed[thread.id] = thread
        return _Known(own_ids=own_ids, index=known.index.updated(changed, own_ids))

    # -- inbound folders ------------------------------------------------------------------

    def _read_bodies(
        self, mailbox: Mailbox, batch: Batch, *, folder: str, is_junk: bool
    ) -> dict[int, bytes | None]:
        """Before the batch's transaction: download every new mail whose header says it
        may concern a thread, all in one :meth:`~Mailbox.fetch_messages` (a round trip per
        mail was most of a mixed inbox's first sync). Handling a mail can only shrink the
        set of threads a later mail may concern, so this covers every body the handling
        asks for."""
        known = self._known()
        looked = self._looked(batch, folder=folder, is_junk=is_junk)
        judged = self.store.seen_keys([mail.key for mail in looked], SeenRole.INBOUND)
        drafts = self._draft_ids(looked)
        wanted: list[int] = []
        for mail in looked:
            if mail.key in judged:
                continue
            mail.plain = not self._candidate(mail.look, known, drafts)
            if mail.plain or _bots_own(mail, known):
                continue
            inbound = self._parsed(
                mail.raw, folder=folder, uid=mail.uid, is_junk=is_junk, received=mail.received
            )
            if self._needs_body(inbound, known) or self._starts_thread(inbound, mail.raw, False):
                wanted.append(mail.uid)
        return _fetched_bodies(mailbox, folder, wanted)

    def _looked(self, batch: Batch, *, folder: str, is_junk: bool = False) -> list[_Looked]:
        """Each mail of a batch at first look (:mod:`nachfass_bot.mail.firstlook`), with
        its seen key: from the look, or from the full parse where the look gives up, so
        that it is the key :func:`seen_key` gives either way."""
        looked: list[_Looked] = []
        for uid, raw, received in batch:
            cache_key = (folder, uid)
            cached = self._look_cache.get(cache_key)
            if cached is not None and cached.raw is raw:
                looked.append(cached)
                continue
            look = first_look(raw)
            if look is None:
                inbound = self._parsed(
                    raw, folder=folder, uid=uid, is_junk=is_junk, received=received
                )
                key = seen_key(inbound, raw)
            else:
                key = look.message_id or seen_key_of_header(raw)
            mail = _Looked(uid, raw, received, look, key)
            if len(self._look_cache) >= _PARSE_CACHE_SIZE:
                self._look_cache.clear()  # one batch at a time: the older ones are done
            self._look_cache[cache_key] = mail
            looked.append(mail)
        return looked

    def _draft_ids(self, looked: Iterable[_Looked]) -> set[str]:
        """The drafts' Message-IDs a batch's mails answer (In-Reply-To), one query."""
        replied = [ref for mail in looked if mail.look for ref in mail.look.in_reply_to]
        return self.store.drafts_with_message_ids(replied) if replied else set()

    def _plain(self, mail: _Looked, known: _Known, drafts: set[str]) -> bool:
        """No candidate: as found when the bodies were read, else tested now."""
        if mail.plain is not None:
            return mail.plain
        return not self._candidate(mail.look, known, drafts)

    def _candidate(self, look: FirstLook | None, known: _Known, drafts: set[str]) -> bool:
        """Whether a mail may get any verdict but unrelated, or do anything besides, and
        so needs the full parse and the rule chain: a superset of every rule that acts
        (docs/DESIGN.md, "The cycle"). Not a candidate: a mail the look could read, with
        no sign of machine mail, no token, not the owner's, and naming nothing known."""
        return look is None or look.machine or self._may_act(look, known, drafts)

    def _may_act(self, look: FirstLook, known: _Known, drafts: set[str]) -> bool:
        """Whether a mail may change a thread or start one, or be a command: the
        candidates the server's first look must name (:mod:`nachfass_bot.mail.prefilter`).
        A machine mail is one only with a bounce's sign (a bounce may name a thread in its
        text alone): naming nothing known by its header, an auto-reply is one to nobody
        tracked, its verdict changes no thread, and a thread created later reads its
        header again when it looks back (``lookback._eligible``)."""
        if look.maybe_command or look.bounce_sign or look.bounce_subject or look.delivery_system:
            return True
        sender = look.from_addr
        if sender is not None and sender.casefold() == self.owner_email.strip().casefold():
            return True
        if any(message_id in drafts for message_id in look.in_reply_to):
            return True
        references = (*look.in_reply_to, *look.references)
        return known.index.may_concern(look.message_id, sender, references)

    def _parsed(
        self,
        raw: bytes,
        *,
        folder: str,
        uid: int,
        received: datetime | None,
        is_junk: bool = False,
    ) -> Inbound:
        """The header of one mail parsed once per sync: reading the bodies and handling
        the batch ask for the same mails, and parsing is most of a first sync's cost."""
        key = (folder, uid)
        cached = self._parse_cache.get(key)
        if cached is not None and cached[0] is raw:
            return cached[1]
        inbound = parse_inbound(
            raw, folder=folder, uid=uid, is_junk_folder=is_junk, received=received
        )
        if len(self._parse_cache) >= _PARSE_CACHE_SIZE:
            self._parse_cache.clear()  # one batch at a time: the older ones are done
        self._parse_cache[key] = (raw, inbound)
        return inbound

    def _starts_thread(self, mail: Inbound, header: bytes, in_sent: bool) -> bool:
        return self.tracker is not None and self.tracker.wants_body(mail, header, in_sent=in_sent)

    def _read_sent_bodies(
        self, mailbox: Mailbox, batch: Batch, *, folder: str
    ) -> dict[int, bytes | None]:
        """Before the batch's transaction: the whole mails of the owner's that may start a
        thread (app/tracking.py); the rest of the Sent folder is read by header only."""
        looked = self._looked(batch, folder=folder)
        judged = self.store.seen_keys([mail.key for mail in looked], SeenRole.OWNER_MAIL)
        wanted: list[int] = []
        for mail in looked:
            if mail.key in judged or self._not_owners(mail):
                continue
            inbound = self._parsed(mail.raw, folder=folder, uid=mail.uid, received=mail.received)
            if self._starts_thread(inbound, mail.raw, True):
                wanted.append(mail.uid)
        return _fetched_bodies(mailbox, folder, wanted)

    def _not_owners(self, mail: _Looked) -> bool:
        """A mail the first look found from someone else than the owner (compared as
        exactly as the Sent folder's rules compare): no command, no thread to start or
        restart, the bot's own or a stray copy; its seen verdict is ``own``."""
        return mail.look is not None and mail.look.from_addr != self.owner_email

    def _needs_body(self, inbound: Inbound, known: _Known) -> bool:
        try:
            return needs_body(inbound, known.index, owner_email=self.owner_email)
        except _UNREADABLE:
            return False  # the judgement skips the mail with an error event

    def _inbound_batch(
        self,
        batch: Batch,
        bodies: Bodies,
        *,
        folder: str,
        is_junk: bool,
        now: datetime,
        report: CycleReport,
    ) -> None:
        known = self._known()
        newest = self.store.newest_thread_id()
        looked = self._looked(batch, folder=folder, is_junk=is_junk)
        judged = self.store.seen_keys([mail.key for mail in looked], SeenRole.INBOUND)
        drafts = self._draft_ids(looked)
        index: list[tuple[str, Inbound]] = []
        unrelated: list[tuple[str, str, int]] = []
        own: list[tuple[str, str, int]] = []
        for mail in looked:
            key, uid = mail.key, mail.uid
            look = mail.look
            if uid not in bodies and _bots_own(mail, known):
                # _judge's first rule, without the full parse: the owner's copies of the
                # drafts mailed last cycle are most of a quiet cycle's new mail
                if key not in judged:
                    judged.add(key)
                    own.append((key, folder, uid))
                continue
            if look is not None and uid not in bodies and self._plain(mail, known, drafts):
                # The first look: unrelated, as the rule chain would find it.
                if key not in judged:
                    judged.add(key)
                    unrelated.append((key, folder, uid))
                    if _may_answer_later_look(look):
                        index.append((key, _inbound_of(mail, folder, is_junk)))
                continue
            inbound = self._parsed(
                mail.raw, folder=folder, uid=uid, is_junk=is_junk, received=mail.received
            )
            self._queue_command(key, inbound, known, now)
            if key in judged:
                continue  # judged already, in this folder or another one
            if uid in bodies and bodies[uid] is None:
                # Moved or deleted before its body could be read: judging the header alone
                # could take a bounce for an answer. Not marked seen, so the copy in the
                # folder it was moved to is judged in full.
                log.info("mail %s/%s vanished before its body was read", folder, uid)
                continue
            verdict, touched = self._judge_safely(inbound, bodies, known, now, report)
            self.store.mark_seen(key, SeenRole.INBOUND, folder, uid, verdict, now)
            judged.add(key)
            if _may_answer_later(inbound, verdict):
                index.append((key, inbound))
            if touched and verdict not in _NOTHING_CHANGED:
                # only a verdict about threads changes them: an auto-reply or a bounce
                # to nobody tracked (a mixed inbox's notifications) reads nothing again
                known = self._refresh(known, touched)
        self.store.mark_seen_many(unrelated, SeenRole.INBOUND, VerdictKind.UNRELATED, now)
        self.store.mark_seen_many(own, SeenRole.INBOUND, VerdictKind.OWN, now)
        self.store.add_synced_mails(index)
        self._look_back(newest, now)

    def _look_back(self, newest: int, now: datetime) -> None:
        """Threads this batch started (a Bcc copy in INBOX) look back once more now that
        the batch's mail is in the index of synced mail: a client's answer behind the
        copy in the same batch was judged before its thread was known (unrelated) and
        indexed only at the batch's end, after the thread had looked at creation."""
        for thread in self.store.threads([State.OPEN], after=newest):
            answer_from_synced_mail(self.store, thread.id, now)

    def _queue_command(self, key: str, mail: Inbound, known: _Known, now: datetime) -> None:
        """The owner's answer to a draft or task, or a mail to the bot's own address
        ("urlaub bis …", "status"), is queued for the commands step once, in whichever
        folder it shows up first: Sent (the mail program files it at once) or an inbound
        folder (the delivered copy). Bcc copies of mail to others are no commands."""
        if mail.from_addr != self.owner_email or mail.message_id in known.own_ids:
            return
        if self.owner_email not in mail.to_addrs and self._answered_draft(mail) is None:
            return
        if not self.store.is_seen(key, SeenRole.COMMAND):
            self.store.mark_seen(
                key, SeenRole.COMMAND, mail.folder, mail.uid, VerdictKind.COMMAND_PENDING, now
            )

    def _judge_safely(
        self, inbound: Inbound, bodies: Bodies, known: _Known, now: datetime, report: CycleReport
    ) -> tuple[VerdictKind, tuple[int, ...]]:
        try:
            return self._judge(inbound, bodies, known, now, report)
        except _UNREADABLE as exc:
            # A mail that breaks the judgement is skipped, not retried forever.
            log.error("mail %s/%s skipped: %s", inbound.folder, inbound.uid, exc)
            self.store.add_event(
                now,
                f"Mail im Ordner {inbound.folder} (UID {inbound.uid}) nicht lesbar, übersprungen",
                kind=EventKind.ERROR,
            )
            return VerdictKind.ERROR, ()

    def _judge(
        self, inbound: Inbound, bodies: Bodies, known: _Known, now: datetime, report: CycleReport
    ) -> tuple[VerdictKind, tuple[int, ...]]:
        """Decide what one inbound mail is, act on it; returns the seen-verdict and the
        threads it may have changed. Runs in the batch's transaction: the body comes
        from ``bodies``, never from the server."""
        if inbound.message_id in known.own_ids:
            return VerdictKind.OWN, ()
        if inbound.from_addr == self.owner_email:
            # A command among them is queued by _queue_command; a copy to the tracking
            # address may start a thread; never an answer.
            self._consider(inbound, bodies, now, in_sent=False)
            return VerdictKind.OWNER, ()
        answered_draft = self._answered_draft(inbound)
        if answered_draft:
            self._warn_foreign_command(inbound, answered_draft, now)
        if not needs_body(inbound, known.index, owner_email=self.owner_email):
            return VerdictKind.UNRELATED, ()
        raw = bodies.get(inbound.uid)
        if raw is None:  # not downloaded: another process changed the threads meanwhile
            log.warning("mail %s/%s not read whole, counted unrelated", inbound.folder, inbound.uid)
            return VerdictKind.UNRELATED, ()
        verdict = judge_inbound(inbound, raw, threads=known.index, owner_email=self.owner_email)
        self._apply(verdict, inbound, now, report)
        return verdict.kind, verdict.thread_ids

    def _apply(
        self, verdict: Verdict, inbound: Inbound, now: datetime, report: CycleReport
    ) -> None:
        if verdict.kind is VerdictKind.ANSWER:
            for match in verdict.matches:
                self._record_answer(match, inbound, now, report)
        elif verdict.kind is VerdictKind.AUTO_REPLY:
            for thread_id in verdict.thread_ids:
                self._postpone_for_absence(thread_id, verdict, inbound, now)
        elif verdict.kind is VerdictKind.BOUNCE_PERMANENT:
            for thread_id in verdict.thread_ids:
                self._pause_for_bounce(thread_id, verdict, inbound, now)
        elif verdict.kind is VerdictKind.BOUNCE_DELAY:
            for thread_id in verdict.thread_ids:
                self.store.add_event(
                    now,
                    f"Die Zustellung verzögert sich ({verdict.reason}); der Server versucht es "
                    "weiter, zu tun ist nichts.",
                    thread_id=thread_id,
                    kind=EventKind.BOUNCE,
                )

    def _answered_draft(self, inbound: Inbound) -> Draft | None:
        """The draft this mail answers, by the token in its subject or by In-Reply-To."""
        token = find_token(inbound.subject)
        if token:
            return self.store.draft_by_token(token)
        for message_id in inbound.in_reply_to:
            draft = self.store.draft_by_message_id(message_id)
            if draft:
                return draft
        return None

    def _warn_foreign_command(self, inbound: Inbound, draft: Draft, now: datetime) -> None:
        sender = inbound.from_addr or "(unbekannt)"
        log.warning("ignored a draft reply from a foreign address in %s", inbound.folder)
        if self.warn_rejected is not None:
            self.warn_rejected(draft, f"sie kam von der fremden Adresse {sender}", now)

    # -- what a verdict does ------------------------------------------------------------------

    def _record_answer(
        self, match: Match, inbound: Inbound, now: datetime, report: CycleReport
    ) -> None:
        thread = record_answer(self.store, match, inbound, now)
        if thread is None:
            return
        report.answers += 1
        log.info("thread %s answered (%s, folder %s)", thread.id, match.rule, inbound.folder)
        if inbound.is_junk_folder:
            self._alert_spam_answer(thread, inbound, now)
            if self.move_spam_replies:
                self._spam_answers[(inbound.folder, inbound.uid)] = inbound.from_addr or "?"

    def _alert_spam_answer(self, thread: Thread, inbound: Inbound, now: datetime) -> None:
        self.outbox.notify_owner(
            "owner_spam_alert",
            now,
            key=f"spam:thread {thread.id}:{mail_ref(inbound)}",
            client_label=client_label(thread),
            client_email=inbound.from_addr or thread.client.email,
            folder=inbound.folder,
            subject=thread.subject,
            thread_id=thread.id,
        )

    def _postpone_for_absence(
        self, thread_id: int, verdict: Verdict, inbound: Inbound, now: datetime
    ) -> None:
        """The next step waits for the return date plus one business day (else 7 days)."""
        thread = self.store.thread(thread_id)
        if thread is None or thread.state is not State.OPEN:
            return
        # A return date outside the date window (a mail dated 9999) counts as none.
        if verdict.return_date is not None and in_date_window(verdict.return_date, now.date()):
            back = datetime.combine(verdict.return_date, time(0), tzinfo=self.window.zone)
            resume = self.window.next_slot(self.window.add_business_days(back, 1))
            why = f"ist ab {format_date_long(verdict.return_date, self.window.zone)} wieder da"
        else:
            resume = self.window.next_slot(now + self.auto_reply_wait)
            why = "ist abwesend und nennt kein Rückkehrdatum"
        if thread.paused_until is not None and thread.paused_until >= resume:
            return
        self.store.update_thread(thread.id, now, paused_until=resume)
        self.store.add_event(
            now,
            f"{_absent_label(thread, inbound)} {why} (Abwesenheitsnotiz, keine Antwort); der "
            f"nächste Schritt kommt frühestens am {moment_text(resume, self.window)}.",
            thread_id=thread.id,
            kind=EventKind.AUTO_REPLY,
        )

    def _pause_for_bounce(
        self, thread_id: int, verdict: Verdict, inbound: Inbound, now: datetime
    ) -> None:
        thread = self.store.thread(thread_id)
        if thread is None or thread.state not in LISTENING_STATES:
            return
        self.store.update_thread(thread.id, now, state=State.PAUSED)
        token = self._bounce_task_token(thread.id, now)
        failed = ", ".join(verdict.failed_recipients) or "unbekannt"
        self.store.add_event(
            now,
            f"Die Mail an {failed} kam nicht an ({verdict.reason}). Der Vorgang ist pausiert, "
            f"Deine Aufgabe: {BOUNCE_TASK}",
            thread_id=thread.id,
            kind=EventKind.BOUNCE,
        )
        self.cancel_drafts(thread.id, now, "Mail kam nicht an")
        self.outbox.notify_owner(
            "owner_bounce_alert",
            now,
            key=f"bounce:thread {thread.id}:{mail_ref(inbound)}",
            token_tag=token_tag(token) if token else "",
            failed=failed,
            reason=verdict.reason,
            subject=thread.subject,
            thread_id=thread.id,
            client_label=client_label(thread),
        )

    def cancel_drafts(self, thread_id: int, now: datetime, why: str) -> None:
        """Drop the thread's drafts that have not started sending."""
        cancel_drafts(self.store, thread_id, now, why)

    def _bounce_task_token(self, thread_id: int, now: datetime) -> str | None:
        """The token of the thread's bounce task, which the alert carries so that the
        owner can answer it ("weiter neue@adresse.de"); a task from an earlier bounce
        keeps its token (a row from before tokens has none)."""
        token = new_token()
        added = self.store.add_task(
            thread_id=thread_id, step_index=BOUNCE_TASK_STEP, text=BOUNCE_TASK, due_at=now,
            now=now, token=token,
        )  # fmt: skip
        if added:
            return token
        open_tasks = self.store.tasks(TaskState.OPEN, thread_id)
        return next((t.token for t in open_tasks if t.step_index == BOUNCE_TASK_STEP), None)

    # -- the Sent folder ----------------------------------------------------------------------

    def _sent_batch(self, batch: Batch, bodies: Bodies, folder: str, now: datetime) -> None:
        """The owner's own mails to a client restart the count of that client's threads;
        an offer, order document or invoice among them starts a thread."""
        known = self._known()
        looked = self._looked(batch, folder=folder)
        judged = self.store.seen_keys([mail.key for mail in looked], SeenRole.OWNER_MAIL)
        others: list[tuple[str, str, int]] = []
        for entry in looked:
            key, uid = entry.key, entry.uid
            if self._not_owners(entry) and uid not in bodies:
                if key not in judged:
                    judged.add(key)
                    others.append((key, folder, uid))
                continue
            mail = self._parsed(entry.raw, folder=folder, uid=uid, received=entry.received)
            self._queue_command(key, mail, known, now)
            if key in judged:
                continue
            if self._consider(mail, bodies, now, in_sent=True, header=entry.raw):
                known = self._refresh(known, ())  # reads only a thread it may have started
            verdict = VerdictKind.OWN
            if mail.message_id not in known.own_ids and mail.from_addr == self.owner_email:
                verdict = VerdictKind.OWNER_SENT
                written = _written_to(mail, known)
                restarted = [t.id for t in written if self._restart_clock(t, mail, now)]
                if restarted:
                    known = self._refresh(known, restarted)  # compare with the new count
            self.store.mark_seen(key, SeenRole.OWNER_MAIL, folder, uid, verdict, now)
            judged.add(key)
        self.store.mark_seen_many(others, SeenRole.OWNER_MAIL, VerdictKind.OWN, now)

    def _consider(
        self,
        mail: Inbound,
        bodies: Bodies,
        now: datetime,
        *,
        in_sent: bool,
        header: bytes = b"",
    ) -> bool:
        """Hand a downloaded mail of the owner's to the tracker; True when it was one."""
        raw = bodies.get(mail.uid)
        if self.tracker is None or raw is None:
            return False
        self.tracker.consider(mail, header or raw, raw, now, in_sent=in_sent)
        return True

    def _restart_clock(self, thread: Thread, mail: Inbound, now: datetime) -> bool:
        written_at = min(mail.date, now) if mail.date else now
        if written_at <= (thread.last_step_at or thread.started_at):
            return False
        self.store.update_thread(thread.id, now, last_step_at=written_at)
        if mail.message_id:
            self.store.record_message_id(
                mail.message_id, MessageRole.OWNER, now, thread_id=thread.id, folder=mail.folder
            )
        self.store.add_event(
            now,
            f"Du hast {client_label(thread)} am {local_text(written_at, self.window)} selbst "
            "geschrieben (Ordner Gesendet); die Frist bis zum nächsten Schritt beginnt neu.",
            thread_id=thread.id,
        )
        return True


def _fetched_bodies(mailbox: Mailbox, folder: str, uids: list[int]) -> dict[int, bytes | None]:
    """The whole mails of ``uids``, each of them a key (None: gone before it was read,
    see ``_inbound_batch``); no mailbox call when there are none."""
    if not uids:
        return {}
    found = mailbox.fetch_messages(folder, uids)
    return {uid: found.get(uid) for uid in uids}


def _absent_label(thread: Thread, inbound: Inbound) -> str:
    """Who is away: the client by name when the notice came from the client's address."""
    if inbound.from_addr is None or inbound.from_addr == thread.client.email:
        return client_label(thread)
    return inbound.from_addr


def seen_key(inbound: Inbound, raw: bytes) -> str:
    """Message-ID identifies a mail across folders and rescans; else a hash of its header."""
    if inbound.message_id:
        return inbound.message_id
    return seen_key_of_header(raw)


def seen_key_of_header(raw: bytes) -> str:
    """The seen key of a mail without a Message-ID: a hash of its header bytes."""
    return "sha256:" + hashlib.sha256(raw).hexdigest()


def _inbound_of(mail: _Looked, folder: str, is_junk: bool) -> Inbound:
    """The header facts the index of synced mail keeps (``add_synced_mails``), from a
    first look: To, Cc and the subject are not read, the index keeps none of them."""
    look = mail.look
    assert look is not None
    return Inbound(
        folder=folder,
        uid=mail.uid,
        message_id=look.message_id,
        from_addr=look.from_addr,
        to_addrs=(),
        subject="",
        date=look.date,
        in_reply_to=look.in_reply_to,
        references=look.references,
        is_junk_folder=is_junk,
        is_list_mail=look.is_list_mail,
        received=mail.received,
    )


def _bots_own(mail: _Looked, known: _Known) -> bool:
    """A mail the first look read whose Message-ID is one of the bot's: its verdict is
    ``own`` whatever else it shows (``_judge``), it is no command (``_queue_command``)
    and it starts no thread (``Tracker.wants_body``)."""
    return mail.look is not None and mail.look.message_id in known.own_ids


def _may_answer_later_look(look: FirstLook) -> bool:
    """:func:`_may_answer_later` for a mail the first look found unrelated: it carries
    no sign of machine mail, so only a list mail (``Precedence: bulk`` counts as both)
    and a mail without sender stay out."""
    return bool(look.from_addr) and not look.is_list_mail


def _written_to(mail: Inbound, known: _Known) -> list[Thread]:
    """Open threads whose client (or assistant) the owner's mail was addressed to."""
    recipients = set(mail.to_addrs)
    return [
        thread
        for thread in known.index.written_to(recipients)
        if thread.state is State.OPEN
        and ({thread.client.email, thread.client.assistant_email} & recipients)
    ]


def _may_answer_later(inbound: Inbound, verdict: VerdictKind) -> bool:
    """Whether a thread created later could count this mail as its answer: the cycle
    judged it no machine mail, not the owner's and not the bot's own, and it is no list
    mail. Only those go into the index, which keeps it small."""
    return (
        verdict in MAY_ANSWER_LATER
        and bool(inbound.from_addr)
        and not inbound.is_auto_reply
        and not inbound.is_list_mail
    )


# -- what an answer does, in the cycle and when a thread is created -----------------------


def record_answer(
    store: Store, match: Match, inbound: Inbound, now: datetime, *, note: str = ""
) -> Thread | None:
    """Mark the matched thread ``answered`` (when, and in which folder), keep the answer's
    Message-ID, log the reason (plus ``note``) and cancel the drafts that have not started
    sending. None, and nothing done, when the thread no longer listens."""
    thread = store.thread(match.thread_id)
    if thread is None or thread.state not in LISTENING_STATES:
        return None
    store.update_thread(
        thread.id,
        now,
        state=State.ANSWERED,
        answered_at=answer_time(inbound, thread, now),
        answered_folder=inbound.folder,
    )
    if inbound.message_id:
        store.record_message_id(
            inbound.message_id, MessageRole.ANSWER, now, thread_id=thread.id, folder=inbound.folder
        )
    store.add_event(now, match.reason + note, thread_id=thread.id, kind=EventKind.ANSWER)
    cancel_drafts(store, thread.id, now, "Kunde hat geantwortet")
    return thread


def cancel_drafts(store: Store, thread_id: int, now: datetime, why: str) -> None:
    """Drop the thread's drafts that have not started sending."""
    for draft in store.drafts(CANCELLABLE_DRAFT_STATES, thread_id):
        store.set_draft_state(draft.id, DraftState.CANCELLED, now)
        store.add_event(
            now,
            f"Entwurf für Schritt {draft.step_number} verworfen: {why}",
            thread_id=thread_id,
            kind=EventKind.DRAFT,
        )


def answer_from_synced_mail(store: Store, thread_id: int, now: datetime) -> Match | None:
    """A new thread looks back: a mail synced before it existed that answers it marks it
    ``answered`` at once (docs/DESIGN.md, "What stops the escalation").

    Reads the store's index of synced inbound mail (header facts kept by the sync), never
    the mailbox; the rules are the cycle's (:func:`~nachfass_bot.mail.matching.match_synced`):
    a reply naming one of the thread's Message-IDs whatever its dates, a mail from the
    client, the assistant or a colleague only when it reached the server after the thread
    started. The earliest such mail counts. Call it in the transaction that stores the
    thread. Where a big sync left mail unread on the server (``Store.unread_ranges``), a
    thread the index has no answer for is queued to look there too
    (:mod:`nachfass_bot.app.lookback`)."""
    thread = store.thread(thread_id)
    if thread is None:
        return None
    keys = answer_keys(thread)
    candidates = store.synced_mails(
        references=keys.references, senders=keys.senders, domains=keys.domains, since=keys.since
    )
    for inbound in candidates:
        match = match_synced(inbound, thread)
        if match is not None:
            record_answer(store, match, inbound, now, note=EARLIER_NOTE)
            return match
    if store.has_unread_ranges():
        store.add_lookback(thread_id)  # the index has gaps: look on the server too
    return None


EARLIER_NOTE = ". Die Antwort kam schon, bevor der Vorgang angelegt wurde"
