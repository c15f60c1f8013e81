"""Hypothesis strategies for mail as the wild writes it, and the settings the property
tests run with.

Raw mails (:func:`raw_mails`): header fields in every encoding a mailer gets wrong —
RFC 2047 Q and B words in UTF-8, Latin-1, Windows-1252 and charsets no codec knows,
raw 8-bit bytes, folded lines, duplicate and missing fields, absurd dates (year 0001,
1900, 9999, 2-digit years, fields out of range), garbage Message-IDs — over bodies of
nested multiparts with broken transfer encodings. :func:`human_answers` builds the mails
that must count as a client's answer whatever their date and body; :mod:`ownerreplies`
has the owner's answers to drafts.

Budgets: each property names its example count with :func:`budget`; the suite runs it
derandomized (``tests/conftest.py`` loads the ``suite`` profile), ``bench/fuzz.py
--examples N`` runs every property N times with fresh random seeds.
"""

from __future__ import annotations

import base64
import binascii
import codecs
import os
import quopri
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta, timezone
from email.utils import format_datetime

from hypothesis import settings
from hypothesis import strategies as st

__all__ = [
    "FUZZ_EXAMPLES_ENV",
    "budget",
    "date_values",
    "encoded_header_value",
    "folded",
    "header_text",
    "hex_token",
    "human_answers",
    "message_id_values",
    "mime_bodies",
    "raw_mails",
]

FUZZ_EXAMPLES_ENV = "NACHFASS_FUZZ_EXAMPLES"


def budget(examples: int) -> settings:
    """``@budget(n)``: n examples in the suite, or what ``bench/fuzz.py --examples`` asks."""
    wanted = os.environ.get(FUZZ_EXAMPLES_ENV, "").strip()
    return settings(max_examples=int(wanted) if wanted else examples)


# --- text --------------------------------------------------------------------------------

# Header text: printable, no line breaks (a break would start another header field).
header_text = st.text(
    alphabet=st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters="\r\n"),
    max_size=30,
)
hex_token = st.text(alphabet="0123456789abcdef", min_size=20, max_size=20)
# Any text a codec can take: no lone surrogates.
any_text = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=60)

# Words and sentences of people answering: umlauts, quotes, € — and sentences that look
# like machine mail to a careless rule (absence, failure) but are a person's answer.
HUMAN_SENTENCES = (
    "Guten Tag Frau Berger,",
    "Hallo Anna,",
    "danke für Ihre Nachricht, das Angebot passt so.",
    "Ja, wir machen das. Können wir Donnerstag telefonieren?",
    "Ich bin bis Freitag nicht im Büro, aber ja, wir machen das.",
    "Die Rechnung ist bei uns untergegangen, wir überweisen Freitag.",
    "Ihre erste Mail war wohl unzustellbar, hier meine Antwort.",
    "Sorry for the delay, we are in.",
    "Grüße aus Köln – „bis bald“ & 1.190,00 €",
    "Moin, passt!",
    "Viele Grüße\nJonas Keller",
    "-- \nKeller Bau GmbH · Hauptstraße 1 · 50667 Köln",
    "Bitte rufen Sie mich an: 0221 123456",
    "😀 👍",
)
human_text = st.lists(
    st.one_of(st.sampled_from(HUMAN_SENTENCES), any_text), min_size=1, max_size=6
).map("\n".join)

# --- header values -----------------------------------------------------------------------

CHARSETS = (
    "utf-8", "UTF-8", "utf8", "iso-8859-1", "latin-1", "windows-1252", "cp1252",
    "iso-8859-15", "us-ascii", "utf-16", "koi8-r", "iso-2022-jp", "gb2312",
    "x-unknown", "utf-8*de", "", "unknown-8bit", "bogus\"", "ut\xff8",
)  # fmt: skip
_8BIT_CODECS = ("utf-8", "latin-1", "cp1252")


def _encode(text: str, charset: str) -> bytes:
    """``text`` in ``charset`` when a codec knows it, else UTF-8 under a wrong label."""
    try:
        codec = codecs.lookup(charset.split("*")[0]).name
        return text.encode(codec, "replace")
    except (LookupError, ValueError, UnicodeError):
        return text.encode("utf-8", "surrogatepass")


