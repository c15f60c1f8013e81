"""Payments from bank statements, recorded in the store (app/payments.py, issue 14), and
the owner's own payments (issue 13 point 4). No mail server: the outbox only queues."""

from __future__ import annotations

import logging
import re
import shutil
from collections.abc import Iterator
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from nachfass_bot.adapters.ledger import Ledger
from nachfass_bot.adapters.smtp import CaptureTransport
from nachfass_bot.adapters.store import Store
from nachfass_bot.app.outbox import Outbox
from nachfass_bot.app.payments import Payments
from nachfass_bot.app.threads import NewThread, mark_paid, store_new_thread
from nachfass_bot.config import BankConfig, OwnerConfig
from nachfass_bot.domain.calendar import SendingWindow
from nachfass_bot.domain.models import (
    CycleReport,
    DraftState,
    Inbound,
    Kind,
    NoticeState,
    PaymentSource,
    QuestionState,
    State,
)
from nachfass_bot.domain.payments import Booking, MatchKind
from nachfass_bot.domain.preferences import PaymentConfig
from nachfass_bot.texts.mailcontext import client_context
from nachfass_bot.texts.render import Texts

BANK = Path(__file__).parent / "bank"
NOW = datetime(2026, 3, 20, 8, 0, tzinfo=UTC)
OWNER = OwnerConfig(name="Anna Berger", email="anna@berger.test", signature="Anna")
WINDOW = SendingWindow()


@pytest.fixture
def store() -> Iterator[Store]:
    opened = Store.memory()
    yield opened
    opened.close()


@pytest.fixture
def inbox(tmp_path: Path) -> Path:
    folder = tmp_path / "Kontoauszüge"
    folder.mkdir()
    return folder


@pytest.fixture
def payments(store: Store, inbox: Path) -> Payments:
    outbox = Outbox(owner=OWNER, store=store, transport=CaptureTransport(), texts=Texts())
    return Payments(store=store, outbox=outbox, window=WINDOW, bank=BankConfig(import_dir=inbox))


def invoice(
    store: Store,
    number: str,
    amount: str,
    email: str,
    name: str | None,
    sent: datetime = datetime(2026, 3, 2, 9, 0, tzinfo=UTC),
) -> int:
    new = NewThread(
        kind=Kind.RECHNUNG, email=email, subject=f"Rechnung {number}", name=name,
        started_at=sent, invoice_no=number,
        amount=Decimal(amount), due_date=date(2026, 3, 16),
    )  # fmt: skip
    return store_new_thread(store, new, datetime(2026, 3, 2, 9, 0, tzinfo=UTC))


def waiting_draft(store: Store, thread_id: int) -> int:
    draft_id = store.add_draft(
        thread_id=thread_id, step_index=0, step_number=1, token=f"tok{thread_id:017d}",
        recipient="x@example.org", subject="Zahlung", body="Bitte zahlen",
        draft_message_id=f"<d{thread_id}@b>", client_message_id=f"<c{thread_id}@b>",
        now=NOW,
    )  # fmt: skip
    store.set_draft_state(draft_id, DraftState.PENDING, NOW)
    return draft_id


def sparkasse_invoices(store: Store) -> dict[str, int]:
    """The invoices the Sparkasse day statement pays, partly pays, or asks about."""
    return {
        "014": invoice(store, "2026-014", "1190.00", "juergen@praxis-weiss.de", "Jürgen Weiß"),
        "015": invoice(store, "2026-015", "1200.00", "anna@keller-design.de", "Anna Keller"),
        "016": invoice(store, "2026-016", "500.00", "info@adler-bau.de", "Adler Bau"),
        "017": invoice(store, "2026-017", "333.00", "info@adler-bau.de", "Adler Bau"),
        "lena": invoice(store, "2026-018", "450.00", "lena@gmx.de", "Lena Hoffmann"),
    }


def notices(store: Store, prefix: str) -> list[str]:
    return [n.key for n in store.notices(list(NoticeState)) if n.key.startswith(prefix)]


