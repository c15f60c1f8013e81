"""Inbound mail → the threads it answers (docs/DESIGN.md, "What stops the escalation").

Pure: an :class:`~nachfass_bot.domain.models.Inbound` and the known threads in, a list of
:class:`Match` out. Two ordered tuples of small rule functions, first verdict wins:

1. :data:`MAIL_GUARDS` — reasons why a mail answers *no* thread at all: it comes from the
   owner's own address, it is one of the bot's own mails (its Message-ID), it is machine
   mail (``Inbound.is_auto_reply``, which :func:`nachfass_bot.mail.inbound.parse_inbound` sets
   for RFC 3834 auto-replies **and** RFC 3464 bounces), or it comes from a delivery system
   (``MAILER-DAEMON``, ``postmaster``, MDaemon:
   :func:`~nachfass_bot.mail.bounces.is_delivery_system`), whose mail at best reports that
   ours did not arrive.
2. Per thread: the thread must still listen (:data:`~nachfass_bot.domain.models.LISTENING_STATES`);
   then :data:`THREAD_RULES`: ``reference`` (In-Reply-To/References name one of the
   thread's Message-IDs, RFC 5322 §3.6.4), ``client-address`` (From is the client),
   ``assistant-address`` (From is the client's known assistant), ``colleague`` (From is
   at the client's company domain — never for freemail domains, where a shared domain
   says nothing, and never a delivery system, which is no person).

A reply that names our Message-ID came after our mail whatever its Date header says (a
client's clock set to 1900 included). The three address rules have no such proof, so the
mail must have reached the server after the thread started: by the server's INTERNALDATE
(``Inbound.received``) when known, else by its Date; a mail with neither counts as new.

Every thread is judged on its own, which keeps the outcome simple: a new mail from the
client without references answers *every* listening thread of that client (never chase
someone who just wrote to us); a reply that references one thread answers that thread by
``reference`` and, when it comes from the client, the client's other threads by
``client-address`` as well.

:func:`related_threads` applies the same rules without the machine-mail guard: an
auto-reply or a bounce is no answer, but the caller needs to know whose threads it
concerns (to postpone them until the return date). :func:`match_synced` applies them to a
mail synced before the thread existed (from the store's index of header facts), and
:func:`answer_keys` names what such a mail must carry to be worth asking the rules.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from nachfass_bot.domain.models import LISTENING_STATES, Inbound, Thread
from nachfass_bot.mail.bounces import is_delivery_system

__all__ = [
    "CLOCK_SKEW",
    "FREEMAIL_DOMAINS",
    "AnswerKeys",
    "Match",
    "ThreadIndex",
    "answer_keys",
    "answer_time",
    "fold_ids",
    "index_threads",
    "match_inbound",
    "match_synced",
    "may_answer",
    "related_threads",
]

# Domains where many unrelated people have addresses: a shared domain is no colleague.
FREEMAIL_DOMAINS: frozenset[str] = frozenset(
    {
        # German providers
        "gmx.de", "gmx.net", "gmx.at", "gmx.ch", "gmx.com", "web.de", "t-online.de",
        "freenet.de", "posteo.de", "posteo.net", "mailbox.org", "arcor.de", "online.de",
        "email.de", "vodafone.de", "kabelmail.de", "1und1.de", "ionos.de", "o2online.de",
        "magenta.de", "mail.de", "unitybox.de", "aol.de", "yahoo.de", "hotmail.de",
        "outlook.de", "live.de", "googlemail.com", "emailn.de", "t-mobile.de",
        # international
        "gmail.com", "outlook.com", "hotmail.com", "live.com", "msn.com", "yahoo.com",
        "aol.com", "icloud.com", "me.com", "mac.com", "proton.me", "protonmail.com",
        "protonmail.ch", "pm.me", "tutanota.com", "tutanota.de", "tuta.io", "zoho.com",
        "yandex.com", "mail.com", "gmx.us", "fastmail.com", "hey.com", "bluewin.ch",
        "a1.net", "chello.at",
    }
)  # fmt: skip

# A client's clock may run a little behind ours. A reply written seconds after our mail
# must not look "older than the thread"; real old mail is hours or days older.
CLOCK_SKEW = timedelta(minutes=10)


@dataclass(frozen=True)
class Match:
    """One thread answered by one inbound mail."""

    thread_id: int
    rule: str  # "reference" | "client-address" | "assistant-address"
    reason: str  # German, for the event log and the digest


@dataclass(frozen=True)
class _Context:
    """What the guards need besides the mail; addresses and ids already folded."""

    owner_email: str
    own_message_ids: frozenset[str]


MailGuard = Callable[[Inbound, _Context], bool]
ThreadRule = Callable[[Inbound, Thread], str | None]


def _fold(value: str | None) -> str:
    """Case-insensitive form of an address or msg-id (domains are case-insensitive)."""
    return (value or "").strip().casefold()


def fold_ids(message_ids: Iterable[str]) -> frozenset[str]:
    """Message-IDs in the form the guards compare (:func:`_fold`), once per cycle."""
    return frozenset(_fold(message_id) for message_id in message_ids)


def _context(
    owner_email: str, own_message_ids: Collection[str], folded: frozenset[str] = frozenset()
) -> _Context:
    own = fold_ids(own_message_ids) | folded if own_message_ids else folded
    return _Context(owner_email=_fold(owner_email), own_message_ids=own)


# --- mail guards: True means "this mail answers nothing" -------------------------------


def _from_owner(inbound: Inbound, context: _Context) -> bool:
    """The owner's own mail (a copy, a Bcc, an approval reply) is never a client answer."""
    return bool(inbound.from_addr) and _fold(inbound.from_addr) == context.owner_email


