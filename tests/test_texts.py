"""Tests for the German mail texts (templates/de) and their renderer."""

from __future__ import annotations

import re
import sys
import unicodedata
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from nachfass_bot.errors import ConfigError, TemplateError
from nachfass_bot.texts.render import (
    _CONTROLS,
    _CONTROLS_BUT_LINES,
    RenderedMail,
    Texts,
    builtin_template_dir,
    dative_name,
    format_date_medium,
    format_money,
    format_percent,
    join_words,
    one_line,
    salutation,
    shorten,
)

CLIENT_TEMPLATES = (
    "angebot_1",
    "angebot_2",
    "auftrag_1",
    "auftrag_3_assistent",
    "auftrag_4",
    "auftrag_4_absage",
    "rechnung_1",
    "rechnung_2",
    "rechnung_3",
)
PAYMENT_TEMPLATES = ("rechnung_1", "rechnung_2", "rechnung_3")
FORBIDDEN_WORDS = (
    "inkasso",
    "mahnbescheid",
    "gericht",
    "anwalt",
    "verzugszinsen",
    "zinsen",
    "pauschale",
    "kündig",
    "frist gesetzt",
)
SIGNATURE = "Viele Grüße\nErika Mustermann\n\nMustermann Text & Konzept\nTel. 0221 1234567"
NAMES = ("Jürgen Weiß", None)


@pytest.fixture(scope="module")
def texts() -> Texts:
    return Texts()


def invoice(
    number: str = "2026-017",
    amount: str = "1190.00",
    due: date = date(2026, 1, 12),
    issued: date = date(2025, 12, 29),
) -> dict[str, object]:
    return {
        "invoice_no": number,
        "invoice_date": issued,
        "amount": Decimal(amount),
        "amount_due": Decimal(amount),
        "invoice_total": Decimal(amount),
        "paid": Decimal("0.00"),
        "due_date": due,
    }


def client_context(
    *, du: bool, name: str | None, anrede: str | None = None, **overrides: object
) -> dict[str, object]:
    """The keys the engine passes to a client template (templates/de/README.md)."""
    context: dict[str, object] = {
        "anrede": salutation(name, du, anrede),
        "assistant_anrede": salutation(None, False),
        "assistant_name": None,
        "du": du,
        "client_name": name,
        "client_dative": dative_name(name, False, anrede),
        "subject": "Angebot Website-Relaunch",
        "started_at": datetime(2026, 1, 2, 9, 30, tzinfo=UTC),
        "owner_name": "Erika Mustermann",
        "signature": SIGNATURE,
        "new_due_date": date(2027, 1, 12),
        "expenses": Decimal("850.00"),
        "invoices": [invoice()],
        "total": Decimal("1190.00"),
        "interest": None,
        "flat_fee": None,
        "final_step": None,
        "first_mail_date": None,
        "previous_mail_date": None,
        "default_from": date(2027, 1, 13),
    }
    context.update(overrides)
    return context


def text_without_signature(mail: RenderedMail) -> str:
    assert mail.body.endswith(SIGNATURE + "\n")
    return mail.body[: -len(SIGNATURE) - 1]


def write_template(folder: Path, name: str, text: str) -> Path:
    path = folder / f"{name}.txt"
    path.write_text(text, encoding="utf-8")
    return path


# -- every client template, Sie and Du, with and without a name --------------------------


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("du", [False, True])
@pytest.mark.parametrize("template", CLIENT_TEMPLATES)
def test_client_template_shape(texts: Texts, template: str, du: bool, name: str | None) -> None:
    mail = texts.render(template, **client_context(du=du, name=name))

    assert 0 < len(mail.subject) < 78
    assert "\n" not in mail.subject and "\r" not in mail.subject
    assert mail.body.endswith("\n") and not mail.body.endswith("\n\n")
    assert "\r" not in mail.body
    words = text_without_signature(mail).split()
    assert len(words) < 130
    assert "{{" not in mail.body and "{%" not in mail.body


@pytest.mark.parametrize("template", CLIENT_TEMPLATES)
def test_client_template_sie_form(texts: Texts, template: str) -> None:
    body = texts.render(template, **client_context(du=False, name="Jürgen Weiß")).body

    expected = "Guten Tag," if template == "auftrag_3_assistent" else "Guten Tag Jürgen Weiß,"
    assert body.splitlines()[0] == expected
    assert re.search(r"\b(Sie|Ihnen|Ihre[nmrs]?)\b", body)
    assert not re.search(r"\b(Du|Dir|Dich|Dein\w*)\b", body)


