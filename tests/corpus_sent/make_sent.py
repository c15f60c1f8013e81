"""Writes the sent-mail corpus: ``python tests/corpus_sent/make_sent.py``.

Every mail is one case of :data:`CASES`, written the way its program writes a mail into
the Sent folder: Thunderbird (``User-Agent``, ``------------`` boundaries, format=flowed,
8bit), Outlook (``X-Mailer``, ``Thread-Index``, ``----=_NextPart_`` boundaries,
multipart/alternative with quoted-printable windows-1252 text), Apple Mail (``X-Mailer``,
``Apple-Mail=_`` boundaries, ``Mime-Version`` comment), Gmail web (``CA…@mail.gmail.com``
Message-IDs, ``000000000000…`` boundaries, alternative text and ``<div dir="ltr">``, attachment
ids) and GMX/Web.de webmail (``trinity-…`` Message-IDs, ``X-UI-Message-Type``, HTML only).
Output is deterministic (seeded), so a run without changes rewrites identical files.
The expected verdicts live in ``labels.toml`` and are written by hand, not here.
"""

from __future__ import annotations

import base64
import hashlib
import quopri
import random
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from html import escape
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/: pdfbytes
from pdfbytes import assemble_pdf

HERE = Path(__file__).parent
OWNER = "Anna Berger <anna@berger-design.de>"
DATE = "Tue, 10 Nov 2026 10:{minute:02d}:17 +0100"


@dataclass(frozen=True)
class Attachment:
    name: str
    content_type: str
    data: bytes


@dataclass(frozen=True)
class Case:
    name: str
    program: str  # thunderbird | outlook | apple | gmail | gmx | webde
    to: tuple[str, ...]
    subject: str
    body: str
    cc: tuple[str, ...] = ()
    bcc: tuple[str, ...] = ()
    attachments: tuple[Attachment, ...] = ()
    in_reply_to: str | None = None
    references: tuple[str, ...] = ()
    extra: tuple[tuple[str, str], ...] = field(default=())


# --- attachments -----------------------------------------------------------------------


def pdf(text: str, embedded: str | None = None) -> bytes:
    """A small, well-formed PDF showing one line; with ``embedded`` a Factur-X-like
    PDF/A-3: that XML file in the EmbeddedFiles name tree and named in the XMP block."""
    stream = f"BT /F1 12 Tf 72 720 Td ({text}) Tj ET".encode("latin-1")
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R"
        + (
            b" /Names << /EmbeddedFiles << /Names [(%s) 5 0 R] >> >> /AF [5 0 R]".replace(
                b"%s", embedded.encode()
            )
            if embedded
            else b""
        )
        + (b" /Metadata 7 0 R" if embedded else b"")
        + b" >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R >>",
        b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream",
    ]
    if embedded:
        xml = cii_xml("2026-022")
        name = embedded.encode()
        objects += [
            b"<< /Type /Filespec /F (" + name + b") /UF (" + name + b") "
            b"/AFRelationship /Data /EF << /F 6 0 R >> >>",
            b"<< /Type /EmbeddedFile /Subtype /text#2Fxml /Length %d >>\nstream\n" % len(xml)
            + xml
            + b"\nendstream",
        ]
        xmp = (
            b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF '
            b'xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
            b'<rdf:Description xmlns:fx="urn:factur-x:pdfa:CrossIndustryDocument:invoice:1p0#">'
            b"<fx:DocumentFileName>" + name + b"</fx:DocumentFileName>"
            b"<fx:ConformanceLevel>EN 16931</fx:ConformanceLevel>"
            b"</rdf:Description></rdf:RDF></x:xmpmeta>"
        )
        objects.append(
            b"<< /Type /Metadata /Subtype /XML /Length %d >>\nstream\n" % len(xmp)
            + xmp
            + b"\nendstream"
        )
    return assemble_pdf(objects, b"1.7")


def cii_xml(number: str) -> bytes:
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        "<rsm:CrossIndustryInvoice "
        'xmlns:rsm="urn:un:unece:uncefact:data:standard:CrossIndustryInvoice:100" '
        'xmlns:ram="urn:un:unece:uncefact:data:standard:ReusableAggregateBusinessInformationEntity:100">\n'
        f"  <rsm:ExchangedDocument><ram:ID>{number}</ram:ID><ram:TypeCode>380</ram:TypeCode>"
        "</rsm:ExchangedDocument>\n</rsm:CrossIndustryInvoice>\n"
    ).encode()


def ubl_xml(number: str) -> bytes:
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<Invoice xmlns="urn:oasis:names:specification:ubl:schema:xsd:Invoice-2" '
        'xmlns:cbc="urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2">\n'
        "  <cbc:CustomizationID>urn:cen.eu:en16931:2017#compliant#"
        "urn:xeinkauf.de:kosit:xrechnung_3.0</cbc:CustomizationID>\n"
        f"  <cbc:ID>{number}</cbc:ID>\n</Invoice>\n"
    ).encode()


def a_pdf(name: str, text: str = "Berger Design", embedded: str | None = None) -> Attachment:
    return Attachment(name, "application/pdf", pdf(text, embedded))


def a_xml(name: str, data: bytes) -> Attachment:
    return Attachment(name, "application/xml", data)


def a_jpeg(name: str) -> Attachment:
    return Attachment(name, "image/jpeg", b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + bytes(400))


def a_docx(name: str) -> Attachment:
    kind = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
    return Attachment(name, kind, b"PK\x03\x04" + bytes(300))


# --- the programs ----------------------------------------------------------------------


def rng_for(case: Case) -> random.Random:
    return random.Random(int(hashlib.sha256(case.name.encode()).hexdigest()[:12], 16))


