"""The weekly digest: a seeded week rendered to text (golden file) and HTML (parsed).

The week ends on Monday, 2 March 2026, 08:00 in Berlin: it reviews KW 9. Every kind of fact the
digest reports is seeded once, at a fixed date, straight into an in-memory store.
To accept a changed text after reading it: ``UPDATE_GOLDEN=1 .venv/bin/pytest
tests/test_digest.py``.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from contextlib import closing
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from email.message import EmailMessage
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from apscheduler.schedulers.blocking import BlockingScheduler

from loophelpers import advance_draft, cli, mails_to, write_config
from nachfass_bot.adapters.store import Store
from nachfass_bot.app import weekly
from nachfass_bot.app.digest_facts import gather_week, is_junk_folder
from nachfass_bot.app.weekly import digest_due, record_sent, send_if_due
from nachfass_bot.app.wiring import build_texts, weekly_digest_job
from nachfass_bot.cli.daemon import WEEKLY_CHECK_MINUTES, WEEKLY_JOB_ID, add_weekly_job, run_weekly
from nachfass_bot.cli.main import main
from nachfass_bot.config import Config, load_config, parse_config
from nachfass_bot.domain.models import Client, Kind, NoticeState, State
from nachfass_bot.errors import DeliveryError
from nachfass_bot.texts.digest import (
    AnswerItem,
    InvoiceItem,
    NoticeItem,
    SentItem,
    TaskItem,
    WeekFacts,
    digest_message,
    render_digest,
    risk_rows,
    week_label,
)
from nachfass_bot.texts.render import Texts
from servers import MailAccount, SmtpSink

BERLIN = ZoneInfo("Europe/Berlin")
NOW = datetime(2026, 3, 2, 8, 0, tzinfo=BERLIN)
GOLDEN = Path(__file__).parent / "golden" / "digest"
UPDATE = os.environ.get("UPDATE_GOLDEN", "").strip() not in ("", "0")
SCRIPT = shutil.which("nachfass-bot") or str(Path(sys.executable).parent / "nachfass-bot")

SECTIONS = (
    "Antworten",
    "Warten auf Dein Ok",
    "Aufgaben für Dich",
    "Abwesenheitsnotizen und Unzustellbares",
    "Offene Rechnungen",
    "Gesendet",
    "Nächste Woche fällig",
    "Ruht oder beiseitegelegt",
    "Verteilung auf Kunden",
)


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=BERLIN)


def make_config(tmp_path: Path, **sections: dict[str, Any]) -> Config:
    server = {"host": "localhost", "username": "anna", "password_env": "X", "security": "none"}
    data: dict[str, Any] = {
        "owner": {"name": "Anna Berger", "email": "anna@berger-design.test", "signature": "Anna"},
        "imap": server,
        "smtp": server,
        "store": {"path": "nachfass.db"},
        **sections,
    }
    return parse_config(data, tmp_path / "config.toml")


@pytest.fixture
def config(tmp_path: Path) -> Config:
    return make_config(tmp_path)


@pytest.fixture
def texts() -> Texts:
    return Texts(timezone="Europe/Berlin")


class Seeder:
    """Writes threads, drafts, tasks and events into a store at fixed moments."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def thread(
        self,
        kind: Kind,
        email: str,
        name: str,
        subject: str,
        started: str,
        *,
        state: State = State.OPEN,
        **fields: Any,
    ) -> int:
        started_at = at(started)
        client_id = self.store.upsert_client(Client(email=email, name=name), started_at)
        invoice = {
            key: fields.pop(key) for key in ("invoice_no", "amount", "due_date") if key in fields
        }
        thread_id = self.store.add_thread(
            kind=kind,
            client_id=client_id,
            subject=subject,
            started_at=started_at,
            now=started_at,
            **invoice,
        )
        if state is not State.OPEN or fields:
            self.store.update_thread(thread_id, started_at, state=state, **fields)
        return thread_id

    def draft(
        self, thread_id: int, step: int, created: str, *, state: str = "pending", sent: str = ""
    ) -> None:
        thread = self.store.thread(thread_id)
        assert thread is not None
        created_at = at(created)
        draft_id = self.store.add_draft(
            thread_id=thread_id,
            step_index=step - 1,
            step_number=step,
            token=f"token{thread_id}x{step}",
            recipient=thread.client.email,
            subject=f"Nachfrage: {thread.subject}",
            body="Text\n",
            draft_message_id=f"<draft-{thread_id}-{step}@test>",
            client_message_id=f"<client-{thread_id}-{step}@test>",
            now=created_at,
        )
        extra = {"sent_at": at(sent)} if sent else {}
        advance_draft(self.store, draft_id, state, created_at, **extra)

    def event(self, thread_id: int | None, when: str, kind: str, text: str) -> None:
        self.store.add_event(at(when), text, thread_id=thread_id, kind=kind)


