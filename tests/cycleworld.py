"""The real engine in a generated world: a Maildir for the mailbox (as ``nachfass-bot
demo`` runs it), a capturing transport for SMTP, an in-memory store, a few tracked
threads — and a story of mails landing in INBOX, Junk and Sent between cycles.

A story is drawn whole before it runs (:func:`stories`), so hypothesis can shrink it.
Mails whose text depends on what the bot did (the owner's answer to a draft, her own
mail to a client) are drawn as recipes and built when their turn comes.
:meth:`World.check_store` states what every cycle must leave behind;
:meth:`World.client_mails` is everything the transport was given for a client.
"""

from __future__ import annotations

import mailbox
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import closing, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from hypothesis import strategies as st

from mailstrategies import date_values, human_answers, raw_mails
from nachfass_bot.adapters.maildir import MaildirMailbox
from nachfass_bot.adapters.smtp import CaptureTransport
from nachfass_bot.adapters.store import Store
from nachfass_bot.app.engine import Engine
from nachfass_bot.app.wiring import build_engine, build_texts
from nachfass_bot.config import Config, parse_config
from nachfass_bot.domain.models import (
    ACTIVE_DRAFT_STATES,
    Client,
    DraftState,
    Kind,
    NoticeState,
    State,
    TaskState,
)
from nachfass_bot.mail.approval import find_token
from nachfass_bot.texts.compose import to_bytes
from ownerreplies import ReplyRecipe, owner_replies

BERLIN = ZoneInfo("Europe/Berlin")
START = datetime(2026, 3, 2, 8, 0, tzinfo=BERLIN)  # a Monday
OWNER = "anna@berger-design.test"
CLIENTS = (
    Client("jonas@keller-bau.test", "Jonas Keller", anrede="herr"),
    Client(
        "m.sommer@kanzlei-sommer.test",
        "Miriam Sommer",
        assistant_email="assistenz@kanzlei-sommer.test",
        anrede="frau",
    ),
    Client("lena@gmx.de", "Lena Hoffmann", du=True),
    # What track lets through: non-ASCII addresses, names with quotes, braces, line breaks.
    Client("müller@straße.test", "Jürgen Müller", anrede="herr", customer_type="b2c"),
    Client("x@y", 'A "B" {{ 7*7 }}\r\nBcc: evil@x.test', assistant_email="a,b@y"),
)
FOLDERS = ("INBOX", "Junk", "Sent")
NO_TOKEN = "0123456789abcdef0123"  # the token of a draft that does not exist


def _config() -> Config:
    server = {
        "host": "127.0.0.1",
        "port": 143,
        "security": "none",
        "username": OWNER,
        "password_env": "NACHFASS_FUZZ_UNUSED",  # never read: no IMAP, no SMTP
    }
    data = {
        "owner": {"name": "Anna Berger", "email": OWNER, "signature": "Viele Grüße\nAnna"},
        "imap": server,
        "smtp": {**server, "port": 25},
        "store": {"path": "unused.db"},
        "sending": {"timezone": "Europe/Berlin", "bundesland": "NW"},
    }
    return parse_config(data, Path("/nonexistent/config.toml"))


CONFIG = _config()
TEXTS = build_texts(CONFIG)


def original_id(index: int) -> str:
    """The Message-ID of the mail thread ``index`` was tracked from."""
    return f"<original-{index}@berger-design.test>"


# --- the story ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Tracked:
    """A thread at the start of the story."""

    kind: Kind
    client: int  # index into CLIENTS
    days_ago: int  # the tracked mail went out this long before START
    due_in: int  # rechnung: due date, days after START (negative: overdue)
    # A date typed wrong (year 0001 or 9999): instead of days_ago, and of due_in.
    absurd_start: datetime | None = None
    absurd_due: date | None = None


@dataclass(frozen=True)
class Tick:
    hours: int  # how far the clock moves before the cycle (a little back, now and then)


