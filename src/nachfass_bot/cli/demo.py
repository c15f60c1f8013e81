"""``nachfass-bot demo``: the real engine over eight simulated weeks, no account needed.

A local Maildir stands in for the IMAP mailbox and a capturing transport for SMTP: mail
to the owner lands in the Maildir INBOX (as it would in their mail program), mail to a
client goes to that client's script. Four scripted clients and a scripted owner who
answers every draft with "ok" a few hours later drive the story; the timeline printed at
the end is the engine's own event log.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from email.message import EmailMessage
from pathlib import Path
from zoneinfo import ZoneInfo

from nachfass_bot.adapters.maildir import MaildirMailbox
from nachfass_bot.adapters.smtp import CaptureTransport
from nachfass_bot.adapters.store import Store
from nachfass_bot.app.wiring import build_engine, build_texts
from nachfass_bot.config import Config, parse_config
from nachfass_bot.domain.models import Kind
from nachfass_bot.mail.approval import find_token
from nachfass_bot.texts.compose import address, build_mail, new_message_id, to_bytes
from nachfass_bot.texts.labels import (
    KIND_LABELS,
    STATE_LABELS,
    local_text,
    steps_text,
)

ZONE = ZoneInfo("Europe/Berlin")
START = datetime(2026, 3, 2, 8, 0, tzinfo=ZONE)  # Montag, 2. März 2026
WEEKS = 8
TICK_HOURS = (8, 11, 14, 17)
OWNER = ("Anna Berger", "anna@berger-design.example")
APPROVAL_DELAY = timedelta(hours=2)


@dataclass
class ScriptedClient:
    """A client of the story: what they were sent and how they behave."""

    name: str
    email: str
    kind: Kind | None  # what the mail is; None: private
    subject: str
    sent_on: datetime
    behaviour: str  # "spam-answer", "silent", "unpaid", "answers-after-first"
    text: str  # what the owner wrote; the greeting says Du or Sie
    attachment: str | None = None  # a file shipped next to this module
    original_id: str = ""
    sent: bool = False
    received: list[EmailMessage] = field(default_factory=list)
    answered: bool = False


DEMO_INVOICE = Path(__file__).with_name("demo_rechnung_2026-014.pdf")


def _clients() -> list[ScriptedClient]:
    return [
        ScriptedClient(
            "Jonas Keller",
            "jonas@keller-bau.example",
            Kind.ANGEBOT,
            "Angebot Website-Relaunch",
            START + timedelta(hours=2),
            "spam-answer",
            "Sehr geehrter Herr Keller,\n\nanbei mein Angebot für den Relaunch Ihrer Website: "
            "Festpreis 4.800 € netto, Start im April.\n\nViele Grüße\nAnna Berger\n",
        ),
        ScriptedClient(
            "Miriam Sommer",
            "m.sommer@kanzlei-sommer.example",
            Kind.ANGEBOT,
            "Angebot Logo und Geschäftsausstattung",
            START + timedelta(hours=3),
            "silent",
            "Sehr geehrte Frau Sommer,\n\nwie besprochen mein Angebot für Logo, Briefpapier "
            "und Visitenkarten im Anhang.\n\nViele Grüße\nAnna Berger\n",
        ),
        ScriptedClient(
            "Jürgen Weiß",
            "buchhaltung@praxis-weiss.example",
            Kind.RECHNUNG,
            "Rechnung 2026-014 Praxisbroschüre",
            START + timedelta(hours=4),
            "unpaid",
            "Sehr geehrter Herr Weiß,\n\nanbei meine Rechnung für die Praxisbroschüre als "
            "E-Rechnung (ZUGFeRD).\n\nViele Grüße\nAnna Berger\n",
            attachment=DEMO_INVOICE.name,
        ),
        ScriptedClient(
            "Lena Hoffmann",
            "lena@hoffmann-events.example",
            Kind.ANGEBOT,
            "Angebot Flyer Sommerfest",
            START + timedelta(days=1, hours=1),
            "answers-after-first",
            "Hallo Lena,\n\nanbei mein Angebot für die Flyer zum Sommerfest, wie am Telefon "
            "besprochen.\n\nLiebe Grüße\nAnna\n",
        ),
        ScriptedClient(
            "Mama",
            "mama@berger-familie.example",
            None,  # never tracked: a private mail has no sign of an offer
            "Sonntag",
            START + timedelta(days=1, hours=3),
            "private",
            "Liebe Mama,\n\nbis Sonntag! Ich bringe den Kuchen mit.\n\nAnna\n",
        ),
    ]


def _demo_config(root: Path) -> Config:
    data = {
        "owner": {
            "name": OWNER[0],
            "email": OWNER[1],
            "signature": "Viele Grüße\nAnna Berger\n\nBerger Design · Köln",
        },
        "imap": _local_server(143),
        "smtp": _local_server(25),
        "store": {"path": "nachfass-demo.db"},
        "sending": {"timezone": "Europe/Berlin", "bundesland": "NW"},
    }
    return parse_config(data, root / "config.toml")


def _local_server(port: int) -> dict[str, object]:
    # Never contacted: the demo swaps in a Maildir and a capturing transport.
    return {
        "host": "127.0.0.1",
        "port": port,
        "security": "none",
        "username": OWNER[1],
        "password_env": "NACHFASS_DEMO_UNUSED",
    }


class DemoWorld:
    """The simulated mailbox, clients and owner around one real engine."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.config = _demo_config(root)
        self.mailbox_dir = root / "Postfach"
        self.mailbox = MaildirMailbox(self.mailbox_dir)
        self.store = Store.open(self.config.store.path)
        self.clients = _clients()
        self.story: list[tuple[datetime, str]] = []
        self.pending_drafts: list[tuple[datetime, EmailMessage]] = []
        self.confirmations: list[EmailMessage] = []
        self.now = START
        self.engine = build_engine(
            self.config,
            self.store,
            build_texts(self.config),
            transport=CaptureTransport(deliver=self._deliver),
            open_mailbox=lambda: self.mailbox,
        )

    def close(self) -> None:
        self.store.close()

    # -- the outside world -----------------------------------------------------------

    def _deliver(self, message: EmailMessage) -> None:
        recipient = str(message["To"].addresses[0].addr_spec).lower()
        if recipient == OWNER[1]:
            self.mailbox.append("INBOX", to_bytes(message), self.now, seen=False)
            subject = str(message["Subject"])
            if find_token(subject) and "Entwurf" in subject:
                self.pending_drafts.append((self.now + APPROVAL_DELAY, message))
            elif "Neu aufgenommen" in subject:
                self.confirmations.append(message)
            return
        for client in self.clients:
            if recipient == client.email:
                client.received.append(message)

    def _client_mail(
        self, client: ScriptedClient, subject: str, body: str, reply_to: str | None
    ) -> bytes:
        message = build_mail(
            sender=address(client.email, client.name),
            recipient=address(OWNER[1], OWNER[0]),
            subject=subject,
            body=body,
            message_id=new_message_id(client.email),
            now=self.now,
            references=[reply_to] if reply_to else (),
        )
        return to_bytes(message)

    def send_due(self) -> None:
        """The owner's mail program: each mail of the story goes out at its time and its
        copy lands in the Sent folder, where the bot finds it."""
        for client in self.clients:
            if not client.sent and client.sent_on <= self.now:
                self._send(client)

    def _send(self, client: ScriptedClient) -> None:
        client.original_id = new_message_id(OWNER[1])
        message = build_mail(
            sender=address(OWNER[1], OWNER[0]),
            recipient=address(client.email, client.name),
            subject=client.subject,
            body=client.text,
            message_id=client.original_id,
            now=client.sent_on,
        )
        if client.attachment:
            data = Path(__file__).with_name(client.attachment).read_bytes()
            message.add_attachment(
                data, maintype="application", subtype="pdf", filename=client.attachment
            )
        self.mailbox.append("Sent", to_bytes(message), client.sent_on)
        client.sent = True
        self.story.append((client.sent_on, f"Du schickst {client.name} „{client.subject}“."))

    def act(self) -> None:
        """Let the clients and the owner do what the story says at ``self.now``."""
        for client in self.clients:
            self._client_acts(client)
        self._owner_approves()

    def _client_acts(self, client: ScriptedClient) -> None:
        if client.answered:
            return
        if client.behaviour == "spam-answer" and self.now >= client.sent_on + timedelta(days=5):
            raw = self._client_mail(
                client,
                f"AW: {client.subject}",
                "Hallo Frau Berger,\n\ndanke für das Angebot, das klingt gut. "
                "Können wir nächste Woche telefonieren?\n\nGruß\nJonas Keller\n",
                client.original_id,
            )
            self.mailbox.append("Junk", raw, self.now, seen=False)
            self._tell(f"{client.name} antwortet – die Mail landet im Spam-Ordner.")
            client.answered = True
        elif client.behaviour == "answers-after-first" and client.received:
            first = client.received[0]
            if self.now >= _parse_date(first) + timedelta(days=2):
                raw = self._client_mail(
                    client,
                    f"Re: {first['Subject']}",
                    "Hallo Anna,\n\nsorry, das ist bei mir untergegangen! Ja, wir machen das "
                    "so. Schick mir gern die Auftragsbestätigung.\n\nLiebe Grüße\nLena\n",
                    str(first["Message-ID"]),
                )
                self.mailbox.append("INBOX", raw, self.now, seen=False)
                self._tell(f"{client.name} antwortet auf die erste Nachfrage.")
                client.answered = True

    def _owner_approves(self) -> None:
        due = [item for item in self.pending_drafts if item[0] <= self.now]
        for item in due:
            self.pending_drafts.remove(item)
            draft = item[1]
            reply = build_mail(
                sender=address(OWNER[1], OWNER[0]),
                recipient=address(OWNER[1], OWNER[0]),
                subject=f"Re: {draft['Subject']}",
                body="ok\n\n> " + "\n> ".join(draft.get_content().splitlines()[:3]) + "\n",
                message_id=new_message_id(OWNER[1]),
                now=self.now,
                references=[str(draft["Message-ID"])],
            )
            self.mailbox.append("INBOX", to_bytes(reply), self.now)
            self._tell(f"Du antwortest „ok“ auf „{draft['Subject']}“.")

    def _tell(self, text: str) -> None:
        self.story.append((self.now, text))

    # -- time -------------------------------------------------------------------------

    def run(self) -> None:
        for moment in _ticks(START, WEEKS):
            self.now = moment
            self.send_due()
            self.act()
            self.engine.tick(moment.astimezone(UTC))