def seed_week(store: Store) -> None:
    """One week of a freelancer's follow-ups (thread numbers in the comments)."""
    seed = Seeder(store)
    # 1: offer, follow-up sent this week, the answer landed in the junk folder.
    sommer = seed.thread(
        Kind.ANGEBOT, "m.sommer@kanzlei-sommer.test", "Miriam Sommer", "Angebot Logo",
        "2026-02-09T10:15", state=State.ANSWERED, step=1, last_step_at=at("2026-02-24T10:00"),
        answered_at=at("2026-02-26T14:12"), answered_folder="Junk",
    )  # fmt: skip
    seed.draft(sommer, 1, "2026-02-17T09:00", state="sent", sent="2026-02-24T10:00")
    seed.event(sommer, "2026-02-26T14:20", "answer", "Antwort von m.sommer@… im Ordner Junk")
    # 2: offer, the first follow-up waits for the owner's yes.
    keller = seed.thread(
        Kind.ANGEBOT, "jonas@keller-bau.test", "Jonas Keller", "Angebot Website-Relaunch",
        "2026-02-18T11:00",
    )  # fmt: skip
    seed.draft(keller, 1, "2026-02-26T09:00")
    # 3: order, the call task is done by the bot; the status mail is due next week.
    hoffmann = seed.thread(
        Kind.AUFTRAG, "info@hoffmann-events.test", "Lena Hoffmann", "Flyer Sommerfest",
        "2026-02-23T15:00", step=1, last_step_at=at("2026-02-24T15:00"),
    )  # fmt: skip
    store.add_task(
        thread_id=hoffmann,
        step_index=0,
        text="Lena Hoffmann anrufen und fragen, ob die Unterlagen gut angekommen sind.",
        due_at=at("2026-02-24T15:00"),
        now=at("2026-02-24T15:00"),
    )
    # 4: invoice 17 days overdue; the payment question waits for a yes since 16 February.
    weiss = seed.thread(
        Kind.RECHNUNG, "buchhaltung@praxis-weiss.test", "Jürgen Weiß", "Rechnung 2026-014",
        "2026-01-30T09:00", invoice_no="2026-014", amount=Decimal("2380.00"),
        due_date=date(2026, 2, 13),
    )  # fmt: skip
    seed.draft(weiss, 1, "2026-02-16T09:00")
    # 5: invoice not yet due.
    seed.thread(
        Kind.RECHNUNG, "jonas@keller-bau.test", "Jonas Keller", "Rechnung 2026-015",
        "2026-02-23T12:00", invoice_no="2026-015", amount=Decimal("1190.00"),
        due_date=date(2026, 3, 9),
    )  # fmt: skip
    # 6: invoice paid in January: counts for the 90-day view only.
    seed.thread(
        Kind.RECHNUNG, "buchhaltung@praxis-weiss.test", "Jürgen Weiß", "Rechnung 2026-009",
        "2026-01-10T09:00", state=State.PAID, invoice_no="2026-009", amount=Decimal("1500.00"),
        due_date=date(2026, 1, 24),
    )  # fmt: skip
    # 7: offer that went to rest this week.
    seed.thread(
        Kind.ANGEBOT, "tom@berg-foto.test", "Tom Berg", "Angebot Fotoshooting",
        "2026-01-28T10:00", state=State.RESTING, step=3, last_step_at=at("2026-02-25T10:00"),
    )  # fmt: skip
    # 8: order parked in January: the first digest of March reminds of it.
    seed.thread(
        Kind.AUFTRAG, "s.adler@adler-gmbh.test", "Sandra Adler", "Broschüre Frühjahr",
        "2025-12-01T10:00", state=State.PARKED, step=6, last_step_at=at("2026-01-20T10:00"),
    )  # fmt: skip
    # 9: an out-of-office note this week.
    lange = seed.thread(
        Kind.ANGEBOT, "p.lange@lange-consult.test", "Petra Lange", "Angebot Workshop",
        "2026-02-10T10:00", step=1, last_step_at=at("2026-02-18T10:00"),
        paused_until=at("2026-03-10T09:00"),
    )  # fmt: skip
    seed.event(
        lange, "2026-02-27T09:10", "auto-reply",
        "Petra Lange ist ab Montag, 9. März 2026 wieder da (Abwesenheitsnotiz, keine Antwort); "
        "der nächste Schritt kommt frühestens am Dienstag, 10. März 2026, 09:00 Uhr.",
    )  # fmt: skip
    # 10: a bounce this week: paused, with a task.
    wendt = seed.thread(
        Kind.ANGEBOT, "k.wendt@wendt-bau.test", "Klaus Wendt", "Angebot Bürogebäude",
        "2026-02-12T10:00", state=State.PAUSED, step=1, last_step_at=at("2026-02-24T11:00"),
    )  # fmt: skip
    seed.event(
        wendt, "2026-02-25T11:00", "bounce",
        "Die Mail an k.wendt@wendt-bau.test kam nicht an (Unzustellbar (5.1.1)). Der Vorgang "
        "ist pausiert, Deine Aufgabe: E-Mail kam nicht an – bitte anrufen oder Adresse prüfen.",
    )  # fmt: skip
    store.add_task(
        thread_id=wendt,
        step_index=-1,
        text="E-Mail kam nicht an – bitte anrufen oder Adresse prüfen.",
        due_at=at("2026-02-25T11:00"),
        now=at("2026-02-25T11:00"),
    )
    # Outside the week: an old event and an answer before it must not show.
    seed.event(lange, "2026-02-18T10:00", "sent", "Schritt 1: Mail gesendet")
    seed.event(sommer, "2026-02-20T10:00", "auto-reply", "alte Abwesenheitsnotiz")


