"""Raw mail bytes → plain facts (:class:`~nachfass_bot.domain.models.Inbound`, body text).

Pure and forgiving: nothing here raises on bad input. Whatever cannot be parsed becomes
``None`` or ``""``; the poll loop logs and goes on (docs/DESIGN.md, "Guarantees").

* Header syntax is RFC 5322 (unfolding §2.2.3, msg-id §3.6.4, Date §3.3).
* Non-ASCII header text is RFC 2047 encoded words, or raw 8-bit bytes from sloppy mailers
  (UTF-8 per RFC 6532, or Windows-1252 in practice).
* What a header block means as a whole (:class:`Inbound`) is :mod:`nachfass_bot.mail.inbound`.

Header values are read through ``Message.raw_items()`` and decoded here, never through the
header classes of ``email.policy.default``: those parse lazily and some garbage trips them.
"""

from __future__ import annotations

import base64
import binascii
import codecs
import contextlib
import email
import email.policy
import re
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from email.headerregistry import AddressHeader, HeaderRegistry
from email.message import EmailMessage, Message, MIMEPart
from email.utils import getaddresses, parsedate_to_datetime
from html.parser import HTMLParser

__all__ = [
    "address",
    "addresses",
    "all_raw_headers",
    "authentication_results",
    "clean_line",
    "decode_words",
    "html_to_text",
    "message_header",
    "message_ids",
    "normalize_message_id",
    "parse_date",
    "parse_header_block",
    "plain_text",
    "raw_header",
    "sole_address",
]

_FOLD_RE = re.compile(r"\r?\n(?=[ \t])")
_MSG_ID_RE = re.compile(r"<\s*([^<>\s]+?)\s*>")
# One bracketed msg-id and nothing else but blanks: what message_ids finds in it, at once.
_ONE_MSG_ID_RE = re.compile(r"[ \t]*<([^<>\s@]+@[^<>\s]*[^<>\s@])>[ \t]*")
_ADDR_SPEC_RE = re.compile(
    r"[^@\s<>\"',;:()\[\]\\]+@[^@\s<>\"',;:()\[\]\\]+\.[^@\s<>\"',;:()\[\]\\]+"
)
# One mailbox as nearly every mail program writes it: "local@domain", "<local@domain>",
# "Name <local@domain>" or '"Name" <local@domain>', with a plain name (no specials of RFC
# 5322 §3.2.3 in it) and a plain address (dot-atoms of letters, digits and "_+-"). For
# these getaddresses gives the address as written; anything else goes through it.
_PLAIN_ADDR = r"[A-Za-z0-9_+-]+(?:\.[A-Za-z0-9_+-]+)*@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+"
_PLAIN_NAME = r"\"[^\"\\,;:@<>()\[\]\r\n]*\"|[A-Za-z0-9 \t._'=?-]*"
_PLAIN_ADDRESS_RE = re.compile(
    rf"[ \t]*(?:({_PLAIN_ADDR})|(?:{_PLAIN_NAME})[ \t]*<({_PLAIN_ADDR})>)[ \t]*"
)
_ENCODED_WORD_RE = re.compile(r"=\?([^?\s]+)\?([QqBb])\?([^?\s]*)\?=")
_BLANK_RE = re.compile(r"[ \t\r\n]*")
_MONTHS = {
    name: number
    for number, name in enumerate(
        ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"), 1
    )
}
_PLAIN_DATE_RE = re.compile(
    r"(?:(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun), )?(\d{1,2}) (" + "|".join(_MONTHS) + r") ([1-9]\d{3}) "
    r"(\d{2}):(\d{2}):(\d{2}) ([+-])(\d{2})(\d{2})"
)
_DAY_SECONDS = 86400
_ESCAPED_RE = re.compile("[\udc80-\udcff]")  # raw 8-bit bytes, surrogate-escaped


# --- decoding helpers ------------------------------------------------------------------


def _codec(label: str | None) -> str | None:
    """Python's codec for a MIME charset label (RFC 2231 language suffix dropped).

    ISO-8859-1 is read as Windows-1252, its superset, as browsers do: Outlook labels
    cp1252 text (€, typographic quotes) as latin-1.
    """
    if not label:
        return None
    try:
        name = codecs.lookup(label.split("*", 1)[0].strip().strip('"')).name
    except (LookupError, ValueError):
        return None
    return "cp1252" if name in {"iso8859-1", "latin-1"} else name


def _decode_bytes(data: bytes, label: str | None) -> str:
    """Decode text bytes: declared charset, then UTF-8, then Windows-1252, never raising."""
    for candidate in (_codec(label), "utf-8", "cp1252"):
        if candidate is None:
            continue
        try:
            return data.decode(candidate)
        except UnicodeDecodeError:
            continue
    return data.decode(_codec(label) or "utf-8", "replace")


