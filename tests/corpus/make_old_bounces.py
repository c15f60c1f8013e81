"""Write the corpus fixtures for bounces from old mail servers (issue 10, point 11).

Run from the repository root: ``.venv/bin/python tests/corpus/make_old_bounces.py``. The
files it writes are committed; this script shows how each was built, so a fixture can be
re-made after a change here instead of being edited by hand.

Every notice follows the layout its MTA really produces, with only the short fixed
phrases the MTA emits; names, hosts, dates and the rest of the text are ours and use the
test clients of ``context.toml``. Sources of the layouts:

* qmail-send: D. J. Bernstein's QSBMF (``qsbmf.txt``) and ``qmail-send.c``/``qmail-local.c``
  (intro "Hi. This is the qmail-send program at …", one ``<address>:`` paragraph per
  recipient, "--- Below this line is a copy of the message.", the expired-queue sentence,
  ``(#5.1.1)`` codes); real samples in sisimai's set-of-emails (``email-qmail-01.eml``,
  ``email-qmail-03.eml``) and Mail::DeliveryStatus::BounceParser (``qmail.unknown.msg``).
  qmail writes no MIME headers and copies the original as it was, 8-bit bytes included.
  A sendmail relay that must hand such a mail to a 7-bit hop converts the body to
  quoted-printable and says so (``mime8to7``: "X-MIME-Autoconverted: from 8bit to
  quoted-printable by HOST id QID", charset ``unknown-8bit`` when none was declared).
* MDaemon: header fields and body of real MDaemon PRO notices as logged in a public bounce
  parser (``MDaemonProParser.java``): From "MDaemon at HOST" <MDaemon@DOMAIN>,
  ``X-MDDSN-Message: Yes``, ``X-Actual-From``, ``X-Return-Path: <>``, Subject "Permanent
  Delivery Failure", "The attached message had PERMANENT fatal delivery errors.", the
  "--- Session Transcript ---" block; and its local unknown-user notice, Subject
  "Warning: ADDRESS - User unknown!" with "ADDRESS - no such user here." and the original
  attached as ``message/rfc822`` (flufl.bounce's simplematch knows that line as MDaemon's).
* Trend Micro InterScan MSS: sisimai's ``Lhost::InterScanMSS``/``TrendMicro`` and their
  sample ``lhost-trendmicro-01.eml``: From "InterScan MSS" <postmaster@DOMAIN> with a
  non-null Return-Path, Subject "Mail could not be delivered", boundary
  ``------------InterScan_NT_MIME_Boundary``, "Unable to deliver message to <…>",
  "Sent <<< RCPT TO:<…>", "Received >>> 550 …", the "End of message" line, and the
  original as ``message/rfc822``; flufl.bounce's simplematch ("kviv.be (InterScan NT)").
"""

from __future__ import annotations

import quopri
from pathlib import Path

CORPUS = Path(__file__).parent


def _lines(*lines: str) -> str:
    return "\n".join(lines) + "\n"


# --- qmail: the client's own server, body re-encoded quoted-printable on the way -------

# The offer as the owner's Thunderbird sent it: UTF-8 in 8bit, so the copy qmail returns
# carries 8-bit bytes and a sendmail relay later turns the whole body into QP.
_KELLER_OFFER = _lines(
    "Return-Path: <anna@berger-design.de>",
    "Received: (qmail 23390 invoked from network); 2 Mar 2026 08:00:12 -0000",
    "Received: from mout.berger-design.de (HELO mout.berger-design.de) (198.51.100.25)",
    "  by mail.keller-bau.de with SMTP; 2 Mar 2026 08:00:12 -0000",
    "Message-ID: <angebot-keller@berger-design.de>",
    "Date: Mon, 2 Mar 2026 09:00:04 +0100",
    "MIME-Version: 1.0",
    "User-Agent: Mozilla Thunderbird",
    "Content-Language: de-DE",
    "To: Jonas Keller <jonas.keller@keller-bau.de>",
    "From: Anna Berger <anna@berger-design.de>",
    "Subject: Angebot Relaunch Webseite Keller Bau",
    "Content-Type: text/plain; charset=UTF-8; format=flowed",
    "Content-Transfer-Encoding: 8bit",
    "",
    "Guten Tag Herr Keller,",
    "",
    "anbei wie besprochen mein Angebot für den Relaunch Ihrer Webseite: neue ",
    "Struktur, Texte für die Leistungsseiten und ein schlankes Redaktionssystem, ",
    "damit Ihr Büro Referenzen künftig selbst einpflegen kann.",
    "",
    "Für Rückfragen erreichen Sie mich unter 0221 555 0187.",
    "",
    "Viele Grüße",
    "Anna Berger",
)