@pytest.mark.parametrize("template", CLIENT_TEMPLATES)
def test_client_template_du_form(texts: Texts, template: str) -> None:
    body = texts.render(template, **client_context(du=True, name="Jürgen Weiß")).body

    if template == "auftrag_3_assistent":  # the assistant gets Sie, whatever the client gets
        assert body.splitlines()[0] == "Guten Tag,"
        return
    assert body.splitlines()[0] == "Hallo Jürgen,"
    assert re.search(r"\b(Du|Dir|Dich|Dein\w*)\b", body)
    assert not re.search(r"\b(Sie|Ihnen)\b", body)


@pytest.mark.parametrize("template", CLIENT_TEMPLATES)
def test_client_template_without_name_greets_neutrally(texts: Texts, template: str) -> None:
    sie = texts.render(template, **client_context(du=False, name=None)).body
    du = texts.render(template, **client_context(du=True, name=None)).body

    assert "Guten Tag,\n" in sie
    assert ("Guten Tag,\n" if template == "auftrag_3_assistent" else "Hallo,\n") in du
    assert "None" not in sie and "None" not in du


@pytest.mark.parametrize("du", [False, True])
@pytest.mark.parametrize("template", CLIENT_TEMPLATES)
def test_client_texts_threaten_nothing(texts: Texts, template: str, du: bool) -> None:
    mail = texts.render(template, **client_context(du=du, name="Jürgen Weiß"))
    text = (mail.subject + "\n" + mail.body).lower()

    for word in FORBIDDEN_WORDS:
        assert word not in text, f"{template}: {word}"


@pytest.mark.parametrize("du", [False, True])
@pytest.mark.parametrize("template", CLIENT_TEMPLATES)
def test_client_texts_mention_the_thread_subject(texts: Texts, template: str, du: bool) -> None:
    mail = texts.render(template, **client_context(du=du, name="Jürgen Weiß"))

    if template.startswith("rechnung"):
        assert "2026-017" in mail.subject
    else:
        assert "Website-Relaunch" in mail.subject
        assert "Angebot Angebot" not in mail.subject and "zu Angebot" not in mail.subject
        assert "„Website-Relaunch“" in mail.body, "the subject as a topic"


def test_umlauts_survive_in_subject_and_body(texts: Texts) -> None:
    mail = texts.render(
        "angebot_1", **client_context(du=False, name="Jürgen Weiß", subject="Größe & Maße")
    )

    assert mail.subject == "Kurze Nachfrage: Größe & Maße"
    assert "Guten Tag Jürgen Weiß," in mail.body
    assert "„Größe & Maße“" in mail.body  # no HTML escaping in plain text


def test_signature_is_appended_once_at_the_end(texts: Texts) -> None:
    mail = texts.render("angebot_1", **client_context(du=False, name=None))

    assert mail.body.count("Viele Grüße") == 1
    assert mail.body.endswith("\n\n" + SIGNATURE + "\n")


def test_empty_signature_falls_back_to_greeting_and_owner_name(texts: Texts) -> None:
    mail = texts.render("auftrag_1", **client_context(du=True, name=None, signature="  \n"))

    assert mail.body.endswith("\n\nViele Grüße\nErika Mustermann\n")


# -- dates and money ----------------------------------------------------------------------


def test_payment_reminder_shows_german_date_and_money(texts: Texts) -> None:
    body = texts.render("rechnung_1", **client_context(du=False, name="Jürgen Weiß")).body

    assert (
        "zu meiner Rechnung Nr. 2026-017 vom 29. Dezember 2025 über 1.190,00 €, fällig am "
        "Montag, 12. Januar 2026, habe ich noch keinen Zahlungseingang gesehen."
    ) in body
    assert "bis Dienstag, 12. Januar 2027." in body  # new_due_date


@pytest.mark.parametrize("du", [False, True])
@pytest.mark.parametrize("template", PAYMENT_TEMPLATES)
def test_payment_texts_name_invoice_amount_dates(texts: Texts, template: str, du: bool) -> None:
    body = texts.render(template, **client_context(du=du, name="Jürgen Weiß")).body

    assert (
        "Nr. 2026-017 vom 29. Dezember 2025 über 1.190,00 €, fällig am Montag, 12. Januar 2026"
        in body
    )
    assert "Dienstag, 12. Januar 2027" in body
    already_paid = (
        "Falls Du die Rechnung bereits bezahlt hast, ignoriere diese Nachricht bitte"
        if du
        else "Falls Sie die Rechnung bereits bezahlt haben, ignorieren Sie diese Nachricht bitte"
    )
    assert already_paid in body


