"""Where a mail's own text ends: the first quote of an earlier mail, and the signature.

The one place that knows how mail programs mark quoted text. Its readers:

* :mod:`nachfass_bot.mail.approval` — the owner's command is the text above the quoted draft;
* :mod:`nachfass_bot.mail.classify` — a mail that quotes an earlier one is no out-of-office
  note, and the original a bounce returns names addresses that did not fail;
* :mod:`nachfass_bot.mail.returndate` — a date in quoted text is not the sender's.

A quote starts at the first line that one of :data:`QUOTE_RULES` accepts (small rule
functions over the lines, as in flufl.bounce's one-detector-per-format design):

* ``>`` lines (Thunderbird, Gmail, Apple Mail plain text; HTML blockquotes after
  :func:`nachfass_bot.mail.headers.plain_text`);
* an attribution, "Am … schrieb …:" or "On … wrote:", possibly wrapped over three lines;
* a separator: "-----Ursprüngliche Nachricht-----", "-----Original Message-----",
  "-------- Weitergeleitete Nachricht --------", "---------- Forwarded message ---------",
  or Outlook's line of underscores;
* the returned original of a bounce: "------ This is a copy of the message …",
  "--- Below this line is a copy of the message.", "Kopie der Nachricht",
  "----- Original message follows -----";
* a header block without ``>`` marks: Outlook's "Von:/From:" followed by
  "Gesendet:/Sent:/Datum:/An:/Betreff:", or GMX/web.de's block that starts with
  "Gesendet:" and names "Von:" below; the same fields in French ("De :", "Envoyé :",
  "À :", "Objet :"), Spanish, Italian and Dutch.

Attributions and forward lines of other languages ("Le … a écrit :", "El … escribió:",
"Op … schreef …:", "Begin forwarded message:" …) come from the ``quotequail`` library: on
the corpus and the tests (``bench/quotes.py``) it finds those where our rules do not, and
misses ``>`` lines, header blocks and German separators, which our rules find. The quote
starts at the earlier of the two.

Pure: text in, text out, never raises.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

import quotequail

__all__ = [
    "QUOTE_RULES",
    "QuoteRule",
    "library_start",
    "quote_line",
    "rule_start",
    "split_quote",
    "strip_signature",
    "text_lines",
]

# A rule looks at the line ``index`` of all lines (some markers span several lines).
QuoteRule = Callable[[Sequence[str], int], bool]

_ATTRIBUTION_START_RE = re.compile(r"^\s*(?:am|on)\s", re.IGNORECASE)
# One line; the colon may be missing or wrapped away ("… schrieb Lena Berger <").
_ATTRIBUTION_LINE_RE = re.compile(r"^\s*(?:am|on)\s.{0,200}\b(?:schrieb|wrote)\b", re.IGNORECASE)
# Joined with the lines below it, ending in a colon.
_ATTRIBUTION_JOINED_RES = (
    re.compile(r"^\s*Am\s.+\sschrieb\b.*:\s*$", re.IGNORECASE),  # Thunderbird, Gmail, Apple
    re.compile(r"^\s*On\s.+\swrote:\s*$", re.IGNORECASE),  # English clients
)
_WRAP_LINES = 2  # Gmail wraps a long attribution line; look at up to 2 more lines
_SEPARATOR_RE = re.compile(
    r"^\s*-{2,}\s*(?:original|urspr|weitergeleitete|forwarded)", re.IGNORECASE
)
_UNDERSCORES_RE = re.compile(r"^\s*_{10,}\s*$")
_RETURNED_COPY_RE = re.compile(
    r"^\s*.{0,40}(?:copy\s+of\s+the\s+(?:original\s+)?message|kopie\s+der\s+(?:original)?nachricht"
    r"|below\s+this\s+line\s+is\s+a\s+copy|original\s+message\s+follows)",
    re.IGNORECASE,
)
# Header-block fields in German, English, French, Spanish, Italian and Dutch; French puts a
# (no-break) space before the colon.
_FROM_NAMES = r"von|from|de|da|van"
_SENT_NAMES = r"gesendet|sent|datum|date|envoy[ée]|enviado(?:\s+el)?|fecha|inviato|data|verzonden"
_NEXT_NAMES = _SENT_NAMES + r"|an|to|betreff|subject|[àa]|objet|para|asunto|oggetto|aan|onderwerp"
_FROM_FIELD_RE = re.compile(rf"^\s*\**(?:{_FROM_NAMES})\s*:\**\s*\S", re.IGNORECASE)
_SENT_FIELD_RE = re.compile(rf"^\s*\**(?:{_SENT_NAMES})\s*:", re.IGNORECASE)
_NEXT_FIELD_RE = re.compile(rf"^\s*\**(?:{_NEXT_NAMES})\s*:", re.IGNORECASE)
_HEADER_BLOCK_LINES = 4  # the fields of a header block follow within a few lines
_MOBILE_FOOTER_RE = re.compile(
    r"^\s*(?:Von meinem|Gesendet von meinem|Gesendet mit|Sent from my)\s.{1,60}$", re.IGNORECASE
)


def _quote_marker(lines: Sequence[str], index: int) -> bool:
    """Plain-text quotes: a line starting with ">"."""
    return lines[index].lstrip().startswith(">")


def _attribution(lines: Sequence[str], index: int) -> bool:
    """ "Am … schrieb …:" / "On … wrote:", possibly wrapped over the next lines.

    A wrapped attribution has no blank line inside and does not run into the next
    attribution: a signature line "Am Stadtgarten 3" above "Am 02.03.26 … schrieb …:"
    is not where the quote starts.
    """
    if not _ATTRIBUTION_START_RE.match(lines[index]):
        return False
    joined = lines[index].strip()
    if _ATTRIBUTION_LINE_RE.match(joined) or _ends_attribution(joined):
        return True
    for line in lines[index + 1 : index + 1 + _WRAP_LINES]:
        if not line.strip() or _ATTRIBUTION_START_RE.match(line):
            return False
        joined = f"{joined} {line.strip()}"
        if _ends_attribution(joined):
            return True
    return False


def _ends_attribution(joined: str) -> bool:
    """The joined lines form a whole attribution, ending in its colon."""
    return any(pattern.match(joined) for pattern in _ATTRIBUTION_JOINED_RES)


def _separator(lines: Sequence[str], index: int) -> bool:
    """ "-----Ursprüngliche Nachricht-----", "--- Forwarded message ---", underscores."""
    line = lines[index]
    return bool(_SEPARATOR_RE.match(line) or _UNDERSCORES_RE.match(line))


def _returned_copy(lines: Sequence[str], index: int) -> bool:
    """A bounce notice's "This is a copy of the message" line above the returned original."""
    return bool(_RETURNED_COPY_RE.match(lines[index]))