def _own_message(inbound: Inbound, context: _Context) -> bool:
    """A mail the bot sent itself, seen again (Gmail labels, Bcc, a forwarding loop)."""
    return bool(inbound.message_id) and _fold(inbound.message_id) in context.own_message_ids


def _machine_mail(inbound: Inbound, context: _Context) -> bool:
    """Auto-replies (RFC 3834) and bounces (RFC 3464) are never answers."""
    return inbound.is_auto_reply


def _delivery_system(inbound: Inbound, context: _Context) -> bool:
    """MAILER-DAEMON, postmaster or MDaemon write no answers, whatever the body says."""
    return is_delivery_system(inbound.from_addr)


# Guards for any mail; match_inbound adds the machine-mail guards on top.
IDENTITY_GUARDS: tuple[MailGuard, ...] = (_from_owner, _own_message)
MAIL_GUARDS: tuple[MailGuard, ...] = (*IDENTITY_GUARDS, _machine_mail, _delivery_system)


# --- thread rules: the first rule name returned wins -----------------------------------


def _reference(inbound: Inbound, thread: Thread) -> str | None:
    """In-Reply-To / References contains one of the thread's Message-IDs."""
    ours = {_fold(message_id) for message_id in thread.message_ids}
    referenced = {_fold(message_id) for message_id in inbound.in_reply_to + inbound.references}
    return "reference" if ours & referenced else None


def _arrived_after(inbound: Inbound, thread: Thread) -> bool:
    """The mail reached us after the thread started (within :data:`CLOCK_SKEW`).

    The server's INTERNALDATE decides when known: a sender can write any Date. Without
    it the Date header; a mail with neither counts as new (losing a real answer costs
    more than a false stop).
    """
    moment = inbound.received or inbound.date
    return moment is None or moment >= thread.started_at - CLOCK_SKEW


def _client_address(inbound: Inbound, thread: Thread) -> str | None:
    """From is the client's address, and the mail arrived after ours."""
    same = bool(inbound.from_addr) and _fold(inbound.from_addr) == _fold(thread.client.email)
    return "client-address" if same and _arrived_after(inbound, thread) else None


def _assistant_address(inbound: Inbound, thread: Thread) -> str | None:
    """From is the client's known assistant ("gute Seele"), after our mail."""
    assistant = thread.client.assistant_email
    same = bool(inbound.from_addr and assistant) and _fold(inbound.from_addr) == _fold(assistant)
    return "assistant-address" if same and _arrived_after(inbound, thread) else None


def _colleague(inbound: Inbound, thread: Thread) -> str | None:
    """From is someone else at the client's own company domain (not a freemail domain),
    after our mail.

    A MAILER-DAEMON, postmaster or MDaemon at that domain is the company's mail system,
    not a colleague: its mail is a bounce at best.
    """
    domain = _company_domain(thread)
    if not domain or is_delivery_system(inbound.from_addr):
        return None
    same = _domain(inbound.from_addr) == domain
    return "colleague" if same and _arrived_after(inbound, thread) else None