@pytest.mark.parametrize("du", [False, True])
@pytest.mark.parametrize("template", PAYMENT_TEMPLATES)
def test_several_invoices_go_into_one_list_with_the_total(
    texts: Texts, template: str, du: bool
) -> None:
    invoices = [
        invoice("2026-003", "238.00", date(2026, 1, 5), date(2025, 12, 15)),
        invoice("2026-017", "1190.00", date(2026, 1, 12), date(2025, 12, 29)),
    ]
    context = client_context(du=du, name=None, invoices=invoices, total=Decimal("1428.00"))
    mail = texts.render(template, **context)

    assert "2026-003 und 2026-017" in mail.subject
    assert "- Nr. 2026-003 vom 15.12.2025: 238,00 €, fällig am 05.01.2026\n" in mail.body
    assert "- Nr. 2026-017 vom 29.12.2025: 1.190,00 €, fällig am 12.01.2026\n" in mail.body
    assert "Zusammen sind das 1.428,00 €." in mail.body
    assert "die Rechnungen bereits bezahlt" in mail.body
    assert len(mail.subject) < 78


@pytest.mark.parametrize("template", PAYMENT_TEMPLATES)
def test_many_long_invoice_numbers_keep_the_subject_short(texts: Texts, template: str) -> None:
    invoices = [invoice(f"RE-2026-{number:05d}") for number in range(1, 8)]
    context = client_context(du=False, name=None, invoices=invoices, total=Decimal("8330.00"))

    assert len(texts.render(template, **context).subject) < 78


@pytest.mark.parametrize("du", [False, True])
@pytest.mark.parametrize("template", ["rechnung_2", "rechnung_3"])
def test_interest_and_flat_fee_when_enabled(texts: Texts, template: str, du: bool) -> None:
    interest = {"rate": Decimal("10.27"), "base_rate": Decimal("1.27"), "b2b": True}
    context = client_context(du=du, name=None, interest=interest, flat_fee=Decimal("40.00"))
    body = " ".join(texts.render(template, **context).body.split())

    expected = {
        "rechnung_2": "Ab dem 13. Januar 2027 fallen Verzugszinsen von derzeit 10,27 % pro Jahr "
        "an (Basiszinssatz 1,27 % plus 9 Prozentpunkte, § 288 BGB), "
        "dazu die Verzugspauschale von 40,00 € (§ 288 Abs. 5 BGB).",
        "rechnung_3": "Seit dem 13. Januar 2027 "
        + ("bist Du" if du else "befinden Sie sich")
        + " in Zahlungsverzug. Es fallen Verzugszinsen von derzeit 10,27 % pro Jahr an "
        "(§ 288 BGB), dazu die Verzugspauschale von 40,00 € (§ 288 Abs. 5 BGB).",
    }
    assert expected[template] in body


def test_consumer_interest_is_five_points_without_flat_fee(texts: Texts) -> None:
    interest = {"rate": Decimal("6.27"), "base_rate": Decimal("1.27"), "b2b": False}
    context = client_context(du=False, name=None, interest=interest, flat_fee=None)
    body = " ".join(texts.render("rechnung_2", **context).body.split())

    assert "Verzugszinsen von derzeit 6,27 % pro Jahr an (Basiszinssatz 1,27 % plus 5" in body
    assert "Pauschale" not in body and "40,00" not in body


def test_flat_fee_alone(texts: Texts) -> None:
    context = client_context(du=False, name=None, flat_fee=Decimal("40.00"))
    body = " ".join(texts.render("rechnung_3", **context).body.split())

    assert "Es fällt die Verzugspauschale von 40,00 € an (§ 288 Abs. 5 BGB)." in body
    assert "Zinsen" not in body


def test_friendly_question_never_mentions_interest(texts: Texts) -> None:
    interest = {"rate": Decimal("10.27"), "base_rate": Decimal("1.27"), "b2b": True}
    plain = client_context(du=False, name=None)
    enabled = {**plain, "interest": interest, "flat_fee": Decimal("40.00")}

    assert texts.render("rechnung_1", **enabled) == texts.render("rechnung_1", **plain)


@pytest.mark.parametrize(
    ("final_step", "expected"),
    [
        (None, "entscheide ich, wie ich weiter vorgehe."),
        ("einen gerichtlichen Mahnbescheid beantragen", "werde ich einen gerichtlichen "),
        ("die Forderung abtreten.", "werde ich die Forderung abtreten. "),
    ],
)
def test_last_reminder_names_only_the_configured_step(
    texts: Texts, final_step: str | None, expected: str
) -> None:
    context = client_context(du=False, name=None, final_step=final_step)
    body = " ".join(texts.render("rechnung_3", **context).body.split())

    assert expected in body
    assert ".." not in body


