"""headers.py and classify.py: raw bytes → facts, never raising on bad input."""

from __future__ import annotations

import email
import email.policy
from datetime import UTC, datetime

import pytest

from nachfass_bot.mail.classify import is_auto_reply_headers, is_bounce_headers
from nachfass_bot.mail.headers import (
    address,
    addresses,
    decode_words,
    html_to_text,
    message_ids,
    normalize_message_id,
    plain_text,
    sole_address,
)
from nachfass_bot.mail.inbound import HEADER_FIELDS, parse_inbound

# --- realistic raw mails ---------------------------------------------------------------

OUTLOOK_REPLY = (
    b"Return-Path: <jonas.keller@keller-bau.de>\r\n"
    b'From: "Keller, Jonas" <Jonas.Keller@Keller-Bau.de>\r\n'
    b"To: Lena Berger <lena@berger-text.de>\r\n"
    b'CC: "Sommer, Petra" <p.sommer@keller-bau.de>\r\n'
    b"Subject: =?iso-8859-1?Q?AW:_Angebot_f=FCr_Ihre_Webseite?=\r\n"
    b"Thread-Topic: =?iso-8859-1?Q?Angebot_f=FCr_Ihre_Webseite?=\r\n"
    b"Date: Tue, 13 Jan 2026 09:41:12 +0000\r\n"
    b"Message-ID: <AM0PR07MB6305E1B2C3D4@AM0PR07MB6305.eurprd07.prod.outlook.com>\r\n"
    b"References: <20260105101500.4711.1@berger-text.de>\r\n"
    b"In-Reply-To: <20260105101500.4711.1@berger-text.de>\r\n"
    b"Accept-Language: de-DE, en-US\r\n"
    b"X-MS-Has-Attach:\r\n"
    b"X-Auto-Response-Suppress: All\r\n"
    b"Content-Type: multipart/alternative;\r\n"
    b'\tboundary="_000_AM0PR07MB6305_"\r\n'
    b"MIME-Version: 1.0\r\n"
    b"\r\n"
    b"--_000_AM0PR07MB6305_\r\n"
    b'Content-Type: text/plain; charset="iso-8859-1"\r\n'
    b"Content-Transfer-Encoding: quoted-printable\r\n"
    b"\r\n"
    b"Guten Tag Frau Berger,\r\n"
    b"\r\n"
    b"danke f=FCr das Angebot =96 wir sind dabei. Kosten: 1.190,00 =80.\r\n"
    b"\r\n"
    b"Gr=FC=DFe\r\n"
    b"Jonas Keller\r\n"
    b"\r\n"
    b"Von: Lena Berger <lena@berger-text.de>\r\n"
    b"Gesendet: Montag, 5. Januar 2026 11:15\r\n"
    b"An: Keller, Jonas <Jonas.Keller@Keller-Bau.de>\r\n"
    b"Betreff: Angebot f=FCr Ihre Webseite\r\n"
    b"\r\n"
    b"Guten Tag Herr Keller,\r\n"
    b"\r\n"
    b"--_000_AM0PR07MB6305_\r\n"
    b'Content-Type: text/html; charset="iso-8859-1"\r\n'
    b"Content-Transfer-Encoding: quoted-printable\r\n"
    b"\r\n"
    b"<html><body><p>HTML-Teil, soll nicht gew=E4hlt werden</p></body></html>\r\n"
    b"\r\n"
    b"--_000_AM0PR07MB6305_--\r\n"
)