def _q_word(data: bytes) -> bytes:
    encoded = binascii.b2a_qp(data, header=True).replace(b"=\n", b"")
    return encoded.replace(b"?", b"=3F").replace(b" ", b"_").replace(b"\n", b"=0A")


@st.composite
def encoded_word(draw: st.DrawFn, text: st.SearchStrategy[str] = any_text) -> bytes:
    """One RFC 2047 encoded word, sometimes mislabelled, truncated or corrupt."""
    value = draw(text)
    charset = draw(st.sampled_from(CHARSETS))
    data = _encode(value, draw(st.sampled_from((charset, *_8BIT_CODECS))))  # maybe mislabelled
    kind = draw(st.sampled_from("QqBb"))
    payload = _q_word(data) if kind in "Qq" else base64.b64encode(data)
    damage = draw(st.sampled_from(("none", "none", "none", "cut", "garbage", "unpadded")))
    if damage == "cut":
        payload = payload[: draw(st.integers(0, len(payload)))]
    elif damage == "garbage":
        payload += draw(st.sampled_from((b"=ZZ", b"!!", b"=", b"\xff", b"?")))
    elif damage == "unpadded":
        payload = payload.rstrip(b"=")
    label = charset.encode("utf-8", "surrogateescape")
    return b"=?" + label + b"?" + kind.encode() + b"?" + payload + b"?="


@st.composite
def raw_8bit(draw: st.DrawFn) -> bytes:
    """Unencoded non-ASCII text (UTF-8, Latin-1, cp1252) or plain random bytes."""
    if draw(st.booleans()):
        return _encode(draw(any_text), draw(st.sampled_from(_8BIT_CODECS)))
    data = draw(st.binary(max_size=30))
    return data.replace(b"\r", b"").replace(b"\n", b"")


@st.composite
def encoded_header_value(draw: st.DrawFn, text: st.SearchStrategy[str] = any_text) -> bytes:
    """Unstructured header text: ASCII, encoded words, raw 8-bit, mixed."""
    parts = draw(
        st.lists(
            st.one_of(
                text.map(lambda value: value.encode("ascii", "replace")),
                encoded_word(text),
                raw_8bit(),
            ),
            min_size=1,
            max_size=4,
        )
    )
    separator = draw(st.sampled_from((b" ", b"", b"  ", b"\t")))
    return separator.join(part.replace(b"\r", b"").replace(b"\n", b"") for part in parts)


@st.composite
def folded(draw: st.DrawFn, value: bytes) -> bytes:
    """``value`` folded (RFC 5322 §2.2.3) at a few places, with CRLF, LF or a bare CR."""
    cuts = sorted(draw(st.lists(st.integers(0, len(value)), max_size=3)))
    pieces, last = [], 0
    for cut in cuts:
        pieces.append(value[last:cut])
        last = cut
    pieces.append(value[last:])
    fold = draw(st.sampled_from((b"\r\n ", b"\n\t", b"\r\n\t", b"\n ")))
    return fold.join(pieces)


# --- dates -------------------------------------------------------------------------------

_ABSURD_DATES = (
    "Mon, 01 Jan 0001 00:00:00 +0000",
    "Mon, 01 Jan 0001 00:00:00 +0100",
    "Fri, 31 Dec 9999 23:59:59 -1200",
    "Fri, 31 Dec 9999 23:59:59 +0000",
    "Mon, 01 Jan 1900 00:00:00 +0000",
    "Thu, 01 Jan 1970 00:00:00 +0000",
    "Sat, 01 Jan 2000 00:00:00 -0000",
    "01 Jan 00 00:00 GMT",
    "Mon, 32 Feb 2026 25:61:61 +9999",
    "Mon, 10 Mar 2026 10:00:00 +2500",
    "Mon, 10 Mär 2026 10:00:00 +0100",
    "2026-03-11T10:00:00Z",
    "Tuesday, 10-Mar-26 10:00:00 GMT",
    "10 Mar 2026",
    "gestern",
    "",
    " ",
    "0",
    "Mon, 99 Xyz 99999 99:99:99 +0000",
)