@pytest.fixture
def seeded(memory_store: Store) -> Store:
    seed_week(memory_store)
    return memory_store


# -- the text part ---------------------------------------------------------------------------


def golden(name: str, text: str) -> None:
    path = GOLDEN / name
    if UPDATE:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        return
    assert path.is_file(), f"{path} fehlt: UPDATE_GOLDEN=1 schreibt ihn"
    assert text == path.read_text(encoding="utf-8")


def as_file(subject: str, body: str) -> str:
    return f"Betreff: {subject}\n\n{body}"


def test_seeded_week_text_matches_golden(seeded: Store, config: Config, texts: Texts) -> None:
    digest = render_digest(gather_week(seeded, config, NOW), texts)
    golden("woche.txt", as_file(digest.subject, digest.text))


def test_text_part_reads_in_a_terminal(seeded: Store, config: Config, texts: Texts) -> None:
    text = render_digest(gather_week(seeded, config, NOW), texts).text
    assert max(len(line) for line in text.splitlines()) <= 100
    for title in SECTIONS:
        assert title.upper() in text, title
    assert "über KW 9: 23. Februar bis 1. März 2026." in text  # the week reviewed, 7 days
    assert "3.570,00 €" in text  # the open total
    assert "17 Tage überfällig" in text
    assert "<<< SPAM-ORDNER" in text


def test_drafts_oldest_first_and_spam_answer_first(
    seeded: Store, config: Config, texts: Texts
) -> None:
    text = render_digest(gather_week(seeded, config, NOW), texts).text
    drafts = text.split("WARTEN AUF DEIN OK")[1].split("AUFGABEN")[0]
    assert drafts.index("Nr. 4") < drafts.index("Nr. 2")


def test_week_facts_leave_out_what_is_outside_the_week(seeded: Store, config: Config) -> None:
    facts = gather_week(seeded, config, NOW)
    assert [item.thread_id for item in facts.sent] == [1]
    assert [(item.thread_id, item.in_spam) for item in facts.answers] == [(1, True)]
    assert [item.kind for item in facts.notices] == ["bounce", "auto-reply"]
    assert {item.thread_id for item in facts.tasks} == {3, 10}
    assert [item.thread_id for item in facts.upcoming] == [3]
    assert [(item.thread_id, item.reminder) for item in facts.resting] == [(7, False), (8, True)]


def test_a_quiet_week_says_so_in_one_line(
    memory_store: Store, config: Config, texts: Texts
) -> None:
    digest = render_digest(gather_week(memory_store, config, NOW), texts)
    assert digest.quiet
    assert digest.subject == "Wochenüberblick KW 9: eine ruhige Woche"
    lines = [line for line in digest.text.splitlines() if line.strip()]
    assert lines[0] == "Hallo Anna,"
    assert lines[1].startswith("eine ruhige Woche (KW 9: 23. Februar bis 1. März 2026)")
    assert len(lines) == 3  # greeting, the one line, the sign-off
    for title in SECTIONS:
        assert title.upper() not in digest.text


def test_empty_sections_are_left_out(memory_store: Store, config: Config, texts: Texts) -> None:
    store = memory_store
    Seeder(store).thread(
        Kind.RECHNUNG, "jonas@keller-bau.test", "Jonas Keller", "Rechnung 2026-015",
        "2026-02-23T12:00", invoice_no="2026-015", amount=Decimal("1190.00"),
        due_date=date(2026, 3, 9),
    )  # fmt: skip
    text = render_digest(gather_week(store, config, NOW), texts).text
    assert "OFFENE RECHNUNGEN (1, zusammen 1.190,00 €)" in text
    assert "fällig am Montag, 9. März 2026" in text
    assert "VERTEILUNG AUF KUNDEN" in text
    for title in ("Antworten", "Gesendet", "Warten auf Dein Ok", "Aufgaben für Dich"):
        assert title.upper() not in text


# -- the risk view -------------------------------------------------------------------------