def test_a_statement_pays_part_pays_combines_and_asks(
    store: Store, payments: Payments, inbox: Path
) -> None:
    ids = sparkasse_invoices(store)
    draft = waiting_draft(store, ids["014"])
    shutil.copy(BANK / "camt053_v02_sparkasse.xml", inbox)

    payments.import_folder(NOW, CycleReport())

    paid = store.thread(ids["014"])
    assert paid is not None and paid.state is State.PAID
    assert paid.open_amount == Decimal("0.00")
    assert (
        "Zahlung über 1.190,00 € am 18.03.2026 erkannt, Kontoauszug camt053_v02_sparkasse.xml "
        "→ Rechnung bezahlt"
    ) in [event.text for event in store.events(ids["014"])]
    stored = store.draft(draft)
    assert stored is not None and stored.state is DraftState.CANCELLED
    partial = store.thread(ids["015"])
    assert partial is not None and partial.state is State.OPEN
    assert partial.open_amount == Decimal("800.00")
    assert {store.thread(ids[n]).state for n in ("016", "017")} == {State.PAID}  # type: ignore[union-attr]
    assert len(notices(store, "payment-question:")) == 1
    assert store.thread(ids["lena"]).state is State.OPEN  # type: ignore[union-attr]


def test_a_booking_never_pays_an_invoice_sent_weeks_after_it(
    store: Store, payments: Payments, inbox: Path
) -> None:
    """The Sparkasse statement's 1.190,00 € of 18 March names 2026-014; an invoice of
    that number mailed in November is another one (numbers start again each year)."""
    late = datetime(2026, 11, 26, 10, 0, tzinfo=UTC)
    later = invoice(store, "2026-014", "1190.00", "juergen@praxis-weiss.de", "Jürgen Weiß", late)
    shutil.copy(BANK / "camt053_v02_sparkasse.xml", inbox)

    payments.import_folder(NOW, CycleReport())

    thread = store.thread(later)
    assert thread is not None and thread.state is State.OPEN
    assert thread.open_amount == Decimal("1190.00")


def test_a_file_imported_twice_or_overlapping_changes_nothing(
    store: Store, payments: Payments, inbox: Path
) -> None:
    ids = sparkasse_invoices(store)
    first = payments.import_files([BANK / "camt053_v02_sparkasse.xml"], NOW)
    again = payments.import_files([BANK / "camt053_v02_sparkasse.xml"], NOW)
    zipped = payments.import_files([BANK / "camt053_2026-03.zip"], NOW)  # the same day inside

    assert first[0].new == 6 and again[0].state == "known"
    assert zipped[0].new == 3  # only the DKB bookings are new
    partial = store.thread(ids["015"])
    assert partial is not None and partial.open_amount == Decimal("800.00")
    assert len(Ledger(store).payments(ids["015"])) == 1
    assert len(notices(store, "payment-question:")) == 1


def test_a_broken_file_is_reported_once_and_never_stops_the_cycle(
    store: Store, payments: Payments, inbox: Path
) -> None:
    ids = sparkasse_invoices(store)
    shutil.copy(BANK / "broken_camt_amount.xml", inbox / "a_kaputt.xml")
    shutil.copy(BANK / "camt053_v02_sparkasse.xml", inbox / "b_gut.xml")
    report = CycleReport()

    payments.import_folder(NOW, report)
    payments.import_folder(NOW, CycleReport())

    assert len(report.problems) == 1 and "a_kaputt.xml" in report.problems[0]
    assert "Element" in report.problems[0]
    assert len(notices(store, "bank-file:")) == 1
    errors = [e.text for e in store.events() if "a_kaputt.xml" in e.text]
    assert len(errors) == 1
    assert store.thread(ids["014"]).state is State.PAID  # type: ignore[union-attr]


def question_reply(token: str) -> Inbound:
    return Inbound(
        folder="INBOX", uid=7, message_id="<antwort@berger.test>", from_addr=OWNER.email,
        to_addrs=(OWNER.email,), subject=f"Re: [NF-{token}] Zahlung", date=NOW,
    )  # fmt: skip