def _header_block(lines: Sequence[str], index: int) -> bool:
    """Outlook's "Von: … / Gesendet: …" block (no ">" marks); GMX/web.de put "Gesendet:" first.

    After "Von:" the next non-empty line must be a header field, or "Gesendet:"/"Sent:"
    must follow within a few lines; after "Gesendet:" a "Von:" must follow.
    """
    following = lines[index + 1 : index + 1 + _HEADER_BLOCK_LINES]
    if _FROM_FIELD_RE.match(lines[index]):
        filled = [line for line in following if line.strip()]
        if filled and _NEXT_FIELD_RE.match(filled[0]):
            return True
        return any(_SENT_FIELD_RE.match(line) for line in following)
    if _SENT_FIELD_RE.match(lines[index]):
        return any(_FROM_FIELD_RE.match(line) for line in following)
    return False


QUOTE_RULES: tuple[QuoteRule, ...] = (
    _quote_marker,
    _attribution,
    _separator,
    _returned_copy,
    _header_block,
)


def text_lines(text: str) -> list[str]:
    """The lines of a text; CRLF and lone CR count as line breaks, nothing else does."""
    return text.replace("\r\n", "\n").replace("\r", "\n").split("\n")


def rule_start(lines: Sequence[str]) -> int | None:
    """The first line any of :data:`QUOTE_RULES` accepts, None when none does."""
    for index in range(len(lines)):
        if any(rule(lines, index) for rule in QUOTE_RULES):
            return index
    return None


def library_start(lines: Sequence[str]) -> int | None:
    """The first line of an attribution or forward line ``quotequail`` knows, or None.

    Its patterns cover a dozen languages ("Le … a écrit :", "El … escribió:", "Op …
    schreef …:", "Den … skrev …:", "Begin forwarded message:" …), each possibly wrapped
    over two lines. A failure inside the library counts as no quote found.
    """
    text = "\n".join(lines)
    try:
        # limit: past it quotequail quotes everything; so that it never does, one more
        # than there are lines.
        parts = quotequail.quote(text, limit=len(lines) + 1, quote_intro_line=True)
    except Exception:  # never raise on bad input, whatever the library does
        return None
    if len(parts) < 2 or not parts[0][0]:
        return None
    return parts[0][1].count("\n") + 1 if parts[0][1] else 0


def quote_line(lines: Sequence[str]) -> int | None:
    """The index of the line where the quote of an earlier mail starts, None without one:
    the earlier of :func:`rule_start` and :func:`library_start`."""
    found = [index for index in (rule_start(lines), library_start(lines)) if index is not None]
    return min(found) if found else None


def split_quote(text: str) -> tuple[str, bool]:
    """The text above the first quote of an earlier mail (stripped), and whether one was found.

    The quote starts at :func:`quote_line`; see the module docstring for the markers.
    Text without a quote comes back whole (line breaks as ``\\n``), with False.
    """
    lines = text_lines(text)
    start = quote_line(lines)
    if start is None:
        return "\n".join(lines).strip(), False
    return "\n".join(lines[:start]).strip(), True


def strip_signature(text: str) -> str:
    """The text without its signature and mobile footer; stripped.

    Cuts at the first signature separator line "-- " (RFC 3676 §4.3; a bare "--" too),
    then drops a last line such as "Von meinem iPhone gesendet" or "Sent from my iPhone".
    """
    lines = text_lines(text)
    for index, line in enumerate(lines):
        if line.rstrip() == "--":
            lines = lines[:index]
            break
    while lines and not lines[-1].strip():
        lines = lines[:-1]
    if lines and _MOBILE_FOOTER_RE.match(lines[-1]):
        lines = lines[:-1]
    return "\n".join(lines).strip()