GMAIL_REPLY = (
    b"MIME-Version: 1.0\r\n"
    b"References: <20260105101500.4711.1@berger-text.de>\r\n"
    b"\t<20260112090000.4711.2@berger-text.de>\r\n"
    b"In-Reply-To: <20260112090000.4711.2@berger-text.de>\r\n"
    b"From: Jonas Keller <jonas.keller.privat@gmail.com>\r\n"
    b"Date: Wed, 14 Jan 2026 18:02:33 +0100\r\n"
    b"Message-ID: <CAF=x7q9kPz8zv6j+Vn3bC2f4oA@mail.gmail.com>\r\n"
    b"Subject: =?UTF-8?Q?Re=3A_Angebot_f=C3=BCr_Ihre_Webseite_=E2=80=93_R=C3=BCckfrage?=\r\n"
    b"To: Lena Berger <lena@berger-text.de>\r\n"
    b'Content-Type: multipart/alternative; boundary="000000000000a1b2c3"\r\n'
    b"\r\n"
    b"--000000000000a1b2c3\r\n"
    b'Content-Type: text/plain; charset="UTF-8"\r\n'
    b"Content-Transfer-Encoding: quoted-printable\r\n"
    b"\r\n"
    b"Hallo Frau Berger,\r\n"
    b"\r\n"
    b"kurze R=C3=BCckfrage: Ist das Hosting im Preis enthalten?\r\n"
    b"\r\n"
    b"Am Mo., 12. Jan. 2026 um 10:00 Uhr schrieb Lena Berger <\r\n"
    b"lena@berger-text.de>:\r\n"
    b"\r\n"
    b"> Guten Tag Herr Keller,\r\n"
    b">\r\n"
    b"\r\n"
    b"--000000000000a1b2c3\r\n"
    b'Content-Type: text/html; charset="UTF-8"\r\n'
    b"Content-Transfer-Encoding: quoted-printable\r\n"
    b"\r\n"
    b'<div dir=3D"ltr">Hallo Frau Berger,</div>\r\n'
    b"\r\n"
    b"--000000000000a1b2c3--\r\n"
)

THUNDERBIRD_REPLY = (
    b"Message-ID: <8d3f2a1c-5b6e-4f70-9a8b-1c2d3e4f5a6b@keller-bau.de>\r\n"
    b"Date: Thu, 15 Jan 2026 08:12:45 +0100\r\n"
    b"MIME-Version: 1.0\r\n"
    b"User-Agent: Mozilla Thunderbird\r\n"
    b"Subject: Re: Angebot =?UTF-8?B?ZsO8cg==?= Ihre Webseite\r\n"
    b"To: lena@berger-text.de\r\n"
    b"References: <20260105101500.4711.1@berger-text.de>\r\n"
    b"From: Jonas Keller <jonas.keller@keller-bau.de>\r\n"
    b"In-Reply-To: <20260105101500.4711.1@berger-text.de>\r\n"
    b"Content-Type: text/plain; charset=UTF-8; format=flowed\r\n"
    b"Content-Transfer-Encoding: 8bit\r\n"
    b"\r\n"
    b"Hallo Frau Berger,\r\n"
    b"\r\n"
    b"passt so, bitte loslegen. Gr\xc3\xbc\xc3\x9fe\r\n"
    b"\r\n"
    b"Am 05.01.26 um 11:15 schrieb Lena Berger:\r\n"
    b"> Guten Tag Herr Keller,\r\n"
)

LATIN1_B_SUBJECT = (
    b"From: =?iso-8859-1?b?SvZyZyBN/GxsZXI=?= <joerg@mueller-gmbh.de>\r\n"
    b"To: lena@berger-text.de\r\n"
    b"Subject: =?iso-8859-1?b?QVc6IEFuZ2Vib3QgZvxyIElocmUgV2Vic2VpdGU=?=\r\n"
    b"Date: Fri, 16 Jan 2026 10:00:00 +0100\r\n"
    b"Message-ID: <1234.5678@mueller-gmbh.de>\r\n"
    b"Content-Type: text/plain; charset=iso-8859-1\r\n"
    b"Content-Transfer-Encoding: base64\r\n"
    b"\r\n"
    b"R3L232Vu5G5kZXJ1bmc=\r\n"
)

BROKEN_DATE_NO_ID = (
    b"From: jonas.keller@keller-bau.de\r\n"
    b"To: lena@berger-text.de\r\n"
    b"Subject: =?x-unknown-charset?q?Gr=FC=DFe?= aus K\xc3\xb6ln\r\n"
    b"Date: Dienstag, 32. Foo 2026 25:99\r\n"
    b"Content-Type: text/plain; charset=x-totally-unknown\r\n"
    b"\r\n"
    b"Gr\xfc\xdfe \xff\xfe\r\n"
)