@dataclass(frozen=True)
class Settle:
    """The clock moves into the next sending window: what was approved goes out."""


@dataclass(frozen=True)
class Deliver:
    folder: str
    raw: bytes


@dataclass(frozen=True)
class Reply:
    """The owner (or someone posing as her) answers a mail that carries a token."""

    folder: str
    recipe: ReplyRecipe


@dataclass(frozen=True)
class OwnerWrites:
    """The owner writes to a client by hand; the copy lands in Sent."""

    client: int
    date: bytes | None  # the Date field, None for the cycle's own time


Action = Tick | Settle | Deliver | Reply | OwnerWrites


@dataclass(frozen=True)
class Story:
    threads: tuple[Tracked, ...]
    actions: tuple[Action, ...]


def _now_and_then(strategy: st.SearchStrategy[object]) -> st.SearchStrategy[object]:
    return st.one_of(st.none(), st.none(), st.none(), strategy)


tracked = st.builds(
    Tracked,
    kind=st.sampled_from(Kind),
    client=st.integers(0, len(CLIENTS) - 1),
    days_ago=st.integers(0, 40),
    due_in=st.integers(-30, 10),
    absurd_start=_now_and_then(
        st.one_of(
            st.sampled_from(
                [datetime(9999, 12, 30, 12, tzinfo=UTC), datetime(1, 1, 2, tzinfo=UTC)]
            ),
            st.datetimes(
                min_value=datetime(1, 1, 2),
                max_value=datetime(9999, 12, 30),
                timezones=st.just(UTC),
            ),
        )
    ),
    absurd_due=_now_and_then(
        st.one_of(st.sampled_from([date(9999, 12, 31), date(1, 1, 1)]), st.dates())
    ),
)
ticks = st.builds(Tick, hours=st.one_of(st.integers(1, 30), st.integers(-3, 24 * 9)))


@st.composite
def _client_mail(draw: st.DrawFn, count: int) -> bytes:
    """A client's answer, out-of-office or bounce about one of the threads, or junk."""
    ours = [original_id(index) for index in range(count)]
    client = draw(st.sampled_from(CLIENTS)).email
    back = draw(st.dates(min_value=date(2025, 12, 1), max_value=date(2026, 6, 30)))
    kind = draw(st.sampled_from(("answer", "answer", "auto-reply", "bounce", "junk", "bytes")))
    if kind == "answer":
        return draw(human_answers(ours, OWNER))[0]
    if kind == "auto-reply":
        return (
            f"From: {client}\r\nTo: {OWNER}\r\nSubject: Abwesenheitsnotiz\r\n"
            f"Auto-Submitted: auto-replied\r\nIn-Reply-To: {draw(st.sampled_from(ours))}\r\n"
            f"Date: ".encode()
            + draw(date_values())
            + f"\r\n\r\nIch bin bis {back:%d.%m.%Y} nicht im Büro.\r\n".encode()
        )
    if kind == "bounce":
        return (
            f"From: MAILER-DAEMON@mx.test\r\nTo: {OWNER}\r\nSubject: Undelivered Mail\r\n"
            "Content-Type: multipart/report; report-type=delivery-status; boundary=b\r\n\r\n"
            "--b\r\nContent-Type: text/plain\r\n\r\nfailed\r\n--b\r\n"
            "Content-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.test\r\n\r\n"
            f"Final-Recipient: rfc822; {client}\r\nAction: failed\r\nStatus: 5.1.1\r\n--b--\r\n"
        ).encode()
    if kind == "junk":
        return draw(raw_mails())
    return draw(st.binary(max_size=500))


