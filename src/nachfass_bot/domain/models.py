"""Plain data of the domain: no I/O, no clock, no database."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from types import MappingProxyType
from typing import NamedTuple

from nachfass_bot.errors import StateError


class Kind(enum.StrEnum):
    """What kind of Vorgang a thread is (docs/DESIGN.md, "Playbooks")."""

    ANGEBOT = "angebot"
    AUFTRAG = "auftrag"
    RECHNUNG = "rechnung"


class State(enum.StrEnum):
    """Lifecycle of a thread."""

    OPEN = "open"
    ANSWERED = "answered"
    PAUSED = "paused"
    RESTING = "resting"
    PARKED = "parked"
    PAID = "paid"
    CLOSED = "closed"


# Threads in these states still listen for an answer from the client.
LISTENING_STATES = frozenset({State.OPEN, State.PAUSED, State.RESTING, State.PARKED})


class DraftState(enum.StrEnum):
    """Lifecycle of a draft (docs/DESIGN.md, "Draft states"); see :data:`DRAFT_TRANSITIONS`."""

    NEW = "new"  # stored, its mail to the owner not yet queued
    PENDING = "pending"  # its mail to the owner queued (notice outbox), waiting for the yes
    APPROVED = "approved"  # approved (or auto_send), waiting for the sending slot
    SENDING = "sending"  # committed before SMTP starts: never sent a second time
    SENT = "sent"
    UNCLEAR = "unclear"  # may have gone out (crash or broken DATA): never resent
    FAILED = "failed"  # refused by the server for good
    CANCELLED = "cancelled"  # the client answered, or the owner said stop / later


_D = DraftState
DRAFT_TRANSITIONS: Mapping[DraftState, frozenset[DraftState]] = MappingProxyType(
    {
        _D.NEW: frozenset({_D.PENDING, _D.APPROVED, _D.CANCELLED}),
        _D.PENDING: frozenset({_D.APPROVED, _D.CANCELLED}),
        _D.APPROVED: frozenset({_D.SENDING, _D.CANCELLED}),
        # A 4xx before DATA: nothing went out, so the draft goes back to wait for a retry.
        _D.SENDING: frozenset({_D.SENT, _D.UNCLEAR, _D.APPROVED, _D.FAILED}),
        _D.SENT: frozenset(),
        _D.UNCLEAR: frozenset(),
        _D.FAILED: frozenset(),
        _D.CANCELLED: frozenset(),
    }
)
# A draft in one of these states blocks a new step of its thread.
ACTIVE_DRAFT_STATES = (_D.NEW, _D.PENDING, _D.APPROVED, _D.SENDING)
# A client answer or the owner's "stop" cancels drafts in these states; "sending" never.
CANCELLABLE_DRAFT_STATES = (_D.NEW, _D.PENDING, _D.APPROVED)
# The step counts as done: the mail went out, or may have.
DONE_DRAFT_STATES = (_D.SENT, _D.UNCLEAR)


def check_draft_transition(draft_id: int, old: DraftState, new: DraftState) -> None:
    """Raise :class:`StateError` unless the draft state machine allows ``old → new``."""
    if new not in DRAFT_TRANSITIONS[old]:
        raise StateError(f"Entwurf {draft_id}: Wechsel von „{old}“ nach „{new}“ ist nicht erlaubt.")


class TaskState(enum.StrEnum):
    """A task for the owner (a call, a decision)."""

    OPEN = "open"
    DONE = "done"


class EventKind(enum.StrEnum):
    """What an entry of a thread's timeline records."""

    INFO = "info"  # a decision of the schedule
    ANSWER = "answer"
    AUTO_REPLY = "auto-reply"
    BOUNCE = "bounce"
    DRAFT = "draft"
    APPROVAL = "approval"  # the owner's answer to a draft
    OWNER = "owner"  # the owner's word on the command line
    SENT = "sent"
    ERROR = "error"
    WARNING = "warning"
    SYNC = "sync"
    DIGEST = "digest"