def invoice(key: str, amount: str, *, open: bool = True, days_ago: int = 10) -> InvoiceItem:
    return InvoiceItem(
        thread_id=1,
        client_key=key,
        client=key.title(),
        invoice_no="1",
        amount=Decimal(amount),
        due_date=None,
        billed_at=NOW - timedelta(days=days_ago),
        open=open,
    )


def test_risk_view_flags_a_client_with_more_than_half() -> None:
    rows = risk_rows(
        (
            invoice("weiss", "2380.00"),
            invoice("keller", "1190.00"),
            invoice("weiss", "1500.00", open=False),
            invoice("adler", "9000.00", open=False, days_ago=91),  # older than 90 days
        ),
        NOW,
    )
    assert [(r.client, r.open_share, r.billed_share) for r in rows] == [
        ("Weiss", 67, 77),
        ("Keller", 33, 23),
    ]
    assert [(r.open_flagged, r.billed_flagged) for r in rows] == [(True, True), (False, False)]


def test_exactly_half_is_not_flagged() -> None:
    rows = risk_rows((invoice("a", "100.00"), invoice("b", "100.00")), NOW)
    assert [r.open_share for r in rows] == [50, 50]
    assert not any(r.open_flagged or r.billed_flagged for r in rows)


def test_junk_folder_names() -> None:
    assert is_junk_folder("Junk")
    assert is_junk_folder("INBOX.Spam")
    assert is_junk_folder("Junk-E-Mail")
    assert is_junk_folder("Unerwünscht")
    assert is_junk_folder("Werbung", configured=["Werbung"])
    assert not is_junk_folder("INBOX")
    assert not is_junk_folder("Kunden/Projekte")


# -- the HTML part ----------------------------------------------------------------------------