def _company_domain(thread: Thread) -> str:
    """The client's domain when it says who the client works for (not freemail), else ""."""
    domain = _domain(thread.client.email)
    return "" if domain in FREEMAIL_DOMAINS else domain


def _domain(address: str | None) -> str:
    return _fold(address).rpartition("@")[2]


THREAD_RULES: tuple[ThreadRule, ...] = (
    _reference,
    _client_address,
    _assistant_address,
    _colleague,
)


def _listens(thread: Thread) -> bool:
    """The thread still waits for an answer."""
    return thread.state in LISTENING_STATES


_RULE_TEXTS = {
    "reference": "Antwort auf meine Mail",
    "client-address": "Mail von der Kundenadresse",
    "assistant-address": "Mail von der hinterlegten Assistenz",
    "colleague": "Mail aus der Firma des Kunden",
}


def _reason(inbound: Inbound, rule: str) -> str:
    """German log line naming the sender, the folder and the rule."""
    sender = inbound.from_addr or "unbekanntem Absender"
    text = (
        f"{sender} hat geantwortet ({_RULE_TEXTS.get(rule, rule)}, gefunden im Ordner "
        f"{inbound.folder}); ich fasse nicht mehr nach."
    )
    if inbound.is_junk_folder:
        text += " Achtung: Die Mail lag im Spam-Ordner – bitte den Spam-Filter prüfen."
    return text


def _match_thread(inbound: Inbound, thread: Thread) -> Match | None:
    """The first thread rule that fires, as a Match; None when none does."""
    if not _listens(thread):
        return None
    for rule in THREAD_RULES:
        name = rule(inbound, thread)
        if name is not None:
            return Match(thread_id=thread.id, rule=name, reason=_reason(inbound, name))
    return None


def match_inbound(
    inbound: Inbound,
    threads: Sequence[Thread] | ThreadIndex,
    *,
    owner_email: str,
    own_message_ids: Collection[str] = (),
) -> list[Match]:
    """The threads this mail answers, in the order of ``threads``; at most one Match each.

    No match at all (:data:`MAIL_GUARDS`) when the mail comes from ``owner_email``
    (case-insensitive), when its Message-ID is in ``own_message_ids`` (the bot's sent
    mails), when it is an auto-reply or bounce (``inbound.is_auto_reply``), or when a
    delivery system sent it. Threads that no longer listen are skipped, and threads
    started after the mail's Date (RFC 5322 §3.6.1; beyond :data:`CLOCK_SKEW`) match
    only by reference. Rules per thread, first wins: ``reference``, ``client-address``,
    ``assistant-address``, ``colleague``.
    """
    folded = threads.own_message_ids if isinstance(threads, ThreadIndex) else frozenset()
    context = _context(owner_email, own_message_ids, folded)
    if any(guard(inbound, context) for guard in MAIL_GUARDS):
        return []
    return related_threads(
        inbound, threads, owner_email=owner_email, own_message_ids=own_message_ids
    )


def related_threads(
    inbound: Inbound,
    threads: Sequence[Thread] | ThreadIndex,
    *,
    owner_email: str,
    own_message_ids: Collection[str] = (),
) -> list[Match]:
    """Like :func:`match_inbound`, but machine mail counts: whose threads a mail concerns.

    ``threads`` may be a :class:`ThreadIndex` built once per cycle: then only the threads
    the mail's references, sender and sender domain name are asked, and its own
    Message-IDs count besides ``own_message_ids``. The result is the same either way.
    """
    folded = threads.own_message_ids if isinstance(threads, ThreadIndex) else frozenset()
    context = _context(owner_email, own_message_ids, folded)
    if any(guard(inbound, context) for guard in IDENTITY_GUARDS):
        return []
    asked = threads.candidates(inbound) if isinstance(threads, ThreadIndex) else threads
    found = (_match_thread(inbound, thread) for thread in asked)
    return [match for match in found if match is not None]