class VerdictKind(enum.StrEnum):
    """What one mail found in a watched folder means for the threads."""

    ANSWER = "answer"  # a human answer: stops the escalation
    AUTO_REPLY = "auto-reply"  # out of office: postpones to the return date
    BOUNCE_PERMANENT = "bounce-permanent"  # pauses the thread, a task for the owner
    BOUNCE_DELAY = "bounce-delay"  # the server keeps trying: nothing to do
    OWNER = "owner"  # the owner's own mail (restarts the clock when it is to a client)
    OWN = "own"  # a mail the bot itself sent
    OWNER_SENT = "owner-sent"  # the owner's own mail, found in the Sent folder
    UNRELATED = "unrelated"
    # What the inbox records for a mail it did not judge as above:
    COMMAND_PENDING = "command-pending"  # the owner's reply to a draft, read by the commands
    COMMAND = "command"  # the owner's command, carried out
    ERROR = "error"  # the mail could not be read; skipped


class MessageRole(enum.StrEnum):
    """Why a Message-ID is stored: threading, "own mail" and answer detection."""

    ORIGINAL = "original"  # the tracked mail the thread started with
    SENT = "sent"  # a client mail the bot sent
    OWNER = "owner"  # the owner's own mail to the client, found in Sent
    ANSWER = "answer"  # the client's answer
    DRAFT = "draft"  # a draft mailed to the owner
    NOTICE = "notice"  # any other mail from the bot to the owner


class SeenRole(enum.StrEnum):
    """A part one synced mail can play (docs/DESIGN.md, "Seen by role").

    The same mail shows up in Sent, INBOX, All Mail and junk, in any order. Each role is
    acted on once, by whichever folder shows the mail first, and never hides another
    role: the store keys "seen" by the mail and the role together.
    """

    COMMAND = "command"  # the owner's answer to a draft or task, or a request to the bot
    OWNER_MAIL = "owner-mail"  # the owner's own mail, read in Sent: restarts the count
    INBOUND = "inbound"  # the verdict on a mail in an inbound folder: answer, bounce …


# The conversation with the client: what a follow-up's References carry.
CONVERSATION_ROLES = (MessageRole.ORIGINAL, MessageRole.SENT, MessageRole.OWNER, MessageRole.ANSWER)
# Mails the bot wrote itself: never an answer, never a command.
OWN_ROLES = (MessageRole.SENT, MessageRole.DRAFT, MessageRole.NOTICE)


class CommandKind(enum.StrEnum):
    """What the owner told us to do with a draft."""

    APPROVE = "approve"
    STOP = "stop"
    LATER = "later"
    PAID = "paid"
    DONE = "done"  # a task (call, decision) is done
    EDIT = "edit"  # an edited draft text: send this instead
    VACATION = "vacation"  # "urlaub bis 06.01.": no client mail until then
    STATUS = "status"  # "status": the bot answers with the open threads
    UNKNOWN = "unknown"


class SettingKey(enum.StrEnum):
    """Keys of the store's small key-value table."""

    VACATION_UNTIL = "vacation_until"  # the owner's "urlaub bis …" (ISO date)
    DIGEST_WEEK = "digest_week"  # the week the last digest was sent for ("2026-W11")
    # When the bot first read the Sent folder for tracking (ISO moment): older mail is
    # history, left to `scan`, never tracked by the cycle.
    TRACKING_SINCE = "tracking_since"
    # Who filed the first client mail's copy in Sent ("server" or "bot"), learned once
    # under ``[mailbox] sent_copy = "auto"``: only an unknown or "server" answer waits.
    SENT_COPY_BY = "sent_copy_by"


class Source(enum.StrEnum):
    """How a thread came to be (docs/DESIGN.md, "Tracking from the Sent folder")."""

    SENT = "sent"  # recognised in the Sent folder by the cycle
    BCC = "bcc"  # a copy to the tracking address
    CLI = "cli"  # `nachfass-bot track`
    SCAN = "scan"  # `nachfass-bot scan --apply`
    IMPORT = "import"  # `nachfass-bot import FILE.csv`


class SentCopy(enum.StrEnum):
    """``[mailbox] sent_copy``: who files a sent client mail in the Sent folder."""

    AUTO = "auto"  # look for the server's copy (a short wait), else APPEND one
    SERVER = "server"  # the provider files SMTP mail itself (Gmail, Microsoft 365, iCloud)
    BOT = "bot"  # the provider never does: APPEND at once, no look and no wait


class TrackingMode(enum.StrEnum):
    """``[tracking] sent``: what the cycle does with a recognised sent mail."""

    AUTO = "auto"  # track at once; the owner may veto by reply
    ASK = "ask"  # propose; tracked only after the owner's "ok"
    OFF = "off"  # never read the Sent folder for new threads