@st.composite
def date_values(draw: st.DrawFn) -> bytes:
    """A Date field's value: well-formed in any year 1–9999 and zone, or absurd."""
    choice = draw(st.sampled_from(("formatted", "formatted", "absurd", "garbage")))
    if choice == "formatted":
        moment = draw(st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30)))
        minutes = draw(st.integers(-1439, 1439))
        zone = timezone(timedelta(minutes=minutes)) if minutes else UTC
        return format_datetime(moment.replace(tzinfo=zone)).encode()
    if choice == "absurd":
        return draw(st.sampled_from(_ABSURD_DATES)).encode()
    return draw(encoded_header_value())


# --- Message-IDs -------------------------------------------------------------------------

_id_part = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789.-_$=+", min_size=1, max_size=12)


@st.composite
def message_id_values(draw: st.DrawFn) -> bytes:
    """A Message-ID field: well-formed, bare, empty, spaced, non-ASCII or plain garbage."""
    left, right = draw(_id_part), draw(_id_part)
    return draw(
        st.sampled_from(
            (
                f"<{left}@{right}>".encode(),
                f"{left}@{right}".encode(),
                b"<>",
                b"<@>",
                f"< {left} @ {right} >".encode(),
                f"<{left}>".encode(),
                f"<{left}@{right}> <{right}@{left}>".encode(),
                f"<{left}\xe4@{right}>".encode("latin-1"),
                f"<{left}\xe4@{right}>".encode(),
                b"",
                f"<{left}@{right}".encode(),
                f"{'x' * 400}@{right}".encode(),
            )
        )
    )


# --- addresses ---------------------------------------------------------------------------

PERSON_LOCALS = ("jonas", "m.sommer", "buchhaltung", "info", "lena", "j.weiss", "office")
DOMAINS = ("keller-bau.test", "kanzlei-sommer.test", "gmx.de", "example.test", "xn--mller-kva.test")


@st.composite
def person_addresses(draw: st.DrawFn) -> str:
    local = draw(st.one_of(st.sampled_from(PERSON_LOCALS), _id_part.filter(_is_person)))
    return f"{local}@{draw(st.sampled_from(DOMAINS))}"


MACHINE_LOCALS = frozenset({"mailer-daemon", "mailerdaemon", "postmaster", "mdaemon"})


def _is_person(local: str) -> bool:
    return local.strip(".").lower() not in MACHINE_LOCALS


@st.composite
def address_field(draw: st.DrawFn, address: str) -> bytes:
    """A From/To value for ``address`` as mail programs write it."""
    name = draw(st.sampled_from(("Jonas Keller", "Müller, Jürgen", "Lena", "Ö")))
    shown = address.upper() if draw(st.integers(0, 5)) == 0 else address
    return draw(
        st.sampled_from(
            (
                shown.encode(),
                f"<{shown}>".encode(),
                f"{name} <{shown}>".encode(),
                f'"{name}" <{shown}>'.encode(),
                f"{name} <{shown}>".encode("latin-1", "replace"),
                b"=?utf-8?q?J=C3=BCrgen_M=C3=BCller?= <" + shown.encode() + b">",
                b"=?iso-8859-1?b?"
                + base64.b64encode(name.encode("latin-1"))
                + b"?= <"
                + shown.encode()
                + b">",
                f"{shown} ({name})".encode(),
            )
        )
    )


# --- bodies ------------------------------------------------------------------------------

_TRANSFER_ENCODINGS = ("7bit", "8bit", "quoted-printable", "base64", "binary", "x-uuencode", "")