HTML_ONLY = (
    b"From: Jonas Keller <jonas.keller@keller-bau.de>\r\n"
    b"To: lena@berger-text.de\r\n"
    b"Subject: Re: Angebot\r\n"
    b"Date: Mon, 19 Jan 2026 14:30:00 +0100\r\n"
    b"Message-ID: <html-only-1@keller-bau.de>\r\n"
    b"MIME-Version: 1.0\r\n"
    b"Content-Type: text/html; charset=utf-8\r\n"
    b"Content-Transfer-Encoding: quoted-printable\r\n"
    b"\r\n"
    b"<html><head><style>p { color: red; }</style>\r\n"
    b"<script>var x =3D 1;</script></head><body>\r\n"
    b"<div>Hallo Frau Berger,</div><div><br></div>\r\n"
    b"<p>das klingt gut.<br>Bis Freitag&nbsp;melde ich mich.</p>\r\n"
    b"<div>Viele Gr=C3=BC=C3=9Fe<br>Jonas</div>\r\n"
    b'<div class=3D"gmail_quote">Am Mo., 12. Jan. 2026 um 10:00 Uhr schrieb Lena:<br>\r\n'
    b"<blockquote><div>Guten Tag Herr Keller,</div></blockquote></div>\r\n"
    b"</body></html>\r\n"
)

GMAIL_VACATION = (
    b"Return-Path: <>\r\n"
    b"Auto-Submitted: auto-replied\r\n"
    b"X-Autoreply: yes\r\n"
    b"Precedence: bulk\r\n"
    b"From: Jonas Keller <jonas.keller.privat@gmail.com>\r\n"
    b"To: lena@berger-text.de\r\n"
    b"Subject: Abwesenheitsnotiz: Angebot =?UTF-8?Q?f=C3=BCr?= Ihre Webseite\r\n"
    b"Date: Mon, 12 Jan 2026 10:00:05 +0100\r\n"
    b"Message-ID: <vacation.1a2b3c@mail.gmail.com>\r\n"
    b"In-Reply-To: <20260112090000.4711.2@berger-text.de>\r\n"
    b"References: <20260112090000.4711.2@berger-text.de>\r\n"
    b"Content-Type: text/plain; charset=UTF-8\r\n"
    b"\r\n"
    b"Ich bin bis einschlie\xc3\x9flich 23.01. nicht im B\xc3\xbcro.\r\n"
)

EXCHANGE_AUTO_REPLY = (
    b'From: "Keller, Jonas" <Jonas.Keller@Keller-Bau.de>\r\n'
    b"To: Lena Berger <lena@berger-text.de>\r\n"
    b"Subject: Automatische Antwort: Angebot =?iso-8859-1?Q?f=FCr?= Ihre Webseite\r\n"
    b"Thread-Topic: Angebot\r\n"
    b"Date: Mon, 12 Jan 2026 09:00:07 +0000\r\n"
    b"Message-ID: <OOF-AM0PR07MB6305-1@AM0PR07MB6305.eurprd07.prod.outlook.com>\r\n"
    b"In-Reply-To: <20260112090000.4711.2@berger-text.de>\r\n"
    b"Auto-Submitted: auto-generated\r\n"
    b"X-MS-Exchange-Inbox-Rules-Loop: Jonas.Keller@Keller-Bau.de\r\n"
    b"X-Auto-Response-Suppress: All\r\n"
    b"Content-Type: text/plain; charset=iso-8859-1\r\n"
    b"\r\n"
    b"Ich bin ab 26.01. wieder erreichbar.\r\n"
)

EXCHANGE_AUTO_REPLY_NO_AUTO_SUBMITTED = (
    b"From: Jonas.Keller@Keller-Bau.de\r\n"
    b"To: lena@berger-text.de\r\n"
    b"Subject: Automatische Antwort: Angebot\r\n"
    b"Date: Mon, 12 Jan 2026 09:00:07 +0000\r\n"
    b"X-Auto-Response-Suppress: All\r\n"
    b"\r\n"
)

