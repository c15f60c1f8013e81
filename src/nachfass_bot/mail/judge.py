"""One verdict per inbound mail: answer, auto-reply, bounce, the owner's own, or unrelated.

Pure: the whole message and the known threads in, a :class:`Verdict` out. The engine and
the labelled corpus (``tests/corpus``) use this same function, so what the corpus proves
is what the bot does. Reading a body costs a download, so :func:`needs_body` tells from
the header alone whether a mail can concern any thread at all.

``threads`` is a list of threads or, in the cycle, a
:class:`~nachfass_bot.mail.matching.ThreadIndex` built once per cycle: the index also
carries the bot's own Message-IDs, folded once, so ``own_message_ids`` may stay empty.

A mail from a delivery system (``MAILER-DAEMON``, ``postmaster``, MDaemon; see
:func:`~nachfass_bot.mail.bounces.is_delivery_system`) is never an answer, whatever its
body and its references say: it is a bounce, a delay notice, or unrelated.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import date

from nachfass_bot.domain.models import LISTENING_STATES, Inbound, Thread, VerdictKind
from nachfass_bot.mail.bounces import is_bounce_subject, is_delivery_system
from nachfass_bot.mail.classify import Classification, MailKind, classify_message
from nachfass_bot.mail.inbound import parse_inbound
from nachfass_bot.mail.matching import Match, ThreadIndex, fold_ids, related_threads

__all__ = ["Verdict", "judge_inbound", "judge_mail", "needs_body"]


@dataclass(frozen=True)
class Verdict:
    """What a mail means for the threads."""

    kind: VerdictKind
    thread_ids: tuple[int, ...] = ()
    return_date: date | None = None
    failed_recipients: tuple[str, ...] = ()
    reason: str = ""
    matches: tuple[Match, ...] = ()


def _fold(value: str | None) -> str:
    return (value or "").strip().casefold()


def needs_body(
    inbound: Inbound,
    threads: Sequence[Thread] | ThreadIndex,
    *,
    owner_email: str,
    own_message_ids: Collection[str] = (),
) -> bool:
    """True when the mail may concern a thread: related by header, or a bounce candidate
    (machine mail, a delivery-system sender or a bounce subject).

    Everything else is unrelated without downloading its body.
    """
    if _identity(inbound, owner_email, _own_ids(threads, own_message_ids)):
        return False
    if inbound.is_list_mail:
        return False
    if related_threads(inbound, threads, owner_email=owner_email, own_message_ids=own_message_ids):
        return True
    return inbound.is_auto_reply or _looks_like_bounce(inbound)


def judge_mail(
    raw: bytes,
    *,
    folder: str,
    threads: Sequence[Thread],
    owner_email: str,
    own_message_ids: Collection[str],
    is_junk_folder: bool = False,
) -> Verdict:
    """The verdict for one whole message (headers and body) found in ``folder``."""
    inbound = parse_inbound(raw, folder=folder, uid=0, is_junk_folder=is_junk_folder)
    return judge_inbound(
        inbound, raw, threads=threads, owner_email=owner_email, own_message_ids=own_message_ids
    )


def judge_inbound(
    inbound: Inbound,
    raw: bytes,
    *,
    threads: Sequence[Thread] | ThreadIndex,
    owner_email: str,
    own_message_ids: Collection[str] = (),
) -> Verdict:
    """Like :func:`judge_mail` for a mail whose header is already parsed."""
    identity = _identity(inbound, owner_email, _own_ids(threads, own_message_ids))
    if identity:
        return Verdict(kind=identity)
    related = related_threads(
        inbound, threads, owner_email=owner_email, own_message_ids=own_message_ids
    )
    # A mail that concerns no thread needs only its kind (an unrelated auto-reply's
    # return date changes nothing), and a bounce's recipients, which are always read.
    classification = classify_message(
        raw, received=_received(inbound, threads), details=bool(related)
    )
    if classification.kind is MailKind.BULK:
        return Verdict(kind=VerdictKind.UNRELATED, reason=classification.reason)
    if classification.kind in (MailKind.BOUNCE_PERMANENT, MailKind.BOUNCE_DELAY):
        return _bounce_verdict(classification, _all(threads))
    if is_delivery_system(inbound.from_addr):
        return _delivery_system_verdict(inbound)
    if classification.kind is MailKind.AUTO_REPLY:
        return Verdict(
            kind=VerdictKind.AUTO_REPLY,
            thread_ids=tuple(match.thread_id for match in related),
            return_date=classification.return_date,
            reason=classification.reason,
            matches=tuple(related),
        )
    if related:
        return Verdict(
            kind=VerdictKind.ANSWER,
            thread_ids=tuple(match.thread_id for match in related),
            reason=related[0].reason,
            matches=tuple(related),
        )
    return Verdict(kind=VerdictKind.UNRELATED)


def _own_ids(
    threads: Sequence[Thread] | ThreadIndex, own_message_ids: Collection[str]
) -> frozenset[str]:
    """The bot's own Message-IDs, folded: the index's (folded once per cycle) and any
    given besides."""
    folded = threads.own_message_ids if isinstance(threads, ThreadIndex) else frozenset()
    return fold_ids(own_message_ids) | folded if own_message_ids else folded


def _all(threads: Sequence[Thread] | ThreadIndex) -> Sequence[Thread]:
    return threads.threads if isinstance(threads, ThreadIndex) else threads


def _identity(inbound: Inbound, owner_email: str, own: frozenset[str]) -> VerdictKind | None:
    """OWN for the bot's own mails (``own`` folded), OWNER for the owner's, else None."""
    if inbound.message_id and _fold(inbound.message_id) in own:
        return VerdictKind.OWN
    if inbound.from_addr and _fold(inbound.from_addr) == _fold(owner_email):
        return VerdictKind.OWNER
    return None


def _received(inbound: Inbound, threads: Sequence[Thread] | ThreadIndex) -> date:
    """The day the mail was written; without a Date, the newest thread's start."""
    if inbound.date is not None:
        return inbound.date.date()
    if isinstance(threads, ThreadIndex):
        newest = threads.newest_start
    else:
        newest = max((thread.started_at for thread in threads), default=None)
    return newest.date() if newest is not None else date(1970, 1, 1)


