"""Outgoing mails: headers that survive the trip, with umlauts and without injection."""

from __future__ import annotations

import email
from datetime import UTC, datetime
from email.policy import default

from nachfass_bot.texts.compose import address, build_mail, to_bytes


def roundtrip(subject: str, name: str):
    message = build_mail(
        sender=address("anna@berger-design.test", "Anna Berger"),
        recipient=address("juergen@praxis-weiss.test", name),
        subject=subject,
        body="Guten Tag Herr Weiß,\n\n" + "eine lange Zeile mit Umlauten äöü " * 5 + "\n",
        message_id="<m1@berger-design.test>",
        now=datetime(2026, 3, 11, 9, 30, tzinfo=UTC),
        references=["<a@x.test>", "<b@x.test>"],
    )
    raw = to_bytes(message)
    return raw, email.message_from_bytes(raw, policy=default)


def test_long_subject_with_umlauts_keeps_single_spaces() -> None:
    subject = "Zahlungserinnerung / 1. Mahnung: Rechnungen 2026-014 und 2026-015 für Jürgen Weiß"
    raw, parsed = roundtrip(subject, "Jürgen Weiß")
    assert parsed["Subject"] == subject
    assert raw.isascii()
    assert all(len(line) <= 998 for line in raw.split(b"\r\n"))
    body_lines = raw.split(b"\r\n\r\n", 1)[1].split(b"\r\n")
    assert all(len(line) <= 76 for line in body_lines), "quoted-printable stays within 76"
    assert parsed["In-Reply-To"] == "<b@x.test>"
    assert parsed["References"] == "<a@x.test> <b@x.test>"


def test_a_name_with_line_breaks_cannot_add_a_header() -> None:
    raw, parsed = roundtrip("Angebot", "Jürgen\r\nBcc: spion@evil.test")
    assert parsed["Bcc"] is None
    assert b"\r\nBcc:" not in raw
    assert parsed["To"].addresses[0].addr_spec == "juergen@praxis-weiss.test"