def b64(data: bytes) -> str:
    text = base64.b64encode(data).decode()
    return "\r\n".join(text[i : i + 76] for i in range(0, len(text), 76))


def qp(text: str, charset: str) -> str:
    return quopri.encodestring(text.encode(charset)).decode("ascii")


def encoded_word(text: str) -> str:
    if text.isascii():
        return text
    return (
        "=?UTF-8?Q?"
        + "".join(
            c
            if c.isalnum() and c.isascii()
            else "_"
            if c == " "
            else "".join(f"={b:02X}" for b in c.encode())
            for c in text
        )
        + "?="
    )


def address_fields(case: Case) -> list[str]:
    lines = [f"To: {', '.join(case.to)}"]
    if case.cc:
        lines.append(f"Cc: {', '.join(case.cc)}")
    if case.bcc:
        lines.append(f"Bcc: {', '.join(case.bcc)}")
    return lines


def thread_fields(case: Case) -> list[str]:
    lines = []
    if case.in_reply_to:
        lines.append(f"In-Reply-To: {case.in_reply_to}")
    refs = case.references or ((case.in_reply_to,) if case.in_reply_to else ())
    if refs:
        lines.append(f"References: {' '.join(refs)}")
    return lines


def html_of(text: str) -> str:
    return "<br>".join(escape(line) for line in text.split("\n"))


def attachment_part(att: Attachment, style: str, rng: random.Random) -> list[str]:
    if style == "apple":
        head = [
            f"Content-Disposition: attachment;\r\n\tfilename={att.name}",
            f'Content-Type: {att.content_type};\r\n\tx-unix-mode=0644;\r\n\tname="{att.name}"',
            "Content-Transfer-Encoding: base64",
        ]
    elif style == "gmail":
        ident = f"f_{rng.getrandbits(40):010x}"[:12]
        head = [
            f'Content-Type: {att.content_type}; name="{att.name}"',
            f'Content-Disposition: attachment; filename="{att.name}"',
            "Content-Transfer-Encoding: base64",
            f"Content-ID: <{ident}>",
            f"X-Attachment-Id: {ident}",
        ]
    elif style == "outlook":
        head = [
            f'Content-Type: {att.content_type};\r\n\tname="{att.name}"',
            "Content-Transfer-Encoding: base64",
            f'Content-Disposition: attachment;\r\n\tfilename="{att.name}"',
        ]
    else:
        head = [
            f'Content-Type: {att.content_type}; name="{att.name}"',
            f'Content-Disposition: attachment; filename="{att.name}"',
            "Content-Transfer-Encoding: base64",
        ]
    return [*head, "", b64(att.data)]


def mixed(boundary: str, first: list[str], case: Case, style: str, rng: random.Random) -> list[str]:
    lines = [f"--{boundary}", *first]
    for att in case.attachments:
        lines += ["", f"--{boundary}", *attachment_part(att, style, rng)]
    return [*lines, "", f"--{boundary}--", ""]


def thunderbird(case: Case, minute: int) -> list[str]:
    rng = rng_for(case)
    head = [
        f"Message-ID: <{rng.getrandbits(128):032x}@berger-design.de>",
        f"Date: {DATE.format(minute=minute)}",
        "MIME-Version: 1.0",
        "User-Agent: Mozilla Thunderbird",
        "Content-Language: de-DE",
        *address_fields(case),
        f"From: {OWNER}",
        f"Subject: {encoded_word(case.subject)}",
        *thread_fields(case),
        *[f"{k}: {v}" for k, v in case.extra],
    ]
    text = [
        "Content-Type: text/plain; charset=UTF-8; format=flowed",
        "Content-Transfer-Encoding: 8bit",
        "",
        case.body,
    ]
    if not case.attachments:
        return [*head, *text]
    boundary = "------------" + "".join(
        rng.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789") for _ in range(24)
    )
    return [
        *head,
        f'Content-Type: multipart/mixed; boundary="{boundary}"',
        "",
        "This is a multi-part message in MIME format.",
        *mixed(boundary, text, case, "thunderbird", rng),
    ]


def outlook(case: Case, minute: int) -> list[str]:
    rng = rng_for(case)
    stamp = f"{rng.getrandbits(32):08X}"
    alt = f"----=_NextPart_001_0001_01DB{stamp[:4]}.{stamp}"
    mix = f"----=_NextPart_000_0000_01DB{stamp[:4]}.{stamp}"
    thread_index = base64.b64encode(rng.randbytes(22)).decode()
    head = [
        'From: "Anna Berger" <anna@berger-design.de>',
        *address_fields(case),
        *thread_fields(case),
        f"Subject: {encoded_word(case.subject)}",
        f"Date: {DATE.format(minute=minute)}",
        f"Message-ID: <00{rng.getrandbits(24):06x}01db{stamp[:4].lower()}$"
        f"{rng.getrandbits(32):08x}${rng.getrandbits(32):08x}$@berger-design.de>",
        "MIME-Version: 1.0",
        "X-Mailer: Microsoft Outlook 16.0",
        f"Thread-Index: {thread_index}",
        "Content-Language: de",
        *[f"{k}: {v}" for k, v in case.extra],
    ]
    body = [
        f'Content-Type: multipart/alternative;\r\n\tboundary="{alt}"',
        "",
        "",
        f"--{alt}",
        'Content-Type: text/plain;\r\n\tcharset="windows-1252"',
        "Content-Transfer-Encoding: quoted-printable",
        "",
        qp(case.body, "windows-1252"),
        f"--{alt}",
        'Content-Type: text/html;\r\n\tcharset="windows-1252"',
        "Content-Transfer-Encoding: quoted-printable",
        "",
        qp(
            '<html xmlns:o="urn:schemas-microsoft-com:office:office"><head>'
            '<meta http-equiv="Content-Type" content="text/html; charset=windows-1252">'
            '</head><body lang="DE"><div class="WordSection1"><p class="MsoNormal">'
            + html_of(case.body)
            + "</p></div></body></html>",
            "windows-1252",
        ),
        "",
        f"--{alt}--",
        "",
    ]
    if not case.attachments:
        return [*head, *body]
    return [
        *head,
        f'Content-Type: multipart/mixed;\r\n\tboundary="{mix}"',
        "",
        "This is a multipart message in MIME format.",
        "",
        *mixed(mix, body, case, "outlook", rng),
    ]


