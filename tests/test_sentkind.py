"""classify_sent on small hand-made mails: the tracking address, its tags, the limits."""

from __future__ import annotations

import email
from email.message import EmailMessage
from email.utils import parseaddr
from pathlib import Path

import pytest

from nachfass_bot.domain.models import Kind
from nachfass_bot.mail.sentkind import EXCLUSION_RULES, KIND_RULES, SentVerdict, classify_sent

OWNER = "anna@berger-design.de"


def sent_mail(
    *,
    to: str = "jonas.keller@keller-bau.de",
    bcc: str | None = None,
    subject: str = "Webseite",
    body: str = "Guten Tag,\n\nanbei mein Angebot.\n",
    headers: dict[str, str] | None = None,
) -> bytes:
    msg = EmailMessage()
    msg["From"] = f"Anna Berger <{OWNER}>"
    msg["To"] = to
    if bcc:
        msg["Bcc"] = bcc
    msg["Subject"] = subject
    for name, value in (headers or {}).items():
        msg[name] = value
    msg.set_content(body)
    return msg.as_bytes()


def classify(raw: bytes, tracking: str | None = None, **kwargs: object) -> SentVerdict:
    return classify_sent(
        raw,
        owner_email=OWNER,
        owner_domains=["berger-design.de"],
        tracking_address=tracking,
        **kwargs,  # type: ignore[arg-type]
    )


@pytest.mark.parametrize(
    ("bcc", "tracking", "kind", "delay"),
    [
        ("anna+nachfass@berger-design.de", None, Kind.ANGEBOT, None),
        ("anna+nachfass+rechnung@berger-design.de", None, Kind.RECHNUNG, None),
        ("Anna+Nachfass+Auftrag+10Tage@Berger-Design.de", None, Kind.AUFTRAG, 10),
        ("anna+nachfass+21d@berger-design.de", None, Kind.ANGEBOT, 21),
        ("nachfass@gmx.de", "nachfass@gmx.de", Kind.ANGEBOT, None),
        ("nachfass-rechnung@gmx.de", "nachfass@gmx.de", Kind.RECHNUNG, None),
        ("nachfass.14tage@gmx.de", "nachfass@gmx.de", Kind.ANGEBOT, 14),
    ],
)
def test_copy_to_the_tracking_address(
    bcc: str, tracking: str | None, kind: Kind, delay: int | None
) -> None:
    verdict = classify(sent_mail(bcc=bcc), tracking)
    assert (verdict.kind, verdict.delay_days, verdict.requested) == (kind, delay, True)


def test_a_tag_beats_the_text() -> None:
    verdict = classify(sent_mail(bcc="anna+nachfass+rechnung@berger-design.de"))
    assert verdict.kind == Kind.RECHNUNG
    assert verdict.signals[1].startswith("angebot: Text")


def test_copy_without_a_kind_is_requested_but_not_tracked() -> None:
    raw = sent_mail(bcc="anna+nachfass@berger-design.de", body="Guten Tag,\n\nbis bald.\n")
    verdict = classify(raw)
    assert (verdict.kind, verdict.requested) == (None, True)
    assert "Art ist unklar" in verdict.reason


def test_other_plus_addresses_are_no_copy() -> None:
    verdict = classify(sent_mail(bcc="anna+privat@berger-design.de"))
    assert (verdict.kind, verdict.requested) == (Kind.ANGEBOT, False)


def test_copy_to_the_tracking_address_lifts_the_recipient_limit() -> None:
    many = ", ".join(f"k{n}@kunde{n}.de" for n in range(5))
    assert classify(sent_mail(to=many)).kind is None
    assert classify(sent_mail(to=many, bcc="anna+nachfass@berger-design.de")).kind == Kind.ANGEBOT


def test_max_recipients_counts_to_cc_and_bcc() -> None:
    raw = sent_mail(to="a@kunde.de, b@kunde.de", bcc="c@kunde.de")
    assert classify(raw, max_recipients=3).kind == Kind.ANGEBOT
    assert classify(raw, max_recipients=2).kind is None


def test_tracked_message_ids_in_references() -> None:
    raw = sent_mail(headers={"References": "<a@x.de> <angebot-keller@berger-design.de>"})
    assert classify(raw).kind == Kind.ANGEBOT
    verdict = classify(raw, tracked_message_ids={"<angebot-keller@berger-design.de>"})
    assert verdict.kind is None
    assert "schon verfolgt" in verdict.reason


@pytest.mark.parametrize(
    "headers",
    [{"X-Nachfass": "angebot_1"}, {"Auto-Submitted": "auto-generated"}, {"List-Id": "<k.x.de>"}],
)
def test_machine_and_list_mail_is_never_tracked(headers: dict[str, str]) -> None:
    assert classify(sent_mail(headers=headers)).kind is None


def test_auto_submitted_no_is_a_person() -> None:
    assert classify(sent_mail(headers={"Auto-Submitted": "no"})).kind == Kind.ANGEBOT


def test_reply_subject_is_not_a_signal_but_its_text_is() -> None:
    quiet = "Guten Tag,\n\ndanke, passt.\n"
    assert classify(sent_mail(subject="AW: Ihre Rechnung 2026-003", body=quiet)).kind is None
    assert classify(sent_mail(subject="Rechnung 2026-003", body=quiet)).kind == Kind.RECHNUNG


@pytest.mark.parametrize("raw", [b"", b"\x00\xff garbage", b"Content-Type: multipart/mixed\n\n--"])
def test_never_raises(raw: bytes) -> None:
    assert classify(raw).kind is None


def test_rules_are_ordered_tuples() -> None:
    assert EXCLUSION_RULES[0].__name__ == "_list_mail"
    assert KIND_RULES[0].__name__ == "_tag_kind"


def test_a_freemail_owner_domain_makes_no_colleagues() -> None:
    raw = sent_mail(to="lisa.sommer@gmx.de")
    verdict = classify_sent(
        raw, owner_email="anna.berger@gmx.de", owner_domains=["gmx.de"], tracking_address=None
    )
    assert verdict.kind == Kind.ANGEBOT


@pytest.mark.parametrize("name", ["mail_facturx_en16931.eml", "mail_zugferd_basic.eml"])
def test_a_real_factur_x_pdf_is_found_as_an_e_invoice_inside_the_pdf(name: str) -> None:
    """The factur-x library packs the PDF's dictionaries into compressed streams; the
    embedded XML is still found (tests/invoices/make_invoices.py made these)."""
    raw = (Path(__file__).parent / "invoices" / name).read_bytes()
    sender = parseaddr(email.message_from_bytes(raw)["From"])[1]
    verdict = classify_sent(
        raw, owner_email=sender, owner_domains=[sender.split("@")[1]], tracking_address=None
    )
    assert verdict.kind is Kind.RECHNUNG
    assert verdict.signals[0].startswith("rechnung: E-Rechnung (ZUGFeRD/Factur-X")
