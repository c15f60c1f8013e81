"""classify.py: whole mails → human answer, auto-reply or bounce; out-of-office return dates.

The mails below are written for these tests in the shape real servers produce (Postfix,
Exim, Office 365, Gmail, Dovecot Sieve, iCloud); names and domains are invented.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mailstrategies import budget, raw_mails
from nachfass_bot.mail import classify
from nachfass_bot.mail.bounces import is_delivery_system
from nachfass_bot.mail.classify import Classification, MailKind, classify_message
from nachfass_bot.mail.returndate import find_return_date

JAN_5 = date(2026, 1, 5)

# --- bounces ---------------------------------------------------------------------------

POSTFIX_DSN_PERMANENT = (
    b"Return-Path: <>\r\n"
    b"Received: by mail.berger-text.de (Postfix) id 7C1D21C0094;\r\n"
    b"\tMon,  5 Jan 2026 10:15:04 +0100 (CET)\r\n"
    b"Date: Mon,  5 Jan 2026 10:15:04 +0100 (CET)\r\n"
    b"From: MAILER-DAEMON@mail.berger-text.de (Mail Delivery System)\r\n"
    b"Subject: Undelivered Mail Returned to Sender\r\n"
    b"To: lena@berger-text.de\r\n"
    b"Auto-Submitted: auto-replied\r\n"
    b"MIME-Version: 1.0\r\n"
    b"Content-Type: multipart/report; report-type=delivery-status;\r\n"
    b'\tboundary="7C1D21C0094.1767604504/mail.berger-text.de"\r\n'
    b"Message-Id: <20260105091504.7C1D21C0094@mail.berger-text.de>\r\n"
    b"\r\n"
    b"This is a MIME-encapsulated message.\r\n"
    b"\r\n"
    b"--7C1D21C0094.1767604504/mail.berger-text.de\r\n"
    b"Content-Description: Notification\r\n"
    b"Content-Type: text/plain; charset=us-ascii\r\n"
    b"\r\n"
    b"This is the mail system at host mail.berger-text.de.\r\n"
    b"\r\n"
    b"Your message could not be delivered to one or more recipients.\r\n"
    b"The mail system said:\r\n"
    b"\r\n"
    b"<a.schmidt@schmidt-moebel.de>: host mx00.schmidt-moebel.de[192.0.2.25] said:\r\n"
    b"    550 5.1.1 <a.schmidt@schmidt-moebel.de>: Recipient address rejected: User\r\n"
    b"    unknown in virtual mailbox table (in reply to RCPT TO command)\r\n"
    b"\r\n"
    b"--7C1D21C0094.1767604504/mail.berger-text.de\r\n"
    b"Content-Description: Delivery report\r\n"
    b"Content-Type: message/delivery-status\r\n"
    b"\r\n"
    b"Reporting-MTA: dns; mail.berger-text.de\r\n"
    b"X-Postfix-Queue-ID: 4F2A81C0093\r\n"
    b"X-Postfix-Sender: rfc822; lena@berger-text.de\r\n"
    b"Arrival-Date: Mon,  5 Jan 2026 10:15:02 +0100 (CET)\r\n"
    b"\r\n"
    b"Final-Recipient: rfc822; a.schmidt@schmidt-moebel.de\r\n"
    b"Original-Recipient: rfc822;A.Schmidt@Schmidt-Moebel.de\r\n"
    b"Action: failed\r\n"
    b"Status: 5.1.1\r\n"
    b"Remote-MTA: dns; mx00.schmidt-moebel.de\r\n"
    b"Diagnostic-Code: smtp; 550 5.1.1 <a.schmidt@schmidt-moebel.de>: Recipient\r\n"
    b"    address rejected: User unknown in virtual mailbox table\r\n"
    b"\r\n"
    b"--7C1D21C0094.1767604504/mail.berger-text.de\r\n"
    b"Content-Description: Undelivered Message Headers\r\n"
    b"Content-Type: text/rfc822-headers\r\n"
    b"\r\n"
    b"From: Lena Berger <lena@berger-text.de>\r\n"
    b"To: a.schmidt@schmidt-moebel.de\r\n"
    b"Subject: Angebot Katalogtexte\r\n"
    b"Message-ID: <20260105101500.4711.1@berger-text.de>\r\n"
    b"\r\n"
    b"--7C1D21C0094.1767604504/mail.berger-text.de--\r\n"
)

POSTFIX_DSN_DELAYED = (
    b"Return-Path: <>\r\n"
    b"Date: Mon,  5 Jan 2026 14:20:11 +0100 (CET)\r\n"
    b"From: MAILER-DAEMON@mail.berger-text.de (Mail Delivery System)\r\n"
    b"Subject: Delayed Mail (still being retried)\r\n"
    b"To: lena@berger-text.de\r\n"
    b"Auto-Submitted: auto-replied\r\n"
    b"MIME-Version: 1.0\r\n"
    b"Content-Type: multipart/report; report-type=delivery-status;\r\n"
    b'\tboundary="9A0B31C0101.1767619211/mail.berger-text.de"\r\n'
    b"\r\n"
    b"--9A0B31C0101.1767619211/mail.berger-text.de\r\n"
    b"Content-Description: Notification\r\n"
    b"Content-Type: text/plain; charset=us-ascii\r\n"
    b"\r\n"
    b"This is the mail system at host mail.berger-text.de.\r\n"
    b"\r\n"
    b"####### THIS IS A WARNING ONLY.  YOU DO NOT NEED TO RESEND YOUR MESSAGE. #######\r\n"
    b"\r\n"
    b"Your message could not be delivered for more than 4 hour(s).\r\n"
    b"It will be retried until it is 5 day(s) old.\r\n"
    b"\r\n"
    b"<buero@hofmann-druck.de>: connect to mx.hofmann-druck.de[198.51.100.9]:25:\r\n"
    b"    Connection timed out\r\n"
    b"\r\n"
    b"--9A0B31C0101.1767619211/mail.berger-text.de\r\n"
    b"Content-Description: Delivery report\r\n"
    b"Content-Type: message/delivery-status\r\n"
    b"\r\n"
    b"Reporting-MTA: dns; mail.berger-text.de\r\n"
    b"Arrival-Date: Mon,  5 Jan 2026 10:15:02 +0100 (CET)\r\n"
    b"\r\n"
    b"Final-Recipient: rfc822; buero@hofmann-druck.de\r\n"
    b"Original-Recipient: rfc822;buero@hofmann-druck.de\r\n"
    b"Action: delayed\r\n"
    b"Status: 4.4.1\r\n"
    b"Diagnostic-Code: X-Postfix; connect to mx.hofmann-druck.de[198.51.100.9]:25:\r\n"
    b"    Connection timed out\r\n"
    b"Will-Retry-Until: Sat, 10 Jan 2026 10:15:02 +0100 (CET)\r\n"
    b"\r\n"
    b"--9A0B31C0101.1767619211/mail.berger-text.de\r\n"
    b"Content-Description: Undelivered Message Headers\r\n"
    b"Content-Type: text/rfc822-headers\r\n"
    b"\r\n"
    b"From: Lena Berger <lena@berger-text.de>\r\n"
    b"To: buero@hofmann-druck.de\r\n"
    b"Subject: Rechnung 2026-003\r\n"
    b"\r\n"
    b"--9A0B31C0101.1767619211/mail.berger-text.de--\r\n"
)

# One recipient delayed, one failed: the failure wins, and only it is reported.
MIXED_DSN = (
    b"Return-Path: <>\r\n"
    b"From: Mail Delivery System <MAILER-DAEMON@smtp.strato-beispiel.de>\r\n"
    b"To: lena@berger-text.de\r\n"
    b"Subject: Delivery Status Notification\r\n"
    b'Content-Type: multipart/report; report-type="delivery-status"; boundary="b1"\r\n'
    b"\r\n"
    b"--b1\r\n"
    b"Content-Type: text/plain\r\n"
    b"\r\n"
    b"Delivery report for your message to two recipients.\r\n"
    b"--b1\r\n"
    b"Content-Type: message/delivery-status\r\n"
    b"\r\n"
    b"Reporting-MTA: dns; smtp.strato-beispiel.de\r\n"
    b"\r\n"
    b"Final-Recipient: rfc822; einkauf@keller-bau.de\r\n"
    b"Action: delayed\r\n"
    b"Status: 4.4.7\r\n"
    b"\r\n"
    b"Final-Recipient: rfc822; <J.Keller@Keller-Bau.de>\r\n"
    b"Action: failed (mailbox full)\r\n"
    b"Status: 5.2.2 (mailbox full)\r\n"
    b"\r\n"
    b"--b1--\r\n"
)

SUCCESS_DSN = (
    b"Return-Path: <>\r\n"
    b"From: MAILER-DAEMON@mail.berger-text.de (Mail Delivery System)\r\n"
    b"To: lena@berger-text.de\r\n"
    b"Subject: Successful Mail Delivery Report\r\n"
    b'Content-Type: multipart/report; report-type=delivery-status; boundary="ok1"\r\n'
    b"\r\n"
    b"--ok1\r\n"
    b"Content-Type: text/plain\r\n"
    b"\r\n"
    b"Your message was successfully relayed to the recipient's server.\r\n"
    b"--ok1\r\n"
    b"Content-Type: message/delivery-status\r\n"
    b"\r\n"
    b"Reporting-MTA: dns; mail.berger-text.de\r\n"
    b"\r\n"
    b"Final-Recipient: rfc822; jonas.keller@keller-bau.de\r\n"
    b"Action: relayed\r\n"
    b"Status: 2.0.0\r\n"
    b"\r\n"
    b"--ok1--\r\n"
)

EXIM_TEXT_BOUNCE = (
    b"Return-path: <>\r\n"
    b"Envelope-to: lena@berger-text.de\r\n"
    b"Date: Tue, 06 Jan 2026 09:02:17 +0100\r\n"
    b"From: Mail Delivery System <Mailer-Daemon@mx.hosting-beispiel.de>\r\n"
    b"To: lena@berger-text.de\r\n"
    b"Subject: Mail delivery failed: returning message to sender\r\n"
    b"Message-Id: <E1vdQ2x-0003Hk-9S@mx.hosting-beispiel.de>\r\n"
    b"X-Failed-Recipients: Info@Hofmann-Druck.de\r\n"
    b"Auto-Submitted: auto-replied\r\n"
    b"\r\n"
    b"This message was created automatically by mail delivery software.\r\n"
    b"\r\n"
    b"A message that you sent could not be delivered to one or more of its\r\n"
    b"recipients. This is a permanent error. The following address(es) failed:\r\n"
    b"\r\n"
    b"  info@hofmann-druck.de\r\n"
    b"    host mx.hofmann-druck.de [203.0.113.7]\r\n"
    b"    SMTP error from remote mail server after RCPT TO:<info@hofmann-druck.de>:\r\n"
    b"    550 5.1.1 mailbox unavailable\r\n"
    b"\r\n"
    b"------ This is a copy of the message, including all the headers. ------\r\n"
    b"\r\n"
    b"Return-path: <lena@berger-text.de>\r\n"
    b"From: Lena Berger <lena@berger-text.de>\r\n"
    b"To: info@hofmann-druck.de, kollegin@hofmann-druck.de\r\n"
    b"Subject: Rechnung 2026-003\r\n"
    b"\r\n"
    b"Guten Tag,\r\n"
    b"anbei die Rechnung, zahlbar bis 20.01.2026.\r\n"
)

# Office 365 in German: an HTML/text notice, a DSN part, the original attached.
O365_NDR_GERMAN = (
    b"From: Microsoft Outlook\r\n"
    b" <MicrosoftExchange329e71ec88ae4615bbc36ab6ce41109e@keller-bau.de>\r\n"
    b"To: <lena@berger-text.de>\r\n"
    b"Date: Wed, 7 Jan 2026 08:31:40 +0000\r\n"
    b"Subject: =?iso-8859-1?Q?Unzustellbar:_Angebot_f=FCr_Ihre_Webseite?=\r\n"
    b"Content-Language: de-DE\r\n"
    b"Content-Type: multipart/report; report-type=delivery-status;\r\n"
    b'\tboundary="_b6a1f2c3-ndr_"\r\n'
    b"X-MS-Exchange-Message-Is-Ndr:\r\n"
    b"Auto-Submitted: auto-replied\r\n"
    b"MIME-Version: 1.0\r\n"
    b"\r\n"
    b"--_b6a1f2c3-ndr_\r\n"
    b'Content-Type: multipart/alternative; boundary="_alt_ndr_"\r\n'
    b"\r\n"
    b"--_alt_ndr_\r\n"
    b'Content-Type: text/plain; charset="iso-8859-1"\r\n'
    b"Content-Transfer-Encoding: quoted-printable\r\n"
    b"\r\n"
    b"Ihre Nachricht hat j.keller@keller-bau.de nicht erreicht.\r\n"
    b"\r\n"
    b"Die E-Mail-Adresse wurde nicht gefunden. Bitte pr=FCfen Sie die Schreibweise.\r\n"
    b"\r\n"
    b"Diagnoseinformationen f=FCr Administratoren:\r\n"
    b"Remote Server returned '550 5.1.10 RESOLVER.ADR.RecipientNotFound; Recipient\r\n"
    b" not found by SMTP address lookup'\r\n"
    b"\r\n"
    b"--_alt_ndr_\r\n"
    b'Content-Type: text/html; charset="iso-8859-1"\r\n'
    b"Content-Transfer-Encoding: quoted-printable\r\n"
    b"\r\n"
    b"<html><body><p>Ihre Nachricht hat j.keller@keller-bau.de nicht erreicht.</p>\r\n"
    b"</body></html>\r\n"
    b"\r\n"
    b"--_alt_ndr_--\r\n"
    b"\r\n"
    b"--_b6a1f2c3-ndr_\r\n"
    b"Content-Type: message/delivery-status\r\n"
    b"\r\n"
    b"Reporting-MTA: dns;AM0PR07MB6305.eurprd07.prod.outlook.com\r\n"
    b"Received-From-MTA: dns;mail.berger-text.de\r\n"
    b"Arrival-Date: Wed, 7 Jan 2026 08:31:39 +0000\r\n"
    b"\r\n"
    b"Final-Recipient: rfc822;j.keller@keller-bau.de\r\n"
    b"Action: failed\r\n"
    b"Status: 5.1.10\r\n"
    b"Diagnostic-Code: smtp;550 5.1.10 RESOLVER.ADR.RecipientNotFound; Recipient not\r\n"
    b" found by SMTP address lookup\r\n"
    b"\r\n"
    b"--_b6a1f2c3-ndr_\r\n"
    b"Content-Type: message/rfc822\r\n"
    b"\r\n"
    b"From: Lena Berger <lena@berger-text.de>\r\n"
    b"To: j.keller@keller-bau.de\r\n"
    b"Subject: =?iso-8859-1?Q?Angebot_f=FCr_Ihre_Webseite?=\r\n"
    b"\r\n"
    b"Guten Tag Herr Keller, anbei das Angebot.\r\n"
    b"\r\n"
    b"--_b6a1f2c3-ndr_--\r\n"
)

# An on-premises Exchange in German without a DSN part: only the notice text.
EXCHANGE_NDR_TEXT_ONLY = (
    b"From: Systemadministrator <postmaster@kanzlei-roth.de>\r\n"
    b"To: lena@berger-text.de\r\n"
    b"Subject: Unzustellbar: Rechnung 2026-014\r\n"
    b"Date: Thu, 8 Jan 2026 11:02:00 +0100\r\n"
    b'Content-Type: text/plain; charset="utf-8"\r\n'
    b"Content-Transfer-Encoding: 8bit\r\n"
    b"\r\n"
    b"Ihre Nachricht hat einige oder alle Empf\xc3\xa4nger nicht erreicht.\r\n"
    b"\r\n"
    b"      Betreff:   Rechnung 2026-014\r\n"
    b"      Gesendet:  08.01.2026 11:01\r\n"
    b"\r\n"
    b"Folgende Empf\xc3\xa4nger konnten nicht erreicht werden:\r\n"
    b"\r\n"
    b"      'm.roth@kanzlei-roth.de' am 08.01.2026 11:02\r\n"
    b"            550 5.1.1 Der Empf\xc3\xa4nger ist unbekannt.\r\n"
)

# The old Gmail text bounce ("Delivery to the following recipient failed permanently").
GMAIL_FAILURE = (
    b"Delivered-To: lena.berger.text@gmail.com\r\n"
    b"Return-Path: <>\r\n"
    b"From: Mail Delivery Subsystem <mailer-daemon@googlemail.com>\r\n"
    b"To: lena.berger.text@gmail.com\r\n"
    b"Subject: Delivery Status Notification (Failure)\r\n"
    b"Date: Fri, 09 Jan 2026 16:44:03 +0000\r\n"
    b"Content-Type: text/plain; charset=ISO-8859-1\r\n"
    b"\r\n"
    b"Delivery to the following recipient failed permanently:\r\n"
    b"\r\n"
    b"     petra.sommer@sommer-praxis.de\r\n"
    b"\r\n"
    b"Technical details of permanent failure:\r\n"
    b"The server for sommer-praxis.de rejected the recipient.\r\n"
    b"550 5.1.1 <petra.sommer@sommer-praxis.de>: Recipient address rejected\r\n"
    b"\r\n"
    b"----- Original message -----\r\n"
    b"\r\n"
    b"From: Lena Berger <lena.berger.text@gmail.com>\r\n"
    b"To: petra.sommer@sommer-praxis.de\r\n"
    b"Subject: Angebot Praxisflyer\r\n"
)

# A provider's notice without any address in it.
NOTICE_WITHOUT_ADDRESS = (
    b"From: Mailer-Daemon <mailer-daemon@mx.provider-beispiel.de>\r\n"
    b"To: lena@berger-text.de\r\n"
    b"Subject: Nicht zustellbar\r\n"
    b'Content-Type: text/plain; charset="utf-8"\r\n'
    b"Content-Transfer-Encoding: 8bit\r\n"
    b"\r\n"
    b"Ihre Nachricht konnte nicht zugestellt werden. Der Server des Empf\xc3\xa4ngers\r\n"
    b"hat die Annahme dauerhaft verweigert.\r\n"
)

DELAY_NOTICE_WITHOUT_ADDRESS = (
    b"From: Mailer-Daemon <mailer-daemon@mx.provider-beispiel.de>\r\n"
    b"To: lena@berger-text.de\r\n"
    b"Subject: =?utf-8?q?Zustellung_verz=C3=B6gert?=\r\n"
    b'Content-Type: text/plain; charset="utf-8"\r\n'
    b"\r\n"
    b"Ihre Nachricht wurde noch nicht zugestellt. Wir versuchen es weiter.\r\n"
)

# --- auto-replies ----------------------------------------------------------------------

GMAIL_VACATION = (
    b"Return-Path: <jonas.keller.privat@gmail.com>\r\n"
    b"From: Jonas Keller <jonas.keller.privat@gmail.com>\r\n"
    b"To: lena@berger-text.de\r\n"
    b"Subject: Urlaub bis 16. Januar\r\n"
    b"Date: Mon, 5 Jan 2026 10:16:40 +0100\r\n"
    b"In-Reply-To: <20260105101500.4711.1@berger-text.de>\r\n"
    b"References: <20260105101500.4711.1@berger-text.de>\r\n"
    b"Auto-Submitted: auto-replied\r\n"
    b"X-Autoreply: yes\r\n"
    b"Precedence: bulk\r\n"
    b'Content-Type: text/plain; charset="UTF-8"\r\n'
    b"Content-Transfer-Encoding: quoted-printable\r\n"
    b"\r\n"
    b"Hallo,\r\n"
    b"\r\n"
    b"ich bin vom 2. bis einschlie=C3=9Flich 16. Januar 2026 im Urlaub und lese\r\n"
    b"meine Mails nur unregelm=C3=A4=C3=9Fig. Ab dem 19. Januar bin ich wieder f=C3=BCr\r\n"
    b"Sie da.\r\n"
    b"\r\n"
    b"Viele Gr=C3=BC=C3=9Fe\r\n"
    b"Jonas Keller\r\n"
)

EXCHANGE_AUTO_REPLY = (
    b"From: Petra Sommer <p.sommer@sommer-praxis.de>\r\n"
    b"To: Lena Berger <lena@berger-text.de>\r\n"
    b"Subject: =?iso-8859-1?Q?Automatische_Antwort:_Rechnung_2026-014,_zahlbar_bis_?=\r\n"
    b" =?iso-8859-1?Q?30.01.2026?=\r\n"
    b"Date: Tue, 6 Jan 2026 07:58:12 +0000\r\n"
    b"Message-ID: <AS8PR10MB7427A1B2@AS8PR10MB7427.EURPRD10.PROD.OUTLOOK.COM>\r\n"
    b"In-Reply-To: <20260106085500.4711.9@berger-text.de>\r\n"
    b"Auto-Submitted: auto-replied\r\n"
    b"X-MS-Exchange-Inbox-Rules-Loop: p.sommer@sommer-praxis.de\r\n"
    b"X-Auto-Response-Suppress: All\r\n"
    b"Content-Type: multipart/alternative;\r\n"
    b'\tboundary="_000_AS8PR10MB7427_"\r\n'
    b"MIME-Version: 1.0\r\n"
    b"\r\n"
    b"--_000_AS8PR10MB7427_\r\n"
    b'Content-Type: text/plain; charset="iso-8859-1"\r\n'
    b"Content-Transfer-Encoding: quoted-printable\r\n"
    b"\r\n"
    b"Sehr geehrte Damen und Herren,\r\n"
    b"\r\n"
    b"vielen Dank f=FCr Ihre Nachricht. Ich bin bis einschlie=DFlich Freitag,\r\n"
    b"16.01.2026 nicht im B=FCro. Ihre E-Mail wird nicht weitergeleitet.\r\n"
    b"In dringenden F=E4llen erreichen Sie die Praxis unter 0221 987650.\r\n"
    b"\r\n"
    b"Mit freundlichen Gr=FC=DFen\r\n"
    b"Petra Sommer\r\n"
    b"\r\n"
    b"--_000_AS8PR10MB7427_\r\n"
    b'Content-Type: text/html; charset="iso-8859-1"\r\n'
    b"Content-Transfer-Encoding: quoted-printable\r\n"
    b"\r\n"
    b"<html><body><p>vielen Dank f=FCr Ihre Nachricht.</p></body></html>\r\n"
    b"\r\n"
    b"--_000_AS8PR10MB7427_--\r\n"
)

# Dovecot Pigeonhole vacation: null reverse path, subject from the user's Sieve script.
SIEVE_VACATION = (
    b"Return-Path: <>\r\n"
    b"From: Anna Schmidt <a.schmidt@schmidt-moebel.de>\r\n"
    b"To: lena@berger-text.de\r\n"
    b"Subject: Bin im Urlaub\r\n"
    b"Date: Wed, 23 Dec 2026 09:00:00 +0100\r\n"
    b"Message-ID: <dovecot-sieve-1766476800-4711-0@mail.schmidt-moebel.de>\r\n"
    b"In-Reply-To: <20261223085900.4711.1@berger-text.de>\r\n"
    b"Auto-Submitted: auto-replied (vacation)\r\n"
    b"Precedence: bulk\r\n"
    b"MIME-Version: 1.0\r\n"
    b"Content-Type: text/plain; charset=utf-8\r\n"
    b"Content-Transfer-Encoding: 8bit\r\n"
    b"\r\n"
    b"Guten Tag,\r\n"
    b"\r\n"
    b"ich bin vom 22.12.2026 bis 06.01.2027 nicht erreichbar. Ab Donnerstag,\r\n"
    b"7. Januar bin ich gerne wieder f\xc3\xbcr Sie da.\r\n"
    b"\r\n"
    b"Anna Schmidt\r\n"
)

APPLE_VACATION = (
    b"From: Martin Roth <m.roth@icloud.com>\r\n"
    b"To: lena@berger-text.de\r\n"
    b"Subject: Re: Angebot Kanzleibrosch=?utf-8?q?=C3=BCre?=\r\n"
    b"Date: Mon, 28 Dec 2026 12:00:00 +0100\r\n"
    b"X-Apple-Action: vacation\r\n"
    b"Content-Type: text/plain; charset=us-ascii\r\n"
    b"\r\n"
    b"Thank you for your email. I am out of the office until January 12, 2027\r\n"
    b"with limited access to email.\r\n"
)

# No special header at all; only the subject says what it is.
SUBJECT_ONLY_OOF = (
    b"From: info@hofmann-druck.de\r\n"
    b"To: lena@berger-text.de\r\n"
    b"Subject: Abwesenheitsnotiz\r\n"
    b"Date: Wed, 7 Jan 2026 10:00:00 +0100\r\n"
    b'Content-Type: text/plain; charset="iso-8859-1"\r\n'
    b"Content-Transfer-Encoding: quoted-printable\r\n"
    b"\r\n"
    b"Guten Tag,\r\n"
    b"\r\n"
    b"unser B=FCro ist bis zum 09.01. geschlossen, wir sind au=DFer Haus.\r\n"
    b"Ab Montag, dem 12.01. sind wir wieder f=FCr Sie da.\r\n"
)

# No header, no marker in the subject: the short text alone decides.
TEXT_ONLY_OOF = (
    b"From: Jonas Keller <jonas.keller@keller-bau.de>\r\n"
    b"To: lena@berger-text.de\r\n"
    b"Subject: AW: Angebot Katalogtexte\r\n"
    b"Date: Mon, 5 Jan 2026 10:16:00 +0100\r\n"
    b'Content-Type: text/plain; charset="utf-8"\r\n'
    b"Content-Transfer-Encoding: 8bit\r\n"
    b"\r\n"
    b"Vielen Dank f\xc3\xbcr Ihre E-Mail.\r\n"
    b"\r\n"
    b"Ich befinde mich bis einschlie\xc3\x9flich 16.01.2026 im Urlaub. Ihre Nachricht\r\n"
    b"wird nicht weitergeleitet.\r\n"
    b"\r\n"
    b"Mit freundlichen Gr\xc3\xbc\xc3\x9fen\r\n"
    b"Jonas Keller\r\n"
)

AUTO_REPLY_WITHOUT_DATE = (
    b"From: Petra Sommer <p.sommer@sommer-praxis.de>\r\n"
    b"To: lena@berger-text.de\r\n"
    b"Subject: Automatic reply: Angebot Praxisflyer\r\n"
    b"Auto-Submitted: auto-replied\r\n"
    b'Content-Type: text/plain; charset="utf-8"\r\n'
    b"\r\n"
    b"Thank you for your message. I am out of the office and will answer after\r\n"
    b"my return.\r\n"
    b"\r\n"
    b"-----Ursprungliche Nachricht-----\r\n"
    b"Von: Lena Berger <lena@berger-text.de>\r\n"
    b"Gesendet: Montag, 5. Januar 2026 10:15\r\n"
    b"Betreff: Angebot Praxisflyer\r\n"
    b"\r\n"
    b"Bitte geben Sie mir bis 20.01. Bescheid.\r\n"
)

TICKET_CONFIRMATION = (
    b"From: Support <support@hosting-beispiel.de>\r\n"
    b"To: lena@berger-text.de\r\n"
    b"Subject: [Ticket#2026010512] Ihre Anfrage ist eingegangen\r\n"
    b"Auto-Submitted: auto-generated\r\n"
    b"Content-Type: text/plain; charset=us-ascii\r\n"
    b"\r\n"
    b"Wir haben Ihre Anfrage erhalten und melden uns innerhalb eines Werktages.\r\n"
)

READ_RECEIPT = (
    b"From: Jonas Keller <jonas.keller@keller-bau.de>\r\n"
    b"To: lena@berger-text.de\r\n"
    b"Subject: Gelesen: Angebot Katalogtexte\r\n"
    b'Content-Type: multipart/report; report-type=disposition-notification; boundary="r"\r\n'
    b"\r\n"
    b"--r\r\n"
    b"Content-Type: text/plain\r\n"
    b"\r\n"
    b"Ihre Nachricht wurde gelesen.\r\n"
    b"--r--\r\n"
)

# --- human answers ---------------------------------------------------------------------

HUMAN_OUT_OF_OFFICE_BUT_YES = (
    b"From: Jonas Keller <jonas.keller@keller-bau.de>\r\n"
    b"To: Lena Berger <lena@berger-text.de>\r\n"
    b"Subject: Re: Angebot Katalogtexte\r\n"
    b"Date: Tue, 6 Jan 2026 19:40:00 +0100\r\n"
    b"In-Reply-To: <20260105101500.4711.1@berger-text.de>\r\n"
    b'Content-Type: text/plain; charset="UTF-8"\r\n'
    b"Content-Transfer-Encoding: quoted-printable\r\n"
    b"\r\n"
    b"Hallo Frau Berger,\r\n"
    b"\r\n"
    b"ich bin bis Freitag nicht im B=C3=BCro, aber ja, wir machen das.\r\n"
    b"\r\n"
    b"Gru=C3=9F\r\n"
    b"Jonas Keller\r\n"
    b"\r\n"
    b"Am Mo., 5. Jan. 2026 um 10:15 Uhr schrieb Lena Berger <\r\n"
    b"lena@berger-text.de>:\r\n"
    b"\r\n"
    b"> Guten Tag Herr Keller,\r\n"
    b"> anbei mein Angebot f=C3=BCr die Katalogtexte.\r\n"
)

# The same person, quote deleted, from the phone: still an answer.
HUMAN_SHORT_NO_QUOTE = (
    b"From: Jonas Keller <jonas.keller@keller-bau.de>\r\n"
    b"To: lena@berger-text.de\r\n"
    b"Subject: AW: Angebot Katalogtexte\r\n"
    b'Content-Type: text/plain; charset="utf-8"\r\n'
    b"Content-Transfer-Encoding: 8bit\r\n"
    b"\r\n"
    b"Bin bis 16.01. im Urlaub \xe2\x80\x93 Ihr Angebot passt, bitte loslegen.\r\n"
    b"\r\n"
    b"Von meinem iPhone gesendet\r\n"
)

# Bottom-posted: the out-of-office words come after a quote of our mail.
HUMAN_BOTTOM_POSTED = (
    b"From: Anna Schmidt <a.schmidt@schmidt-moebel.de>\r\n"
    b"To: lena@berger-text.de\r\n"
    b"Subject: Re: Rechnung 2026-003\r\n"
    b"Content-Type: text/plain; charset=us-ascii\r\n"
    b"\r\n"
    b"Lena Berger wrote on 05.01.2026:\r\n"
    b"> anbei die Rechnung 2026-003.\r\n"
    b"\r\n"
    b"Ich bin bis 09.01. nicht im Buero und kuemmere mich danach.\r\n"
)

HUMAN_ABOUT_HOLIDAYS = (
    b"From: Anna Schmidt <a.schmidt@schmidt-moebel.de>\r\n"
    b"To: lena@berger-text.de\r\n"
    b"Subject: Urlaub im August\r\n"
    b'Content-Type: text/plain; charset="utf-8"\r\n'
    b"Content-Transfer-Encoding: 8bit\r\n"
    b"\r\n"
    b"Hallo Frau Berger,\r\n"
    b"\r\n"
    b"wir sind im August im Urlaub. K\xc3\xb6nnen wir den Termin f\xc3\xbcr die\r\n"
    b"Fotos auf den 3. September legen?\r\n"
    b"\r\n"
    b"Viele Gr\xc3\xbc\xc3\x9fe\r\n"
    b"Anna Schmidt\r\n"
)

HUMAN_OUTLOOK_REPLY = (
    b'From: "Roth, Martin" <m.roth@kanzlei-roth.de>\r\n'
    b"To: Lena Berger <lena@berger-text.de>\r\n"
    b"Subject: AW: Rechnung 2026-014\r\n"
    b"X-Auto-Response-Suppress: All\r\n"
    b'Content-Type: text/plain; charset="iso-8859-1"\r\n'
    b"Content-Transfer-Encoding: quoted-printable\r\n"
    b"\r\n"
    b"Guten Tag Frau Berger,\r\n"
    b"\r\n"
    b"die Zahlung ist heute rausgegangen.\r\n"
    b"\r\n"
    b"Von: Lena Berger <lena@berger-text.de>\r\n"
    b"Gesendet: Donnerstag, 8. Januar 2026 11:01\r\n"
    b"An: Roth, Martin <m.roth@kanzlei-roth.de>\r\n"
    b"Betreff: Rechnung 2026-014\r\n"
    b"\r\n"
    b"Ich bin bis 16.01. nicht im B=FCro, die Rechnung ist bis 30.01. zahlbar.\r\n"
)


# --- the table -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "received", "expected"),
    [
        pytest.param(
            POSTFIX_DSN_PERMANENT,
            JAN_5,
            Classification(
                MailKind.BOUNCE_PERMANENT,
                "Unzustellbar (5.1.1)",
                failed_recipients=("a.schmidt@schmidt-moebel.de",),
            ),
            id="postfix-dsn-5.1.1",
        ),
        pytest.param(
            POSTFIX_DSN_DELAYED,
            JAN_5,
            Classification(
                MailKind.BOUNCE_DELAY,
                "Zustellung verzögert (4.4.1)",
                failed_recipients=("buero@hofmann-druck.de",),
            ),
            id="postfix-dsn-4.4.1",
        ),
        pytest.param(
            MIXED_DSN,
            JAN_5,
            Classification(
                MailKind.BOUNCE_PERMANENT,
                "Unzustellbar (5.2.2)",
                failed_recipients=("j.keller@keller-bau.de",),
            ),
            id="dsn-failed-beats-delayed",
        ),
        pytest.param(
            EXIM_TEXT_BOUNCE,
            JAN_5,
            Classification(
                MailKind.BOUNCE_PERMANENT,
                "Unzustellbar (5.1.1)",
                failed_recipients=("info@hofmann-druck.de",),
            ),
            id="exim-x-failed-recipients",
        ),
        pytest.param(
            O365_NDR_GERMAN,
            JAN_5,
            Classification(
                MailKind.BOUNCE_PERMANENT,
                "Unzustellbar (5.1.10)",
                failed_recipients=("j.keller@keller-bau.de",),
            ),
            id="office365-ndr-german-5.1.10",
        ),
        pytest.param(
            EXCHANGE_NDR_TEXT_ONLY,
            JAN_5,
            Classification(
                MailKind.BOUNCE_PERMANENT,
                "Unzustellbar (5.1.1)",
                failed_recipients=("m.roth@kanzlei-roth.de",),
            ),
            id="exchange-ndr-german-no-dsn",
        ),
        pytest.param(
            GMAIL_FAILURE,
            JAN_5,
            Classification(
                MailKind.BOUNCE_PERMANENT,
                "Unzustellbar (5.1.1)",
                failed_recipients=("petra.sommer@sommer-praxis.de",),
            ),
            id="gmail-failure",
        ),
        pytest.param(
            NOTICE_WITHOUT_ADDRESS,
            JAN_5,
            Classification(MailKind.BOUNCE_PERMANENT, "Unzustellbar"),
            id="bounce-without-address-permanent",
        ),
        pytest.param(
            DELAY_NOTICE_WITHOUT_ADDRESS,
            JAN_5,
            Classification(MailKind.BOUNCE_DELAY, "Zustellung verzögert"),
            id="bounce-without-address-delay",
        ),
        pytest.param(
            SUCCESS_DSN,
            JAN_5,
            Classification(MailKind.AUTO_REPLY, "Zustellbestätigung (relayed)"),
            id="success-dsn-is-no-answer",
        ),
        pytest.param(
            GMAIL_VACATION,
            JAN_5,
            Classification(
                MailKind.AUTO_REPLY,
                "Abwesenheitsnotiz (Auto-Submitted: auto-replied)",
                return_date=date(2026, 1, 19),
            ),
            id="gmail-vacation",
        ),
        pytest.param(
            EXCHANGE_AUTO_REPLY,
            date(2026, 1, 6),
            Classification(
                MailKind.AUTO_REPLY,
                "Abwesenheitsnotiz (Auto-Submitted: auto-replied)",
                return_date=date(2026, 1, 19),
            ),
            id="exchange-automatische-antwort",
        ),
        pytest.param(
            SIEVE_VACATION,
            date(2026, 12, 23),
            Classification(
                MailKind.AUTO_REPLY,
                "Abwesenheitsnotiz (Auto-Submitted: auto-replied)",
                return_date=date(2027, 1, 7),
            ),
            id="sieve-vacation",
        ),
        pytest.param(
            APPLE_VACATION,
            date(2026, 12, 28),
            Classification(
                MailKind.AUTO_REPLY,
                "Abwesenheitsnotiz (X-Apple-Action: vacation)",
                return_date=date(2027, 1, 13),
            ),
            id="apple-vacation",
        ),
        pytest.param(
            SUBJECT_ONLY_OOF,
            date(2026, 1, 7),
            Classification(
                MailKind.AUTO_REPLY,
                "Abwesenheitsnotiz (Betreff)",
                return_date=date(2026, 1, 12),
            ),
            id="subject-abwesenheitsnotiz-only",
        ),
        pytest.param(
            TEXT_ONLY_OOF,
            JAN_5,
            Classification(
                MailKind.AUTO_REPLY, "Abwesenheitsnotiz (Text)", return_date=date(2026, 1, 19)
            ),
            id="text-only-oof",
        ),
        pytest.param(
            AUTO_REPLY_WITHOUT_DATE,
            JAN_5,
            Classification(MailKind.AUTO_REPLY, "Abwesenheitsnotiz (Auto-Submitted: auto-replied)"),
            id="auto-reply-without-date-ignores-quoted-date",
        ),
        pytest.param(
            TICKET_CONFIRMATION,
            JAN_5,
            Classification(
                MailKind.AUTO_REPLY, "Automatische Antwort (Auto-Submitted: auto-generated)"
            ),
            id="ticket-confirmation",
        ),
        pytest.param(
            READ_RECEIPT,
            JAN_5,
            Classification(MailKind.AUTO_REPLY, "Lesebestätigung (RFC 8098)"),
            id="read-receipt",
        ),
        pytest.param(
            HUMAN_OUT_OF_OFFICE_BUT_YES,
            JAN_5,
            Classification(MailKind.HUMAN, ""),
            id="human-not-in-office-but-yes",
        ),
        pytest.param(
            HUMAN_SHORT_NO_QUOTE,
            JAN_5,
            Classification(MailKind.HUMAN, ""),
            id="human-short-without-quote",
        ),
        pytest.param(
            HUMAN_BOTTOM_POSTED,
            JAN_5,
            Classification(MailKind.HUMAN, ""),
            id="human-bottom-posted",
        ),
        pytest.param(
            HUMAN_ABOUT_HOLIDAYS,
            JAN_5,
            Classification(MailKind.HUMAN, ""),
            id="human-subject-urlaub",
        ),
        pytest.param(
            HUMAN_OUTLOOK_REPLY,
            JAN_5,
            Classification(MailKind.HUMAN, ""),
            id="human-outlook-quote-block",
        ),
    ],
)
def test_classify_message(raw: bytes, received: date, expected: Classification) -> None:
    assert classify_message(raw, received=received) == expected


def test_bounce_prefers_the_dsn_part_over_the_quoted_original() -> None:
    result = classify_message(EXIM_TEXT_BOUNCE, received=JAN_5)
    # the copy of our mail also names kollegin@…; the X-Failed-Recipients field does not
    assert "kollegin@hofmann-druck.de" not in result.failed_recipients


def test_x_failed_recipients_alone_names_the_recipient() -> None:
    """flufl.bounce's Exim detector reads the field when the text names nobody."""
    notice_start = EXIM_TEXT_BOUNCE.index(b"  info@hofmann-druck.de")
    raw = EXIM_TEXT_BOUNCE[:notice_start] + b"\r\n"
    result = classify_message(raw, received=JAN_5)
    assert result.kind is MailKind.BOUNCE_PERMANENT
    assert result.failed_recipients == ("info@hofmann-druck.de",)


