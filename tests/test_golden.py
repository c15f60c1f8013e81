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
from itertools import pairwise, product
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from nachfass_bot.texts.mailcontext import FINAL_STEPS
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
FINAL_STEP = FINAL_STEPS["inkasso"]  # the longest choice
# The earlier mails of the thread: the first question, then the reminder.
FIRST_MAIL = date(2026, 3, 19)
SECOND_MAIL = date(2026, 3, 30)
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
PARTLY_PAID = ({**ONE_INVOICE[0], "paid": Decimal("500.00")},)
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
        "assistant_anrede": salutation(None, False),
        "assistant_name": None,
        "du": du,
        "client_name": name,
        "client_dative": dative_name(name, False, anrede),
        "subject": SUBJECT,
        "started_at": STARTED_AT,
        "owner_name": "Erika Mustermann",
        "signature": SIGNATURE,
        "new_due_date": date(2026, 3, 27),
        "first_mail_date": None,
        "previous_mail_date": None,
    }


def earlier_mails(template: str) -> dict[str, Any]:
    """The dates of the mails sent before this one, as the engine finds them (and a new
    date after them for the order's last mail)."""
    earlier = {
        "angebot_2": (FIRST_MAIL,),
        "auftrag_3_assistent": (FIRST_MAIL,),
        "auftrag_4": (FIRST_MAIL, SECOND_MAIL),
        "auftrag_4_absage": (FIRST_MAIL, SECOND_MAIL),
        "rechnung_2": (FIRST_MAIL,),
        "rechnung_3": (FIRST_MAIL, SECOND_MAIL),
    }.get(template, ())
    keys: dict[str, Any] = {
        "first_mail_date": earlier[0] if earlier else None,
        "previous_mail_date": earlier[-1] if earlier else None,
    }
    if template.startswith("auftrag_4"):
        keys["new_due_date"] = date(2026, 4, 17)
    return keys


def _owed(invoice: dict[str, Any]) -> dict[str, Any]:
    """An invoice as the texts get it: what is still open after the payments so far."""
    paid = invoice.get("paid", Decimal("0.00"))
    due = invoice["amount"] - paid
    return {**invoice, "invoice_total": invoice["amount"], "paid": paid, "amount_due": due}


def payment_keys(
    template: str, invoices: tuple[dict[str, Any], ...], interest: bool, final_step: bool
) -> dict[str, Any]:
    default_from = {"rechnung_2": date(2026, 4, 11), "rechnung_3": date(2026, 4, 11)}
    return {
        "invoices": [_owed(invoice) for invoice in invoices],
        "total": sum((_owed(invoice)["amount_due"] for invoice in invoices), Decimal("0")),
        "default_from": default_from.get(template),
        "new_due_date": NEW_DUE_DATES[template],
        "interest": dict(INTEREST) if interest else None,
        "flat_fee": FLAT_FEE if interest else None,
        "final_step": FINAL_STEP if final_step else None,
    }