BOUNCE = (
    b"Return-Path: <>\r\n"
    b"From: Mail Delivery System <MAILER-DAEMON@mout.kundenserver.de>\r\n"
    b"To: lena@berger-text.de\r\n"
    b"Subject: Mail delivery failed: returning message to sender\r\n"
    b"Date: Mon, 12 Jan 2026 10:00:02 +0100\r\n"
    b"Message-ID: <bounce-0815@mout.kundenserver.de>\r\n"
    b"Auto-Submitted: auto-replied\r\n"
    b"Content-Type: multipart/report; report-type=delivery-status;\r\n"
    b'\tboundary="=_bounce_0815"\r\n'
    b"MIME-Version: 1.0\r\n"
    b"\r\n"
    b"--=_bounce_0815\r\n"
    b"Content-Type: text/plain\r\n"
    b"\r\n"
    b"This message was created automatically by mail delivery software.\r\n"
    b"--=_bounce_0815\r\n"
    b"Content-Type: message/delivery-status\r\n"
    b"\r\n"
    b"Reporting-MTA: dns; mout.kundenserver.de\r\n"
    b"\r\n"
    b"Final-Recipient: rfc822; jonas.keller@keller-bau.de\r\n"
    b"Action: failed\r\n"
    b"Status: 5.1.1\r\n"
    b"--=_bounce_0815--\r\n"
)

EXIM_BOUNCE_PLAIN = (
    b"Return-Path: <>\r\n"
    b"From: Mail Delivery System <Mailer-Daemon@mail.keller-bau.de>\r\n"
    b"To: lena@berger-text.de\r\n"
    b"Subject: Mail delivery failed\r\n"
    b"X-Failed-Recipients: jonas.keller@keller-bau.de\r\n"
    b"\r\n"
)

POSTMASTER_NULL_PATH = (
    b"Return-Path: < >\r\n"
    b"From: postmaster@keller-bau.de\r\n"
    b"To: lena@berger-text.de\r\n"
    b"Subject: Unzustellbar: Angebot\r\n"
    b"\r\n"
)

HUMAN_WITH_SUPPRESS = (
    b"From: Jonas Keller <jonas.keller@keller-bau.de>\r\n"
    b"To: lena@berger-text.de\r\n"
    b"Subject: AW: Angebot\r\n"
    b"Date: Mon, 19 Jan 2026 14:30:00 +0100\r\n"
    b"X-Auto-Response-Suppress: OOF, DR, RN, NRN, AutoReply\r\n"
    b"Auto-Submitted: no\r\n"
    b"Precedence: normal\r\n"
    b"\r\n"
)


def _headers(raw: bytes) -> email.message.Message:
    return email.message_from_bytes(raw, policy=email.policy.default)


# --- HEADER_FIELDS ---------------------------------------------------------------------


def test_header_fields_cover_what_classify_reads_but_not_the_suppress_request() -> None:
    lowered = {name.lower() for name in HEADER_FIELDS}
    for needed in ("from", "date", "message-id", "in-reply-to", "references", "auto-submitted"):
        assert needed in lowered
    assert "x-auto-response-suppress" not in lowered
    assert len(lowered) == len(HEADER_FIELDS)


# --- parse_inbound ---------------------------------------------------------------------


def test_outlook_reply_facts() -> None:
    inbound = parse_inbound(OUTLOOK_REPLY, folder="INBOX", uid=17)
    assert inbound.folder == "INBOX"
    assert inbound.uid == 17
    assert inbound.from_addr == "jonas.keller@keller-bau.de"
    assert inbound.to_addrs == ("lena@berger-text.de", "p.sommer@keller-bau.de")
    assert inbound.subject == "AW: Angebot für Ihre Webseite"
    assert inbound.date == datetime(2026, 1, 13, 9, 41, 12, tzinfo=UTC)
    assert inbound.message_id == "<AM0PR07MB6305E1B2C3D4@AM0PR07MB6305.eurprd07.prod.outlook.com>"
    assert inbound.in_reply_to == ("<20260105101500.4711.1@berger-text.de>",)
    assert inbound.references == ("<20260105101500.4711.1@berger-text.de>",)
    assert inbound.auto_submitted is None
    assert inbound.is_auto_reply is False
    assert inbound.is_junk_folder is False