def test_hyphenated_domains_survive_the_text_fallback() -> None:
    """flufl.bounce 6 drops addresses whose domain has a hyphen in its text detectors."""
    result = classify_message(GMAIL_FAILURE, received=JAN_5)
    assert result.failed_recipients == ("petra.sommer@sommer-praxis.de",)
    assert "lena.berger.text@gmail.com" not in result.failed_recipients


def test_return_date_never_comes_from_our_own_subject() -> None:
    """Exchange puts our subject after "Automatische Antwort:"; its date is not a return."""
    body_start = EXCHANGE_AUTO_REPLY.index(b"vielen Dank")
    body_end = EXCHANGE_AUTO_REPLY.index(b"In dringenden")
    raw = (
        EXCHANGE_AUTO_REPLY[:body_start]
        + b"vielen Dank f=FCr Ihre Nachricht. Ich bin zurzeit nicht im B=FCro.\r\n"
        + EXCHANGE_AUTO_REPLY[body_end:]
    )
    result = classify_message(raw, received=date(2026, 1, 6))
    assert result.kind is MailKind.AUTO_REPLY
    assert result.return_date is None


def test_absence_subject_gives_the_date_when_the_text_has_none() -> None:
    raw = (
        b"From: Anna Schmidt <a.schmidt@schmidt-moebel.de>\r\n"
        b"Subject: Abwesend bis 23.01.\r\n"
        b"Auto-Submitted: auto-replied\r\n\r\n"
        b"Ihre Nachricht wird nicht weitergeleitet.\r\n"
    )
    result = classify_message(raw, received=JAN_5)
    assert result == Classification(
        MailKind.AUTO_REPLY,
        "Abwesenheitsnotiz (Auto-Submitted: auto-replied)",
        return_date=date(2026, 1, 26),
    )