def apple(case: Case, minute: int) -> list[str]:
    rng = rng_for(case)
    uid = "-".join(f"{rng.getrandbits(bits):0{bits // 4}X}" for bits in (32, 16, 16, 16, 48))
    boundary = f"Apple-Mail={uid}"
    head = [
        f"From: {OWNER}",
        *(
            [f'Content-Type: multipart/mixed;\r\n\tboundary="{boundary}"']
            if case.attachments
            else [
                "Content-Type: text/plain;\r\n\tcharset=utf-8",
                "Content-Transfer-Encoding: quoted-printable",
            ]
        ),
        "Mime-Version: 1.0 (Mac OS X Mail 16.0 \\(3826.200.121\\))",
        f"Subject: {encoded_word(case.subject)}",
        f"Message-Id: <{uid}@berger-design.de>",
        f"Date: {DATE.format(minute=minute)}",
        *thread_fields(case),
        *address_fields(case),
        "X-Mailer: Apple Mail (2.3826.200.121)",
        *[f"{k}: {v}" for k, v in case.extra],
        "",
    ]
    if not case.attachments:
        return [*head, qp(case.body, "utf-8")]
    text = [
        "Content-Transfer-Encoding: quoted-printable",
        "Content-Type: text/plain;\r\n\tcharset=utf-8",
        "",
        qp(case.body, "utf-8"),
    ]
    return [*head, *mixed(boundary, text, case, "apple", rng)]


def gmail(case: Case, minute: int) -> list[str]:
    rng = rng_for(case)
    alt = f"000000000000{rng.getrandbits(40):010x}"
    mix = f"000000000000{rng.getrandbits(40):010x}"
    gid = base64.b64encode(rng.randbytes(36), b"+_").decode().rstrip("=")
    head = [
        "MIME-Version: 1.0",
        f"Date: {DATE.format(minute=minute)}",
        *thread_fields(case),
        f"Message-ID: <CA{gid}@mail.gmail.com>",
        f"Subject: {encoded_word(case.subject)}",
        f"From: {OWNER}",
        *address_fields(case),
        *[f"{k}: {v}" for k, v in case.extra],
    ]
    alternative = [
        f'Content-Type: multipart/alternative; boundary="{alt}"',
        "",
        f"--{alt}",
        'Content-Type: text/plain; charset="UTF-8"',
        "Content-Transfer-Encoding: quoted-printable",
        "",
        qp(case.body, "utf-8"),
        "",
        f"--{alt}",
        'Content-Type: text/html; charset="UTF-8"',
        "Content-Transfer-Encoding: quoted-printable",
        "",
        qp(f'<div dir="ltr">{html_of(case.body)}</div>', "utf-8"),
        "",
        f"--{alt}--",
    ]
    if not case.attachments:
        return [*head, *alternative, ""]
    return [
        *head,
        f'Content-Type: multipart/mixed; boundary="{mix}"',
        "",
        *mixed(mix, alternative, case, "gmail", rng),
    ]


def webmail(host: str) -> Callable[[Case, int], list[str]]:
    def write(case: Case, minute: int) -> list[str]:
        rng = rng_for(case)
        uid = "-".join(f"{rng.getrandbits(bits):0{bits // 4}x}" for bits in (32, 16, 16, 16, 48))
        boundary = f"abmob-{uid}"
        head = [
            f"Message-ID: <trinity-{uid}-1762765{minute:03d}@3c-app-{host}-bap{minute % 60}>",
            f"From: {OWNER}",
            *address_fields(case),
            f"Subject: {encoded_word(case.subject)}",
            *thread_fields(case),
            "MIME-Version: 1.0",
            f"Date: {DATE.format(minute=minute)}",
            "Importance: normal",
            "Sensitivity: Normal",
            "X-Priority: 3",
            "X-UI-Message-Type: mail",
            *[f"{k}: {v}" for k, v in case.extra],
        ]
        html = [
            "Content-Type: text/html; charset=UTF-8",
            "Content-Transfer-Encoding: quoted-printable",
            "",
            qp(
                '<html><head></head><body><div style="font-family: Verdana;font-size: 12.0px;">'
                f"<div>{html_of(case.body)}</div></div></body></html>",
                "utf-8",
            ),
        ]
        if not case.attachments:
            return [*head, *html]
        return [
            *head,
            f'Content-Type: multipart/mixed; boundary="{boundary}"',
            "",
            *mixed(boundary, html, case, host, rng),
        ]

    return write


PROGRAMS: dict[str, Callable[[Case, int], list[str]]] = {
    "thunderbird": thunderbird,
    "outlook": outlook,
    "apple": apple,
    "gmail": gmail,
    "gmx": webmail("gmx-bs"),
    "webde": webmail("webde-bs"),
}


# --- the cases -------------------------------------------------------------------------