@st.composite
def stories(
    draw: st.DrawFn,
    replies: st.SearchStrategy[ReplyRecipe] | None = None,
    *,
    other_mail: bool = True,
    max_actions: int = 14,
) -> Story:
    """A few tracked threads, then ticks, mails from outside and the owner's answers.

    ``replies`` draws the owner's answers (default: :func:`ownerreplies.owner_replies`);
    ``other_mail`` adds clients' answers, auto-replies, bounces, junk and the owner's own
    mails to clients."""
    threads = tuple(draw(st.lists(tracked, min_size=1, max_size=3)))
    reply = st.builds(
        Reply,
        folder=st.sampled_from(("INBOX", "INBOX", "Junk", "Sent")),
        recipe=replies if replies is not None else owner_replies(OWNER),
    )
    choices = [ticks, ticks, reply, reply]
    if other_mail:
        choices += [
            st.builds(Deliver, folder=st.sampled_from(FOLDERS), raw=_client_mail(len(threads))),
            st.builds(
                OwnerWrites,
                client=st.integers(0, len(CLIENTS) - 1),
                date=st.one_of(st.none(), date_values()),
            ),
        ]
    actions = draw(st.lists(st.one_of(choices), min_size=1, max_size=max_actions))
    return Story(threads, (Tick(0), *actions, Tick(24), Settle()))


# --- the world ---------------------------------------------------------------------------