def client_cases() -> Iterator[Case]:
    people = [person(du, named) for du, named in product((False, True), (True, False))]
    for template in PLAIN_TEMPLATES:
        for label, context in people:
            yield Case(template, label, {**context, **earlier_mails(template)})
    label, context = people[0]
    assistant = {"assistant_name": "Petra Lange", "assistant_anrede": "Guten Tag Petra Lange,"}
    yield Case(
        "auftrag_3_assistent",
        f"{label}_mit-assistenz-name",
        {**context, **earlier_mails("auftrag_3_assistent"), **assistant},
    )
    for (label, context), expenses in product(people, (True, False)):
        extra = {"expenses": Decimal("850.00") if expenses else None}
        variant = f"{label}_{'mit' if expenses else 'ohne'}-kosten"
        yield Case("auftrag_4_absage", variant, {**context, **extra, **earlier_mails("auftrag_4")})
    invoice_sets = (
        ("1-rechnung", ONE_INVOICE),
        ("3-rechnungen", THREE_INVOICES),
        ("teilbezahlt", PARTLY_PAID),
    )
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
            keys = {**payment_keys(template, invoices, interest, step), **earlier_mails(template)}
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
        "draft_body": "Guten Tag Herr Weiß,\n\n…\n",
        "send_after": datetime(2026, 3, 30, 7, 0, tzinfo=UTC),
    }
    yield Case("owner_draft", "standard", draft, client=False)
    yield Case(
        "owner_task",
        "standard",
        {
            "task": "Jürgen Weiß anrufen und fragen, ob die Unterlagen gut angekommen sind.",
            "task_label": "anrufen",
            "task_id": 17,
            "client_label": NAME,
            "thread_id": 42,
            "kind_label": "Auftrag",
            "subject": SUBJECT,
            "token_tag": "[NF-3f9a12c4]",
        },
        client=False,
    )
    yield Case(
        "owner_task",
        "rechnung",
        {
            "task": "Die Rechnung an Jürgen Weiß ist weiter offen: bitte über rechtliche "
            "Schritte entscheiden (Mahnbescheid, Inkasso oder weiter abwarten).",
            "task_label": "über rechtliche Schritte entscheiden",
            "task_id": 18,
            "client_label": NAME,
            "thread_id": 43,
            "kind_label": "Rechnung",
            "subject": "Rechnung 2026-014",
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
    for label, tag in (("standard", "[NF-3f9a12c4]"), ("ohne-kennzeichen", "")):
        yield Case(
            "owner_bounce_alert",
            label,
            {
                "token_tag": tag,
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
        "due_from_terms": True, "terms_days": 14, "first_step": "Erste Nachfrage zur Zahlung",
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
    if case.template == "auftrag_3_assistent":
        # The assistant is greeted with Sie, by name when one is configured.
        name = case.context["assistant_name"]
        assert (f"\n\nGuten Tag {name}," if name else "\n\nGuten Tag,") in text
    elif case.context["client_name"]:
        greeting = "Hallo Jürgen," if case.context["du"] else "Guten Tag Herr Weiß,"
        assert greeting in text


@pytest.mark.parametrize("case", CLIENT_CASES, ids=lambda case: case.file.stem)
def test_client_mail_keeps_sie_or_du(texts: Texts, case: Case) -> None:
    body = texts.render(case.template, **case.context).body

    if case.context["du"] and case.template != "auftrag_3_assistent":
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
    interest_text = {
        "rechnung_2": "Ab dem 11. April 2026 fallen Verzugszinsen von derzeit 10,27 % pro Jahr "
        "an (Basiszinssatz 1,27 % plus 9 Prozentpunkte, § 288 BGB)",
        "rechnung_3": "Seit dem 11. April 2026 "
        + ("bist Du" if case.context["du"] else "befinden Sie sich")
        + " in Zahlungsverzug. Es fallen Verzugszinsen von derzeit 10,27 % pro Jahr an "
        "(§ 288 BGB)",
    }.get(case.template, "Verzugszinsen")
    per_invoice = " je Rechnung" if len(case.context["invoices"]) > 1 else ""
    fee_text = f"Verzugspauschale von 40,00 €{per_invoice} (§ 288 Abs. 5 BGB)"

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
def test_dunning_letter_is_named_in_the_subject_and_final_step_is_the_owners(
    texts: Texts, case: Case
) -> None:
    mail = texts.render(case.template, **case.context)
    headed = case.template == "rechnung_2"

    assert mail.subject.startswith("Zahlungserinnerung / 1. Mahnung: ") is headed
    assert mail.body.startswith(case.context["anrede"] + "\n\n"), "no letter heading"
    assert "mündlich" not in mail.body
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


# -- the playbooks read as a sequence (issue 13) ------------------------------------------------

LATER_STEPS = {
    "angebot_2": ("19. März 2026",),
    "auftrag_3_assistent": ("19. März 2026",),
    "auftrag_4": ("30. März 2026",),
    "auftrag_4_absage": ("30. März 2026",),
    "rechnung_2": ("seit meiner Nachfrage vom 19. März 2026",),
    "rechnung_3": ("Nachfrage vom 19. März 2026", "Zahlungserinnerung vom 30. März 2026"),
}
PREVIOUS_STEP = {
    "angebot_2": "angebot_1",
    "auftrag_3_assistent": "auftrag_1",
    "auftrag_4": "auftrag_1",
    "auftrag_4_absage": "auftrag_1",
    "rechnung_2": "rechnung_1",
    "rechnung_3": "rechnung_2",
}


def sentences(body: str) -> set[str]:
    """The sentences of a text without greeting, signature, invoice lines and the
    "if you have paid already" line every payment mail must carry."""
    flat = " ".join(
        line
        for line in body.split("\n")[1:]
        if line and not line.startswith(("-", "Falls ", "Zusammen sind das"))
    )
    return {part.strip() for part in re.split(r"(?<=[^\d][.?!])\s+", flat) if part.strip()}


@pytest.mark.parametrize(
    "case",
    [case for case in CLIENT_CASES if case.template in LATER_STEPS],
    ids=lambda case: case.file.stem,
)
def test_later_step_refers_to_the_earlier_mails_and_says_something_new(
    texts: Texts, case: Case
) -> None:
    body = body_without_signature(case, texts.render(case.template, **case.context))
    flat = " ".join(body.split())
    for reference in LATER_STEPS[case.template]:
        assert reference in flat
    earlier = next(
        other
        for other in CLIENT_CASES
        if other.template == PREVIOUS_STEP[case.template]
        and other.variant.split("_")[0] == case.variant.split("_")[0]
    )
    before = texts.render(earlier.template, **earlier.context).body
    assert sentences(body) & sentences(before) == set()


def golden_client_bodies() -> Iterator[tuple[str, str]]:
    """The client mails as stored in the golden files: the text from the greeting to the
    closing formula (subject and signature left out)."""
    names = {case.file.name for case in CLIENT_CASES}
    for path in sorted(GOLDEN_DIR.glob("*.txt")):
        if path.name in names:
            text = path.read_text(encoding="utf-8")
            body = text.split("\n\n", 1)[1]
            yield path.name, body.split("\n\n" + SIGNATURE.split("\n")[0])[0]


def test_every_golden_client_mail_has_fewer_than_130_words() -> None:
    counted = {name: count_words(body) for name, body in golden_client_bodies()}

    assert len(counted) == len(CLIENT_CASES)
    assert {name: words for name, words in counted.items() if words >= 130} == {}


def test_golden_files_speak_as_one_person() -> None:
    for path in GOLDEN_DIR.rglob("*"):
        if path.is_file():
            text = path.read_text(encoding="utf-8")
            assert not re.search(r"\b[Ww]ir\b", text), path.name


# -- owner mails say how to answer (issue 13, point 5) ------------------------------------------


def test_the_draft_mail_lists_every_answer_including_an_own_text(texts: Texts) -> None:
    case = next(case for case in ALL_CASES if case.template == "owner_draft")
    body = texts.render(case.template, **case.context).body

    for word in ("„ok“", "„stop“", "„später 7“", "„bezahlt“", "Dein eigener Text"):
        assert word in body
    assert "mit einer Anrede beginnt" in body


def test_the_task_mail_names_the_task_the_topic_once_and_its_number(texts: Texts) -> None:
    cases = {case.variant: case for case in ALL_CASES if case.template == "owner_task"}
    call = texts.render("owner_task", **cases["standard"].context)
    decision = texts.render("owner_task", **cases["rechnung"].context)

    assert call.subject == "[NF-3f9a12c4] Aufgabe zu Jürgen Weiß: anrufen"
    assert decision.subject.endswith("Aufgabe zu Jürgen Weiß: über rechtliche Schritte entscheiden")
    assert "Rechnung „2026-014“" in decision.body
    assert "Rechnung „Rechnung" not in decision.body
    assert "nachfass-bot done 18" in decision.body
    assert "„bezahlt“" in decision.body and "„bezahlt“" not in call.body
    assert "„erledigt“ oder „ok“" in call.body


def test_the_bounce_alert_says_how_to_carry_on(texts: Texts) -> None:
    cases = {c.variant: c for c in ALL_CASES if c.template == "owner_bounce_alert"}
    answerable, legacy = (
        " ".join(texts.render(c.template, **c.context).body.split())
        for c in (cases["standard"], cases["ohne-kennzeichen"])
    )

    assert "„weiter neue@adresse.de“" in answerable and "„weiter“" in answerable
    assert "nachfass-bot resume 42" in answerable
    assert "nachfass-bot resume 42" in legacy  # an alert without token: the CLI way
    assert "nachfass-bot track --to neue@adresse.de" in legacy


def test_after_the_greeting_the_text_goes_on_in_lower_case() -> None:
    """ "Hallo Anna," ends with a comma: the next word is lower case, unless it is a name
    or the capitalised Du of a letter."""
    allowed = re.compile(r"^(Dein\w*|Dir|Dich|Du|Jürgen\b|…)")
    for path in sorted(GOLDEN_DIR.rglob("*.txt")):
        lines = [line for line in path.read_text(encoding="utf-8").splitlines() if line]
        for before, line in pairwise(lines):
            if re.fullmatch(r"(Hallo|Guten Tag)[^,]*,", before):
                assert line[0].islower() or allowed.match(line), (path.name, line)


def test_wording_that_read_wrong_is_gone_from_every_variant() -> None:
    """Issue 13, point 7: each phrase below was seen in a rendered mail."""
    banned = {
        "rechnung_1": ("Buchhaltung",),  # also sent to buchhaltung@ addresses
        "rechnung_2": ("mündlich", "schriftlich", "Zahlungserinnerung / 1. Mahnung\n\n"),
        "auftrag_4": ("Pläne ändern sich", "ist das in Ordnung", "Wie wir", "Noch einmal kurz"),
        "auftrag_4_absage": ("Pläne ändern sich", "Das ist in Ordnung", "Wie wir verbleiben"),
        "angebot_2": ("Noch einmal kurz",),
    }
    for case in CLIENT_CASES:
        text = case.file.read_text(encoding="utf-8")
        for phrase in banned.get(case.template, ()):
            assert phrase not in text, (case.file.name, phrase)
        if case.template == "auftrag_1":
            for sentence in re.split(r"(?<=[.?!])\s", text):
                assert not ("weiterarbeiten" in sentence and "weitermachen" in sentence)