class RecognitionState(enum.StrEnum):
    """A sent mail the cycle recognised, as the owner's confirmation mail lists it."""

    TRACKED = "tracked"  # a thread exists
    PROPOSED = "proposed"  # ("ask") waits for the owner's "ok"
    DROPPED = "dropped"  # the owner said "nein": no thread, or its thread closed


def smtp_attempts_key(draft_id: int) -> str:
    """Setting: how often the SMTP server refused a draft with 4xx."""
    return f"smtp-attempts:{draft_id}"


def warned_key(draft_id: int | None) -> str:
    """Setting: the owner was warned once about a forged reply to this draft."""
    return f"warned:{draft_id if draft_id is not None else 'unknown'}"


class NoticeState(enum.StrEnum):
    """Lifecycle of a notice to the owner in the notice outbox.

    ``pending`` → ``sending`` → ``sent``; a refusal ends in ``failed`` (after retries for
    4xx), a send that may or may not have arrived in ``unclear``. Neither is sent again.
    """

    PENDING = "pending"
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"
    UNCLEAR = "unclear"


class Action(enum.StrEnum):
    """What a step of a playbook does."""

    MAIL = "mail"  # a mail to the client (or the assistant), drafted for approval
    TASK = "task"  # a task for the owner (call, decide); never a mail to the client
    REST = "rest"  # the thread goes to rest (angebot: silence counts as a no)
    PARK = "park"  # the thread is parked (we wait for the client)


@dataclass(frozen=True)
class Client:
    email: str
    name: str | None = None
    du: bool = False
    assistant_email: str | None = None
    id: int | None = None
    anrede: str | None = None  # "frau" | "herr"; None: never guess a gender
    customer_type: str = "b2b"  # "b2b" | "b2c" (§288 BGB differs)
    assistant_name: str | None = None  # from the config only: how to greet the assistant


@dataclass(frozen=True)
class Thread:
    """A tracked Vorgang with one client."""

    id: int
    kind: Kind
    client: Client
    subject: str
    state: State
    step: int  # number of playbook steps already done
    started_at: datetime  # when the tracked mail was sent (aware, UTC)
    last_step_at: datetime | None = None  # when the last step was done
    invoice_no: str | None = None
    amount: Decimal | None = None
    due_date: date | None = None
    answered_at: datetime | None = None
    answered_folder: str | None = None
    paused_until: datetime | None = None  # no step before this moment (owner's "später")
    expenses: Decimal | None = None  # auftrag: preparatory work so far, if it may not happen
    message_ids: frozenset[str] = field(default_factory=frozenset)
    source: Source = Source.CLI  # how the thread came to be
    first_delay_days: int | None = None  # the tracking tag's "+10tage": the first step's delay
    paid_amount: Decimal = Decimal("0.00")  # rechnung: the sum of the payments recorded

    @property
    def open_amount(self) -> Decimal | None:
        """What is still to be paid of an invoice (never below zero); None without an
        amount."""
        return open_amount(self.amount, self.paid_amount)


def open_amount(amount: Decimal | None, paid: Decimal) -> Decimal | None:
    """What is still to be paid of ``amount`` after ``paid`` (never below zero); None
    without an amount."""
    if amount is None:
        return None
    return max(amount - paid, Decimal("0.00"))


class ThreadFacts(NamedTuple):
    """What ``list`` and ``show`` tell about a thread, and what its next step's time
    depends on: a flat row, read without the Message-IDs and the client's other fields
    a :class:`Thread` carries (a list of 10,000 threads builds 10,000 of these)."""

    id: int
    kind: Kind
    state: State
    step: int
    client_email: str
    client_name: str | None
    du: bool
    subject: str
    started_at: datetime
    last_step_at: datetime | None
    invoice_no: str | None
    amount: Decimal | None
    due_date: date | None
    answered_at: datetime | None
    answered_folder: str | None
    paused_until: datetime | None
    source: Source
    first_delay_days: int | None
    paid_amount: Decimal
    # started_at, answered_at and paused_until as the store holds them: list and show
    # print such a text as it is where it is in the form they print (formatting a
    # datetime anew is the dearest part of a row).
    started_text: str | None = None
    answered_text: str | None = None
    paused_text: str | None = None

    @property
    def open_amount(self) -> Decimal | None:
        """As :attr:`Thread.open_amount`."""
        return open_amount(self.amount, self.paid_amount)


class PaymentSource(enum.StrEnum):
    """Who said that money came (docs/DESIGN.md, "Bank statements")."""

    BANK = "bank"  # a credit on an imported statement
    OWNER = "owner"  # `paid ID --amount`, or "bezahlt 500" in answer to a draft