def _ticks(start: datetime, weeks: int) -> list[datetime]:
    days = [start.date() + timedelta(days=offset) for offset in range(weeks * 7)]
    return [datetime.combine(day, time(hour), tzinfo=ZONE) for day in days for hour in TICK_HOURS]


def _parse_date(message: EmailMessage) -> datetime:
    return datetime.fromisoformat(message["Date"].datetime.isoformat())


def timeline(world: DemoWorld) -> list[str]:
    """The German timeline: the engine's events and the story, in time order."""
    window = world.engine.window
    names = {t.id: t.client.name or t.client.email for t in world.store.threads()}
    entries = [
        (e.at, 1, f"[{names.get(e.thread_id or 0, '–')}] {e.text}") for e in world.store.events()
    ]
    entries += [(at.astimezone(UTC), 0, f"✉ {text}") for at, text in world.story]
    lines: list[str] = []
    for at, _order, text in sorted(entries, key=lambda item: (item[0], item[1])):
        lines.append(f"{local_text(at, window)}  {text}")
    return lines


def summary(world: DemoWorld) -> list[str]:
    lines = []
    for thread in world.store.threads():
        state = STATE_LABELS[thread.state]
        where = f", Antwort im Ordner {thread.answered_folder}" if thread.answered_folder else ""
        lines.append(
            f"  Vorgang {thread.id} ({KIND_LABELS[thread.kind]}, {thread.client.name}): "
            f"{state}{where}, {steps_text(thread.step)} erledigt"
        )
    return lines