def test_null_return_path_alone_is_not_a_bounce() -> None:
    """RFC 3834 §3.3: vacation replies use the null reverse path too."""
    assert classify_message(SIEVE_VACATION, received=date(2026, 12, 23)).kind is (
        MailKind.AUTO_REPLY
    )


def test_text_alone_needs_a_machine_sentence_and_a_short_text() -> None:
    long_letter = (
        b"From: Jonas Keller <jonas.keller@keller-bau.de>\r\n"
        b"Subject: AW: Angebot Katalogtexte\r\n\r\n"
        b"Ich bin bis 16.01.2026 nicht im Buero. Ihre Nachricht wird nicht weitergeleitet.\r\n"
        + b"Dazu noch ein paar Gedanken. "
        * 30
    )
    assert classify_message(long_letter, received=JAN_5).kind is MailKind.HUMAN
    short_note = long_letter.split(b"Dazu")[0]
    assert classify_message(short_note, received=JAN_5).kind is MailKind.AUTO_REPLY
    person = short_note.replace(b" Ihre Nachricht wird nicht weitergeleitet.", b"")
    assert classify_message(person, received=JAN_5).kind is MailKind.HUMAN


def test_text_rule_needs_the_phrase_near_the_top() -> None:
    raw = (
        b"From: Jonas Keller <jonas.keller@keller-bau.de>\r\n"
        b"Subject: AW: Angebot\r\n\r\n"
        + b"".join(b"Zeile %d\r\n" % n for n in range(12))
        + b"Ich bin bis 16.01.2026 nicht im Buero.\r\n"
    )
    assert classify_message(raw, received=JAN_5).kind is MailKind.HUMAN


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"\x00\xff\xfe garbage without headers",
        b"From: \xff\xfe\r\nSubject: =?x-unknown?q?=FF?=\r\n\r\n\xff\xfe",
        b"Content-Type: multipart/report; report-type=delivery-status; boundary=x\r\n\r\n"
        b"--x\r\nContent-Type: message/delivery-status\r\n\r\nAction: \xff",
        b"Content-Type: multipart/mixed; boundary=\r\n\r\n--\r\n--",
        b"From: MAILER-DAEMON\r\nContent-Type: message/delivery-status\r\n"
        b"Content-Transfer-Encoding: base64\r\n\r\n!!!not base64!!!",
        b"Subject: Abwesenheitsnotiz\r\n\r\nbis 99.99.9999 und 31.02. und 0/0",
    ],
)
def test_malformed_mail_never_raises(raw: bytes) -> None:
    result = classify_message(raw, received=JAN_5)
    assert isinstance(result.kind, MailKind)
    assert isinstance(result.reason, str)


