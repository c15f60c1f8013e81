"""What a client mail may say, from the thread and its earlier mails (issue 13):
deadlines on business days, the first day of default fixed by the first reminder, and
later mails that name the earlier ones by date."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest

from nachfass_bot.config import OwnerConfig
from nachfass_bot.domain.calendar import SendingWindow
from nachfass_bot.domain.models import Client, Draft, DraftState, Kind, State, Thread
from nachfass_bot.domain.preferences import PaymentConfig
from nachfass_bot.texts.mailcontext import FINAL_STEPS, client_context
from nachfass_bot.texts.render import Texts

OWNER = OwnerConfig(name="Erika Mustermann", email="erika@studio.test", signature="Erika")
BAVARIA = SendingWindow(bundesland="BY")
INTEREST = PaymentConfig(interest=True, flat_fee=True, final_step="anwalt")


def invoice(**changes: Any) -> Thread:
    values: dict[str, Any] = {
        "id": 1,
        "kind": Kind.RECHNUNG,
        "client": Client(email="juergen@praxis-weiss.test", name="Jürgen Weiß", anrede="herr"),
        "subject": "Rechnung 2026-014",
        "state": State.OPEN,
        "step": 0,
        "started_at": datetime(2026, 3, 2, 9, 0, tzinfo=UTC),
        "invoice_no": "2026-014",
        "amount": Decimal("1190.00"),
        "due_date": date(2026, 3, 16),
    }
    values.update(changes)
    return Thread(**values)


def sent(draft_id: int, step_index: int, when: datetime, body: str = "…") -> Draft:
    return Draft(
        id=draft_id,
        thread_id=1,
        step_index=step_index,
        step_number=step_index + 1,
        token=f"{draft_id:020x}",
        state=DraftState.SENT,
        recipient="juergen@praxis-weiss.test",
        subject="…",
        body=body,
        draft_message_id=f"<d{draft_id}@studio.test>",
        client_message_id=f"<c{draft_id}@studio.test>",
        created_at=when,
        approved_at=when,
        send_after=when,
        sent_at=when,
    )


def context(
    thread: Thread,
    step_index: int,
    now: datetime,
    earlier: Sequence[Draft] = (),
    payment: PaymentConfig = INTEREST,
    window: SendingWindow = BAVARIA,
) -> dict[str, Any]:
    return client_context(
        [thread],
        step_index=step_index,
        now=now,
        window=window,
        owner=OWNER,
        payment=payment,
        earlier=earlier,
    )


def flat(text: str) -> str:
    return " ".join(text.split())


# -- 1. deadlines fall on business days ----------------------------------------------------------


def test_a_deadline_on_easter_sunday_moves_to_the_tuesday_after_easter_monday() -> None:
    # 26 March + 10 days is Easter Sunday; Easter Monday is a holiday in every Land.
    now = datetime(2026, 3, 26, 9, 0, tzinfo=UTC)

    keys = context(invoice(), 0, now)

    assert keys["new_due_date"] == date(2026, 4, 7)
    body = Texts().render("rechnung_1", **keys).body
    assert "bis Dienstag, 7. April 2026" in flat(body)
    assert "Sonntag" not in body


@pytest.mark.parametrize(
    ("today", "land", "expected"),
    [
        (date(2026, 3, 28), "BY", date(2026, 4, 7)),  # Easter Monday 6 April
        (date(2026, 4, 1), "BY", date(2026, 4, 13)),  # Saturday 11 April → Monday
        (date(2025, 12, 27), "BY", date(2026, 1, 7)),  # Epiphany 6 January in Bavaria
        (date(2025, 12, 27), "NW", date(2026, 1, 6)),  # but not in NRW
        (date(2026, 5, 25), "NW", date(2026, 6, 5)),  # Fronleichnam 4 June 2026
        (date(2026, 5, 25), "BE", date(2026, 6, 4)),  # not a holiday in Berlin
    ],
)
def test_every_deadline_is_a_business_day_of_the_bundesland(
    today: date, land: str, expected: date
) -> None:
    now = datetime.combine(today, datetime.min.time(), tzinfo=UTC).replace(hour=10)
    window = SendingWindow(bundesland=land)

    for thread, index in ((invoice(), 1), (invoice(kind=Kind.AUFTRAG), 4)):
        assert context(thread, index, now, window=window)["new_due_date"] == expected


# -- 2. interest is stated once and consistently ----------------------------------------------


def test_the_last_reminder_keeps_the_default_date_the_first_reminder_set() -> None:
    texts = Texts()
    first_at = datetime(2026, 3, 19, 9, 30, tzinfo=UTC)
    reminder_at = datetime(2026, 3, 31, 9, 30, tzinfo=UTC)
    final_at = datetime(2026, 4, 14, 9, 30, tzinfo=UTC)
    first = sent(1, 0, first_at)
    reminder_keys = context(invoice(step=1), 1, reminder_at, [first])
    reminder = texts.render("rechnung_2", **reminder_keys).body
    # 31 March + 10 days = Friday 10 April: interest runs from Saturday 11 April.
    assert "bis Freitag, 10. April 2026" in flat(reminder)
    assert "Ab dem 11. April 2026 fallen Verzugszinsen von derzeit 10,27 %" in flat(reminder)
    assert "seit meiner Nachfrage vom 19. März 2026" in flat(reminder)

    earlier = [first, sent(2, 1, reminder_at, reminder)]
    final = texts.render("rechnung_3", **context(invoice(step=2), 2, final_at, earlier)).body

    text = flat(final)
    assert "Seit dem 11. April 2026 befinden Sie sich in Zahlungsverzug." in text
    assert "Verzugszinsen von derzeit 10,27 % pro Jahr" in text
    assert "Verzugspauschale von 40,00 € (§ 288 Abs. 5 BGB)" in text
    assert "Nachfrage vom 19. März 2026 und meine Zahlungserinnerung vom 31. März 2026" in text
    assert "Frist für Ihre Zahlung ist Freitag, 24. April 2026" in text
    assert f"werde ich {FINAL_STEPS['anwalt']}." in text


def test_an_edited_reminder_without_a_date_counts_from_its_send_day() -> None:
    reminder_at = datetime(2026, 3, 26, 9, 30, tzinfo=UTC)  # + 10 days: Easter Sunday
    edited = sent(2, 1, reminder_at, "Guten Tag Herr Weiß, bitte zahlen Sie bald.")
    now = datetime(2026, 4, 14, 9, 0, tzinfo=UTC)

    assert context(invoice(step=2), 2, now, [edited])["default_from"] == date(2026, 4, 8)


def test_no_default_date_is_claimed_before_it_has_begun() -> None:
    reminder_at = datetime(2026, 3, 31, 9, 30, tzinfo=UTC)
    now = datetime(2026, 4, 8, 9, 0, tzinfo=UTC)  # the reminder's date is still ahead

    keys = context(invoice(step=2), 2, now, [sent(2, 1, reminder_at)])

    assert keys["default_from"] is None
    assert "Zahlungsverzug" not in Texts().render("rechnung_3", **keys).body


def test_the_flat_fee_is_40_euro_per_invoice_for_business_clients_only() -> None:
    now = datetime(2026, 4, 14, 9, 0, tzinfo=UTC)
    other = invoice(id=2, invoice_no="2026-015", amount=Decimal("238.00"))
    business = client_context(
        [invoice(), other], step_index=1, now=now, window=BAVARIA, owner=OWNER, payment=INTEREST
    )
    consumer_client = Client(email="lena@example.test", customer_type="b2c")
    consumer = context(invoice(client=consumer_client), 1, now)

    text = flat(Texts().render("rechnung_2", **business).body)
    assert "Verzugspauschale von 40,00 € je Rechnung" in text
    assert consumer["flat_fee"] is None
    assert consumer["interest"]["rate"] == Decimal("6.27")


def test_the_open_amount_is_what_the_texts_ask_for() -> None:
    keys = context(invoice(), 1, datetime(2026, 4, 14, 9, 0, tzinfo=UTC))

    assert keys["invoices"][0]["amount_due"] == Decimal("1190.00")
    assert keys["total"] == Decimal("1190.00")


# -- 3. steps build on each other ---------------------------------------------------------------


def test_each_later_mail_names_the_earlier_ones_by_date() -> None:
    texts = Texts()
    first = sent(1, 0, datetime(2026, 3, 12, 9, 30, tzinfo=UTC))
    offer = invoice(kind=Kind.ANGEBOT, subject="Angebot Website-Relaunch", step=1)
    now = datetime(2026, 3, 20, 9, 0, tzinfo=UTC)

    second = texts.render("angebot_2", **context(offer, 1, now, [first])).body

    assert "Auf meine Nachfrage vom 12. März 2026" in flat(second)
    assert "„Website-Relaunch“" in second


def test_only_mails_of_earlier_steps_count_and_the_latest_of_a_step_wins() -> None:
    old = sent(1, 0, datetime(2026, 3, 12, 9, 30, tzinfo=UTC))
    again = sent(2, 0, datetime(2026, 3, 13, 9, 30, tzinfo=UTC))
    later = sent(3, 2, datetime(2026, 3, 14, 9, 30, tzinfo=UTC))
    now = datetime(2026, 3, 20, 9, 0, tzinfo=UTC)

    keys = context(invoice(step=1), 1, now, [later, again, old])

    assert (keys["first_mail_date"], keys["previous_mail_date"]) == (
        date(2026, 3, 13),
        date(2026, 3, 13),
    )


# -- 7. the assistant is addressed with Sie, by name when configured --------------------------


def test_the_assistant_gets_sie_and_her_name_even_when_the_client_is_on_du() -> None:
    client = Client(
        email="jonas@keller-bau.test",
        name="Jonas Keller",
        du=True,
        anrede="herr",
        assistant_email="empfang@keller-bau.test",
        assistant_name="Petra Lange",
    )
    order = invoice(kind=Kind.AUFTRAG, client=client, subject="Umbau Büro", step=3)
    keys = context(order, 3, datetime(2026, 3, 20, 9, 0, tzinfo=UTC))

    body = Texts().render("auftrag_3_assistent", **keys).body

    assert body.startswith("Guten Tag Petra Lange,\n")
    assert "mit Herrn Keller" in body
    assert "Können Sie" in body and " Du " not in body