def _bounce_verdict(classification: Classification, threads: Sequence[Thread]) -> Verdict:
    """A bounce concerns the listening threads whose client or assistant address failed.

    Addresses a bounce quotes from elsewhere (flufl.bounce reads the whole text) are
    ignored, because only our threads' addresses are compared.
    """
    failed = {_fold(address) for address in classification.failed_recipients}
    concerned = tuple(
        thread.id
        for thread in threads
        if thread.state in LISTENING_STATES
        and failed & {_fold(thread.client.email), _fold(thread.client.assistant_email)}
    )
    return Verdict(
        kind=VerdictKind(str(classification.kind)),
        thread_ids=concerned,
        failed_recipients=tuple(sorted(failed)),
        reason=classification.reason,
    )


def _delivery_system_verdict(inbound: Inbound) -> Verdict:
    """UNRELATED for a delivery system's mail that reports no failure.

    A MAILER-DAEMON or postmaster at the client's company domain is no colleague, and a
    copy of our mail inside its text, or our Message-ID in its references, makes it no
    reply: it answers nothing and pauses nothing.
    """
    sender = inbound.from_addr or "unbekannt"
    return Verdict(
        kind=VerdictKind.UNRELATED,
        reason=f"Mail des Mailsystems {sender}, keine Unzustellbarkeitsmeldung und keine Antwort",
    )


def _looks_like_bounce(inbound: Inbound) -> bool:
    """A delivery-system sender or a bounce subject: worth reading the body."""
    return is_delivery_system(inbound.from_addr) or is_bounce_subject(inbound.subject)