def test_truncated_bounce_is_still_a_bounce() -> None:
    raw = POSTFIX_DSN_PERMANENT[: POSTFIX_DSN_PERMANENT.index(b"Action: failed")]
    result = classify_message(raw, received=JAN_5)
    assert result.kind in {MailKind.BOUNCE_PERMANENT, MailKind.BOUNCE_DELAY}


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("MAILER-DAEMON@mx01.schmidt-moebel.de", True),
        ("MAILER-DAEMON", True),
        ("mailer-daemon@googlemail.com (Mail Delivery Subsystem)", True),
        ('"Mail Delivery System" <MAILER-DAEMON@mail.berger-text.de>', True),
        ("Mailerdaemon@schmidt-moebel.de", True),
        ("postmaster@schmidt-moebel.de", True),
        ("Postmaster <POSTMASTER@Schmidt-Moebel.DE>", True),
        ('"MDaemon at schmidt-moebel.de" <MDaemon@schmidt-moebel.de>', True),
        ("A. Schmidt <a.schmidt@schmidt-moebel.de>", False),
        ('"postmaster@schmidt-moebel.de" <a.schmidt@schmidt-moebel.de>', False),
        ("postmaster-team@schmidt-moebel.de", False),
        ("mdaemon.fan@gmx.de", False),
        ("Mail Delivery System <noreply@schmidt-moebel.de>", False),
        ("", False),
        (None, False),
    ],
)
def test_delivery_system_is_told_by_the_local_part(value: str | None, expected: bool) -> None:
    """The address decides, not the display name; a name alone may still make the mail a
    bounce candidate for the text rules, but only these senders are never an answer."""
    assert is_delivery_system(value) is expected