def ask_about_lena(store: Store, payments: Payments) -> tuple[int, str]:
    thread_id = invoice(store, "2026-018", "450.00", "lena@gmx.de", "Lena Hoffmann")
    credit = Booking(
        booked=date(2026, 3, 19), value_date=date(2026, 3, 19), amount=Decimal("450.00"),
        currency="EUR", payer="Lena Hoffmann", payer_iban="DE91100000000123456789",
        purpose="Honorar Lektorat", reference="2026031900032",
    )  # fmt: skip
    with store.atomic():
        result = payments.apply_bookings([credit], "auszug.xml", NOW)
    assert result.kinds == {MatchKind.QUESTION: 1}
    [question] = Ledger(store).questions_for_booking(credit.key)
    return thread_id, question.token


@pytest.mark.parametrize(
    ("answer", "state", "question_state"),
    [("ja", State.PAID, QuestionState.YES), ("nein", State.OPEN, QuestionState.NO)],
)
def test_the_owner_answers_a_payment_question(
    store: Store, payments: Payments, answer: str, state: State, question_state: QuestionState
) -> None:
    thread_id, token = ask_about_lena(store, payments)
    question = Ledger(store).question_by_token(token)
    assert question is not None

    with store.atomic():
        changed = payments.apply_answer(
            question, f"{answer}\n\n> Zahlung von …", question_reply(token), NOW
        )

    assert changed
    assert store.thread(thread_id).state is state  # type: ignore[union-attr]
    answered = Ledger(store).question_by_token(token)
    assert answered is not None and answered.state is question_state
    assert len(notices(store, "payment-answer:")) == 1


def test_an_unclear_answer_keeps_the_question_waiting(store: Store, payments: Payments) -> None:
    thread_id, token = ask_about_lena(store, payments)
    question = Ledger(store).question_by_token(token)
    assert question is not None

    with store.atomic():
        changed = payments.apply_answer(question, "vielleicht?", question_reply(token), NOW)

    assert not changed
    assert Ledger(store).question_by_token(token).state is QuestionState.OPEN  # type: ignore[union-attr]
    assert store.thread(thread_id).state is State.OPEN  # type: ignore[union-attr]


def test_overpayment_pays_and_tells_the_owner(store: Store, payments: Payments) -> None:
    thread_id = invoice(store, "2026-014", "1190.00", "juergen@praxis-weiss.de", "Jürgen Weiß")
    credit = Booking(
        booked=date(2026, 3, 18), value_date=date(2026, 3, 18), amount=Decimal("1250.00"),
        currency="EUR", payer="Praxis Weiss", payer_iban=None, purpose="RE 2026-014",
        reference="R1",
    )  # fmt: skip
    with store.atomic():
        payments.apply_bookings([credit], "auszug.xml", NOW)

    assert store.thread(thread_id).state is State.PAID  # type: ignore[union-attr]
    [surplus] = [n for n in store.notices(list(NoticeState)) if n.key.startswith("payment-surp")]
    assert "60,00 € zu viel" in surplus.body


def test_a_reversal_reopens_the_invoice_and_tells_the_owner(
    store: Store, payments: Payments
) -> None:
    thread_id = invoice(store, "2026-014", "1190.00", "juergen@praxis-weiss.de", "Jürgen Weiß")
    common = {"value_date": date(2026, 3, 18), "currency": "EUR", "payer": "Praxis Weiss",
              "payer_iban": None, "reference": "R1", "end_to_end": "E2E-1"}  # fmt: skip
    credit = Booking(booked=date(2026, 3, 18), amount=Decimal("1190.00"), purpose="RE 2026-014",
                     **common)  # type: ignore[arg-type]  # fmt: skip
    back = Booking(booked=date(2026, 3, 23), amount=Decimal("-1190.00"), purpose="Storno",
                   reversal=True, **common)  # type: ignore[arg-type]  # fmt: skip
    with store.atomic():
        payments.apply_bookings([credit], "a.xml", NOW)
    with store.atomic():
        result = payments.apply_bookings([back], "b.xml", NOW)

    assert result.kinds == {MatchKind.REVERSAL: 1}
    thread = store.thread(thread_id)
    assert thread is not None and thread.state is State.OPEN
    assert thread.open_amount == Decimal("1190.00")
    assert len(notices(store, "payment-reversal:")) == 1


