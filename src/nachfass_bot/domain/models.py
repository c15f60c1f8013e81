"""Plain data of the domain: no I/O, no clock, no database."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal


class Kind(enum.StrEnum):
    """What kind of Vorgang a thread is (DOMAIN.md, "Kinds of Vorgang")."""

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


@dataclass
class CycleReport:
    """What one cycle did, for the CLI, the daemon's log and the demo."""

    answers: int = 0
    drafts: int = 0
    tasks: int = 0
    commands: int = 0
    sent: int = 0
    problems: list[str] = field(default_factory=list)