def recognised(world: DemoWorld) -> list[str]:
    """What the bot told the owner it found in the Sent folder (its "Neu aufgenommen"
    mails, the numbered lines)."""
    lines = []
    for message in world.confirmations:
        for line in message.get_content().splitlines():
            if line[:1].isdigit() or line.startswith("   "):
                lines.append(f"  {line.strip()}" if line[:1].isdigit() else f"     {line.strip()}")
    return lines


def sample_mail(world: DemoWorld) -> list[str]:
    """The first follow-up a client received, as it was sent: the tone of the bot."""
    for client in world.clients:
        if client.received:
            first = client.received[0]
            body = first.get_content().replace("\r\n", "\n").rstrip("\n")
            header = f"\nSo klang die erste Nachfrage an {client.name}:"
            return [header, f"  Betreff: {first['Subject']}", ""] + [
                f"  {line}".rstrip() for line in body.splitlines()
            ]
    return []


def run_demo(keep_dir: Path | None, echo: Callable[[str], None]) -> None:
    """Run the story and print it; remove every file unless ``keep_dir`` is given."""
    root = keep_dir or Path(tempfile.mkdtemp(prefix="nachfass-demo-"))
    root.mkdir(parents=True, exist_ok=True)
    echo(
        "nachfass-bot Demo: acht Wochen ab Montag, 2. März 2026. Du schreibst wie immer "
        "aus Deinem Mailprogramm;"
    )
    echo("nachfass-bot findet Angebote und Rechnungen im Ordner Gesendet und fasst nach.")
    echo("Alle Mails bleiben auf diesem Rechner (lokales Maildir, nichts wird verschickt).\n")
    world = DemoWorld(root)
    try:
        world.run()
        for line in timeline(world):
            echo(line)
        echo("\nIm Ordner Gesendet erkannt (und Dir per Mail bestätigt):")
        for line in recognised(world):
            echo(line)
        echo("\nStand nach acht Wochen:")
        for line in summary(world):
            echo(line)
        for line in sample_mail(world):
            echo(line)
    finally:
        world.close()
        if keep_dir is None:
            shutil.rmtree(root, ignore_errors=True)
    if keep_dir is None:
        echo("\nDie Demo hat alle ihre Dateien wieder gelöscht.")
    else:
        echo(f"\nPostfach (Maildir) und Datenbank liegen in {keep_dir}.")