def test_postmaster_note_without_a_failure_report_is_no_bounce() -> None:
    raw = (
        b"Return-Path: <>\r\n"
        b"From: postmaster@schmidt-moebel.de\r\n"
        b"To: lena@berger-text.de\r\n"
        b"Subject: Ihre Anfrage\r\n"
        b"Date: Mon, 05 Jan 2026 11:02:00 +0100\r\n"
        b"\r\n"
        b"Guten Tag Frau Berger,\r\n\r\nHerr Schmidt meldet sich morgen bei Ihnen.\r\n"
    )
    assert classify_message(raw, received=JAN_5).kind is MailKind.HUMAN  # the judge: unrelated


def test_mdaemon_report_field_alone_makes_a_bounce() -> None:
    raw = (
        b'From: "MDaemon at schmidt-moebel.de" <MDaemon@schmidt-moebel.de>\r\n'
        b"To: lena@berger-text.de\r\n"
        b"Subject: Zustellbericht\r\n"
        b"X-MDDSN-Message: Yes\r\n"
        b"\r\n"
        b"a.schmidt@schmidt-moebel.de\r\n"
    )
    result = classify_message(raw, received=JAN_5)
    assert result.kind in {MailKind.BOUNCE_PERMANENT, MailKind.BOUNCE_DELAY}