def test_partial_payments_by_the_owner_leave_the_remainder_in_the_mails(store: Store) -> None:
    thread_id = invoice(store, "2026-014", "1190.00", "juergen@praxis-weiss.de", "Jürgen Weiß")

    thread = mark_paid(store, thread_id, NOW, Decimal("500.00"))

    assert thread.state is State.OPEN and thread.open_amount == Decimal("690.00")
    context = client_context(
        [thread], step_index=1, now=NOW, window=WINDOW, owner=OWNER, payment=PaymentConfig()
    )
    assert context["amount"] == Decimal("690.00") == context["total"]
    assert context["invoices"][0]["invoice_total"] == Decimal("1190.00")
    [payment] = Ledger(store).payments(thread_id)
    assert payment.source is PaymentSource.OWNER
    rest = mark_paid(store, thread_id, NOW, Decimal("690.00"))
    assert rest.state is State.PAID


def test_forget_deletes_old_bookings_only(store: Store, payments: Payments) -> None:
    sparkasse_invoices(store)
    payments.import_files([BANK / "camt053_v02_sparkasse.xml", BANK / "camt053_v08_dkb.xml"], NOW)

    deleted = Ledger(store).forget(date(2026, 3, 20))

    assert deleted == 6
    left = store.db.execute("SELECT count(*) FROM bookings").fetchone()[0]
    assert left == 3
    assert Ledger(store).payments_between(NOW.replace(hour=0), NOW.replace(hour=23))


def test_logs_carry_no_iban_and_no_purpose_at_info(
    store: Store, payments: Payments, caplog: pytest.LogCaptureFixture
) -> None:
    sparkasse_invoices(store)
    caplog.set_level(logging.INFO, logger="nachfass_bot")

    payments.import_files([BANK / "camt053_v02_sparkasse.xml", BANK / "mt940_volksbank.sta"], NOW)

    text = caplog.text
    assert caplog.records
    for secret in ("DE02120300000000202051", "DE91100000000123456789", "Honorar Lektorat",
                   "vielen Dank", "Praxis Dr."):  # fmt: skip
        assert secret not in text


def test_the_digest_lists_the_weeks_payments_and_unmatched_credits(
    store: Store, payments: Payments, tmp_path: Path
) -> None:
    from nachfass_bot.app.digest_facts import gather_week
    from nachfass_bot.config import parse_config
    from nachfass_bot.texts.digest import render_digest

    sparkasse_invoices(store)
    payments.import_files([BANK / "camt053_v02_sparkasse.xml"], NOW)
    config = parse_config(
        {"owner": {"name": "Anna Berger", "email": OWNER.email, "signature": "Anna"},
         "imap": {"host": "h", "username": "u", "password_env": "X"},
         "smtp": {"host": "h", "username": "u", "password_env": "X"}},
        tmp_path / "config.toml",
    )  # fmt: skip

    digest = render_digest(gather_week(store, config, NOW.replace(day=23)), Texts())

    assert "ZAHLUNGEN DIESE WOCHE (4, zusammen 2.423,00 €)" in digest.text
    assert "Rechnung 2026-015, 400,00 € am 18.03.2026 (Kontoauszug)" in digest.text
    assert "NICHT ZUGEORDNETE GUTSCHRIFTEN (1)" in digest.text
    assert "JOERG BRANDT: 714,00 €" in digest.text
    assert "Zahlungen diese Woche" in digest.html
    assert "DE68210501700012345678" not in digest.text + digest.html
    assert "Rechnung 2026-015 über 800,00 €" in digest.text  # what is open, not 1.200,00 €