@dataclass(frozen=True, eq=False)
class ThreadIndex:
    """The known threads of one cycle, looked up by what :data:`THREAD_RULES` compare.

    Built once per cycle by :func:`index_threads` and kept current with :meth:`updated`
    after a mail changed a few threads; matching a mail then costs a few dictionary
    look-ups instead of a comparison with every thread. Only listening threads are
    indexed: the others match nothing. Lookups name thread ids; the order of the threads
    given (the store's: oldest first) is kept for every answer.
    """

    by_id: Mapping[int, Thread] = field(repr=False)  # every thread given, in order
    own_message_ids: frozenset[str]  # folded (:func:`fold_ids`)
    rank: Mapping[int, int] = field(repr=False)  # thread id → position in the order
    by_reference: Mapping[str, tuple[int, ...]] = field(repr=False)  # msg-id → ids
    by_sender: Mapping[str, tuple[int, ...]] = field(repr=False)  # client, assistant
    by_domain: Mapping[str, tuple[int, ...]] = field(repr=False)  # company domain

    @property
    def threads(self) -> tuple[Thread, ...]:
        """Every thread of the index, in order."""
        return tuple(self.by_id.values())

    @property
    def newest_start(self) -> datetime | None:
        """The latest start among the threads (for a mail without a Date)."""
        return max((thread.started_at for thread in self.by_id.values()), default=None)

    def candidates(self, inbound: Inbound) -> list[Thread]:
        """The listening threads any thread rule could accept for ``inbound`` (a superset
        of the matches), in order."""
        ids: set[int] = set()
        for reference in (*inbound.in_reply_to, *inbound.references):
            ids.update(self.by_reference.get(_fold(reference), ()))
        if inbound.from_addr:
            ids.update(self.by_sender.get(_fold(inbound.from_addr), ()))
            ids.update(self.by_domain.get(_domain(inbound.from_addr), ()))
        return self._ordered(ids)

    def may_concern(
        self, message_id: str | None, from_addr: str | None, references: Iterable[str]
    ) -> bool:
        """Whether a mail with these header facts may be the bot's own, name one of its
        Message-IDs or a listening thread's, or come from a listening thread's client,
        assistant or company domain: a superset of what the identity guards (but the
        owner's address) and :meth:`candidates` find, for a look before any parse."""
        if message_id and _fold(message_id) in self.own_message_ids:
            return True
        for reference in references:
            folded = _fold(reference)
            if folded in self.by_reference or folded in self.own_message_ids:
                return True
        if not from_addr:
            return False
        return _fold(from_addr) in self.by_sender or _domain(from_addr) in self.by_domain

    def written_to(self, addresses: Iterable[str]) -> list[Thread]:
        """Listening threads whose client or assistant address is one of ``addresses``
        (folded: a superset for the caller's exact test), in order."""
        ids: set[int] = set()
        for address in addresses:
            ids.update(self.by_sender.get(_fold(address), ()))
        return self._ordered(ids)

    def updated(
        self, changed: Mapping[int, Thread | None], own_message_ids: Iterable[str]
    ) -> ThreadIndex:
        """The index after ``changed`` threads were read again (None: gone), with the
        current own Message-IDs: as :func:`index_threads` over the listening threads
        would build it, for the cost of the changed threads only. A thread that no longer
        listens leaves the index; a new one joins at the end."""
        by_id, rank = dict(self.by_id), dict(self.rank)
        lookups = [dict(self.by_reference), dict(self.by_sender), dict(self.by_domain)]
        for thread_id, thread in changed.items():
            old = by_id.pop(thread_id, None)
            if old is not None and _listens(old):
                for lookup, keys in zip(lookups, _keys(old), strict=True):
                    for key in keys:
                        lookup[key] = tuple(i for i in lookup[key] if i != thread_id)
            if thread is None or not _listens(thread):
                continue
            by_id[thread_id] = thread
            rank.setdefault(thread_id, len(rank))
            for lookup, keys in zip(lookups, _keys(thread), strict=True):
                for key in keys:
                    lookup[key] = (*lookup.get(key, ()), thread_id)
        ordered = dict(sorted(by_id.items(), key=lambda item: rank[item[0]]))
        return ThreadIndex(
            by_id=ordered,
            own_message_ids=fold_ids(own_message_ids),
            rank=rank,
            by_reference=lookups[0],
            by_sender=lookups[1],
            by_domain=lookups[2],
        )

    def _ordered(self, ids: set[int]) -> list[Thread]:
        found = sorted((self.rank[i], i) for i in ids if i in self.by_id)
        return [self.by_id[thread_id] for _, thread_id in found]