def test_mail_kind_values_are_stable() -> None:
    """The store and the event log keep these strings."""
    assert [kind.value for kind in MailKind] == [
        "human",
        "auto-reply",
        "bounce-permanent",
        "bounce-delay",
        "bulk",
    ]


# --- return dates ----------------------------------------------------------------------

DEC_20 = date(2026, 12, 20)


@pytest.mark.parametrize(
    ("text", "received", "expected"),
    [
        # "bis" names the last day away: back the day after
        ("Ich bin bis einschließlich 12.01.2026 nicht im Büro.", JAN_5, date(2026, 1, 13)),
        ("bis einschl. 12.01. nicht erreichbar", JAN_5, date(2026, 1, 13)),
        ("Ich bin bis inkl. 12.01. im Urlaub.", JAN_5, date(2026, 1, 13)),
        ("bis zum 12.01. im Urlaub", JAN_5, date(2026, 1, 13)),
        ("Abwesend bis 12. Januar", JAN_5, date(2026, 1, 13)),
        ("bis zum 12. Jänner außer Haus", JAN_5, date(2026, 1, 13)),
        ("bis 12.1. im Urlaub", JAN_5, date(2026, 1, 13)),
        ("bis 3. Maerz auf Dienstreise", JAN_5, date(2026, 3, 4)),
        ("bis 3. März 2026 in Elternzeit", JAN_5, date(2026, 3, 4)),
        ("bis 14. Feb. nicht erreichbar", JAN_5, date(2026, 2, 16)),
        ("bis zum 2026-01-12 nicht erreichbar", JAN_5, date(2026, 1, 13)),
        ("bis 31.12. im Urlaub", DEC_20, date(2027, 1, 1)),
        # year roll-over and two-digit years
        ("Ich bin bis 06.01. im Urlaub.", DEC_20, date(2027, 1, 7)),
        ("Ich bin bis 12.01.27 im Urlaub.", DEC_20, date(2027, 1, 13)),
        # weekday names before the date are ignored
        ("bis Freitag, den 09.01.2026 nicht im Büro", JAN_5, date(2026, 1, 12)),
        ("bis einschließlich Mi., 07.01. nicht da", JAN_5, date(2026, 1, 8)),
        ("Ab Montag, 12.01. bin ich wieder für Sie da.", JAN_5, date(2026, 1, 12)),
        # the date that names the return
        ("Ab dem 12.01. bin ich wieder im Büro.", JAN_5, date(2026, 1, 12)),
        ("ab 12. Januar wieder im Büro", JAN_5, date(2026, 1, 12)),
        ("Ich bin am 12.01. wieder da.", JAN_5, date(2026, 1, 12)),
        ("Rückkehr am 12.01.", JAN_5, date(2026, 1, 12)),
        ("Zurück am: 12.01.2026", JAN_5, date(2026, 1, 12)),
        ("Ich bin wieder erreichbar ab dem 12. Januar 2026.", JAN_5, date(2026, 1, 12)),
        (
            "Ich bin bis zum 09.01. nicht im Büro. Ab Montag, 12.01. bin ich wieder da.",
            JAN_5,
            date(2026, 1, 12),
        ),
        (
            "Ich bin ab dem 22.12. im Urlaub und ab dem 07.01. wieder für Sie da.",
            date(2026, 12, 18),
            date(2027, 1, 7),
        ),
        ("Ich bin bis 12.01. im Urlaub und danach wieder erreichbar.", JAN_5, date(2026, 1, 13)),
        # ranges: the last date
        ("Ich bin vom 02.01. bis 09.01.2027 im Urlaub.", DEC_20, date(2027, 1, 11)),
        ("vom 22.12.2026 bis einschließlich 06.01.2027 abwesend", DEC_20, date(2027, 1, 7)),
        ("Urlaub: 02.01.–09.01.2026", JAN_5, date(2026, 1, 12)),
        ("vom 2. bis 9. Januar im Urlaub", JAN_5, date(2026, 1, 12)),
        # English
        ("I am out of the office until January 12, 2027.", DEC_20, date(2027, 1, 13)),
        ("I'm out of office until 12 January.", JAN_5, date(2026, 1, 13)),
        ("I will be back on Monday, 12 January 2027.", DEC_20, date(2027, 1, 12)),
        ("I'll be back in the office on the 12th of January.", JAN_5, date(2026, 1, 12)),
        ("Returning 12.01.2027.", DEC_20, date(2027, 1, 12)),
        (
            "I'm away until Friday 9 January and back on Monday 12 January.",
            JAN_5,
            date(2026, 1, 12),
        ),
        ("I am on leave from 2 to 9 January 2026.", JAN_5, date(2026, 1, 12)),
        ("I am out of the office until 13/01.", JAN_5, date(2026, 1, 14)),
        ("I am out of the office until 01/13/2026.", JAN_5, date(2026, 1, 14)),
        # no return date
        ("until 01/12", JAN_5, None),  # 1 December or 12 January? never guess
        ("Ich bin bis auf Weiteres nicht erreichbar.", JAN_5, None),
        ("Ich bin bis Freitag nicht im Büro.", JAN_5, None),
        ("Ich bin zurzeit nicht im Büro.", JAN_5, None),
        ("Bürozeiten: Mo bis Fr 9 bis 17.30 Uhr", JAN_5, None),
        ("Danke für Ihre Rechnung vom 03.01.2026.", JAN_5, None),
        ("bis 31.02. im Urlaub", JAN_5, None),
        ("bis 12.01.2028 im Sabbatical", JAN_5, None),  # more than a year away
        ("bis 12.01.2024 im Urlaub", JAN_5, None),  # more than a year ago
        ("", JAN_5, None),
        ("> bis 20.01. im Urlaub (nur zitiert)", JAN_5, None),
    ],
)
def test_find_return_date(text: str, received: date, expected: date | None) -> None:
    assert find_return_date(text, received=received) == expected