KELLER = "Jonas Keller <jonas.keller@keller-bau.de>"
PRAXIS = "Praxis Dr. =?UTF-8?Q?Wei=C3=9F?= <buchhaltung@praxis-weiss.de>"
HOFFMANN = "Miriam Hoffmann <m.hoffmann@hoffmann-verlag.de>"
ADLER = "Adler Immobilien GmbH <info@adler-immobilien.de>"
LISA = "Lisa Sommer <lisa.sommer@gmx.de>"
TOM = "Tom Berger <tom@berger-design.de>"
SELF = "anna@berger-design.de"
TRACK = "anna+nachfass@berger-design.de"
TRACKED_OFFER = "<angebot-keller@berger-design.de>"
TRACKED_INVOICE = "<rechnung-2026-014@berger-design.de>"
SIG = (
    "\n\nMit freundlichen Grüßen\nAnna Berger\n\n-- \nBerger Design · Kommunikationsdesign"
    "\nLindenstraße 12 · 50674 Köln · 0221 123456"
)
PRIVATE_SIG = "\n\nLiebe Grüße\nAnna"
MASS = tuple(
    f"{name} <{name.lower()}@{domain}>"
    for name, domain in (
        ("Bauer", "bauer-gmbh.de"),
        ("Schulz", "schulz-kg.de"),
        ("Weber", "weber-druck.de"),
        ("Fischer", "fischer-it.de"),
        ("Wagner", "wagner-gastro.de"),
        ("Becker", "becker-ag.de"),
    )
)
QUOTE_KELLER = (
    "\n\nAm 09.11.2026 um 16:02 schrieb Jonas Keller:\n> Guten Tag Frau Berger,\n"
    "> wir bräuchten ein neues Logo. Können Sie uns ein Angebot machen?\n> Viele Grüße\n> J. Keller"
)