def _repair_8bit(value: str) -> str:
    """Turn raw 8-bit header bytes (surrogate-escaped by the parser) into text."""
    if value.isascii() or not _ESCAPED_RE.search(value):
        return value
    return _decode_bytes(value.encode("utf-8", "surrogateescape"), None)


def _decode_word_bytes(encoding: str, text: str) -> bytes | None:
    """The bytes of one RFC 2047 encoded word ("Q" or "B"), None when undecodable."""
    try:
        if encoding.upper() == "Q":
            return binascii.a2b_qp(text.encode("ascii"), header=True)
        padded = text + "=" * (-len(text) % 4)
        return base64.b64decode(padded.encode("ascii"), validate=True)
    except (ValueError, UnicodeEncodeError):  # binascii.Error is a ValueError
        return None


def decode_words(value: str) -> str:
    """Decode RFC 2047 encoded words in unstructured text (Subject), never raising.

    Whitespace between adjacent encoded words is dropped (RFC 2047 §6.2). Adjacent words
    with the same charset are joined as bytes first, so a multi-byte character split
    across two words (a common mailer bug) survives. Bad charsets fall back to UTF-8 /
    Windows-1252 with replacement characters; undecodable words stay as they are.
    """
    value = _repair_8bit(value)
    segments: list[str | tuple[str, bytes]] = []
    pos = 0
    for match in _ENCODED_WORD_RE.finditer(value):
        gap = value[pos : match.start()]
        pos = match.end()
        data = _decode_word_bytes(match.group(2), match.group(3))
        previous = segments[-1] if segments else None
        joins = isinstance(previous, tuple) and data is not None and _BLANK_RE.fullmatch(gap)
        if not joins:
            segments.append(gap)
        if data is None:
            segments.append(match.group(0))
        elif (
            isinstance(previous, tuple) and joins and previous[0].lower() == match.group(1).lower()
        ):
            segments[-1] = (previous[0], previous[1] + data)
        else:
            segments.append((match.group(1), data))
    segments.append(value[pos:])
    return "".join(
        seg if isinstance(seg, str) else _decode_bytes(seg[1], seg[0]) for seg in segments
    )


def clean_line(value: str) -> str:
    """One line of display text: control characters and runs of whitespace collapsed."""
    return " ".join(re.sub(r"[\x00-\x1f\x7f]", " ", value).split())


# --- header access ---------------------------------------------------------------------


def raw_header(msg: Message, name: str) -> str | None:
    """The first raw value of a field, unfolded (RFC 5322 §2.2.3), None when absent."""
    wanted = name.lower()
    for key, value in msg.raw_items():
        if key.lower() == wanted:
            return _FOLD_RE.sub("", str(value))
    return None


def all_raw_headers(msg: Message, name: str) -> list[str]:
    """All raw values of a field, unfolded, in order."""
    wanted = name.lower()
    return [_FOLD_RE.sub("", str(v)) for k, v in msg.raw_items() if k.lower() == wanted]


def normalize_message_id(value: str | None) -> str | None:
    """A msg-id (RFC 5322 §3.6.4) as ``<left@right>``: whitespace stripped, brackets kept.

    A bare ``left@right`` gets its angle brackets; anything without an ``@`` or with
    spaces inside is garbage and gives None. Case is kept (the left part is opaque).
    """
    if not value:
        return None
    found = message_ids(value)
    if found:
        return found[0]
    bare = _repair_8bit(value).strip()
    if re.fullmatch(r"[^<>\s@]+@[^<>\s@]+", bare):
        return f"<{bare}>"
    return None


def message_ids(value: str | None) -> tuple[str, ...]:
    """All ``<…@…>`` msg-ids in an In-Reply-To or References value, in order, no repeats.

    Tolerant of folding, comments and junk between the ids (RFC 5322 §3.6.4 allows
    comments; Outlook and old mailers add phrases such as "Your message of …"):
    only bracketed ids containing an ``@`` count.
    """
    if not value:
        return ()
    if value.isascii() and (single := _ONE_MSG_ID_RE.fullmatch(value)) is not None:
        return (f"<{single.group(1)}>",)  # the common case, as the loop below reads it
    text = _FOLD_RE.sub("", _repair_8bit(value))
    seen: dict[str, None] = {}
    for match in _MSG_ID_RE.finditer(text):
        inner = match.group(1)
        if "@" in inner and not inner.startswith("@") and not inner.endswith("@"):
            seen.setdefault(f"<{inner}>", None)
    return tuple(seen)