_QMAIL_LOCAL_BOUNCE_BODY = (
    _lines(
        "Hi. This is the qmail-send program at keller-bau.de.",
        "I'm afraid I wasn't able to deliver your message to the following addresses.",
        "This is a permanent error; I've given up. Sorry it didn't work out.",
        "",
        "<jonas.keller@keller-bau.de>:",
        "Sorry, no mailbox here by that name. (#5.1.1)",
        "",
        "--- Below this line is a copy of the message.",
        "",
    )
    + _KELLER_OFFER
)


def qmail_client_domain_qp_keller() -> bytes:
    """qmail at keller-bau.de itself refuses a deleted mailbox (qmail-local, #5.1.1).

    From MAILER-DAEMON@ the client's own company domain: the sender address alone looks
    like a colleague. The owner's provider relayed it through sendmail, which made the
    8-bit body quoted-printable.
    """
    body = quopri.encodestring(_QMAIL_LOCAL_BOUNCE_BODY.encode("utf-8"))
    head = _lines(
        "Return-Path: <>",
        "Delivered-To: anna@berger-design.de",
        "Received: from mx1.berger-design.de (mx1.berger-design.de [198.51.100.20])",
        "\tby imap.berger-design.de (Postfix) with ESMTPS id 4dJ3kT1LqTz9sWb",
        "\tfor <anna@berger-design.de>; Mon,  2 Mar 2026 09:00:19 +0100 (CET)",
        "Received: from mail.keller-bau.de (mail.keller-bau.de [203.0.113.61])",
        "\tby mx1.berger-design.de (8.17.1.9/8.17.1.9) with SMTP id 62280JxL031877",
        "\tfor <anna@berger-design.de>; Mon, 2 Mar 2026 09:00:19 +0100",
        "Message-Id: <202603020800.62280JxL031877@mx1.berger-design.de>",
        "Received: (qmail 23417 invoked for bounce); 2 Mar 2026 08:00:13 -0000",
        "Date: 2 Mar 2026 08:00:13 -0000",
        "From: MAILER-DAEMON@keller-bau.de",
        "To: anna@berger-design.de",
        "Subject: failure notice",
        "MIME-Version: 1.0",
        "Content-Type: text/plain; charset=unknown-8bit",
        "Content-Transfer-Encoding: quoted-printable",
        "X-MIME-Autoconverted: from 8bit to quoted-printable by mx1.berger-design.de id",
        " 62280JxL031877",
        "",
    )
    return head.encode("ascii") + body


# --- qmail: the owner's relay gives up after the queue lifetime (4.x.x, yet final) -----