def test_gmail_reply_folded_references_and_utf8_q_subject() -> None:
    inbound = parse_inbound(GMAIL_REPLY, folder="Spam", uid=3, is_junk_folder=True)
    assert inbound.references == (
        "<20260105101500.4711.1@berger-text.de>",
        "<20260112090000.4711.2@berger-text.de>",
    )
    assert inbound.subject == "Re: Angebot für Ihre Webseite – Rückfrage"
    assert inbound.date == datetime(2026, 1, 14, 17, 2, 33, tzinfo=UTC)
    assert inbound.message_id == "<CAF=x7q9kPz8zv6j+Vn3bC2f4oA@mail.gmail.com>"
    assert inbound.is_junk_folder is True
    assert inbound.is_auto_reply is False


def test_thunderbird_subject_with_encoded_word_in_the_middle() -> None:
    inbound = parse_inbound(THUNDERBIRD_REPLY, folder="INBOX", uid=4)
    assert inbound.subject == "Re: Angebot für Ihre Webseite"
    assert inbound.from_addr == "jonas.keller@keller-bau.de"


def test_iso_8859_1_base64_subject_and_display_name() -> None:
    inbound = parse_inbound(LATIN1_B_SUBJECT, folder="INBOX", uid=5)
    assert inbound.subject == "AW: Angebot für Ihre Webseite"
    assert inbound.from_addr == "joerg@mueller-gmbh.de"


def test_broken_date_no_message_id_bad_charset_raw_8bit() -> None:
    inbound = parse_inbound(BROKEN_DATE_NO_ID, folder="INBOX", uid=6)
    assert inbound.date is None
    assert inbound.message_id is None
    assert inbound.from_addr == "jonas.keller@keller-bau.de"
    # unknown charset: best effort (the bytes are latin-1), raw UTF-8 "ö" survives
    assert inbound.subject == "Grüße aus Köln"


def test_naive_date_is_assumed_utc() -> None:
    raw = b"From: a@b.de\r\nDate: Mon, 12 Jan 2026 10:00:00 -0000\r\n\r\n"
    assert parse_inbound(raw, folder="INBOX", uid=1).date == datetime(2026, 1, 12, 10, tzinfo=UTC)
    raw = b"From: a@b.de\r\nDate: 12 Jan 2026 10:00\r\n\r\n"
    assert parse_inbound(raw, folder="INBOX", uid=1).date == datetime(2026, 1, 12, 10, tzinfo=UTC)


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"\x00\xff\xfe garbage without colon\r\n\r\n",
        b"From: <<<>>>\r\nTo: ,,,;;\r\nSubject: =?utf-8?b?!!!?=\r\nDate: \r\n\r\n",
        b"From:\r\nMessage-ID: <>\r\nReferences: < > <no-at-sign> <@>\r\n\r\n",
        b"Subject: " + b"=?utf-8?q?" + b"=FF" * 300 + b"?=\r\n\r\n",
        b"Date: Mon, 12 Jan 99999 10:00:00 +0000\r\n\r\n",
        b"Content-Type: multipart/report; report-type=\r\n\r\n",
        b"From: \xff\xfe@\xfa.de\r\n\r\n",
    ],
)
def test_parse_inbound_never_raises(raw: bytes) -> None:
    inbound = parse_inbound(raw, folder="INBOX", uid=9)
    assert inbound.uid == 9
    assert inbound.folder == "INBOX"
    assert isinstance(inbound.subject, str)
    assert inbound.message_id is None
    assert inbound.references == ()


def test_gmail_vacation_is_auto_reply() -> None:
    inbound = parse_inbound(GMAIL_VACATION, folder="INBOX", uid=7)
    assert inbound.is_auto_reply is True
    assert inbound.auto_submitted == "auto-replied"
    assert inbound.subject == "Abwesenheitsnotiz: Angebot für Ihre Webseite"


def test_exchange_auto_reply_is_auto_reply() -> None:
    inbound = parse_inbound(EXCHANGE_AUTO_REPLY, folder="INBOX", uid=8)
    assert inbound.is_auto_reply is True
    assert inbound.auto_submitted == "auto-generated"