def _keys(thread: Thread) -> tuple[set[str], set[str], set[str]]:
    """What the thread rules compare for ``thread``: its Message-IDs, the client's and
    assistant's addresses, its company domain (all folded)."""
    addresses = {_fold(thread.client.email)}
    if thread.client.assistant_email:
        addresses.add(_fold(thread.client.assistant_email))
    company = _company_domain(thread)
    return (
        {_fold(message_id) for message_id in thread.message_ids},
        addresses,
        {company} if company else set(),
    )


def index_threads(threads: Iterable[Thread], own_message_ids: Iterable[str] = ()) -> ThreadIndex:
    """One :class:`ThreadIndex` over ``threads`` (distinct ids) and the bot's own
    Message-IDs."""
    by_id = {thread.id: thread for thread in threads}
    lookups: list[dict[str, list[int]]] = [{}, {}, {}]
    for thread in by_id.values():
        if not _listens(thread):
            continue
        for lookup, keys in zip(lookups, _keys(thread), strict=True):
            for key in keys:
                lookup.setdefault(key, []).append(thread.id)
    frozen = [{key: tuple(ids) for key, ids in lookup.items()} for lookup in lookups]
    return ThreadIndex(
        by_id=by_id,
        own_message_ids=fold_ids(own_message_ids),
        rank={thread_id: position for position, thread_id in enumerate(by_id)},
        by_reference=frozen[0],
        by_sender=frozen[1],
        by_domain=frozen[2],
    )


def match_synced(inbound: Inbound, thread: Thread) -> Match | None:
    """The answer a mail synced *before* ``thread`` existed gives it, by the cycle's rules.

    ``inbound`` comes from the store's index of synced mail, which keeps only mail the
    cycle judged neither the owner's, nor the bot's own, nor machine or list mail; the
    guards that need no owner address are applied again all the same.
    """
    context = _context("", ())
    if inbound.is_list_mail or any(guard(inbound, context) for guard in MAIL_GUARDS):
        return None
    return _match_thread(inbound, thread)


@dataclass(frozen=True)
class AnswerKeys:
    """What a synced mail must carry for :func:`match_synced` to find it an answer."""

    references: frozenset[str]  # one of these in In-Reply-To/References (folded)
    senders: frozenset[str]  # or From is one of these (folded) ...
    domains: frozenset[str]  # ... or at one of these domains (colleagues)
    since: datetime  # address rules only: arrived at or after this moment


def answer_keys(thread: Thread) -> AnswerKeys:
    """The index lookup for :func:`match_synced`: a superset of what its rules accept."""
    senders = {_fold(thread.client.email), _fold(thread.client.assistant_email)} - {""}
    company = _company_domain(thread)
    return AnswerKeys(
        references=frozenset(_fold(message_id) for message_id in thread.message_ids),
        senders=frozenset(senders),
        domains=frozenset({company} if company else ()),
        since=thread.started_at - CLOCK_SKEW,
    )


def may_answer(inbound: Inbound, keys: AnswerKeys) -> bool:
    """Whether the index lookup for ``keys`` (``Store.synced_mails``) would return this
    mail: it names one of the references, or comes from a sender or domain of ``keys``
    and reached the server at or after ``keys.since`` (no date at all counts as new)."""
    if any(_fold(ref) in keys.references for ref in (*inbound.in_reply_to, *inbound.references)):
        return True
    sender = _fold(inbound.from_addr)
    if not sender or (sender not in keys.senders and _domain(sender) not in keys.domains):
        return False
    moment = inbound.received or inbound.date
    return moment is None or moment >= keys.since


def answer_time(inbound: Inbound, thread: Thread, now: datetime) -> datetime:
    """When an answer came, for the record: its Date when that is plausible (not before
    the thread, not after ``now``), else the server's INTERNALDATE (at most ``now``),
    else ``now``."""
    for moment in (inbound.date, inbound.received):
        if moment is not None and thread.started_at - CLOCK_SKEW <= moment <= now:
            return moment
    return min(inbound.received, now) if inbound.received else now