@dataclass(frozen=True)
class Payment:
    """Money received for one invoice thread. ``booking_key`` names the statement line
    (:attr:`nachfass_bot.domain.payments.Booking.key`) for a payment from the bank."""

    id: int
    thread_id: int
    amount: Decimal
    paid_on: date
    source: PaymentSource
    booking_key: str | None = None


class QuestionState(enum.StrEnum):
    """A credit the owner is asked about: does it pay this invoice?"""

    OPEN = "open"
    YES = "yes"  # the owner said "ja": the invoices are paid
    NO = "no"  # the owner said "nein": the credit stays unmatched
    DROPPED = "dropped"  # reversed or forgotten before the owner answered


@dataclass(frozen=True)
class PaymentQuestion:
    """A credit without an invoice number that fits one client's open invoice(s); the
    owner answers its mail (token in the subject) with ja or nein."""

    id: int
    token: str
    booking_key: str
    thread_ids: tuple[int, ...]
    state: QuestionState
    created_at: datetime


@dataclass(frozen=True)
class Inbound:
    """The header facts of one mail found in a watched folder."""

    folder: str
    uid: int
    message_id: str | None
    from_addr: str | None
    to_addrs: tuple[str, ...]
    subject: str
    date: datetime | None  # from the Date header, aware; None when unparseable
    in_reply_to: tuple[str, ...] = ()
    references: tuple[str, ...] = ()
    auto_submitted: str | None = None
    is_auto_reply: bool = False  # machine mail by header: auto-reply or bounce
    is_junk_folder: bool = False
    is_list_mail: bool = False  # newsletter / mailing list (List-Id, Precedence: bulk)
    # When the server got the mail (IMAP INTERNALDATE, RFC 3501 §2.3.3), aware; None when
    # unknown. Unlike the Date header the sender cannot set it, so it decides whether an
    # unthreaded mail came after ours.
    received: datetime | None = None


@dataclass
class CycleReport:
    """What one cycle did, for the CLI, the daemon's log and the demo."""

    answers: int = 0
    drafts: int = 0
    tasks: int = 0
    commands: int = 0
    sent: int = 0
    problems: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Draft:
    """A client mail of one step, waiting for (or past) the owner's yes."""

    id: int
    thread_id: int
    step_index: int
    step_number: int
    token: str
    state: DraftState
    recipient: str
    subject: str
    body: str
    draft_message_id: str
    client_message_id: str
    created_at: datetime
    approved_at: datetime | None
    send_after: datetime | None
    sent_at: datetime | None
    extra_thread_ids: tuple[int, ...] = ()  # further invoices of the client this mail covers

    @property
    def thread_ids(self) -> tuple[int, ...]:
        """Every thread the mail speaks for, its own first."""
        return (self.thread_id, *self.extra_thread_ids)


@dataclass(frozen=True)
class Task:
    """Something for the owner to do (a call, a decision); never a mail to the client."""

    id: int
    thread_id: int
    step_index: int
    text: str
    due_at: datetime
    state: TaskState
    token: str | None = None


@dataclass(frozen=True)
class Event:
    """One entry of the timeline: a decision with its reason."""

    at: datetime
    thread_id: int | None
    kind: EventKind
    text: str


@dataclass(frozen=True)
class Notice:
    """A mail from the bot to the owner, waiting in (or done with) the notice outbox."""

    id: int
    key: str  # the decision it reports, e.g. "bounce:thread 3:<mid>"; unique
    state: NoticeState
    thread_id: int | None
    subject: str
    body: str
    message_id: str
    in_reply_to: str | None
    attempts: int  # refused sends so far
    send_after: datetime | None
    created_at: datetime
    sent_at: datetime | None
    html: str | None = None  # an HTML alternative to ``body`` (the weekly digest)


@dataclass(frozen=True)
class Recognition:
    """A sent mail the cycle recognised as an offer, order or invoice.

    ``token`` and ``position`` place it in the owner's confirmation mail (None until that
    mail is queued); ``proposal`` holds the new thread's values while ``state`` is
    ``proposed`` (``[tracking] sent = "ask"``), as JSON text."""

    id: int
    message_id: str
    state: RecognitionState
    source: Source
    reason: str
    thread_id: int | None
    token: str | None
    position: int | None
    proposal: str | None
    created_at: datetime