@pytest.mark.parametrize("du", [False, True])
def test_order_that_may_not_happen_names_expenses_and_asks_for_a_proposal(
    texts: Texts, du: bool
) -> None:
    body = texts.render("auftrag_4_absage", **client_context(du=du, name="Jürgen Weiß")).body

    assert "Kosten von 850,00 €" in body
    assert "Vorarbeit" in body
    assert "Dienstag, 12. Januar 2027" in body
    assert ("Was schlägst Du vor" if du else "Was schlagen Sie vor") in body


def test_order_that_may_not_happen_without_expenses(texts: Texts) -> None:
    body = texts.render(
        "auftrag_4_absage", **client_context(du=False, name=None, expenses=None)
    ).body

    assert "Kosten" not in body and "None" not in body
    assert "Vorarbeit geleistet." in body


@pytest.mark.parametrize("du", [False, True])
def test_first_dunning_letter_is_named_in_the_subject_only(texts: Texts, du: bool) -> None:
    mail = texts.render("rechnung_2", **client_context(du=du, name="Jürgen Weiß"))

    assert "Zahlungserinnerung / 1. Mahnung" in mail.subject
    assert mail.body.startswith("Hallo Jürgen,\n\n" if du else "Guten Tag Jürgen Weiß,\n\n")
    assert "mündlich" not in mail.body


@pytest.mark.parametrize("template", ["angebot_1", "auftrag_1"])
def test_started_at_is_shown_in_berlin_time(texts: Texts, template: str) -> None:
    # 23:30 UTC on Sunday is already Monday 00:30 in Berlin.
    started = datetime(2026, 1, 11, 23, 30, tzinfo=UTC)
    body = texts.render(template, **client_context(du=False, name=None, started_at=started)).body

    assert "am 12. Januar 2026 habe ich" in body


def test_configured_time_zone_is_used() -> None:
    started = datetime(2026, 1, 11, 23, 30, tzinfo=UTC)
    texts = Texts(timezone="America/New_York")
    body = texts.render("angebot_1", **client_context(du=False, name=None, started_at=started)).body

    assert "am 11. Januar 2026 habe ich" in body


def test_naive_datetime_is_refused(texts: Texts) -> None:
    context = client_context(du=False, name=None, started_at=datetime(2026, 1, 12, 9, 0))

    with pytest.raises(TemplateError, match=r"angebot_1\.txt"):
        texts.render("angebot_1", **context)


@pytest.mark.parametrize(
    ("amount", "expected"),
    [
        (Decimal("1190"), "1.190,00 €"),
        (Decimal("0.5"), "0,50 €"),
        (Decimal("1234567.891"), "1.234.567,89 €"),
        (40, "40,00 €"),
    ],
)
def test_format_money(amount: Decimal | int, expected: str) -> None:
    assert format_money(amount) == expected


def test_format_money_refuses_float() -> None:
    with pytest.raises(TypeError):
        format_money(1190.0)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("rate", "expected"),
    [
        (Decimal("10.27"), "10,27 %"),
        (Decimal("1.27"), "1,27 %"),
        (Decimal("9"), "9,00 %"),
        (Decimal("1234.5"), "1.234,50 %"),
        (5, "5,00 %"),
    ],
)
def test_format_percent(rate: Decimal | int, expected: str) -> None:
    assert format_percent(rate) == expected


def test_format_percent_refuses_float_and_bool() -> None:
    with pytest.raises(TypeError):
        format_percent(10.27)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        format_percent(True)


def test_format_date_medium_has_no_weekday() -> None:
    berlin = ZoneInfo("Europe/Berlin")

    assert format_date_medium(date(2026, 3, 2), berlin) == "2. März 2026"
    assert format_date_medium(datetime(2026, 1, 11, 23, 30, tzinfo=UTC), berlin) == (
        "12. Januar 2026"
    )


@pytest.mark.parametrize(
    ("items", "expected"),
    [([], ""), (["A"], "A"), (["A", "B"], "A und B"), (["A", "B", "C"], "A, B und C")],
)
def test_join_words(items: list[str], expected: str) -> None:
    assert join_words(items) == expected


def test_shorten_cuts_at_a_word_break() -> None:
    assert shorten("Angebot Website-Relaunch", 50) == "Angebot Website-Relaunch"
    assert shorten("Angebot für den großen Website-Relaunch 2026", 20) == "Angebot für den…"
    assert len(shorten("x" * 200, 55)) == 55


def test_long_thread_subject_keeps_subject_short(texts: Texts) -> None:
    long_subject = "Angebot für den kompletten Relaunch der Website inklusive Shop und Blog " * 2
    for template in CLIENT_TEMPLATES:
        mail = texts.render(template, **client_context(du=False, name=None, subject=long_subject))
        assert len(mail.subject) < 78, template