def qmail_queue_lifetime_assistant_praxis() -> bytes:
    """qmail-send gives up after a week of 4.2.2 for the assistant's full mailbox.

    The status is 4.x.x, but "permanent error; I've given up" and "in the queue too long"
    make it final. The returned invoice was also addressed to buchhaltung@, which was
    delivered: only the recipient paragraph names the failed address.
    """
    return _lines(
        "Return-Path: <>",
        "Delivered-To: anna@berger-design.de",
        "Received: (qmail 7730 invoked for bounce); 9 Mar 2026 08:01:55 -0000",
        "Date: 9 Mar 2026 08:01:55 -0000",
        "From: MAILER-DAEMON@relay2.berger-design.de",
        "To: anna@berger-design.de",
        "Subject: failure notice",
        "",
        "Hi. This is the qmail-send program at relay2.berger-design.de.",
        "I'm afraid I wasn't able to deliver your message to the following addresses.",
        "This is a permanent error; I've given up. Sorry it didn't work out.",
        "",
        "<empfang@praxis-weiss.de>:",
        "192.0.2.87 does not like recipient.",
        "Remote host said: 452 4.2.2 <empfang@praxis-weiss.de>: Mailbox over quota",
        "I'm not going to try again; this message has been in the queue too long.",
        "",
        "--- Below this line is a copy of the message.",
        "",
        "Return-Path: <anna@berger-design.de>",
        "Received: (qmail 7702 invoked by uid 1004); 2 Mar 2026 08:00:03 -0000",
        "Message-ID: <rechnung-2026-014@berger-design.de>",
        "Date: Mon, 02 Mar 2026 09:00:00 +0100",
        "From: Anna Berger <anna@berger-design.de>",
        "To: buchhaltung@praxis-weiss.de",
        "Cc: empfang@praxis-weiss.de",
        "Subject: Rechnung 2026-014 - Praxisflyer und Terminkarten",
        "MIME-Version: 1.0",
        "Content-Type: text/plain; charset=us-ascii",
        "",
        "Guten Tag,",
        "",
        "anbei meine Rechnung 2026-014 ueber 1.428,00 EUR, zahlbar bis 16.03.2026.",
        "",
        "Viele Gruesse",
        "Anna Berger",
    ).encode("ascii")


# --- MDaemon: the client's own gateway, from MDaemon@ the company domain ----------------


def mdaemon_permanent_failure_adler() -> bytes:
    """MDaemon at adler-it.com cannot hand the offer to the internal server (550 5.1.1).

    The sender is MDaemon@adler-it.com, the client's company domain, and neither a
    MAILER-DAEMON nor a postmaster: only ``X-MDDSN-Message`` and the text say bounce.
    The session transcript names our Message-ID.
    """
    stamp = "Mon 2026-03-02 09:00:41:"
    return _lines(
        "Return-Path: <>",
        "Delivered-To: anna@berger-design.de",
        "Received: from mail.adler-it.com (mail.adler-it.com [192.0.2.140])",
        "\tby mx1.berger-design.de (Postfix) with ESMTPS id 4dJ3lB0x2Kz9sXc",
        "\tfor <anna@berger-design.de>; Mon,  2 Mar 2026 09:00:44 +0100 (CET)",
        "Received: from adler-it.com by adler-it.com (via RAW) (MDaemon PRO v13.0.5)",
        "\tfor <anna@berger-design.de>; Mon, 02 Mar 2026 09:00:42 +0100",
        "Date: Mon, 02 Mar 2026 09:00:42 +0100",
        'From: "MDaemon at adler-it.com" <MDaemon@adler-it.com>',
        "Reply-To: noreply@adler-it.com",
        "Subject: Permanent Delivery Failure",
        "To: anna@berger-design.de",
        "X-MDaemon-Deliver-To: anna@berger-design.de",
        "Message-ID: <MDAEMON4711202603020900.AA0042117@adler-it.com>",
        "Mime-Version: 1.0",
        "X-Actual-From: MDaemon@adler-it.com",
        "X-MDDSN-Message: Yes",
        "X-Return-Path: <>",
        "Content-Type: text/plain; charset=iso-8859-1",
        "",
        "-" * 74,
        "MDaemon Delivery Status Notification - http://www.altn.com/dsn/",
        "-" * 74,
        "",
        "The attached message had PERMANENT fatal delivery errors.",
        "",
        "-" * 74,
        "YOUR MESSAGE WAS NOT DELIVERED TO ONE OR MORE RECIPIENTS",
        "-" * 74,
        "",
        "--- Session Transcript ---",
        f" {stamp} Parsing message <d:\\mdaemon\\queues\\remote\\pd50001188021.msg>",
        f" {stamp} *  From: anna@berger-design.de",
        f" {stamp} *  To: s.adler@adler-it.com",
        f" {stamp} *  Subject: Angebot Corporate Design für Adler IT",
        f" {stamp} *  Size (bytes): 84113",
        f" {stamp} *  Message-ID: <angebot-adler@berger-design.de>",
        f" {stamp} *  Route slip host: [exchange.adler-it.local]",
        f" {stamp} *  Route slip port: 25",
        f" {stamp} Attempting SMTP connection to [exchange.adler-it.local:25]",
        f" {stamp} Connection established (192.168.20.5:49822 -> 192.168.20.12:25)",
        f" {stamp} <-- 220 exchange.adler-it.local Microsoft ESMTP MAIL Service ready",
        f" {stamp} --> MAIL From:<anna@berger-design.de> SIZE=84113",
        f" {stamp} <-- 250 2.1.0 Sender OK",
        f" {stamp} --> RCPT To:<s.adler@adler-it.com>",
        f" {stamp} <-- 550 5.1.1 User unknown",
        "--- End Transcript ---",
    ).encode("iso-8859-1")