@st.composite
def _leaf_part(
    draw: st.DrawFn, content_types: Sequence[str], text: st.SearchStrategy[str]
) -> bytes:
    content_type = draw(st.sampled_from(content_types))
    charset = draw(st.sampled_from(CHARSETS))
    encoding = draw(st.sampled_from(_TRANSFER_ENCODINGS))
    if content_type == "text/html":
        words = draw(text).replace("&", "&amp;").replace("<", "&lt;")
        body_text = draw(
            st.sampled_from(
                (
                    f"<html><body><p>{words}</p></body></html>",
                    f"<div>{words}<br><blockquote type=cite>{words}</blockquote></div>",
                    f"<p>{words}",  # unclosed
                    f"<style>p {{}}</style><p>{words}</p><script>x</script>",
                )
            )
        )
    else:
        body_text = draw(text)
    data = _encode(body_text, draw(st.sampled_from((charset, *_8BIT_CODECS))))
    if encoding == "quoted-printable":
        data = quopri.encodestring(data)
    elif encoding == "base64":
        data = base64.encodebytes(data)
    if draw(st.integers(0, 7)) == 0:  # a broken transfer encoding
        data = data[: len(data) // 2] + b"=\xff=Z?!"
    head = f'Content-Type: {content_type}; charset="{charset}"\r\n'
    head += f"Content-Transfer-Encoding: {encoding}\r\n" if encoding else ""
    if draw(st.booleans()):
        head += 'Content-Disposition: attachment; filename="r\xe4chnung.pdf"\r\n'
    return head.encode("utf-8", "surrogateescape") + b"\r\n" + data


MULTIPART_SUBTYPES = ("mixed", "alternative", "related", "signed", "x-garbage")


def mime_bodies(
    content_types: Sequence[str] = ("text/plain", "text/html", "application/pdf", "image/png"),
    text: st.SearchStrategy[str] = any_text,
    subtypes: Sequence[str] = MULTIPART_SUBTYPES,
) -> st.SearchStrategy[bytes]:
    """A MIME entity (its Content-* fields, a blank line, its body): a leaf part or
    multiparts nested a few levels deep, with odd, missing or unterminated boundaries."""
    return st.recursive(
        _leaf_part(content_types, text),
        lambda children: _multipart(children, subtypes),
        max_leaves=5,
    )


@st.composite
def _multipart(
    draw: st.DrawFn, children: st.SearchStrategy[bytes], subtypes: Sequence[str]
) -> bytes:
    parts = draw(st.lists(children, max_size=3))
    boundary = draw(st.sampled_from(("b1", "==_x", "a b", "--", "\xe4", "")))
    declared = boundary if draw(st.integers(0, 6)) else "other"
    subtype = draw(st.sampled_from(subtypes))
    head = f'Content-Type: multipart/{subtype}; boundary="{declared}"\r\n\r\n'.encode(
        "utf-8", "surrogateescape"
    )
    mark = b"--" + boundary.encode()
    body = b"".join(mark + b"\r\n" + part + b"\r\n" for part in parts)
    if draw(st.integers(0, 4)):  # the closing delimiter is sometimes missing
        body += mark + b"--\r\n"
    return head + b"preamble\r\n" + body


# --- whole mails -------------------------------------------------------------------------

_HEADER_NAMES = (
    "From", "To", "Cc", "Subject", "Date", "Message-ID", "In-Reply-To", "References",
    "Auto-Submitted", "X-Autoreply", "Precedence", "List-Id", "List-Unsubscribe",
    "Return-Path", "X-Failed-Recipients", "Authentication-Results", "Content-Type",
    "MIME-Version", "X-Apple-Action", "X-Mailer", "Reply-To", "Sender", "X-Garbage",
)  # fmt: skip
_LINE_ENDS = (b"\r\n", b"\n")


@st.composite
def _header_field(draw: st.DrawFn) -> bytes:
    name = draw(st.one_of(st.sampled_from(_HEADER_NAMES), _id_part))
    lowered = name.lower()
    if lowered == "date":
        value = draw(date_values())
    elif lowered in ("message-id", "in-reply-to", "references"):
        value = b" ".join(draw(st.lists(message_id_values(), min_size=1, max_size=3)))
    elif lowered in ("from", "to", "cc", "reply-to", "sender"):
        value = draw(st.one_of(person_addresses().flatmap(address_field), encoded_header_value()))
    else:
        value = draw(encoded_header_value())
    if draw(st.integers(0, 3)) == 0:
        value = draw(folded(value))
    separator = draw(st.sampled_from((b": ", b":", b" : ", b"")))  # "" is no field at all
    return name.encode() + separator + value


@st.composite
def raw_mails(draw: st.DrawFn) -> bytes:
    """A whole mail: random header fields (missing, duplicate, broken) over a MIME body."""
    fields = draw(st.lists(_header_field(), max_size=12))
    end = draw(st.sampled_from(_LINE_ENDS))
    body = draw(mime_bodies())
    if draw(st.booleans()):
        fields.append(b"MIME-Version: 1.0")
    head = end.join(fields)
    if end == b"\n":
        body = body.replace(b"\r\n", b"\n")
    return head + end + body if fields else body


# --- answers that must count ---------------------------------------------------------------

HUMAN_CONTENT_TYPES = ("text/plain", "text/html", "application/pdf", "image/jpeg")
HUMAN_HEADERS = (
    b"X-Mailer: Microsoft Outlook 16.0",
    b"User-Agent: Mozilla Thunderbird",
    b"Content-Language: de-DE",
    b"Thread-Index: AQHaBcD=",
    b"X-Priority: 3",
    b"X-Auto-Response-Suppress: All",
    b"Importance: normal",
    b"Return-Path: <>",
)
REPLY_PREFIXES = ("Re: ", "AW: ", "Aw: ", "RE: ", "Re: AW: ", "Antw: ", "SV: ")


@st.composite
def _reference_fields(draw: st.DrawFn, ours: str) -> list[bytes]:
    """In-Reply-To and/or References that name ``ours`` among other ids and junk."""
    others = draw(st.lists(message_id_values(), max_size=3))
    left, _, right = ours.strip("<>").rpartition("@")
    spelled = draw(st.sampled_from((ours, f"<{left}@{right.upper()}>", f"< {left}@{right} >")))
    listed = [*others]
    listed.insert(draw(st.integers(0, len(listed))), spelled.encode())
    references = listed[0]
    for item in listed[1:]:  # folded only where white space may stand (RFC 5322 §3.2.2)
        references += draw(st.sampled_from((b" ", b"\r\n ", b"\n\t", b"  "))) + item
    comment = draw(st.sampled_from((b"", b" (Ihre Nachricht vom 3. M\xe4rz)", b" from Outlook")))
    how = draw(st.sampled_from(("in-reply-to", "references", "both", "split-references")))
    fields = []
    if how in ("in-reply-to", "both"):
        fields.append(b"In-Reply-To: " + spelled.encode() + comment)
    if how in ("references", "both"):
        fields.append(b"References: " + references)
    if how == "split-references":  # two References fields, ours in either
        fields += [b"References: " + b" ".join(others), b"References: " + references]
    return fields


@st.composite
def human_answers(draw: st.DrawFn, ours: Sequence[str], owner_email: str) -> tuple[bytes, str]:
    """A person's reply naming one of ``ours`` (In-Reply-To or References): any sender
    but the owner and delivery systems, no auto-reply, bounce or list header, any Date
    (or none), any body a person's mail program writes. Returns the mail and the id."""
    referenced = draw(st.sampled_from(ours))
    sender = draw(person_addresses().filter(lambda a: a.lower() != owner_email.lower()))
    subject = draw(st.sampled_from(REPLY_PREFIXES)).encode() + draw(encoded_header_value())
    fields = [
        b"From: " + draw(address_field(sender)),
        b"To: " + owner_email.encode(),
        b"Subject: " + subject,
        *draw(_reference_fields(referenced)),
        *draw(st.lists(st.sampled_from(HUMAN_HEADERS), max_size=3)),
    ]
    if draw(st.integers(0, 4)):
        fields.append(b"Date: " + draw(date_values()))
    if draw(st.integers(0, 4)):
        fields.append(b"Message-ID: " + draw(message_id_values()))
    fields = draw(st.permutations(fields))
    body = draw(mime_bodies(HUMAN_CONTENT_TYPES, human_text, ("mixed", "alternative", "related")))
    end = draw(st.sampled_from(_LINE_ENDS))
    if end == b"\n":
        body = body.replace(b"\r\n", b"\n")
    return end.join([b"MIME-Version: 1.0", *fields]) + end + body, referenced