CASES: tuple[Case, ...] = (
    # offers
    Case(
        "tb_angebot_pdf.eml",
        "thunderbird",
        (KELLER,),
        "Angebot Relaunch Webseite",
        "Guten Tag Herr Keller,\n\nanbei mein Angebot für den Relaunch Ihrer Webseite."
        "\nBei Fragen rufen Sie mich gern an." + SIG,
        attachments=(a_pdf("Angebot_2026-031.pdf"),),
    ),
    Case(
        "outlook_angebot_body_only.eml",
        "outlook",
        (ADLER,),
        "Ihre neue Webseite",
        "Sehr geehrte Damen und Herren,\n\nwie am Telefon besprochen: Für Konzept, Design und "
        "Umsetzung der Webseite berechne ich pauschal 2.400 € netto, zzgl. MwSt.\n"
        "Der Start wäre Anfang Dezember möglich." + SIG,
    ),
    Case(
        "apple_kva_pdf.eml",
        "apple",
        (HOFFMANN,),
        "Kostenvoranschlag Buchcover",
        "Liebe Frau Hoffmann,\n\nwie gewünscht schicke ich Ihnen die Zahlen für das Cover." + SIG,
        attachments=(a_pdf("KVA_Buchcover_Hoffmann.pdf"),),
    ),
    Case(
        "gmail_angebot_reply_to_inquiry.eml",
        "gmail",
        (KELLER,),
        "Re: Anfrage Logo",
        "Guten Tag Herr Keller,\n\nvielen Dank für Ihre Anfrage. Anbei finden Sie mein Angebot "
        "für das neue Logo." + SIG + QUOTE_KELLER,
        attachments=(a_pdf("Angebot Logo Keller Bau.pdf"),),
        in_reply_to="<CAK3x9f2mQ7_inquiry@mail.gmail.com>",
    ),
    Case(
        "gmx_angebot_body.eml",
        "gmx",
        (HOFFMANN,),
        "Angebot Übersetzung Katalog",
        "Sehr geehrte Frau Hoffmann,\n\nfür die Übersetzung des Katalogs (ca. 40 Seiten) "
        "biete ich Ihnen einen Festpreis von 1.800 € an." + SIG,
    ),
    Case(
        "tb_quote_english.eml",
        "thunderbird",
        ("Sarah Miller <sarah@miller-studio.co.uk>",),
        "Quote website translation",
        "Dear Sarah,\n\nplease find attached our quote for the German version of your website."
        "\n\nBest regards\nAnna",
        attachments=(a_pdf("quote-2026-033.pdf"),),
    ),
    Case(
        "outlook_angebot_pdf_name_only.eml",
        "outlook",
        (ADLER,),
        "Wie besprochen",
        "Hallo Herr Adler,\n\nwie am Telefon besprochen schicke ich Ihnen die Zahlen." + SIG,
        attachments=(a_pdf("Angebot-Berger-Design-2026-07.pdf"),),
    ),
    Case(
        "apple_angebot_du.eml",
        "apple",
        (LISA,),
        "Eure Hochzeitsfotos",
        "Hi Lisa,\n\nhier wie versprochen mein Angebot für eure Hochzeitsreportage: ganzer Tag, "
        "300 bearbeitete Fotos, 1.450 €.\n\nSag Bescheid, ob das passt!" + PRIVATE_SIG,
    ),
    Case(
        "webde_angebot_cc_colleague.eml",
        "webde",
        (KELLER,),
        "Angebot Messestand",
        "Guten Tag Herr Keller,\n\nim Anhang unser Angebot für die Gestaltung des Messestands. "
        "Mein Kollege Tom Berger liest mit." + SIG,
        cc=(TOM,),
        attachments=(a_pdf("Angebot_Messestand.pdf"),),
    ),
    Case(
        "gmail_angebot_bcc_self.eml",
        "gmail",
        (ADLER,),
        "Angebot Exposé-Vorlagen",
        "Sehr geehrte Damen und Herren,\n\nanbei unser Angebot für die Exposé-Vorlagen." + SIG,
        bcc=(SELF,),
        attachments=(a_pdf("Angebot_Expose.pdf"),),
    ),
    Case(
        "tb_angebot_festpreis.eml",
        "thunderbird",
        (HOFFMANN,),
        "Ihr Projekt Buchsatz",
        "Liebe Frau Hoffmann,\n\nfür den Satz des Romans (320 Seiten) schlage ich einen "
        "Festpreis von 1.950,00 € vor, zwei Korrekturläufe inklusive." + SIG,
    ),
    Case(
        "outlook_angebot_subject_only.eml",
        "outlook",
        (KELLER,),
        "Angebot Nr. 2026-044",
        "Sehr geehrter Herr Keller,\n\nim Anhang wie gewünscht." + SIG,
        attachments=(a_pdf("2026-044.pdf"),),
    ),
    Case(
        "tb_bcc_tracking_angebot_10tage.eml",
        "thunderbird",
        (HOFFMANN,),
        "Flyer Lesereihe",
        "Liebe Frau Hoffmann,\n\nanbei die Zahlen für die Flyer." + SIG,
        bcc=("anna+nachfass+angebot+10tage@berger-design.de",),
        attachments=(a_pdf("Flyer_Lesereihe.pdf"),),
    ),
    Case(
        "apple_kostenvoranschlag_body.eml",
        "apple",
        (ADLER,),
        "Fotos für Ihre Objekte",
        "Guten Tag,\n\nanbei mein Kostenvoranschlag für die Fotos der fünf Objekte in "
        "Köln-Süd. Ich würde mich freuen, von Ihnen zu hören." + SIG,
    ),
    Case(
        "gmail_angebot_netto.eml",
        "gmail",
        ("Praxis Dr. Weiß <empfang@praxis-weiss.de>",),
        "Neue Terminkarten",
        "Liebe Frau Yilmaz,\n\nfür 2.000 neue Terminkarten im bisherigen Design wären es "
        "380 € netto inklusive Druck." + SIG,
    ),
    Case(
        "webde_angebot_mit_agb.eml",
        "webde",
        (HOFFMANN,),
        "Lektorat Sachbuch",
        "Sehr geehrte Frau Hoffmann,\n\nanbei wie besprochen mein Angebot für das Lektorat "
        "sowie meine AGB." + SIG,
        attachments=(a_pdf("Angebot_Lektorat.pdf"), a_pdf("AGB_Berger_Design.pdf")),
    ),
    # invoices
    Case(
        "tb_rechnung_pdf.eml",
        "thunderbird",
        (PRAXIS,),
        "Rechnung 2026-021",
        "Sehr geehrte Damen und Herren,\n\nanbei meine Rechnung für die Praxisflyer." + SIG,
        attachments=(a_pdf("Rechnung_2026-021.pdf"),),
    ),
    Case(
        "outlook_rechnung_facturx.eml",
        "outlook",
        (KELLER,),
        "Rechnung RE-2026-022",
        "Sehr geehrter Herr Keller,\n\nim Anhang erhalten Sie die Rechnung als E-Rechnung "
        "(ZUGFeRD)." + SIG,
        attachments=(a_pdf("RE-2026-022.pdf", "Rechnung", embedded="factur-x.xml"),),
    ),
    Case(
        "apple_zugferd_generic_name.eml",
        "apple",
        (HOFFMANN,),
        "Projektabschluss",
        "Liebe Frau Hoffmann,\n\nvielen Dank für die schöne Zusammenarbeit!" + SIG,
        attachments=(a_pdf("Dokument_0815.pdf", "Dokument", embedded="zugferd-invoice.xml"),),
    ),
    Case(
        "gmail_xrechnung_cii.eml",
        "gmail",
        ("Stadt Köln Vergabe <vergabe@stadt-koeln.de>",),
        "Ihre E-Rechnung 2026-023",
        "Sehr geehrte Damen und Herren,\n\nanbei die XRechnung zu Ihrer Bestellung." + SIG,
        attachments=(a_xml("xrechnung_2026-023.xml", cii_xml("2026-023")),),
    ),
    Case(
        "gmx_xrechnung_ubl.eml",
        "gmx",
        ("Kreis Mettmann <rechnungseingang@kreis-mettmann.de>",),
        "Leistungen Oktober",
        "Guten Tag,\n\nhiermit übersende ich die Unterlagen für Oktober." + SIG,
        attachments=(a_xml("2026-024.xml", ubl_xml("2026-024")),),
    ),
    Case(
        "tb_rechnung_text_only.eml",
        "thunderbird",
        (HOFFMANN,),
        "Übersetzung Handbuch",
        "Liebe Frau Hoffmann,\n\nhier meine Rechnung Nr. 2026-025 für die Übersetzung:\n"
        "Betrag: 480,00 €, zahlbar bis 15.12.2026 auf das unten genannte Konto." + SIG,
    ),
    Case(
        "outlook_rechnung_reply.eml",
        "outlook",
        (ADLER,),
        "AW: Fotos vom Event",
        "Hallo Herr Adler,\n\nfreut mich, dass die Fotos gefallen! Anbei meine Rechnung für "
        "das Shooting."
        + SIG
        + "\n\nVon: Adler Immobilien <info@adler-immobilien.de>\nGesendet: Montag, 9. November"
        " 2026 11:20\nAn: Anna Berger <anna@berger-design.de>\nBetreff: Fotos vom Event\n\n"
        "Die Fotos sind toll, danke!",
        attachments=(a_pdf("Rechnung_Shooting.pdf"),),
        in_reply_to="<0a1b2c3d@adler-immobilien.de>",
    ),
    Case(
        "apple_schlussrechnung.eml",
        "apple",
        (KELLER,),
        "Schlussrechnung Webprojekt",
        "Guten Tag Herr Keller,\n\ndas Projekt ist abgeschlossen, vielen Dank!" + SIG,
        attachments=(a_pdf("Schlussrechnung_Webprojekt.pdf"),),
    ),
    Case(
        "gmail_invoice_english.eml",
        "gmail",
        ("Sarah Miller <sarah@miller-studio.co.uk>",),
        "Invoice 2026-027",
        "Dear Sarah,\n\nplease find attached my invoice for the translation.\n\nBest regards\nAnna",
        attachments=(a_pdf("invoice-2026-027.pdf"),),
    ),
    Case(
        "webde_abschlagsrechnung.eml",
        "webde",
        (ADLER,),
        "Abschlagsrechnung 1 Webseite",
        "Sehr geehrte Damen und Herren,\n\nwie vereinbart die erste Abschlagszahlung." + SIG,
        attachments=(a_pdf("Abschlag_1.pdf"),),
    ),
    Case(
        "tb_bcc_tracking_rechnung.eml",
        "thunderbird",
        (KELLER,),
        "Ihre Unterlagen",
        "Guten Tag Herr Keller,\n\nanbei das Dokument." + SIG,
        bcc=("anna+nachfass+rechnung@berger-design.de",),
        attachments=(a_pdf("Dokument.pdf"),),
    ),
    Case(
        "outlook_bcc_tracking_14tage.eml",
        "outlook",
        (HOFFMANN,),
        "Rechnung Lektorat",
        "Sehr geehrte Frau Hoffmann,\n\nanbei meine Rechnung für das Lektorat." + SIG,
        bcc=("anna+nachfass+14tage@berger-design.de",),
        attachments=(a_pdf("Rechnung_2026-028.pdf"),),
    ),
    Case(
        "gmx_rechnung_rg_number.eml",
        "gmx",
        (LISA,),
        "Hochzeitsreportage",
        "Hi Lisa,\n\nes war ein toller Tag! Hier kommt noch das Finanzielle." + PRIVATE_SIG,
        attachments=(a_pdf("RG-2026-030.pdf"),),
    ),
    Case(
        "apple_rechnung_body_attached.eml",
        "apple",
        (PRAXIS,),
        "Terminkarten",
        "Sehr geehrte Damen und Herren,\n\nanbei die Rechnung zu den Terminkarten. "
        "Zahlungsziel 14 Tage." + SIG,
        attachments=(a_pdf("BD_2026-031.pdf"),),
    ),
    Case(
        "gmail_rechnung_plain_reply_untracked.eml",
        "gmail",
        (KELLER,),
        "Re: Visitenkarten",
        "Guten Tag Herr Keller,\n\ngern! Die Rechnung 2026-032 über 210,00 € hängt an." + SIG,
        attachments=(a_pdf("2026-032.pdf"),),
        in_reply_to="<77aa@keller-bau.de>",
    ),
    Case(
        "webde_rechnung_with_tracking_plain.eml",
        "webde",
        (ADLER,),
        "Rechnung 2026-033",
        "Sehr geehrte Damen und Herren,\n\nanbei meine Rechnung." + SIG,
        bcc=(TRACK,),
        attachments=(a_pdf("Rechnung_2026-033.pdf"),),
    ),
    # order documents
    Case(
        "tb_auftragsbestaetigung_pdf.eml",
        "thunderbird",
        (KELLER,),
        "Auftragsbestätigung Logo-Projekt",
        "Guten Tag Herr Keller,\n\nvielen Dank für Ihren Auftrag! Die Auftragsbestätigung "
        "liegt bei." + SIG,
        attachments=(a_pdf("AB_2026-010.pdf"),),
    ),
    Case(
        "outlook_unterlagen_zum_auftrag.eml",
        "outlook",
        (HOFFMANN,),
        "Ihr Logo-Projekt: nächste Schritte",
        "Liebe Frau Hoffmann,\n\nanbei alle Unterlagen zum Projektstart: das Briefing und der "
        "Zeitplan." + SIG,
        attachments=(a_pdf("Briefing.pdf"), a_pdf("Zeitplan.pdf")),
    ),
    Case(
        "apple_vertrag.eml",
        "apple",
        (HOFFMANN,),
        "Buchprojekt Herbst",
        "Liebe Frau Hoffmann,\n\nwie besprochen der Vertrag zur Unterschrift." + SIG,
        attachments=(a_pdf("Projektvertrag_Hoffmann.pdf"),),
    ),
    Case(
        "gmail_unterlagen_reply.eml",
        "gmail",
        (ADLER,),
        "Re: Zusage",
        "Guten Tag,\n\ndanke für den Auftrag! Hier die Unterlagen für den Start: Fragebogen "
        "und Terminplan." + SIG,
        in_reply_to="<zusage-1@adler-immobilien.de>",
        attachments=(a_pdf("Fragebogen.pdf"),),
    ),
    Case(
        "gmx_unterlagen_body.eml",
        "gmx",
        (KELLER,),
        "Webseite Keller Bau",
        "Guten Tag Herr Keller,\n\nanbei die Unterlagen zu Ihrem Auftrag: Sitemap und "
        "Zugangsdaten-Formular." + SIG,
    ),
    Case(
        "tb_bcc_tracking_auftrag.eml",
        "thunderbird",
        (ADLER,),
        "Fotoshooting 20.11.",
        "Guten Tag,\n\nanbei Ablaufplan und Checkliste für das Shooting." + SIG,
        bcc=("anna+nachfass+auftrag@berger-design.de",),
        attachments=(a_pdf("Ablaufplan.pdf"),),
    ),
    Case(
        "tb_vertrag_docx.eml",
        "thunderbird",
        (LISA,),
        "Hochzeit 2027",
        "Hi Lisa,\n\nwie besprochen schicke ich dir das Dokument zum Durchlesen." + PRIVATE_SIG,
        attachments=(a_docx("Vertrag_Hochzeitsreportage.docx"),),
    ),
    Case(
        "webde_auftragsbestaetigung_body.eml",
        "webde",
        (PRAXIS,),
        "Flyer Neuauflage",
        "Sehr geehrte Damen und Herren,\n\nhiermit die Auftragsbestätigung für die Neuauflage "
        "der Flyer: 5.000 Stück, Lieferung KW 49." + SIG,
    ),
    Case(
        "outlook_auftrag_subject.eml",
        "outlook",
        (ADLER,),
        "Auftrag Exposés Dezember",
        "Sehr geehrte Damen und Herren,\n\nim Anhang der Zeitplan." + SIG,
        attachments=(a_pdf("Zeitplan_Dezember.pdf"),),
    ),
    # private mail
    Case(
        "apple_private_birthday.eml",
        "apple",
        ("Mama <gisela.berger@t-online.de>",),
        "Alles Gute zum Geburtstag!",
        "Liebe Mama,\n\nalles Liebe zum Geburtstag! Wir sehen uns am Sonntag." + PRIVATE_SIG,
    ),
    Case(
        "gmx_private_family.eml",
        "gmx",
        ("Jan Berger <jan.berger@web.de>",),
        "Sonntag Kaffee?",
        "Hallo Jan,\n\nhast du Sonntag Zeit für Kaffee bei Mama?" + PRIVATE_SIG,
    ),
    Case(
        "tb_private_sonderangebot.eml",
        "thunderbird",
        ("Jan Berger <jan.berger@web.de>",),
        "Sonderangebot Fahrrad",
        "Hi Jan,\n\nschau mal, das Sonderangebot beim Radladen wäre doch was für dich?"
        + PRIVATE_SIG,
    ),
    Case(
        "gmail_private_restaurant.eml",
        "gmail",
        ("Jan Berger <jan.berger@web.de>",),
        "Samstag",
        "Hi Jan,\n\ndie Rechnung vom Italiener teilen wir, oder? Ich hab 84 € "
        "bezahlt." + PRIVATE_SIG,
    ),
    Case(
        "gmail_private_photos.eml",
        "gmail",
        ("Oma <oma.inge@gmx.de>",),
        "Fotos vom Urlaub",
        "Liebe Oma,\n\nhier ein paar Fotos von Rügen." + PRIVATE_SIG,
        attachments=(a_jpeg("IMG_4711.jpg"), a_jpeg("IMG_4712.jpg")),
    ),
    Case(
        "webde_private_help_offer.eml",
        "webde",
        ("Tante Gabi <gabi.mueller@web.de>",),
        "Umzug",
        "Liebe Gabi,\n\ndanke für dein Angebot, beim Umzug zu helfen! Samstag um 9?" + PRIVATE_SIG,
    ),
    Case(
        "apple_private_recipe_pdf.eml",
        "apple",
        ("Jan Berger <jan.berger@web.de>",),
        "Rezept",
        "Hi Jan,\n\nanbei das Rezept vom Sonntag." + PRIVATE_SIG,
        attachments=(a_pdf("Rezept_Apfelkuchen.pdf"),),
    ),
    Case(
        "tb_private_handwerker.eml",
        "thunderbird",
        ("Papa <klaus.berger@t-online.de>",),
        "Heizung",
        "Hallo Papa,\n\nhast du die Rechnung vom Handwerker schon bezahlt? Sonst "
        "mache ich das." + PRIVATE_SIG,
    ),
    Case(
        "gmail_private_invitation.eml",
        "gmail",
        ("jan.berger@web.de", "gabi.mueller@web.de", "oma.inge@gmx.de"),
        "Einladung Grillfest",
        "Ihr Lieben,\n\nam 20. Juni grillen wir bei uns im Garten. Kommt ihr?" + PRIVATE_SIG,
    ),
    Case(
        "outlook_business_no_signal.eml",
        "outlook",
        (KELLER,),
        "Termin Dienstag",
        "Guten Tag Herr Keller,\n\npasst Ihnen Dienstag um 10 Uhr für das Gespräch?" + SIG,
    ),
    Case(
        "gmail_reply_meeting.eml",
        "gmail",
        (HOFFMANN,),
        "Re: Treffen",
        "Liebe Frau Hoffmann,\n\nja, Donnerstag passt mir gut." + SIG,
        in_reply_to="<treffen-9@hoffmann-verlag.de>",
    ),
    # colleagues and self
    Case(
        "tb_colleague_angebot_review.eml",
        "thunderbird",
        (TOM,),
        "Angebot Keller gegenlesen",
        "Hi Tom,\n\nkannst du mein Angebot für Keller bis morgen gegenlesen?" + PRIVATE_SIG,
        attachments=(a_pdf("Angebot_Keller_Entwurf.pdf"),),
    ),
    Case(
        "outlook_colleagues_rechnungen.eml",
        "outlook",
        (TOM, "Lisa Kern <lisa@berger-design.de>"),
        "Rechnungen Oktober",
        "Hallo ihr beiden,\n\nanbei meine Rechnungen vom Oktober für die Buchhaltung." + SIG,
        attachments=(a_pdf("Rechnung_2026-019.pdf"), a_pdf("Rechnung_2026-020.pdf")),
    ),
    Case(
        "apple_self_note.eml",
        "apple",
        (SELF,),
        "Notiz: Angebot Keller nachfassen",
        "Angebot Keller am Freitag nachfassen.",
    ),
    Case(
        "tb_colleague_bcc_tracking.eml",
        "thunderbird",
        (TOM,),
        "Rechnung Druckerei",
        "Hi Tom,\n\nanbei die Rechnung der Druckerei." + PRIVATE_SIG,
        bcc=(TRACK,),
        attachments=(a_pdf("Rechnung_Druckerei.pdf"),),
    ),
    # mass mail
    Case(
        "outlook_mass_to.eml",
        "outlook",
        MASS,
        "Betriebsurlaub und Angebot zum Jahresende",
        "Liebe Kundinnen und Kunden,\n\nvom 22.12. bis 6.1. ist Betriebsurlaub. Anbei unser "
        "Angebot zum Jahresende." + SIG,
        attachments=(a_pdf("Angebot_Jahresende.pdf"),),
    ),
    Case(
        "tb_mass_bcc.eml",
        "thunderbird",
        (SELF,),
        "Neujahrsgrüße und Angebot 2027",
        "Liebe Kundinnen und Kunden,\n\nich wünsche Ihnen ein gutes neues Jahr! Anbei mein "
        "Angebot für 2027." + SIG,
        bcc=MASS,
    ),
    Case(
        "newsletter_list.eml",
        "thunderbird",
        ("kunden@lists.berger-design.de",),
        "Angebot des Monats: Visitenkarten",
        "Liebe Kundinnen und Kunden,\n\nunser Angebot des Monats: 500 Visitenkarten für "
        "49 € netto." + SIG,
        extra=(
            ("List-Id", "Kunden <kunden.lists.berger-design.de>"),
            ("List-Unsubscribe", "<mailto:kunden-leave@lists.berger-design.de>"),
            ("Precedence", "list"),
        ),
    ),
    Case(
        "gmail_cc_many.eml",
        "gmail",
        MASS[:2],
        "Rechnung Workshop 12.11.",
        "Liebe Teilnehmende,\n\nanbei die Rechnung für den Workshop." + SIG,
        cc=MASS[2:5],
        attachments=(a_pdf("Rechnung_Workshop.pdf"),),
    ),
    # replies in tracked threads
    Case(
        "tb_tracked_reply_offer.eml",
        "thunderbird",
        (KELLER,),
        "Re: Angebot Relaunch Webseite Keller Bau",
        "Guten Tag Herr Keller,\n\nanbei das überarbeitete Angebot mit den besprochenen "
        "Änderungen." + SIG,
        in_reply_to="<ccb2@keller-bau.de>",
        references=(TRACKED_OFFER, "<ccb2@keller-bau.de>"),
        attachments=(a_pdf("Angebot_2026-031_v2.pdf"),),
    ),
    Case(
        "outlook_tracked_reply_invoice.eml",
        "outlook",
        (PRAXIS,),
        "AW: Rechnung 2026-014 – Praxisflyer und Terminkarten",
        "Sehr geehrte Damen und Herren,\n\nanbei die Rechnung 2026-014 noch einmal als PDF." + SIG,
        in_reply_to=TRACKED_INVOICE,
        attachments=(a_pdf("Rechnung_2026-014.pdf"),),
    ),
    Case(
        "apple_tracked_reply_refs_only.eml",
        "apple",
        (PRAXIS,),
        "Re: Rechnung 2026-014",
        "Danke für die Nachricht, dann warte ich ab." + SIG,
        in_reply_to="<x7@praxis-weiss.de>",
        references=(TRACKED_INVOICE, "<x7@praxis-weiss.de>"),
    ),
    # the bot's own mail and machine mail
    Case(
        "bot_draft_copy.eml",
        "thunderbird",
        (SELF,),
        "[NF-0123456789abcdef0123] Entwurf: Angebot Keller Bau",
        "Hallo,\n\nhier der Entwurf für Jonas Keller. Antworte mit ok.",
    ),
    Case(
        "bot_client_mail.eml",
        "thunderbird",
        (KELLER,),
        "Ihr Angebot vom 2. März",
        "Guten Tag Herr Keller,\n\nist mein Angebot gut angekommen?" + SIG,
        extra=(("X-Nachfass", "angebot_1"),),
    ),
    Case(
        "owner_vacation_reply.eml",
        "thunderbird",
        (KELLER,),
        "Abwesend bis 16.11.",
        "Ich bin bis 16.11. nicht im Büro." + SIG,
        extra=(("Auto-Submitted", "auto-replied"),),
    ),
    Case(
        "tb_tax_adviser_unterlagen.eml",
        "thunderbird",
        ("Kanzlei Roth <belege@kanzlei-roth.de>",),
        "Unterlagen Steuererklärung 2025",
        "Hallo Frau Roth,\n\nanbei die Unterlagen für die Steuererklärung 2025." + SIG,
        attachments=(a_pdf("Belege_2025.pdf"),),
    ),
    Case(
        "outlook_forward_invoice_tax.eml",
        "outlook",
        ("Kanzlei Roth <belege@kanzlei-roth.de>",),
        "WG: Ihre Rechnung von Adobe",
        "Hallo Frau Roth,\n\nanbei die Rechnung von Adobe für die Buchhaltung." + SIG,
        attachments=(a_pdf("Adobe_Rechnung_Okt.pdf"),),
    ),
)


def render(case: Case, minute: int) -> bytes:
    text = "\n".join(PROGRAMS[case.program](case, minute))
    return text.replace("\r\n", "\n").replace("\n", "\r\n").encode("utf-8")


def main() -> None:
    for path in HERE.glob("*.eml"):
        path.unlink()
    for minute, case in enumerate(CASES):
        (HERE / case.name).write_bytes(render(case, minute))
    print(f"{len(CASES)} mails written to {HERE}")


if __name__ == "__main__":
    main()