@dataclass
class World:
    """One engine over a Maildir in ``root`` and ``store``; :meth:`play` runs a story."""

    root: Path
    store: Store
    now: datetime = START
    approvable: set[str] = field(default_factory=set)  # tokens a genuine "ok" may approve
    token_mails: list[EmailMessage] = field(default_factory=list)  # to the owner, with a token

    def __post_init__(self) -> None:
        self.mailbox = MaildirMailbox(self.root / "Postfach")
        self.transport = CaptureTransport(deliver=self._deliver)
        self.engine: Engine = build_engine(
            CONFIG, self.store, TEXTS, transport=self.transport, open_mailbox=lambda: self.mailbox
        )

    def play(self, story: Story) -> None:
        """Track the threads, then act out the story; the store is checked after every
        cycle."""
        for index, thread in enumerate(story.threads):
            self._track(index, thread)
        for action in story.actions:
            if isinstance(action, Tick | Settle):
                self.now = self._next_moment(action)
                self.engine.tick(self.now.astimezone(UTC))
                self.check_store()
            elif isinstance(action, Deliver):
                self._drop(action.folder, action.raw)
            elif isinstance(action, Reply):
                self._reply(action)
            else:
                self._owner_writes(action)

    def _next_moment(self, action: Tick | Settle) -> datetime:
        if isinstance(action, Tick):
            return max(START, self.now + timedelta(hours=action.hours))
        window = self.engine.window
        return window.next_slot(self.now + timedelta(minutes=1)) + timedelta(minutes=30)

    # -- the outside world -------------------------------------------------------------

    def _deliver(self, message: EmailMessage) -> None:
        """The transport: mail to the owner lands in INBOX, as in her mail program."""
        if str(message["To"].addresses[0].addr_spec).lower() == OWNER:
            self.mailbox.append("INBOX", to_bytes(message), self.now, seen=False)
            if find_token(str(message["Subject"])):
                self.token_mails.append(message)

    def _drop(self, folder: str, raw: bytes) -> None:
        """Deliver raw bytes as they are, the way a mail server files them."""
        box = mailbox.Maildir(self.root / "Postfach", create=False)
        (box if folder == "INBOX" else box.get_folder(folder)).add(raw)

    def _track(self, index: int, thread: Tracked) -> None:
        started = thread.absurd_start or START - timedelta(days=thread.days_ago)
        due = thread.absurd_due or (START + timedelta(days=thread.due_in)).date()
        client_id = self.store.upsert_client(CLIENTS[thread.client], started)
        invoice = thread.kind is Kind.RECHNUNG
        self.store.add_thread(
            kind=thread.kind,
            client_id=client_id,
            subject=f"Vorgang {index}",
            started_at=started,
            now=started,
            message_id=original_id(index),
            invoice_no=f"2026-{index:03d}" if invoice else None,
            amount=Decimal("1190.00") if invoice else None,
            due_date=due if invoice else None,
        )

    def _reply(self, action: Reply) -> None:
        recipe = action.recipe
        if self.token_mails:
            answered = self.token_mails[recipe.target % len(self.token_mails)]
            subject, body = str(answered["Subject"]), answered.get_content()
            message_id = str(answered["Message-ID"])
        else:  # nothing mailed yet: an answer to a draft that never was
            subject, body = f"[NF-{NO_TOKEN}] Entwurf", "Hallo,\n\nok?\n"
            message_id = "<no-draft@berger-design.test>"
        if recipe.may_approve:
            self.approvable.add(find_token(subject) or "")
        raw = recipe.build(
            owner=OWNER, subject=subject, body=body, message_id=message_id, now=self.now
        )
        self._drop(action.folder, raw)

    def _owner_writes(self, action: OwnerWrites) -> None:
        client = CLIENTS[action.client]
        date_field = action.date or format_datetime(self.now).encode()
        raw = (
            (
                f"From: Anna Berger <{OWNER}>\r\nTo: {client.name} <{client.email}>\r\n"
                f"Subject: Kurze Frage\r\nMessage-ID: <hand-{len(self.transport.sent)}-"
                f"{self.now.timestamp():.0f}@berger-design.test>\r\nDate: "
            ).encode()
            + date_field
            + b"\r\n\r\nHallo, wie steht es?\r\n"
        )
        self._drop("Sent", raw)

    # -- what must hold ------------------------------------------------------------------

    def client_mails(self) -> list[EmailMessage]:
        return [
            message
            for message in self.transport.sent
            if str(message["To"].addresses[0].addr_spec).lower() != OWNER
        ]

    def check_store(self) -> None:
        """After a cycle: every state known, nothing left half-sent, every waiting draft
        belongs to open threads only, and no thread has two."""
        db = self.store.db
        column = {
            "threads": State,
            "drafts": DraftState,
            "tasks": TaskState,
            "notices": NoticeState,
        }
        for table, states in column.items():
            found = {row[0] for row in db.execute(f"SELECT DISTINCT state FROM {table}")}
            assert found <= {str(state) for state in states}, (table, found)
        assert not self.store.drafts([DraftState.SENDING]), "a draft left in sending"
        assert not self.store.notices([NoticeState.SENDING]), "a notice left in sending"
        covered: set[int] = set()
        for draft in self.store.drafts(ACTIVE_DRAFT_STATES):
            for thread_id in draft.thread_ids:
                thread = self.store.thread(thread_id)
                assert thread is not None and thread.state is State.OPEN, (draft, thread)
                assert thread_id not in covered, f"thread {thread_id} has two waiting drafts"
                covered.add(thread_id)

    def draft_of(self, message: EmailMessage) -> tuple[str, tuple[str, ...]]:
        """The token of the draft a client mail was sent for, and who may receive it."""
        row = self.store.db.execute(
            "SELECT token, thread_id FROM drafts WHERE client_message_id = ?",
            [str(message["Message-ID"])],
        ).fetchone()
        assert row is not None, f"a client mail without a draft: {message['Message-ID']}"
        thread = self.store.thread(row[1])
        assert thread is not None
        allowed = (thread.client.email, thread.client.assistant_email or thread.client.email)
        return row[0], allowed


def recipients(message: EmailMessage) -> Sequence[str]:
    return [str(a.addr_spec).lower() for a in message["To"].addresses]


@contextmanager
def open_world() -> Iterator[World]:
    """A world in a fresh temporary Maildir with a fresh in-memory store, both removed
    (closed) afterwards."""
    with (
        tempfile.TemporaryDirectory(prefix="nachfass-fuzz-") as root,
        closing(Store.memory()) as store,
    ):
        yield World(Path(root), store)
