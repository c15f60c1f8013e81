"""The weekly digest: a seeded week rendered to text (golden file) and HTML (parsed).

The week ends on Monday, 2 March 2026, 08:00 in Berlin (KW 10). Every kind of fact the
digest reports is seeded once, at a fixed date, straight into an in-memory store.
To accept a changed text after reading it: ``UPDATE_GOLDEN=1 .venv/bin/pytest
tests/test_digest.py``.
"""

from __future__ import annotations

import os
import re
from datetime import date, datetime, timedelta
from decimal import Decimal
from email.message import EmailMessage
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from nachfass_bot.config import Config, parse_config
from nachfass_bot.digest import (
    InvoiceItem,
    WeekFacts,
    digest_message,
    render_digest,
    risk_rows,
)
from nachfass_bot.digest_facts import gather_week, is_junk_folder
from nachfass_bot.models import Client, Kind, State
from nachfass_bot.store import Store
from nachfass_bot.texts import Texts

BERLIN = ZoneInfo("Europe/Berlin")
NOW = datetime(2026, 3, 2, 8, 0, tzinfo=BERLIN)
GOLDEN = Path(__file__).parent / "golden" / "digest"
UPDATE = os.environ.get("UPDATE_GOLDEN", "").strip() not in ("", "0")

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
        self.store.set_draft_state(draft_id, state, created_at, **extra)

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
        "Abwesenheitsnotiz von p.lange@lange-consult.test (zurück am Montag, 9. März 2026) "
        "ist keine Antwort → nächster Schritt frühestens Di 10.03.2026 09:00",
    )  # fmt: skip
    # 10: a bounce this week: paused, with a task.
    wendt = seed.thread(
        Kind.ANGEBOT, "k.wendt@wendt-bau.test", "Klaus Wendt", "Angebot Bürogebäude",
        "2026-02-12T10:00", state=State.PAUSED, step=1, last_step_at=at("2026-02-24T11:00"),
    )  # fmt: skip
    seed.event(
        wendt, "2026-02-25T11:00", "bounce",
        "Unzustellbar an k.wendt@wendt-bau.test (Unzustellbar (5.1.1)) → Vorgang pausiert, "
        "Aufgabe: E-Mail kam nicht an – bitte anrufen oder Adresse prüfen.",
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
def seeded() -> Store:
    store = Store.memory()
    seed_week(store)
    return store


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
    assert "Montag, 23. Februar 2026 bis Montag, 2. März 2026" in text
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


def test_a_quiet_week_says_so_in_one_line(config: Config, texts: Texts) -> None:
    digest = render_digest(gather_week(Store.memory(), config, NOW), texts)
    assert digest.quiet
    assert digest.subject == "Wochenüberblick KW 10: eine ruhige Woche"
    lines = [line for line in digest.text.splitlines() if line.strip()]
    assert lines[0] == "Hallo Anna,"
    assert lines[1].startswith("eine ruhige Woche (23. Februar 2026 bis 2. März 2026)")
    assert len(lines) == 3  # greeting, the one line, the sign-off
    for title in SECTIONS:
        assert title.upper() not in digest.text


def test_empty_sections_are_left_out(config: Config, texts: Texts) -> None:
    store = Store.memory()
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
    assert "Montag, 23. Februar 2026" in text
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


def test_html_escapes_what_the_client_wrote(config: Config, texts: Texts) -> None:
    store = Store.memory()
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
    assert message["Subject"].startswith("Wochenüberblick KW 10: Antwort im Spam-Ordner!")


def test_facts_are_plain_values() -> None:
    facts = WeekFacts(
        start=NOW - timedelta(days=7), end=NOW, timezone="Europe/Berlin", owner_name="A"
    )
    assert facts.sent == ()