def addresses(value: str | None) -> tuple[str, ...]:
    """All mail addresses in an address-list field (RFC 5322 §3.4), lower-cased.

    Works on the raw field value; a display name with an unquoted comma or encoded
    words does not produce a fake address, because every result must look like
    ``local@domain.tld``.
    """
    if not value:
        return ()
    if value.isascii() and (plain := _PLAIN_ADDRESS_RE.fullmatch(value)) is not None:
        return ((plain.group(1) or plain.group(2)).lower(),)  # as the parse, far cheaper
    return _parsed_addresses(_FOLD_RE.sub("", _repair_8bit(value)))


def _parsed_addresses(text: str) -> tuple[str, ...]:
    """:func:`addresses` of an unfolded value, by the standard library's parser."""
    try:
        pairs = getaddresses([text])
    except Exception:  # getaddresses has raised on pathological input in past releases
        pairs = []
    found = [addr.strip().lower() for _, addr in pairs if _ADDR_SPEC_RE.fullmatch(addr.strip())]
    if not found:
        found = [addr.lower() for addr in _ADDR_SPEC_RE.findall(text)]
    return tuple(dict.fromkeys(found))


_HEADER_REGISTRY = HeaderRegistry()


def sole_address(values: Sequence[str]) -> str | None:
    """The address of the one mailbox a message's From names, lower-cased, or None.

    Strict, for deciding who wrote a command (RFC 5322 §3.6.2): exactly one From field,
    holding exactly one mailbox and no group, parsed without any defect by the standard
    library's address parser, and no other address anywhere in the field — not in the
    display name (``"erika@studio.test" <mallory@evil.test>``, RFC 2047-encoded or not)
    and not in a comment. Everything else is None: a sender we cannot name for sure.
    """
    if len(values) != 1:
        return None
    value = _repair_8bit(_FOLD_RE.sub("", values[0])).strip()
    try:
        field = _HEADER_REGISTRY("from", value)
    except Exception:  # the header classes can trip over garbage; then nobody is named
        return None
    if not isinstance(field, AddressHeader):
        return None
    groups, mailboxes, defects = field.groups, field.addresses, field.defects
    if defects or len(groups) != 1 or groups[0].display_name is not None:
        return None
    if len(mailboxes) != 1:
        return None
    found = mailboxes[0].addr_spec.strip().lower()
    if not _ADDR_SPEC_RE.fullmatch(found):
        return None
    named = {other.lower() for other in _ADDR_SPEC_RE.findall(decode_words(value))}
    return found if named <= {found} else None


def address(value: str | None) -> str | None:
    """The first mail address in a From/To/Cc value, lower-cased; None if there is none."""
    found = addresses(value)
    return found[0] if found else None


def parse_date(value: str | None) -> datetime | None:
    """The Date field (RFC 5322 §3.3) as an aware UTC datetime; naive → UTC; None if bad.

    RFC 5322 §3.3 says "-0000" means "no zone information": UTC is the best guess.
    """
    if not value or not value.strip():
        return None
    if (plain := _PLAIN_DATE_RE.fullmatch(value.strip())) is not None:
        with contextlib.suppress(ValueError, OverflowError):  # the general way decides
            return _plain_date(plain)
    try:
        parsed = parsedate_to_datetime(_repair_8bit(value).strip())
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    try:
        return parsed.astimezone(UTC)
    except (OverflowError, ValueError):
        return None


def _plain_date(found: re.Match[str]) -> datetime:
    """A Date in the form every current mailer writes ("Tue, 3 Mar 2026 09:15:00 +0100"),
    read as :func:`email.utils.parsedate_to_datetime` and :func:`parse_date` read it, for
    a fraction of the cost; what it refuses (day 31 in April, an offset of a day or
    more, "-0000") goes the general way."""
    day, month, year, hour, minute, second, sign, zone_hours, zone_minutes = found.groups()
    offset = int(zone_hours) * 3600 + int(zone_minutes) * 60
    if offset >= _DAY_SECONDS or (offset == 0 and sign == "-"):
        raise ValueError("not a plain zone offset")
    moment = datetime(
        int(year), _MONTHS[month], int(day), int(hour), int(minute), int(second), tzinfo=UTC
    )
    return moment - timedelta(seconds=offset) if sign == "+" else moment + timedelta(seconds=offset)


def parse_header_block(raw_headers: bytes) -> Message | None:
    """The header block as a message, or None when even the parser gives up.

    compat32 keeps header values as raw strings: every field is decoded here on demand,
    which is ten times faster than the structured headers of ``policy.default`` on a
    first sync of tens of thousands of mails.
    """
    try:
        return email.message_from_bytes(raw_headers, policy=email.policy.compat32)
    except Exception:  # the parser is lenient, but "never raise" is our contract
        return None