def test_forgotten_out_of_office_keeps_its_past_date() -> None:
    """Written on 15 January, "bis 12.01." is a stale text, not one for next January."""
    assert find_return_date("bis 12.01. im Urlaub", received=date(2026, 1, 15)) == date(2026, 1, 13)
    assert find_return_date("bis 12.01. im Urlaub", received=date(2026, 3, 1)) == date(2027, 1, 13)


def test_return_date_ignores_text_below_a_quote_header() -> None:
    text = (
        "Ich bin zurzeit nicht im Büro.\n\n"
        "Am 05.01.2026 um 10:15 schrieb Lena Berger:\n"
        "Bitte zahlen Sie bis 20.01.2026."
    )
    assert find_return_date(text, received=JAN_5) is None


def test_newsletter_is_bulk_but_gmail_vacation_with_precedence_bulk_is_an_auto_reply() -> None:
    newsletter = (
        b"From: Keller Bau News <news@keller-bau.de>\r\n"
        b"Subject: Neues aus der Werkstatt\r\n"
        b"Precedence: bulk\r\n"
        b"List-Unsubscribe: <mailto:abmelden@keller-bau.de>\r\n\r\n"
        b"Unsere Fr\xc3\xbchjahrsaktion: 10 % auf alles.\r\n"
    )
    assert classify_message(newsletter, received=JAN_5).kind is MailKind.BULK
    vacation = newsletter.replace(b"List-Unsubscribe", b"Auto-Submitted: auto-replied\r\nX-X")
    assert classify_message(vacation, received=JAN_5).kind is MailKind.AUTO_REPLY