def test_bounce_sets_the_machine_flag() -> None:
    inbound = parse_inbound(BOUNCE, folder="INBOX", uid=10)
    assert inbound.is_auto_reply is True
    assert inbound.from_addr == "mailer-daemon@mout.kundenserver.de"


def test_human_mail_with_suppress_request_is_not_auto_reply() -> None:
    inbound = parse_inbound(HUMAN_WITH_SUPPRESS, folder="INBOX", uid=11)
    assert inbound.is_auto_reply is False
    assert inbound.auto_submitted == "no"


# --- classify --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "auto_reply", "bounce"),
    [
        (OUTLOOK_REPLY, False, False),
        (GMAIL_REPLY, False, False),
        (THUNDERBIRD_REPLY, False, False),
        (HUMAN_WITH_SUPPRESS, False, False),
        (GMAIL_VACATION, True, False),
        (EXCHANGE_AUTO_REPLY, True, False),
        (EXCHANGE_AUTO_REPLY_NO_AUTO_SUBMITTED, True, False),
        (BOUNCE, True, True),
        (EXIM_BOUNCE_PLAIN, False, True),
        (POSTMASTER_NULL_PATH, False, True),
    ],
)
def test_classification_table(raw: bytes, auto_reply: bool, bounce: bool) -> None:
    msg = _headers(raw)
    assert is_auto_reply_headers(msg) is auto_reply
    assert is_bounce_headers(msg) is bounce


@pytest.mark.parametrize(
    "header",
    [
        "X-Autoreply: yes",
        "X-Autorespond: Urlaub",
        "X-AutoReply-From: jonas@keller-bau.de",
        "X-Mail-Autoreply: yes",
        "X-Apple-Action: vacation",
        "Precedence: auto_reply",
        "Precedence: junk",
        "Precedence: Bulk",
        "Auto-Submitted: auto-notified; owner-email=x@y.de",
        "Subject: Out of Office: Angebot",
        "Subject: Automatic reply: Angebot",
        "Subject: Autoreply: Angebot",
        "Subject: Auto-Reply: Angebot",
        "Subject: Abwesend bis 23.01.",
        "Subject: =?utf-8?q?Automatische_Antwort=3A_Angebot?=",
    ],
)
def test_single_auto_reply_signs(header: str) -> None:
    raw = f"From: jonas@keller-bau.de\r\n{header}\r\n\r\n".encode()
    assert is_auto_reply_headers(_headers(raw)) is True


@pytest.mark.parametrize(
    "header",
    [
        "X-Auto-Response-Suppress: OOF",
        "Auto-Submitted: no",
        "Auto-Submitted: No (manual)",
        "Precedence: list",
        "Subject: AW: Abwesenheitsnotiz",
        "Subject: Re: Angebot",
        "Subject: Autoreplyfix im Code",
        "X-Autoreply: no",
    ],
)
def test_not_auto_reply_signs(header: str) -> None:
    raw = f"From: jonas@keller-bau.de\r\n{header}\r\n\r\n".encode()
    assert is_auto_reply_headers(_headers(raw)) is False


def test_mailer_daemon_without_null_path_is_not_a_bounce_by_itself() -> None:
    raw = b"Return-Path: <mailer-daemon@x.de>\r\nFrom: MAILER-DAEMON@x.de\r\n\r\n"
    assert is_bounce_headers(_headers(raw)) is False


def test_read_receipt_is_machine_mail() -> None:
    raw = (
        b"From: jonas@keller-bau.de\r\nSubject: Gelesen: Angebot\r\n"
        b"Content-Type: multipart/report; report-type=disposition-notification;\r\n"
        b' boundary="b"\r\n\r\n'
    )
    assert is_auto_reply_headers(_headers(raw)) is True
    assert is_bounce_headers(_headers(raw)) is False


def test_classify_works_on_compat32_messages_too() -> None:
    msg = email.message_from_bytes(GMAIL_VACATION)
    assert is_auto_reply_headers(msg) is True
    assert is_bounce_headers(email.message_from_bytes(BOUNCE)) is True