@pytest.mark.parametrize(
    ("line", "amount"),
    [("bezahlt 500", "500.00"), ("Bezahlt 1.190,00 €", "1190.00"), ("bezahlt: 1190.00", "1190.00"),
     ("bezahlt 1190,00", "1190.00"), ("bezahlt", None), ("bezahlt 1,190.00", "refused")],
)  # fmt: skip
def test_bezahlt_with_an_amount_is_a_partial_payment(line: str, amount: str | None) -> None:
    from nachfass_bot.domain.models import CommandKind
    from nachfass_bot.mail.approval import parse_command

    command = parse_command(f"{line}\n\n> Entwurf", today=date(2026, 3, 19))

    if amount == "refused":
        assert command.kind is CommandKind.UNKNOWN
    else:
        assert command.kind is CommandKind.PAID
        assert command.amount == (Decimal(amount) if amount else None)


def _bank_config(tmp_path: Path, bank: dict[str, object]) -> BankConfig:
    from nachfass_bot.config import parse_config

    data = {
        "owner": {"name": "Anna Berger", "email": OWNER.email, "signature": "Anna"},
        "imap": {"host": "h", "username": "u", "password_env": "X"},
        "smtp": {"host": "h", "username": "u", "password_env": "X"},
        "bank": bank,
    }
    return parse_config(data, tmp_path / "config.toml").bank


def test_bank_config_reads_folder_preset_and_columns(tmp_path: Path) -> None:
    from nachfass_bot.domain.bankcsv import SPARKASSE_CAMT_V2

    assert _bank_config(tmp_path, {}) == BankConfig()
    folder = _bank_config(tmp_path, {"import_dir": "Auszüge"}).import_dir
    assert folder == tmp_path / "Auszüge"
    preset = _bank_config(tmp_path, {"csv": {"preset": "sparkasse-csv-camt-v2"}})
    assert preset.csv == SPARKASSE_CAMT_V2
    own = _bank_config(
        tmp_path,
        {"csv": {"booked": "Datum", "amount": "Betrag (EUR)", "payer": "Name",
                 "purpose": "Zweck", "encoding": "utf-8", "delimiter": ","}},
    ).csv  # fmt: skip
    assert (own.booked, own.amount, own.encoding, own.delimiter) == (
        "Datum", "Betrag (EUR)", "utf-8", ",",
    )  # fmt: skip


@pytest.mark.parametrize(
    ("bank", "message"),
    [
        ({"csv": {"preset": "dkb"}}, "[bank.csv] preset „dkb“ ist keine bekannte Vorlage"),
        ({"csv": {"booked": "Datum"}}, "[bank.csv] amount fehlt"),
        ({"csv": {"booked": "D", "amount": "B", "payer": "N", "purpose": "Z",
                  "encoding": "latin9"}}, "[bank.csv] encoding muss cp1252"),
        ({"import_dirr": "x"}, "Meintest du „import_dir“?"),
        ({"csv": {"preset": "sparkasse-csv-camt-v2", "booked": "Datum"}}, "entweder eine Vorlage"),
    ],
)  # fmt: skip
def test_bank_config_problems_are_german(
    tmp_path: Path, bank: dict[str, object], message: str
) -> None:
    from nachfass_bot.errors import ConfigError

    with pytest.raises(ConfigError, match=re.escape(message)):
        _bank_config(tmp_path, bank)


def test_a_partial_payment_withdraws_an_approved_mail_with_the_old_amount(
    store: Store, payments: Payments
) -> None:
    thread_id = invoice(store, "2026-015", "1200.00", "anna@keller-design.de", "Anna Keller")
    draft_id = waiting_draft(store, thread_id)
    store.set_draft_state(draft_id, DraftState.APPROVED, NOW)

    payments.import_files([BANK / "camt053_v02_sparkasse.xml"], NOW)

    draft = store.draft(draft_id)
    assert draft is not None and draft.state is DraftState.CANCELLED
    assert store.thread(thread_id).open_amount == Decimal("800.00")  # type: ignore[union-attr]
