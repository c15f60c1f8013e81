"""Golden files: every built-in template rendered with a fixed context, reviewed by eye.

Each rendering is stored as ``tests/golden/<template>__<variant>.txt`` (``Betreff: …``,
an empty line, the body). A change to a template shows up as a diff here; after reading
the new texts, rewrite the files with::

    UPDATE_GOLDEN=1 .venv/bin/pytest tests/test_golden.py

The checks below run across all client renderings: length, German characters, the
facts of every payment text, and no word of escalation the owner did not enable.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from itertools import product
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from nachfass_bot.texts.render import (
    RenderedMail,
    Texts,
    dative_name,
    format_date_long,
    format_date_medium,
    format_date_short,
    format_money,
    salutation,
)

GOLDEN_DIR = Path(__file__).parent / "golden"
UPDATE = os.environ.get("UPDATE_GOLDEN", "").strip() not in ("", "0")

SIGNATURE = "Viele Grüße\nErika Mustermann\n\nMustermann Text & Konzept\nTel. 0221 1234567"
NAME = "Jürgen Weiß"
SUBJECT = "Website-Relaunch Praxis Weiß"
FINAL_STEP = "einen gerichtlichen Mahnbescheid beantragen"
STARTED_AT = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
NEW_DUE_DATES = {
    "rechnung_1": date(2026, 3, 27),
    "rechnung_2": date(2026, 4, 10),
    "rechnung_3": date(2026, 4, 24),
}
ONE_INVOICE = (
    {
        "invoice_no": "2026-014",
        "invoice_date": date(2026, 3, 2),
        "amount": Decimal("1190.00"),
        "due_date": date(2026, 3, 16),
    },
)
THREE_INVOICES = (
    {
        "invoice_no": "2026-009",
        "invoice_date": date(2026, 2, 2),
        "amount": Decimal("595.00"),
        "due_date": date(2026, 2, 16),
    },
    {
        "invoice_no": "2026-011",
        "invoice_date": date(2026, 2, 16),
        "amount": Decimal("2380.00"),
        "due_date": date(2026, 3, 2),
    },
    *ONE_INVOICE,
)
INTEREST = {"rate": Decimal("10.27"), "base_rate": Decimal("1.27"), "b2b": True}
FLAT_FEE = Decimal("40.00")

PLAIN_TEMPLATES = ("angebot_1", "angebot_2", "auftrag_1", "auftrag_3_assistent", "auftrag_4")
PAYMENT_TEMPLATES = ("rechnung_1", "rechnung_2", "rechnung_3")
CLIENT_TEMPLATES = (*PLAIN_TEMPLATES, "auftrag_4_absage", *PAYMENT_TEMPLATES)
# Words of escalation: in a client mail only when the owner enabled what they name.
ESCALATION_WORDS = (
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
# German words typed without umlauts or ß: a sign of a broken or lazy text.
TRANSLITERATIONS = re.compile(
    r"\b(fuer|ueber|Gruesse?|Gruss|moechte\w*|koenn\w*|muess\w*|waere|haette\w*|"
    r"Rueck\w*|faellig|gross\w*|heisst|naechst\w*|moeglich\w*|Weiss)\b",
    re.IGNORECASE,
)
MOJIBAKE = re.compile("[\ufffd]|Ã|Â|â€")


@dataclass(frozen=True)
class Case:
    """One rendering: a template, a variant name and the context."""

    template: str
    variant: str
    context: dict[str, Any] = field(hash=False)
    client: bool = True

    @property
    def file(self) -> Path:
        return GOLDEN_DIR / f"{self.template}__{self.variant}.txt"


def person(du: bool, named: bool) -> tuple[str, dict[str, Any]]:
    """The variant name and the keys that depend on Sie/Du and the name."""
    name = NAME if named else None
    anrede = "herr" if named else None
    label = f"{'du' if du else 'sie'}-{'mit' if named else 'ohne'}-name"
    return label, {
        "anrede": salutation(name, du, anrede),
        "assistant_anrede": salutation(None, du),
        "assistant_name": None,
        "du": du,
        "client_name": name,
        "client_dative": dative_name(name, du, anrede),
        "subject": SUBJECT,
        "started_at": STARTED_AT,
        "owner_name": "Erika Mustermann",
        "signature": SIGNATURE,
        "new_due_date": date(2026, 3, 27),
    }


def payment_keys(
    template: str, invoices: tuple[dict[str, Any], ...], interest: bool, final_step: bool
) -> dict[str, Any]:
    return {
        "invoices": [dict(invoice) for invoice in invoices],
        "total": sum((invoice["amount"] for invoice in invoices), Decimal("0")),
        "new_due_date": NEW_DUE_DATES[template],
        "interest": dict(INTEREST) if interest else None,
        "flat_fee": FLAT_FEE if interest else None,
        "final_step": FINAL_STEP if final_step else None,
    }


def client_cases() -> Iterator[Case]:
    people = [person(du, named) for du, named in product((False, True), (True, False))]
    for template in PLAIN_TEMPLATES:
        for label, context in people:
            yield Case(template, label, context)
    for (label, context), expenses in product(people, (True, False)):
        extra = {"expenses": Decimal("850.00") if expenses else None}
        variant = f"{label}_{'mit' if expenses else 'ohne'}-kosten"
        yield Case("auftrag_4_absage", variant, {**context, **extra})
    invoice_sets = (("1-rechnung", ONE_INVOICE), ("3-rechnungen", THREE_INVOICES))
    for template in PAYMENT_TEMPLATES:
        interest_options = (False,) if template == "rechnung_1" else (False, True)
        step_options = (False, True) if template == "rechnung_3" else (False,)
        for (label, context), (count, invoices), interest, step in product(
            people, invoice_sets, interest_options, step_options
        ):
            parts = [label, count]
            if template != "rechnung_1":
                parts.append("mit-zinsen" if interest else "ohne-zinsen")
            if template == "rechnung_3":
                parts.append("mit-schritt" if step else "ohne-schritt")
            keys = payment_keys(template, invoices, interest, step)
            yield Case(template, "_".join(parts), {**context, **keys})


def owner_cases() -> Iterator[Case]:
    draft = {
        "token_tag": "[NF-3f9a12c4]",
        "client_label": NAME,
        "client_email": "juergen@praxis-weiss.example",
        "thread_id": 42,
        "kind_label": "Rechnung",
        "step_number": 2,
        "draft_subject": "Zahlungserinnerung / 1. Mahnung: Rechnung 2026-014",
        "draft_body": "Zahlungserinnerung / 1. Mahnung\n\nGuten Tag Herr Weiß,\n\n…\n",
        "send_after": datetime(2026, 3, 30, 7, 0, tzinfo=UTC),
    }
    yield Case("owner_draft", "standard", draft, client=False)
    yield Case(
        "owner_task",
        "standard",
        {
            "task": "Bitte ruf Jürgen Weiß an und frag, ob die Unterlagen angekommen sind.",
            "client_label": NAME,
            "thread_id": 42,
            "kind_label": "Auftrag",
            "subject": SUBJECT,
            "token_tag": "[NF-3f9a12c4]",
        },
        client=False,
    )
    yield Case(
        "owner_not_understood",
        "mit-auszug",
        {
            "token_tag": "[NF-3f9a12c4]",
            "draft_subject": "Kurze Nachfrage: Website-Relaunch",
            "answer_excerpt": "vielleicht nächste Woche?",
            "unclear_cut": False,
        },
        client=False,
    )
    yield Case(
        "owner_not_understood",
        "text-nicht-trennbar",
        {
            "token_tag": "[NF-3f9a12c4]",
            "draft_subject": "Kurze Nachfrage: Website-Relaunch",
            "answer_excerpt": "Guten Tag Herr Weiß,",
            "unclear_cut": True,
        },
        client=False,
    )
    yield Case(
        "owner_alert",
        "standard",
        {
            "headline": "Versand an juergen@praxis-weiss.example unklar",
            "message": "Ob die Mail angekommen ist, ist unklar (Verbindung abgebrochen).",
            "thread_id": 42,
            "client_label": NAME,
        },
        client=False,
    )
    for label, client_label in (("mit-name", NAME), ("nur-adresse", "juergen@weiss.example")):
        yield Case(
            "owner_spam_alert",
            label,
            {
                "client_label": client_label,
                "client_email": "juergen@weiss.example",
                "folder": "Junk-E-Mail",
                "subject": SUBJECT,
                "thread_id": 42,
            },
            client=False,
        )
    threads = [
        {"id": 3, "label": NAME, "subject": SUBJECT, "state": "offen", "step": 1},
        {"id": 7, "label": "lena@hoffmann.example", "subject": "Flyer", "state": "ruht", "step": 3},
    ]
    yield Case(
        "owner_status",
        "mit-urlaub",
        {"threads": threads, "vacation": "Dienstag, 6. Januar 2026"},
        client=False,
    )
    yield Case("owner_status", "leer", {"threads": [], "vacation": None}, client=False)
    yield Case(
        "owner_bounce_alert",
        "standard",
        {
            "failed": "juergen@praxis-weiss.example, info@praxis-weiss.example",
            "reason": "Unzustellbar (5.1.1)",
            "subject": SUBJECT,
            "thread_id": 42,
            "client_label": NAME,
        },
        client=False,
    )


def tracking_cases() -> Iterator[Case]:
    """The "Neu aufgenommen" mail (app/tracking.py) and the answer to its reply."""
    offer = {
        "number": 1, "tracked": True, "kind_label": "Angebot", "client": "Jonas Keller",
        "email": "jonas@keller.example", "subject": "Website-Relaunch",
        "sent_on": datetime(2026, 3, 3, 9, 0, tzinfo=UTC), "invoice_no": None, "amount": None,
        "due_date": None, "due_from_terms": False, "terms_days": None, "missing": [],
        "first_step": "Erste Nachfrage", "first_step_at": "Mi 11.03.", "du": True,
        "guessed_du": False, "reason": "Angebot erkannt: Text „anbei mein Angebot“.",
    }  # fmt: skip
    invoice = {
        **offer, "number": 2, "kind_label": "Rechnung", "client": "Praxis Weiß",
        "email": "praxis@weiss.example", "subject": "Rechnung 2026-014",
        "invoice_no": "2026-014", "amount": Decimal("1190.00"), "due_date": date(2026, 3, 16),
        "due_from_terms": True, "terms_days": 14, "first_step": "Erste Zahlungserinnerung",
        "first_step_at": "Mi 18.03.", "du": False, "guessed_du": True,
    }  # fmt: skip
    unreadable = {
        **invoice, "number": 3, "tracked": False, "invoice_no": None, "amount": None,
        "due_date": None, "due_from_terms": False, "missing": ["Rechnungsnummer", "Betrag"],
        "first_step_at": None,
    }  # fmt: skip
    veto = datetime(2026, 3, 4, 11, 0, tzinfo=UTC)
    for label, ask in (("auto", False), ("ask", True)):
        yield Case(
            "owner_tracked",
            label,
            {"token_tag": "[NF-3f9a12c4]", "entries": [offer, invoice, unreadable],
             "ask": ask, "veto_until": veto},
            client=False,
        )  # fmt: skip
    yield Case(
        "owner_tracked_reply",
        "gemischt",
        {
            "token_tag": "[NF-3f9a12c4]",
            "done": ["Nummer 1: Vorgang 4 verworfen, ich fasse nicht nach"],
            "problems": ["Nummer 7 steht nicht in der Liste"],
        },
        client=False,
    )


def payment_cases() -> Iterator[Case]:
    """The question about a credit without an invoice number (app/payments.py)."""
    for label, numbers, amount in (
        ("eine-rechnung", ["2026-014"], Decimal("1190.00")),
        ("zwei-rechnungen", ["2026-011", "2026-014"], Decimal("1785.00")),
    ):
        yield Case(
            "owner_payment_question",
            label,
            {"token_tag": "[NF-3f9a12c4]", "payer": "PRAXIS WEISS", "amount": amount,
             "booked": date(2026, 3, 18), "numbers": numbers},
            client=False,
        )  # fmt: skip


CLIENT_CASES = tuple(client_cases())
ALL_CASES = (*CLIENT_CASES, *owner_cases(), *tracking_cases(), *payment_cases())


@pytest.fixture(scope="module")
def texts() -> Texts:
    return Texts()


def golden_text(mail: RenderedMail) -> str:
    return f"Betreff: {mail.subject}\n\n{mail.body}"


def body_without_signature(case: Case, mail: RenderedMail) -> str:
    assert mail.body.endswith("\n\n" + SIGNATURE + "\n"), case.file.name
    return mail.body[: -len(SIGNATURE) - 1]


def count_words(text: str) -> int:
    """Words are tokens with a letter or digit: "€", "–", "§" and list dashes do not count."""
    return sum(1 for token in text.split() if any(ch.isalnum() for ch in token))


# -- the golden files ------------------------------------------------------------------------


@pytest.mark.parametrize("case", ALL_CASES, ids=lambda case: case.file.stem)
def test_rendering_matches_golden_file(texts: Texts, case: Case) -> None:
    text = golden_text(texts.render(case.template, **case.context))

    if UPDATE:
        GOLDEN_DIR.mkdir(exist_ok=True)
        case.file.write_text(text, encoding="utf-8")
        return
    assert case.file.is_file(), f"{case.file.name} fehlt: UPDATE_GOLDEN=1 schreibt ihn"
    assert text == case.file.read_text(encoding="utf-8")


def test_no_stale_golden_files() -> None:
    expected = {case.file.name for case in ALL_CASES}
    stale = sorted(path.name for path in GOLDEN_DIR.glob("*.txt") if path.name not in expected)
    if UPDATE:
        for name in stale:
            (GOLDEN_DIR / name).unlink()
        return
    assert stale == []


def test_every_builtin_mail_template_has_golden_files() -> None:
    folder = Path(__file__).resolve().parents[1] / "templates" / "de"
    prefixes = ("angebot_", "auftrag_", "rechnung_", "owner_")
    templates = {path.stem for path in folder.glob("*.txt") if path.stem.startswith(prefixes)}

    assert templates == {case.template for case in ALL_CASES}


# -- checks across all client renderings -------------------------------------------------------


@pytest.mark.parametrize("case", CLIENT_CASES, ids=lambda case: case.file.stem)
def test_client_mail_is_short(texts: Texts, case: Case) -> None:
    mail = texts.render(case.template, **case.context)

    assert "\n" not in mail.subject and "\r" not in mail.subject
    assert 0 < len(mail.subject) < 78, mail.subject
    assert count_words(body_without_signature(case, mail)) < 130


@pytest.mark.parametrize("case", CLIENT_CASES, ids=lambda case: case.file.stem)
def test_client_mail_writes_german_characters(texts: Texts, case: Case) -> None:
    text = golden_text(texts.render(case.template, **case.context))

    assert not MOJIBAKE.search(text)
    assert not TRANSLITERATIONS.search(text), TRANSLITERATIONS.findall(text)
    assert re.search("[äöüÄÖÜß]", text)
    if case.template not in PAYMENT_TEMPLATES:
        assert "„Website-Relaunch Praxis Weiß“" in text
    if case.context["client_name"]:
        greeting = "Hallo Jürgen," if case.context["du"] else "Guten Tag Herr Weiß,"
        expected = "Hallo," if case.context["du"] else "Guten Tag,"
        assert (expected if case.template == "auftrag_3_assistent" else greeting) in text


@pytest.mark.parametrize("case", CLIENT_CASES, ids=lambda case: case.file.stem)
def test_client_mail_keeps_sie_or_du(texts: Texts, case: Case) -> None:
    body = texts.render(case.template, **case.context).body

    if case.context["du"]:
        assert re.search(r"\b(Du|Dir|Dich|Dein\w*)\b", body)
        assert not re.search(r"\b(Sie|Ihnen|Ihr\w*)\b", body)
    else:
        assert re.search(r"\b(Sie|Ihnen|Ihr\w*)\b", body)
        assert not re.search(r"\b(Du|Dir|Dich|Dein\w*|du|dir|dich|dein\w*)\b", body)


@pytest.mark.parametrize("case", CLIENT_CASES, ids=lambda case: case.file.stem)
def test_client_mail_escalates_only_as_configured(texts: Texts, case: Case) -> None:
    mail = texts.render(case.template, **case.context)
    text = f"{mail.subject}\n{mail.body}".lower()
    allowed: set[str] = set()
    if case.template in ("rechnung_2", "rechnung_3"):
        if case.context["interest"] is not None:
            allowed |= {"verzugszinsen", "zinsen"}
        if case.context["flat_fee"] is not None:
            allowed.add("pauschale")
        if case.template == "rechnung_3" and case.context["final_step"]:
            text = text.replace(case.context["final_step"].lower(), "")

    for word in ESCALATION_WORDS:
        if word not in allowed:
            assert word not in text, f"{case.file.name}: {word}"


PAYMENT_CASES = tuple(case for case in CLIENT_CASES if case.template in PAYMENT_TEMPLATES)


@pytest.mark.parametrize("case", PAYMENT_CASES, ids=lambda case: case.file.stem)
def test_payment_mail_names_every_fact(texts: Texts, case: Case) -> None:
    body = texts.render(case.template, **case.context).body
    flat = " ".join(body.split())  # a fact may not depend on where a line breaks
    invoices = case.context["invoices"]

    for invoice in invoices:
        assert f"Nr. {invoice['invoice_no']}" in flat
        assert format_money(invoice["amount"]) in flat
        for day in (invoice["invoice_date"], invoice["due_date"]):
            assert any(form in flat for form in german_dates(day)), day
    if len(invoices) > 1:
        assert "Zusammen sind das 4.165,00 €." in flat
    assert german_long(case.context["new_due_date"]) in flat
    paid = "die Rechnungen" if len(invoices) > 1 else "die Rechnung"
    if case.context["du"]:
        assert f"Falls Du {paid} bereits bezahlt hast, ignoriere diese Nachricht bitte" in flat
    else:
        assert f"Falls Sie {paid} bereits bezahlt haben, ignorieren Sie diese Nachricht bitte" in (
            flat
        )


@pytest.mark.parametrize("case", PAYMENT_CASES, ids=lambda case: case.file.stem)
def test_interest_and_flat_fee_only_when_given(texts: Texts, case: Case) -> None:
    flat = " ".join(texts.render(case.template, **case.context).body.split())
    interest = case.context["interest"]
    interest_text = (
        "Nach diesem Datum fallen Verzugszinsen von 10,27 % pro Jahr an "
        "(9 Prozentpunkte über dem Basiszinssatz von 1,27 %, § 288 BGB)"
    )
    fee_text = "Verzugspauschale von 40,00 € (§ 288 Abs. 5 BGB)"

    shown = case.template != "rechnung_1" and interest is not None
    assert (interest_text in flat) is shown
    assert ("§ 288 BGB" in flat) is shown
    assert (fee_text in flat) is (
        case.template != "rechnung_1" and case.context["flat_fee"] is not None
    )


def test_first_payment_question_never_mentions_interest(texts: Texts) -> None:
    for case in (case for case in CLIENT_CASES if case.template == "rechnung_1"):
        enabled = {**case.context, "interest": dict(INTEREST), "flat_fee": FLAT_FEE}

        assert texts.render("rechnung_1", **enabled) == texts.render("rechnung_1", **case.context)


@pytest.mark.parametrize("case", PAYMENT_CASES, ids=lambda case: case.file.stem)
def test_dunning_letter_is_headed_and_final_step_is_the_owners(texts: Texts, case: Case) -> None:
    mail = texts.render(case.template, **case.context)
    headed = case.template == "rechnung_2"

    assert mail.subject.startswith("Zahlungserinnerung / 1. Mahnung: ") is headed
    assert mail.body.startswith("Zahlungserinnerung / 1. Mahnung\n\n") is headed
    if case.template == "rechnung_3":
        step = case.context["final_step"]
        expected = f"werde ich {step}." if step else "entscheide ich, wie ich weiter vorgehe."
        assert expected in " ".join(mail.body.split())


def german_long(day: date) -> str:
    return format_date_long(day, ZoneInfo("Europe/Berlin"))


def german_dates(day: date) -> set[str]:
    """The forms a date may take in a payment text: 02.03.2026 or 2. März 2026."""
    berlin = ZoneInfo("Europe/Berlin")
    return {format_date_short(day, berlin), format_date_medium(day, berlin)}