# --- message ids, addresses, words -----------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("<Abc@x>", "<Abc@x>"),
        ("  <Abc@x.de>\r\n ", "<Abc@x.de>"),
        ("< Abc@x.de >", "<Abc@x.de>"),
        ("Abc@x.de", "<Abc@x.de>"),
        ("", None),
        (None, None),
        ("   ", None),
        ("<>", None),
        ("garbage", None),
        ("<no-at-sign>", None),
        ("two words@x.de", None),
    ],
)
def test_normalize_message_id(value: str | None, expected: str | None) -> None:
    assert normalize_message_id(value) == expected


def test_message_ids_tolerates_folding_comments_and_junk() -> None:
    value = (
        "<a1@berger-text.de>\r\n\t<b2@berger-text.de> (Lena's mail)\r\n"
        " Your message of Mon <c3@x.de> <> <junk> <a1@berger-text.de>"
    )
    assert message_ids(value) == ("<a1@berger-text.de>", "<b2@berger-text.de>", "<c3@x.de>")
    assert message_ids(None) == ()
    assert message_ids("") == ()
    assert message_ids("no ids here") == ()


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ('"Keller, Jonas" <Jonas.Keller@Keller-Bau.de>', "jonas.keller@keller-bau.de"),
        ("Keller, Jonas <jonas@keller-bau.de>", "jonas@keller-bau.de"),
        ("=?utf-8?q?M=C3=BCller=2C_J=C3=B6rg?= <joerg@mueller.de>", "joerg@mueller.de"),
        ("JONAS@KELLER-BAU.DE", "jonas@keller-bau.de"),
        ("a@b.de, c@d.de", "a@b.de"),
        ("undisclosed-recipients:;", None),
        ("", None),
        (None, None),
        ("Jonas Keller", None),
    ],
)
def test_address(value: str | None, expected: str | None) -> None:
    assert address(value) == expected


def test_addresses_deduplicates_in_order() -> None:
    assert addresses("A@b.de, c@d.de, a@B.de") == ("a@b.de", "c@d.de")


def test_decode_words_joins_a_character_split_across_words() -> None:
    assert decode_words("=?utf-8?q?Gr=C3?= =?utf-8?q?=BC=C3=9Fe?=") == "Grüße"
    assert decode_words("=?utf-8?q?a?= \r\n =?iso-8859-1?q?=FC?= b") == "aü b"
    assert decode_words("plain text") == "plain text"
    assert decode_words("=?utf-8?b?!!!?= z") == "=?utf-8?b?!!!?= z"


# --- plain_text ------------------------------------------------------------------------


def test_plain_text_prefers_text_plain_and_decodes_qp_cp1252() -> None:
    text = plain_text(OUTLOOK_REPLY)
    assert text.startswith("Guten Tag Frau Berger,")
    assert "danke für das Angebot – wir sind dabei. Kosten: 1.190,00 €." in text
    assert "Grüße\nJonas Keller" in text
    assert "HTML-Teil" not in text
    assert "\r" not in text


def test_plain_text_gmail_utf8_qp() -> None:
    text = plain_text(GMAIL_REPLY)
    assert "kurze Rückfrage: Ist das Hosting im Preis enthalten?" in text
    assert "> Guten Tag Herr Keller," in text


def test_plain_text_8bit_utf8() -> None:
    assert "passt so, bitte loslegen. Grüße" in plain_text(THUNDERBIRD_REPLY)


def test_plain_text_base64_latin1() -> None:
    assert plain_text(LATIN1_B_SUBJECT) == "Größenänderung"