# -- salutation ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "du", "expected"),
    [
        ("Jonas Keller", False, "Guten Tag Jonas Keller,"),
        ("Jonas Keller", True, "Hallo Jonas,"),
        ("Jürgen Weiß", True, "Hallo Jürgen,"),
        (None, False, "Guten Tag,"),
        (None, True, "Hallo,"),
        ("   ", False, "Guten Tag,"),
        ("Keller, Jonas", False, "Guten Tag Jonas Keller,"),
        ("Keller, Jonas", True, "Hallo Jonas,"),
        ("Dr. Jonas Keller", True, "Hallo Jonas,"),
        ('"Jonas Keller"', False, "Guten Tag Jonas Keller,"),
        ("jonas@keller.example", False, "Guten Tag,"),
        ("Jonas\r\nKeller", False, "Guten Tag Jonas Keller,"),
    ],
)
def test_salutation(name: str | None, du: bool, expected: str) -> None:
    assert salutation(name, du) == expected


@pytest.mark.parametrize(
    ("name", "anrede", "expected"),
    [
        ("Jonas Keller", "herr", "Guten Tag Herr Keller,"),
        ("Maria Keller", "frau", "Guten Tag Frau Keller,"),
        ("Dr. Maria Weiß", "frau", "Guten Tag Frau Dr. Weiß,"),
        ("Prof. Dr. Jürgen Weiß", "herr", "Guten Tag Herr Prof. Dr. Weiß,"),
        ("Weiß, Dr. Jürgen", "herr", "Guten Tag Herr Dr. Weiß,"),
        ("Keller, Jonas", "Herr", "Guten Tag Herr Keller,"),
        ("Frau Maria Keller", "frau", "Guten Tag Frau Keller,"),
        ("Ursula von der Leyen", "frau", "Guten Tag Frau von der Leyen,"),
        ("Anna Schmidt-Lang", " FRAU ", "Guten Tag Frau Schmidt-Lang,"),
        ("Keller", "herr", "Guten Tag Herr Keller,"),
        ("Jonas Keller", None, "Guten Tag Jonas Keller,"),
        ("Jonas Keller", "divers", "Guten Tag Jonas Keller,"),
        ("Jonas Keller", "", "Guten Tag Jonas Keller,"),
        ("Dr.", "frau", "Guten Tag Dr.,"),
        (None, "frau", "Guten Tag,"),
        ("jonas@keller.example", "herr", "Guten Tag,"),
    ],
)
def test_salutation_with_form_of_address(
    name: str | None, anrede: str | None, expected: str
) -> None:
    assert salutation(name, False, anrede) == expected


@pytest.mark.parametrize("anrede", ["herr", "frau", None])
def test_du_greets_by_first_name_whatever_the_form_of_address(anrede: str | None) -> None:
    assert salutation("Dr. Jürgen Weiß", True, anrede) == "Hallo Jürgen,"
    assert salutation(None, True, anrede) == "Hallo,"


def test_salutation_never_guesses_a_gender() -> None:
    for name in ("Jonas Keller", "Maria Keller", None):
        for du in (False, True):
            text = salutation(name, du)
            assert "Herr" not in text and "Frau" not in text
            assert "Sehr geehrte" not in text


# -- owner mails -------------------------------------------------------------------------------


def draft_context(**overrides: object) -> dict[str, object]:
    context: dict[str, object] = {
        "token_tag": "[NF-3f9a12c4]",
        "client_label": "Jürgen Weiß",
        "client_email": "juergen@weiss.example",
        "thread_id": 42,
        "kind_label": "Rechnung",
        "step_number": 2,
        "draft_subject": "Zahlungserinnerung / 1. Mahnung: Rechnung 2026-017",
        "draft_body": "Guten Tag Jürgen Weiß,\n\nbitte zahlen.\n\n-- \nErika\n",
        "send_after": datetime(2026, 1, 12, 8, 0, tzinfo=UTC),
    }
    context.update(overrides)
    return context


def test_owner_draft_carries_token_and_the_draft_exactly(texts: Texts) -> None:
    context = draft_context()
    mail = texts.render("owner_draft", **context)

    assert "[NF-3f9a12c4]" in mail.subject
    assert "Jürgen Weiß" in mail.subject
    assert "Entwurf" in mail.subject
    assert len(mail.subject) < 78
    for word in ("„ok“", "„ja“", "„senden“", "„stop“", "„nein“"):
        assert word in mail.body
    assert "ersten Zeilen" in mail.body
    assert "juergen@weiss.example" in mail.body
    assert "Montag, 12. Januar 2026 um 09:00 Uhr" in mail.body
    draft_part = mail.body.split("----- Entwurf -----\n", 1)[1]
    assert draft_part == f"Betreff: {context['draft_subject']}\n\n{context['draft_body']}"