class Page(HTMLParser):
    """Collects tags, attributes and the text of every heading."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.headings: list[str] = []
        self.text: list[str] = []
        self._in_heading = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        if tag == "h2":
            self._in_heading = True
            self.headings.append("")

    def handle_endtag(self, tag: str) -> None:
        if tag == "h2":
            self._in_heading = False

    def handle_data(self, data: str) -> None:
        self.text.append(data)
        if self._in_heading:
            self.headings[-1] += data


def parse(html: str) -> Page:
    page = Page()
    page.feed(html)
    page.close()
    return page


def test_html_has_every_section(seeded: Store, config: Config, texts: Texts) -> None:
    page = parse(render_digest(gather_week(seeded, config, NOW), texts).html)
    titles = [heading.split(" (")[0] for heading in page.headings]
    assert titles == list(SECTIONS)
    text = " ".join(page.text)
    assert "Spam-Ordner" in text
    assert "3.570,00 €" in text
    assert "KW 9" in text and "23. Februar bis 1. März 2026" in text
    for number in range(1, 11):
        if number not in (5, 6):  # invoices show under their own lines
            assert f"Nr.\xa0{number}" in text, number


def test_html_refers_to_nothing_outside(seeded: Store, config: Config, texts: Texts) -> None:
    html = render_digest(gather_week(seeded, config, NOW), texts).html
    page = parse(html)
    assert not re.search(r"https?:", html, re.IGNORECASE)
    assert "//" not in html.replace("<!--", "")
    tags = {tag for tag, _ in page.tags}
    assert not tags & {"script", "img", "link", "style", "iframe", "object", "embed", "form"}
    for tag, attrs in page.tags:
        assert "href" not in attrs and "src" not in attrs, tag
        assert not any(name.startswith("on") for name in attrs), tag
        assert "url(" not in (attrs.get("style") or ""), tag


def test_html_risk_view_is_drawn_as_bars(seeded: Store, config: Config, texts: Texts) -> None:
    page = parse(render_digest(gather_week(seeded, config, NOW), texts).html)
    bars = [
        attrs["width"]
        for tag, attrs in page.tags
        if tag == "td" and "background-color:#c0392b" in (attrs.get("style") or "")
    ]
    assert bars == ["67%", "77%"]  # Praxis Weiß: open money and the last 90 days


def test_html_escapes_what_the_client_wrote(
    memory_store: Store, config: Config, texts: Texts
) -> None:
    store = memory_store
    Seeder(store).thread(
        Kind.RECHNUNG, "x@evil.test", "<script>alert(1)</script>", "<img src=x>",
        "2026-02-23T12:00", invoice_no="<b>1</b>", amount=Decimal("10.00"),
        due_date=date(2026, 3, 9),
    )  # fmt: skip
    page = parse(render_digest(gather_week(store, config, NOW), texts).html)
    assert not {tag for tag, _ in page.tags} & {"script", "img", "b"}
    assert "<script>alert(1)</script>" in " ".join(page.text)


# -- the mail ---------------------------------------------------------------------------------


def test_digest_mail_is_multipart_alternative_to_the_owner(
    seeded: Store, config: Config, texts: Texts
) -> None:
    digest = render_digest(gather_week(seeded, config, NOW), texts)
    message = digest_message(
        digest,
        owner_email="anna@berger-design.test",
        owner_name="Anna Berger",
        message_id="<digest@test>",
        now=NOW,
    )
    assert isinstance(message, EmailMessage)
    assert message.get_content_type() == "multipart/alternative"
    assert message["To"] == message["From"] == "Anna Berger <anna@berger-design.test>"
    assert message["Auto-Submitted"] == "auto-generated"
    plain, html = message.iter_parts()
    assert plain.get_content_type() == "text/plain"
    assert html.get_content_type() == "text/html"
    assert plain.get_content() == digest.text
    assert "Verteilung auf Kunden" in html.get_content()
    assert message["Subject"].startswith("Wochenüberblick KW 9: Antwort im Spam-Ordner!")


def test_facts_are_plain_values() -> None:
    facts = WeekFacts(
        start=NOW - timedelta(days=7), end=NOW, timezone="Europe/Berlin", owner_name="A"
    )
    assert facts.sent == ()


# -- exactly once a week ------------------------------------------------------------------------


class Recorder:
    """A transport that keeps the mails; ``fail`` makes the next send raise it."""

    def __init__(self) -> None:
        self.sent: list[EmailMessage] = []
        self.fail: Exception | None = None

    def send(self, message: EmailMessage) -> None:
        if self.fail is not None:
            error, self.fail = self.fail, None
            raise error
        self.sent.append(message)


def check_week(path: Path, config: Config, texts: Texts, transport: Recorder, when: str) -> bool:
    """One digest check in a process of its own: the store is opened and closed again."""
    store = Store.open(path)
    try:
        return send_if_due(store, config, texts, lambda: transport, at(when))
    finally:
        store.close()


def test_once_a_week_across_restarts(tmp_path: Path, config: Config, texts: Texts) -> None:
    path = tmp_path / "nachfass.db"
    transport = Recorder()

    assert not check_week(path, config, texts, transport, "2026-03-02T07:59")
    assert check_week(path, config, texts, transport, "2026-03-02T08:00")
    # Restarted the same day and later in the week: nothing more.
    assert not check_week(path, config, texts, transport, "2026-03-02T08:05")
    assert not check_week(path, config, texts, transport, "2026-03-06T17:00")
    assert not check_week(path, config, texts, transport, "2026-03-08T23:59")
    assert len(transport.sent) == 1
    # The next week, again exactly once.
    assert not check_week(path, config, texts, transport, "2026-03-09T07:30")
    assert check_week(path, config, texts, transport, "2026-03-09T08:00")
    assert not check_week(path, config, texts, transport, "2026-03-09T08:05")
    assert len(transport.sent) == 2

    store = Store.open(path)
    try:
        assert store.setting("digest_week") == "2026-W11"
        assert [e.text for e in store.events() if e.kind == "digest"] == [
            "Wochenüberblick 2026-W10 erstellt und zum Versand an Dich vorgemerkt",
            "Wochenüberblick 2026-W11 erstellt und zum Versand an Dich vorgemerkt",
        ]
        digests = [n for n in store.notices(list(NoticeState)) if n.key.startswith("digest:")]
        assert [(n.key, n.state) for n in digests] == [
            ("digest:2026-W10", NoticeState.SENT),
            ("digest:2026-W11", NoticeState.SENT),
        ]
    finally:
        store.close()


def test_daemon_down_at_eight_sends_at_ten(tmp_path: Path, config: Config, texts: Texts) -> None:
    path = tmp_path / "nachfass.db"
    transport = Recorder()
    assert check_week(path, config, texts, transport, "2026-02-23T08:00")  # last week's
    # Down from Sunday evening until Monday 10:00: the first check after the start sends.
    assert check_week(path, config, texts, transport, "2026-03-02T10:00")
    assert not check_week(path, config, texts, transport, "2026-03-02T10:05")
    assert len(transport.sent) == 2
    assert "KW 9" in str(transport.sent[-1]["Subject"])


def test_configured_day_and_time(tmp_path: Path, texts: Texts) -> None:
    config = make_config(tmp_path, digest={"day": "fr", "time": "16:30"})
    path = tmp_path / "nachfass.db"
    transport = Recorder()
    assert not check_week(path, config, texts, transport, "2026-03-02T08:00")  # Monday
    assert not check_week(path, config, texts, transport, "2026-03-06T16:29")
    assert check_week(path, config, texts, transport, "2026-03-06T16:30")
    assert not check_week(path, config, texts, transport, "2026-03-07T10:00")
    assert len(transport.sent) == 1


def test_a_refused_send_is_tried_again(tmp_path: Path, config: Config, texts: Texts) -> None:
    path = tmp_path / "nachfass.db"
    transport = Recorder()
    transport.fail = DeliveryError("SMTP-Server lehnt ab: 451", permanent=False)
    with pytest.raises(DeliveryError):
        check_week(path, config, texts, transport, "2026-03-02T08:00")
    assert check_week(path, config, texts, transport, "2026-03-02T08:05")
    assert len(transport.sent) == 1


def test_a_send_that_may_have_arrived_counts(tmp_path: Path, config: Config, texts: Texts) -> None:
    path = tmp_path / "nachfass.db"
    transport = Recorder()
    transport.fail = DeliveryError("Verbindung abgebrochen", uncertain=True)
    assert check_week(path, config, texts, transport, "2026-03-02T08:00")
    assert not check_week(path, config, texts, transport, "2026-03-02T08:05")
    assert transport.sent == []  # never a second digest for the same week


def test_an_older_week_never_overwrites_a_newer_one(memory_store: Store, config: Config) -> None:
    store = memory_store
    zone = ZoneInfo("Europe/Berlin")
    record_sent(store, at("2026-03-09T08:00"), zone)
    record_sent(store, at("2026-03-02T08:00"), zone)  # digest --send --now last week
    assert store.setting("digest_week") == "2026-W11"
    assert not digest_due(store, at("2026-03-09T09:00"), config.digest, zone)


def test_week_label_at_a_year_boundary() -> None:
    zone = ZoneInfo("Europe/Berlin")
    assert week_label(at("2026-12-31T12:00"), zone) == "2026-W53"
    assert week_label(at("2027-01-04T08:00"), zone) == "2027-W01"
    # 23:30 UTC on Sunday is already Monday in Berlin.
    assert week_label(datetime(2026, 3, 1, 23, 30, tzinfo=UTC), zone) == "2026-W10"


def test_daemon_job_logs_a_failure_and_keeps_running(caplog: pytest.LogCaptureFixture) -> None:
    def failing(now: datetime) -> None:
        raise DeliveryError("SMTP-Server nicht erreichbar")

    run_weekly(failing, clock=lambda: NOW)
    assert "weekly digest not sent: SMTP-Server nicht erreichbar" in caplog.text


def test_daemon_schedules_the_weekly_check_at_start() -> None:
    scheduler = BlockingScheduler(timezone=UTC)
    calls: list[datetime] = []
    add_weekly_job(scheduler, calls.append)
    job = scheduler.get_job(WEEKLY_JOB_ID)
    assert job is not None
    assert job.trigger.interval == timedelta(minutes=WEEKLY_CHECK_MINUTES)
    assert job.next_run_time is not None
    assert job.next_run_time <= datetime.now(UTC)


# -- the command line and the daemon ---------------------------------------------------------

CONFIG_FILE = """
[owner]
name = "Anna Berger"
email = "anna@berger-design.test"
signature = "Anna"
[imap]
host = "localhost"
security = "none"
username = "anna"
password_env = "NACHFASS_TEST_UNUSED"
[smtp]
host = "localhost"
security = "none"
username = "anna"
password_env = "NACHFASS_TEST_UNUSED"
[store]
path = "nachfass.db"
"""


def test_digest_print_shows_the_text_part(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config_path = tmp_path / "config.toml"
    config_path.write_text(CONFIG_FILE, encoding="utf-8")
    with closing(Store.open(tmp_path / "nachfass.db")) as store:
        seed_week(store)
    html = tmp_path / "digest.html"

    code = main(
        ["--config", str(config_path), "digest", "--now", "2026-03-02T08:00", "--print",
         "--html", str(html)]
    )  # fmt: skip

    assert code == 0
    assert capsys.readouterr().out == (GOLDEN / "woche.txt").read_text(encoding="utf-8")
    assert "Verteilung auf Kunden" in html.read_text(encoding="utf-8")
    with closing(Store.open(tmp_path / "nachfass.db")) as store:
        assert store.setting("digest_week") is None  # printing is not sending


def test_digest_send_mails_the_owner_once_for_the_week(
    tmp_path: Path, dovecot: MailAccount, smtp_sink: SmtpSink, monkeypatch: pytest.MonkeyPatch
) -> None:
    config_path = write_config(tmp_path, dovecot, smtp_sink, monkeypatch)
    with closing(Store.open(tmp_path / "nachfass.db")) as store:
        seed_week(store)

    assert cli(config_path, "digest", "--now", "2026-03-02T08:00", "--send") == 0

    mails = mails_to(smtp_sink, dovecot.user)
    assert len(mails) == 1
    message = mails[0]
    assert message.get_content_type() == "multipart/alternative"
    assert [part.get_content_type() for part in message.iter_parts()] == [
        "text/plain",
        "text/html",
    ]
    assert message["Auto-Submitted"] == "auto-generated"
    assert str(message["Subject"]).startswith("Wochenüberblick KW 9")
    # The daemon's check later that week sends nothing more.
    config = load_config(config_path)
    weekly_digest_job(config, build_texts(config))(at("2026-03-02T09:00"))
    assert len(mails_to(smtp_sink, dovecot.user)) == 1
    # The digest in the owner's INBOX is the bot's own mail, not an owner command.
    assert cli(config_path, "tick", "--now", "2026-03-02T09:00") == 0
    store = Store.open(tmp_path / "nachfass.db")
    try:
        own = [key for key, folder, _uid in store.seen_with_verdict("own") if folder == "INBOX"]
        assert own == [str(message["Message-ID"])]
    finally:
        store.close()


def test_run_sends_the_digest_once_across_a_restart(
    tmp_path: Path, dovecot: MailAccount, smtp_sink: SmtpSink, monkeypatch: pytest.MonkeyPatch
) -> None:
    config_path = write_config(tmp_path, dovecot, smtp_sink, monkeypatch)
    with config_path.open("a", encoding="utf-8") as handle:
        handle.write('\n[digest]\nday = "mo"\ntime = "00:00"\n')  # always due this week

    def digests() -> list[EmailMessage]:
        return [
            mail
            for mail in mails_to(smtp_sink, dovecot.user)
            if str(mail["Subject"]).startswith("Wochenüberblick")
        ]

    log = run_daemon(
        config_path, tmp_path / "first.log", until=lambda log: bool(digests()) and CYCLE in log
    )
    assert "weekly digest" in log and "sent" in log
    assert len(digests()) == 1

    run_daemon(
        config_path,
        tmp_path / "second.log",
        until=lambda log: "weekly digest not due" in log and CYCLE in log,
    )
    assert len(digests()) == 1


CYCLE = "cycle done"


def run_daemon(config: Path, log_path: Path, until: Callable[[str], bool]) -> str:
    """Start ``nachfass-bot run``, wait for ``until(stderr so far)``, stop it with SIGTERM."""
    with log_path.open("w") as log:
        daemon = subprocess.Popen(
            [SCRIPT, "--config", str(config), "--verbose", "run", "--interval", "60"],
            stdout=subprocess.DEVNULL,
            stderr=log,
        )
        try:
            deadline = time.monotonic() + 30
            while not until(log_path.read_text()) and time.monotonic() < deadline:
                time.sleep(0.05)
        finally:
            daemon.send_signal(signal.SIGTERM)
            daemon.wait(timeout=30)
    text = log_path.read_text()
    assert until(text), text
    assert daemon.returncode == 0, text
    return text


def test_digest_if_due_is_quiet_until_due_and_sends_once(
    tmp_path: Path,
    dovecot: MailAccount,
    smtp_sink: SmtpSink,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    config_path = write_config(tmp_path, dovecot, smtp_sink, monkeypatch)
    runs = []
    for now in ("2026-03-02T07:50", "2026-03-02T08:00", "2026-03-02T08:10", "2026-03-09T08:00"):
        capsys.readouterr()
        assert cli(config_path, "digest", "--if-due", "--now", now) == 0
        runs.append(capsys.readouterr().out)
    sent = f"Wochenüberblick an {dovecot.user} gesendet.\n"
    assert runs == ["", sent, "", sent]  # cron mails any output: silence when nothing to do
    assert len(mails_to(smtp_sink, dovecot.user)) == 2


def test_html_tags_are_balanced(seeded: Store, config: Config, texts: Texts) -> None:
    """Outlook forgives little: every opened element is closed, in order."""
    html = render_digest(gather_week(seeded, config, NOW), texts).html
    assert html.startswith("<!DOCTYPE html>")
    stack: list[str] = []

    class Balance(HTMLParser):
        def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
            if tag not in ("meta", "br"):
                stack.append(tag)

        def handle_endtag(self, tag: str) -> None:
            assert stack and stack.pop() == tag, (tag, self.getpos())

    Balance().feed(html)
    assert stack == []


def test_the_week_is_recorded_before_the_digest_is_sent(
    tmp_path: Path, config: Config, texts: Texts
) -> None:
    path = tmp_path / "nachfass.db"
    seen: list[tuple[str | None, list[NoticeState]]] = []

    class Looking(Recorder):
        def send(self, message: EmailMessage) -> None:
            with closing(Store.open(path)) as other:  # what a crash right now would leave
                notices = other.notices(list(NoticeState))
                seen.append((other.setting("digest_week"), [n.state for n in notices]))
            super().send(message)

    transport = Looking()
    assert check_week(path, config, texts, transport, "2026-03-02T08:00")
    assert seen == [("2026-W10", [NoticeState.SENDING])]
    assert len(transport.sent) == 1


def test_killed_after_the_server_took_the_digest_it_is_never_sent_again(
    tmp_path: Path, config: Config, texts: Texts
) -> None:
    path = tmp_path / "nachfass.db"

    class DiesAfterDelivery(Recorder):
        def send(self, message: EmailMessage) -> None:
            super().send(message)
            raise SystemExit("killed between the server's 250 and the commit")

    transport = DiesAfterDelivery()
    with pytest.raises(SystemExit):
        check_week(path, config, texts, transport, "2026-03-02T08:00")
    assert not check_week(path, config, texts, transport, "2026-03-02T08:05")
    assert not check_week(path, config, texts, transport, "2026-03-04T12:00")
    assert len(transport.sent) == 1


def test_two_checks_that_both_find_the_digest_due_send_it_once(
    tmp_path: Path, config: Config, texts: Texts, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The second check runs (another connection) while the first gathers the week's
    facts: the first must find the week recorded when it comes to record it."""
    path = tmp_path / "nachfass.db"
    transport = Recorder()
    results: list[bool] = []

    def gather_while_another_check_runs(store: Store, config: Config, now: datetime):
        monkeypatch.setattr(weekly, "gather_week", gather_week)
        results.append(check_week(path, config, texts, transport, "2026-03-02T08:01"))
        return gather_week(store, config, now)

    monkeypatch.setattr(weekly, "gather_week", gather_while_another_check_runs)
    results.append(check_week(path, config, texts, transport, "2026-03-02T08:00"))

    assert results == [True, False]
    assert len(transport.sent) == 1