def mdaemon_user_unknown_warning_keller() -> bytes:
    """MDaemon at keller-bau.de: the local mailbox is gone ("no such user here").

    The subject starts with "Warning:", but the notice is final. The original (our
    follow-up nf-sent-1, which References the offer) is attached as message/rfc822.
    """
    boundary = "0310-1012-07-PART-BREAK"
    return (
        "\r\n".join(
            [
                "Return-Path: <>",
                "Delivered-To: anna@berger-design.de",
                "Received: from mail.keller-bau.de (mail.keller-bau.de [203.0.113.61])",
                "\tby mx1.berger-design.de (Postfix) with ESMTP id 4dM2vQ6c1pz9sYd",
                "\tfor <anna@berger-design.de>; Tue, 10 Mar 2026 10:12:09 +0100 (CET)",
                "Received: from mail.keller-bau.de by mail.keller-bau.de (via RAW)"
                " (MDaemon PRO v13.0.5)",
                "\tfor <anna@berger-design.de>; Tue, 10 Mar 2026 10:12:07 +0100",
                "Date: Tue, 10 Mar 2026 10:12:07 +0100",
                'From: "MDaemon at mail.keller-bau.de" <MDaemon@keller-bau.de>',
                "Reply-To: MDaemon@keller-bau.de",
                "Subject: Warning: jonas.keller@keller-bau.de - User unknown!",
                "To: anna@berger-design.de",
                "X-MDaemon-Deliver-To: anna@berger-design.de",
                "Message-ID: <MDAEMON2231202603101012.AA1207733@mail.keller-bau.de>",
                "Mime-Version: 1.0",
                "X-Actual-From: MDaemon@keller-bau.de",
                "X-Return-Path: <>",
                f'Content-Type: multipart/mixed; boundary="{boundary}"',
                "",
                "   The following data may contain sections which represent BASE64 encoded",
                "   file attachments.",
                "",
                f"--{boundary}",
                "Content-Type: text/plain; charset=iso-8859-1",
                "Content-Transfer-Encoding: 7bit",
                "",
                "jonas.keller@keller-bau.de - no such user here.",
                "",
                f"--{boundary}",
                "Content-Type: message/rfc822; name=pd75000207731.eml",
                "",
                "Message-ID: <nf-sent-1@berger-design.de>",
                "In-Reply-To: <angebot-keller@berger-design.de>",
                "References: <angebot-keller@berger-design.de>",
                "Date: Tue, 10 Mar 2026 10:12:01 +0100",
                "From: Anna Berger <anna@berger-design.de>",
                "To: Jonas Keller <jonas.keller@keller-bau.de>",
                "Subject: Re: Angebot Relaunch Webseite Keller Bau",
                "MIME-Version: 1.0",
                "Content-Type: text/plain; charset=utf-8",
                "Content-Transfer-Encoding: quoted-printable",
                "",
                "Guten Tag Herr Keller,",
                "",
                "ist mein Angebot gut bei Ihnen angekommen? Wenn Sie Fragen haben, rufen S=",
                "ie mich gern an =E2=80=93 sonst melde ich mich n=C3=A4chste Woche noch ei=",
                "nmal.",
                "",
                "Viele Gr=C3=BC=C3=9Fe",
                "Anna Berger",
                "",
                f"--{boundary}--",
                "",
            ]
        )
    ).encode("ascii")