def message_header(raw: bytes) -> Message | None:
    """The header block of a whole message (everything above the first empty line)."""
    return parse_header_block(raw.split(b"\r\n\r\n", 1)[0].split(b"\n\n", 1)[0])


def authentication_results(raw: bytes) -> list[str]:
    """Every ``Authentication-Results`` field (RFC 8601) of a message, unfolded, in the
    order of the header: the topmost, added last, first."""
    msg = message_header(raw)
    if msg is None:
        return []
    return [" ".join(str(value).split()) for value in msg.get_all("Authentication-Results", [])]


# --- body text -------------------------------------------------------------------------

_BLOCK_TAGS = frozenset(
    {"p", "div", "br", "li", "tr", "table", "ul", "ol", "h1", "h2", "h3", "h4", "h5", "h6"}
    | {"blockquote", "pre", "hr", "section", "article", "header", "footer"}
)
_SKIP_TAGS = frozenset({"style", "script", "head", "title", "template"})


class _TextExtractor(HTMLParser):
    """Collects the visible text of an HTML body as lines; blockquotes become "> " lines."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.lines: list[str] = []
        self._buffer: list[str] = []
        self._skip = 0
        self._quote = 0
        self._line_quote = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIP_TAGS:
            self._skip += 1
        elif tag in _BLOCK_TAGS:
            self._break(tag)
            if tag == "blockquote":
                self._quote += 1

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _BLOCK_TAGS:
            self._break(tag)

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIP_TAGS:
            self._skip = max(0, self._skip - 1)
        elif tag in _BLOCK_TAGS and tag != "br":
            self._break(tag)
            if tag == "blockquote":
                self._quote = max(0, self._quote - 1)

    def handle_data(self, data: str) -> None:
        if self._skip:
            return
        if data.strip() and not "".join(self._buffer).strip():
            self._line_quote = self._quote
        self._buffer.append(data)

    def _break(self, tag: str) -> None:
        """End the current line; <br> on an empty line and </p> leave a blank line."""
        text = " ".join("".join(self._buffer).split())
        self._buffer = []
        if text:
            self.lines.append("> " * self._line_quote + text)
        if (tag == "br" and not text) or tag == "p":
            self.lines.append("")

    def text(self) -> str:
        self._break("")
        return _squeeze_blank_lines(self.lines)


def _squeeze_blank_lines(lines: list[str]) -> str:
    """Join lines; at most one blank line in a row, none at the ends."""
    out: list[str] = []
    for line in lines:
        if line or (out and out[-1]):
            out.append(line)
    return "\n".join(out).strip("\n")


def html_to_text(html: str) -> str:
    """Visible text of an HTML mail body: style/script dropped, block tags → line breaks."""
    parser = _TextExtractor()
    try:
        parser.feed(html)
        parser.close()
    except Exception:  # html.parser is lenient; this guards the "never raise" promise
        pass
    return parser.text()


def _part_text(part: Message) -> str:
    """The decoded text of one MIME part (RFC 2045 transfer encodings, charset)."""
    try:
        payload = part.get_payload(decode=True)
    except Exception:  # broken base64 / quoted-printable
        payload = None
    if isinstance(payload, bytes):
        text = _decode_bytes(payload, part.get_content_charset())
    else:
        raw = part.get_payload()
        text = raw if isinstance(raw, str) else ""
    return text.replace("\r\n", "\n").replace("\r", "\n")


def _body_part(msg: EmailMessage) -> MIMEPart | None:
    """The part a human wrote: text/plain preferred, else text/html (RFC 2046 alternative)."""
    try:
        body = msg.get_body(preferencelist=("plain", "html"))
    except Exception:  # malformed multipart structure
        body = None
    if body is not None:
        return body
    for part in msg.walk():
        if part.get_content_maintype() == "text" and not part.is_attachment():
            return part if isinstance(part, MIMEPart) else None
    return None


def plain_text(raw_message: bytes) -> str:
    """The text a human wrote in a mail, as str; "" when there is none.

    The text/plain part wins over text/html (RFC 2046 §5.1.4 multipart/alternative);
    HTML is converted to text (blockquotes become "> " lines so that quote stripping
    works). Transfer encodings (RFC 2045) and charsets are decoded; wrong or unknown
    charsets fall back to UTF-8 / Windows-1252 with replacement characters.
    """
    try:
        msg = email.message_from_bytes(raw_message, policy=email.policy.default)
    except Exception:  # never raise on bad input
        return ""
    if not isinstance(msg, EmailMessage):
        return ""
    part = _body_part(msg)
    if part is None:
        return ""
    text = _part_text(part)
    if part.get_content_subtype() == "html":
        return html_to_text(text)
    return text.strip("\n")