# -- the calendar of the digest and one line per thread (issue 13, points 6 and 8) -----------


def facts_of(end: datetime, **sections: Any) -> WeekFacts:
    return WeekFacts(
        start=end - timedelta(days=7),
        end=end,
        timezone="Europe/Berlin",
        owner_name="Anna Berger",
        **sections,
    )


@pytest.mark.parametrize(
    ("end", "week", "period"),
    [
        (datetime(2026, 3, 2, 7, 0, tzinfo=UTC), 9, "23. Februar bis 1. März 2026"),
        (datetime(2026, 1, 5, 7, 0, tzinfo=UTC), 1, "29. Dezember 2025 bis 4. Januar 2026"),
        (datetime(2026, 3, 6, 15, 0, tzinfo=UTC), 10, "27. Februar bis 5. März 2026"),
    ],
)
def test_the_digest_names_the_week_it_reviews_and_seven_days(
    texts: Texts, end: datetime, week: int, period: str
) -> None:
    digest = render_digest(facts_of(end), texts)

    assert digest.subject.startswith(f"Wochenüberblick KW {week}: ")
    assert f"KW {week}: {period}" in digest.text
    assert period in digest.html


def test_a_thread_appears_once_per_section(texts: Texts) -> None:
    end = datetime(2026, 3, 2, 7, 0, tzinfo=UTC)
    day = datetime(2026, 2, 25, 10, 0, tzinfo=UTC)
    later = day + timedelta(days=1)
    who = {"thread_id": 3, "client": "Lena Hoffmann", "subject": "Flyer"}
    facts = facts_of(
        end,
        tasks=(
            TaskItem(**who, text="Lena Hoffmann anrufen.", due_at=day),
            TaskItem(**who, text="E-Mail kam nicht an – bitte anrufen.", due_at=later),
        ),
        notices=(
            NoticeItem(3, "Lena Hoffmann", "auto-reply", day, "Lena Hoffmann ist abwesend."),
            NoticeItem(3, "Lena Hoffmann", "bounce", later, "Die Mail kam nicht an."),
        ),
        sent=(
            SentItem(**who, step_number=1, recipient="lena@hoffmann.test", at=day),
            SentItem(**who, step_number=2, recipient="lena@hoffmann.test", at=later),
        ),
        answers=(
            AnswerItem(**who, at=day, folder="INBOX", in_spam=False),
            AnswerItem(**who, at=later, folder="Junk", in_spam=True),
        ),
    )
    digest = render_digest(facts, texts)

    sections = re.split(r"\n\n(?=[A-ZÄÖÜ ]+ \()", digest.text)
    titles = ("AUFGABEN", "ABWESENHEITSNOTIZEN", "GESENDET", "ANTWORTEN")
    for title in titles:
        section = next(part for part in sections if part.startswith(title))
        assert section.count("Nr. 3") == 1, section
        assert f"{title}" in section and "(1" in section.splitlines()[0]
    assert "E-Mail kam nicht an – bitte anrufen." in digest.text, "both tasks are named"
    assert "Schritt 2 am" in digest.text and "Schritt 1 am" in digest.text
    assert digest.html.count("Nr.&nbsp;3") == len(titles)


def test_digest_and_owner_mails_write_like_a_person(seeded: Store, config: Config) -> None:
    texts = Texts()
    digest = render_digest(gather_week(seeded, config, NOW), texts)

    assert " → " not in digest.text and "Schritt(e)" not in digest.text
    assert not re.search(r"\b[Ww]ir\b", digest.text)
    for count, words in ((0, "noch kein Schritt erledigt"), (1, "1 Schritt erledigt"),
                         (3, "3 Schritte erledigt")):  # fmt: skip
        thread = {"id": 3, "label": "Lena", "subject": "Flyer", "state": "offen", "step": count}
        body = texts.render("owner_status", threads=[thread], vacation=None).body
        assert words in body