@pytest.mark.parametrize(("kind_label", "paid"), [("Rechnung", True), ("Angebot", False)])
def test_owner_draft_offers_paid_only_for_invoices(
    texts: Texts, kind_label: str, paid: bool
) -> None:
    body = texts.render("owner_draft", **draft_context(kind_label=kind_label)).body

    assert "„später 7“" in body
    assert ("„bezahlt“" in body) is paid


def test_owner_draft_without_send_time_and_label_equal_to_email(texts: Texts) -> None:
    context = draft_context(
        send_after=None, client_label="juergen@weiss.example", kind_label="Angebot"
    )
    body = texts.render("owner_draft", **context).body

    assert "(juergen@weiss.example)" not in body
    assert "nächsten erlaubten Sendefenster" in body


def test_owner_task(texts: Texts) -> None:
    mail = texts.render(
        "owner_task",
        task="E-Mail kam nicht an — bitte anrufen oder Adresse prüfen",
        client_label="Jürgen Weiß",
        thread_id=42,
        kind_label="Auftrag",
        subject="Website-Relaunch",
        token_tag="[NF-3f9a12c4]",
        task_label="anrufen",
        task_id=None,
    )

    assert mail.subject == "[NF-3f9a12c4] Aufgabe zu Jürgen Weiß: anrufen"
    assert "„erledigt“" in mail.body
    assert "nachfass-bot done" not in mail.body, "no number, no hint"
    assert len(mail.subject) < 78
    assert "E-Mail kam nicht an — bitte anrufen oder Adresse prüfen" in mail.body
    assert "Vorgang 42: Auftrag „Website-Relaunch“" in mail.body


@pytest.mark.parametrize("excerpt", ["", "vielleicht nächste Woche?"])
@pytest.mark.parametrize("unclear_cut", [False, True])
def test_owner_not_understood(texts: Texts, excerpt: str, unclear_cut: bool) -> None:
    mail = texts.render(
        "owner_not_understood",
        token_tag="[NF-3f9a12c4]",
        draft_subject="Kurze Nachfrage: Angebot Website-Relaunch",
        answer_excerpt=excerpt,
        unclear_cut=unclear_cut,
    )

    assert "[NF-3f9a12c4]" in mail.subject
    for word in ("„ok“", "„ja“", "„senden“", "„stop“", "„nein“"):
        assert word in mail.body
    assert "nichts gesendet" in mail.body
    hint = "nicht verstanden – bitte nur den neuen Text schicken"
    assert (hint in mail.body) is unclear_cut
    if excerpt and not unclear_cut:
        assert f"„{excerpt}“" in mail.body


@pytest.mark.parametrize("label", ["Jürgen Weiß", "juergen@weiss.example"])
def test_owner_spam_alert(texts: Texts, label: str) -> None:
    mail = texts.render(
        "owner_spam_alert",
        client_label=label,
        client_email="juergen@weiss.example",
        folder="Junk-E-Mail",
        subject="Website-Relaunch",
        thread_id=42,
    )

    assert mail.subject == f"nachfass-bot: Antwort von {label} lag im Spam-Ordner"
    assert "„Junk-E-Mail“" in mail.body
    assert "„Website-Relaunch“" in mail.body
    assert "Spam-Filter" in mail.body
    assert "fasse ich nicht mehr nach" in mail.body
    assert mail.body.count("juergen@weiss.example") == 1
    assert "nachfass-bot show 42" in mail.body


def test_owner_bounce_alert(texts: Texts) -> None:
    mail = texts.render(
        "owner_bounce_alert",
        token_tag="",
        failed="juergen@weiss.example, info@weiss.example",
        reason="Unzustellbar (5.1.1)",
        subject="Website-Relaunch",
        thread_id=42,
        client_label="Jürgen Weiß",
    )

    assert mail.subject == "nachfass-bot: E-Mail an Jürgen Weiß kam nicht an"
    assert "E-Mail kam nicht an – bitte anrufen oder Adresse prüfen." in mail.body
    assert "juergen@weiss.example, info@weiss.example" in mail.body
    assert "Unzustellbar (5.1.1)" in mail.body
    assert "pausiert" in mail.body
    assert "nachfass-bot show 42" in mail.body


@pytest.mark.parametrize("template", ["owner_spam_alert", "owner_bounce_alert"])
def test_owner_alert_subjects_stay_short(texts: Texts, template: str) -> None:
    label = "Praxis für Physiotherapie und Rehabilitation Dr. Jürgen Weiß"
    mail = texts.render(
        template,
        client_label=label,
        client_email="a@b.example",
        folder="Spam",
        subject="x",
        thread_id=1,
        failed="a@b.example",
        reason="?",
        token_tag="[NF-3f9a12c4e5b6a7d8c9e0]",
    )

    assert len(mail.subject) < 78