# -- the kind alone, for a mail that concerns no thread ------------------------------------

_EML_FILES = sorted(Path(__file__).parent.rglob("*.eml"))


def _kind_and_recipients(raw: bytes, details: bool) -> tuple[MailKind, tuple[str, ...]]:
    found = classify_message(raw, received=date(2026, 3, 2), details=details)
    return found.kind, tuple(found.failed_recipients)


@pytest.mark.parametrize("path", _EML_FILES, ids=lambda path: path.name)
def test_the_kind_without_details_is_the_kind_with_them(path: Path) -> None:
    raw = path.read_bytes()
    assert _kind_and_recipients(raw, False) == _kind_and_recipients(raw, True)


@budget(300)
@given(st.one_of(st.binary(max_size=3000), raw_mails()))
def test_the_kind_without_details_is_the_kind_with_them_for_any_bytes(raw: bytes) -> None:
    assert _kind_and_recipients(raw, False) == _kind_and_recipients(raw, True)


def test_an_auto_reply_without_details_has_no_return_date_and_no_text_read(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    raw = (
        b"From: noreply@shop.test\r\nTo: anna@berger-design.de\r\nSubject: Ihre Bestellung\r\n"
        b"Auto-Submitted: auto-generated\r\n\r\nIch bin bis zum 20.03. nicht im B\xc3\xbcro.\r\n"
    )
    read: list[bytes] = []
    monkeypatch.setattr(classify, "plain_text", lambda raw: read.append(raw) or "")
    found = classify_message(raw, received=date(2026, 3, 2), details=False)
    assert (found.kind, found.return_date, read) == (MailKind.AUTO_REPLY, None, [])