def test_plain_text_base64_utf8() -> None:
    raw = (
        b"From: a@b.de\r\nContent-Type: text/plain; charset=utf-8\r\n"
        b"Content-Transfer-Encoding: base64\r\n\r\n"
        b"R3V0ZW4gVGFnIEZyYXUgQmVyZ2VyLA0KDQp2aWVsZW4gRGFuaywgZGFzIEFuZ2Vib3QgcGFzc3QgZsO8\r\n"
        b"ciB1bnMuIFdpciBtZWxkZW4gdW5zIGJpcyBGcmVpdGFnLg0KDQpNaXQgZnJldW5kbGljaGVuIEdy\r\n"
        b"w7zDn2VuDQpKb25hcyBLZWxsZXINCg==\r\n"
    )
    assert plain_text(raw) == (
        "Guten Tag Frau Berger,\n\nvielen Dank, das Angebot passt für uns. "
        "Wir melden uns bis Freitag.\n\nMit freundlichen Grüßen\nJonas Keller"
    )


def test_plain_text_unknown_charset_does_not_raise() -> None:
    text = plain_text(BROKEN_DATE_NO_ID)
    assert text.startswith("Grüße")


def test_plain_text_wrong_charset_label_falls_back() -> None:
    raw = b"Content-Type: text/plain; charset=us-ascii\r\n\r\nGr\xc3\xbc\xc3\x9fe\r\n"
    assert plain_text(raw) == "Grüße"


def test_plain_text_html_only() -> None:
    text = plain_text(HTML_ONLY)
    assert text.splitlines() == [
        "Hallo Frau Berger,",
        "",
        "das klingt gut.",
        "Bis Freitag melde ich mich.",
        "",
        "Viele Grüße",
        "Jonas",
        "Am Mo., 12. Jan. 2026 um 10:00 Uhr schrieb Lena:",
        "> Guten Tag Herr Keller,",
    ]
    assert "color" not in text
    assert "var x" not in text


def test_plain_text_skips_attachments() -> None:
    raw = (
        b"Content-Type: multipart/mixed; boundary=XX\r\n\r\n"
        b"--XX\r\nContent-Type: application/pdf\r\n"
        b"Content-Disposition: attachment; filename=a.pdf\r\n\r\n%PDF\r\n"
        b"--XX\r\nContent-Type: text/plain; charset=utf-8\r\n"
        b"Content-Disposition: attachment; filename=notes.txt\r\n\r\nnotes\r\n"
        b"--XX\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nok\r\n"
        b"--XX--\r\n"
    )
    assert plain_text(raw) == "ok"


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"\xff\xfe\x00",
        b"Content-Type: multipart/alternative\r\n\r\nno boundary",
        b"Content-Type: text/plain\r\nContent-Transfer-Encoding: base64\r\n\r\n!!!not base64",
        b"Content-Type: image/png\r\n\r\n\x89PNG",
    ],
)
def test_plain_text_never_raises(raw: bytes) -> None:
    assert isinstance(plain_text(raw), str)


def test_html_to_text_entities_and_nested_quotes() -> None:
    html = (
        "<p>A &amp; B&nbsp;&euro;</p><blockquote><p>eins</p>"
        "<blockquote>zwei</blockquote></blockquote><div>drei</div>"
    )
    assert html_to_text(html).splitlines() == ["A & B €", "", "> eins", "", "> > zwei", "drei"]


# --- the one sender of a command --------------------------------------------------------


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        (["erika@studio.test"], "erika@studio.test"),
        (['"Muster, Erika" <Erika@Studio.TEST>'], "erika@studio.test"),
        (['"erika@studio.test" <erika@studio.test>'], "erika@studio.test"),
        (["=?utf-8?q?Erika_M=C3=BCller?= <erika@studio.test>"], "erika@studio.test"),
        (["Erika\r\n <erika@studio.test>"], "erika@studio.test"),  # folded
        (["erika@studio.test, mallory@evil.test"], None),
        (['"erika@studio.test" <mallory@evil.test>'], None),
        (['"mallory@evil.test" <erika@studio.test>'], None),
        (["=?utf-8?q?mallory=40evil.test?= <erika@studio.test>"], None),
        (["erika@studio.test (mallory@evil.test)"], None),
        (["erika@studio.test <mallory@evil.test>"], None),
        (["<erika@studio.test"], None),
        (["Team: erika@studio.test;"], None),
        (["erika@studio.test", "erika@studio.test"], None),
        ([], None),
        ([""], None),
    ],
)
def test_sole_address(values: list[str], expected: str | None) -> None:
    assert sole_address(values) == expected