# -- safety: header injection, strict variables, sandbox ----------------------------------


@pytest.mark.parametrize("template", CLIENT_TEMPLATES)
def test_header_injection_in_name_stays_on_one_line(texts: Texts, template: str) -> None:
    evil = "Keller\r\nBcc: x@evil.example"
    context = client_context(du=False, name=evil, client_name=evil, subject=f"Angebot {evil}")
    mail = texts.render(template, **context)

    assert "\r" not in mail.subject and "\n" not in mail.subject
    if not template.startswith("rechnung"):
        assert "Keller Bcc: x@evil.example" in mail.subject
    assert not any(line.startswith("Bcc:") for line in mail.body.splitlines())
    assert "\r" not in mail.body


def test_header_injection_in_owner_subjects(texts: Texts) -> None:
    mail = texts.render(
        "owner_draft",
        **draft_context(client_label="Evil\nBcc: x@evil.example", draft_subject="A\r\nB: c"),
    )

    assert "\n" not in mail.subject
    assert "Evil Bcc: x@evil.example" in mail.subject
    assert "Betreff: A B: c\n" in mail.body


def test_control_characters_in_subject_become_spaces(texts: Texts) -> None:
    context = client_context(du=False, name=None, subject="Angebot\x00\x1b\u2028\tRelaunch")
    mail = texts.render("angebot_1", **context)

    assert mail.subject == "Kurze Nachfrage: Angebot Relaunch"


def test_missing_variable_raises_template_error(texts: Texts) -> None:
    context = client_context(du=False, name=None)
    del context["new_due_date"]

    with pytest.raises(TemplateError, match=r"rechnung_1\.txt, Zeile \d+.*new_due_date"):
        texts.render("rechnung_1", **context)


def test_missing_template_raises_template_error(texts: Texts) -> None:
    with pytest.raises(TemplateError, match=r"gibt_es_nicht\.txt"):
        texts.render("gibt_es_nicht")


@pytest.mark.parametrize("name", ["../angebot_1", "angebot_1.txt", "Angebot_1", ""])
def test_template_name_must_be_plain(texts: Texts, name: str) -> None:
    with pytest.raises(TemplateError):
        texts.render(name, **client_context(du=False, name=None))


@pytest.mark.parametrize(
    "expression",
    [
        "{{ ''.__class__.__mro__ }}",
        "{{ anrede.__class__.__mro__[1].__subclasses__() }}",
        "{{ salutation.__globals__ }}",
    ],
)
def test_sandbox_blocks_attribute_escapes(tmp_path: Path, expression: str) -> None:
    write_template(tmp_path, "angebot_1", f"Betreff: Test\n\n{expression}\n")
    texts = Texts(override_dir=tmp_path)

    with pytest.raises(TemplateError, match=r"angebot_1\.txt"):
        texts.render("angebot_1", anrede="Hallo,", salutation=salutation)


# -- template directories -------------------------------------------------------------------


def test_builtin_template_dir_holds_all_templates() -> None:
    folder = builtin_template_dir()
    names = {path.stem for path in folder.glob("*.txt")}

    expected = {
        *CLIENT_TEMPLATES,
        "owner_draft",
        "owner_task",
        "owner_not_understood",
        "owner_alert",
        "owner_spam_alert",
        "owner_bounce_alert",
    }
    assert expected <= names
    for path in folder.glob("*.txt"):
        lines = path.read_text(encoding="utf-8").split("\n")
        assert lines[0].startswith("Betreff: "), path.name
        assert lines[1] == "", path.name


def test_override_template_wins(tmp_path: Path) -> None:
    write_template(
        tmp_path, "angebot_1", "Betreff: Eigener Betreff {{ subject }}\n\nEigener Text.\n"
    )
    texts = Texts(override_dir=tmp_path)

    mail = texts.render("angebot_1", **client_context(du=False, name=None))

    assert mail == RenderedMail(
        subject="Eigener Betreff Angebot Website-Relaunch", body="Eigener Text.\n"
    )


def test_override_dir_falls_back_to_builtin_for_other_templates(tmp_path: Path) -> None:
    write_template(tmp_path, "angebot_1", "Betreff: Eigen\n\nEigen.\n")
    texts = Texts(override_dir=tmp_path)

    mail = texts.render("angebot_2", **client_context(du=False, name=None))

    assert mail.subject.startswith("Mein Angebot ruht vorerst")


def test_broken_override_is_reported_not_replaced(tmp_path: Path) -> None:
    path = write_template(tmp_path, "angebot_1", "Betreff: Test\n\nZeile drei\n{% if du %\n")
    texts = Texts(override_dir=tmp_path)

    with pytest.raises(TemplateError) as info:
        texts.render("angebot_1", **client_context(du=False, name=None))

    message = str(info.value)
    assert str(path) in message
    assert "Zeile 4" in message