# --- Trend Micro InterScan MSS at the client's gateway ----------------------------------


def interscan_mss_praxis() -> bytes:
    """InterScan MSS at praxis-weiss.de rejects the invoice for buchhaltung@ (550 5.1.1).

    From postmaster@ the client's domain with a real Return-Path, not ``<>``: no header
    says bounce. The original rides along as message/rfc822.
    """
    boundary = "------------InterScan_NT_MIME_Boundary"
    return _lines(
        "Return-Path: <postmaster@praxis-weiss.de>",
        "Delivered-To: anna@berger-design.de",
        "Received: from imss.praxis-weiss.de (imss.praxis-weiss.de [198.51.100.77])",
        "\tby mx1.berger-design.de (Postfix) with ESMTP id 4dJ3kW4nQpz9sWd",
        "\tfor <anna@berger-design.de>; Mon,  2 Mar 2026 09:00:31 +0100 (CET)",
        "Message-Id: <202603020900.62290Ud9004410@imss.praxis-weiss.de>",
        "Date: Mon, 2 Mar 2026 09:00:30 +0100",
        'From: "InterScan MSS" <postmaster@praxis-weiss.de>',
        "To: <anna@berger-design.de>",
        "MIME-Version: 1.0",
        "Content-Type: multipart/mixed;",
        f' boundary="{boundary}"',
        "Subject: Mail could not be delivered",
        "",
        "",
        f"--{boundary}",
        "Content-type: text/plain",
        "",
        "Unable to deliver message to <buchhaltung@praxis-weiss.de>.",
        "",
        "Sent <<< RCPT TO:<buchhaltung@praxis-weiss.de>",
        "Received >>> 550 5.1.1 <buchhaltung@praxis-weiss.de>... user unknown",
        "",
        "************************     End of message     **********************",
        "",
        f"--{boundary}",
        "Content-type: message/rfc822",
        "",
        "Received: from mout.berger-design.de ([198.51.100.25]) by imss.praxis-weiss.de",
        "    with ESMTP id 00A7F3.3C1B; Mon, 2 Mar 2026 09:00:29 +0100",
        "Message-ID: <rechnung-2026-014@berger-design.de>",
        "Date: Mon, 02 Mar 2026 09:00:00 +0100",
        "From: Anna Berger <anna@berger-design.de>",
        "To: buchhaltung@praxis-weiss.de",
        "Subject: =?utf-8?q?Rechnung_2026-014_=E2=80=93_Praxisflyer_und_Terminkarten?=",
        "MIME-Version: 1.0",
        "Content-Type: text/plain; charset=utf-8",
        "Content-Transfer-Encoding: quoted-printable",
        "",
        "Guten Tag,",
        "",
        "anbei meine Rechnung 2026-014 =C3=BCber 1.428,00 =E2=82=AC, zahlbar bis 16.03=",
        ".2026.",
        "",
        "Viele Gr=C3=BC=C3=9Fe",
        "Anna Berger",
        "",
        f"--{boundary}--",
    ).encode("ascii")


FIXTURES = {
    "qmail_client_domain_qp_keller.eml": qmail_client_domain_qp_keller,
    "qmail_queue_lifetime_assistant_praxis.eml": qmail_queue_lifetime_assistant_praxis,
    "mdaemon_permanent_failure_adler.eml": mdaemon_permanent_failure_adler,
    "mdaemon_user_unknown_warning_keller.eml": mdaemon_user_unknown_warning_keller,
    "interscan_mss_praxis.eml": interscan_mss_praxis,
}


def main() -> None:
    for name, build in FIXTURES.items():
        (CORPUS / name).write_bytes(build())
        print(f"wrote tests/corpus/{name}")


if __name__ == "__main__":
    main()