def test_broken_subject_line_names_line_one(tmp_path: Path) -> None:
    write_template(tmp_path, "angebot_1", "Betreff: {{ subject \n\nText\n")
    texts = Texts(override_dir=tmp_path)

    with pytest.raises(TemplateError, match=r"angebot_1\.txt, Zeile 1"):
        texts.render("angebot_1", **client_context(du=False, name=None))


@pytest.mark.parametrize(
    ("text", "line"),
    [
        ("Subject: Test\n\nText\n", "Zeile 1"),
        ("Betreff: Test\nText ohne Leerzeile\n", "Zeile 2"),
    ],
)
def test_malformed_header_is_reported(tmp_path: Path, text: str, line: str) -> None:
    write_template(tmp_path, "angebot_1", text)
    texts = Texts(override_dir=tmp_path)

    with pytest.raises(TemplateError, match=line):
        texts.render("angebot_1", **client_context(du=False, name=None))


def test_empty_subject_is_refused(tmp_path: Path) -> None:
    write_template(tmp_path, "angebot_1", "Betreff: {{ '' }}\n\nText\n")
    texts = Texts(override_dir=tmp_path)

    with pytest.raises(TemplateError, match="Betreff ist leer"):
        texts.render("angebot_1")


def test_body_line_ends_are_normalised(tmp_path: Path) -> None:
    write_template(tmp_path, "angebot_1", "Betreff: Test\r\n\r\n\r\nEins\r\nZwei\r\n\r\n\r\n")
    texts = Texts(override_dir=tmp_path)

    assert texts.render("angebot_1").body == "Eins\nZwei\n"


def test_missing_override_dir_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError):
        Texts(override_dir=tmp_path / "fehlt")


def test_unknown_time_zone_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="Mond/Basis"):
        Texts(timezone="Mond/Basis")


def test_override_in_wrong_encoding_is_reported(tmp_path: Path) -> None:
    (tmp_path / "angebot_1.txt").write_bytes("Betreff: Grüße\n\nText\n".encode("latin-1"))
    texts = Texts(override_dir=tmp_path)

    with pytest.raises(TemplateError, match="UTF-8"):
        texts.render("angebot_1")


@pytest.mark.parametrize(
    ("subject", "expected"),
    [
        ("Angebot Website-Relaunch", "Website-Relaunch"),
        ("Re: Ihr Angebot: Logo", "Logo"),
        ("Unterlagen zum Projekt Nordlicht", "Projekt Nordlicht"),
        ("Angebot", "Angebot"),
        ("Angebotsanfrage Logo", "Angebotsanfrage Logo"),
    ],
)
def test_topic_reads_well_after_mein_angebot_zu(subject: str, expected: str) -> None:
    from nachfass_bot.texts.render import topic

    assert topic(subject) == expected


def test_offer_text_does_not_say_angebot_twice() -> None:
    mail = Texts().render(
        "angebot_1",
        anrede="Guten Tag,", du=False, subject="Angebot Website-Relaunch",
        started_at=datetime(2026, 3, 2, 9, tzinfo=UTC), owner_name="Anna", signature="",
    )  # fmt: skip
    assert "Angebot zu „Website-Relaunch“" in mail.body
    assert "Website-Relaunch" in mail.subject


@pytest.mark.parametrize(
    ("name", "du", "anrede", "expected"),
    [
        ("Jürgen Weiß", False, "herr", "Herrn Weiß"),
        ("Dr. Anna Weiß", False, "frau", "Frau Dr. Weiß"),
        ("Jürgen Weiß", False, None, "Jürgen Weiß"),
        ("Jürgen Weiß", True, "herr", "Jürgen"),
        (None, False, "herr", ""),
    ],
)
def test_dative_name_after_mit(name, du: bool, anrede, expected: str) -> None:
    assert dative_name(name, du, anrede) == expected


def test_the_control_characters_cleaned_are_unicodes_cc_zl_and_zp() -> None:
    # render.py matches them with a regex of fixed ranges (a category look-up per
    # character was most of a digest over 10,000 threads): it must be the same set.
    every = "".join(chr(point) for point in range(sys.maxunicode + 1))
    controls = {ch for ch in every if unicodedata.category(ch) in ("Cc", "Zl", "Zp")}
    assert set(_CONTROLS.findall(every)) == controls
    assert set(_CONTROLS_BUT_LINES.findall(every)) == controls - {"\n", "\t"}
    assert one_line(" a\u2028b\x00\tc\r\n ") == "a b c"
