"""The owner's own text in a reply to a draft: where the quoted draft notice begins.

docs/DESIGN.md, "Edited drafts": an edited draft is sent only when it can be cut
cleanly from the quoted notice, and nothing of the notice — its sentences, the draft's
token — may ever reach a client. Mail programs quote in their own ways
(:mod:`nachfass_bot.mail.quotes` knows the markers and headers); some quote without any
mark, and some owners paste the draft below their text. So the quote is found three ways,
the earliest wins:

* a quote marker or header of any language (:func:`nachfass_bot.mail.quotes.quote_line`);
* a sentence of the bot's own notice or a token tag (:data:`NOTICE_PHRASES`);
* a verbatim copy of the draft that ends the reply.

Then the cut is checked (:class:`OwnText`); a cut that is not clean is never sent.

Pure: text in, text out, never raises.
"""

from __future__ import annotations

import re
import unicodedata
from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass

from nachfass_bot.mail.quotes import quote_line, strip_signature, text_lines

__all__ = ["NOTICE_PHRASES", "OwnText", "own_text"]

# Sentences of the mails the bot writes about a draft (templates/de/owner_draft.txt and
# owner_not_understood.txt; tests/test_approval.py checks that each still stands there).
# Where one of them begins, the quoted notice begins; none may reach a client.
NOTICE_PHRASES: tuple[str, ...] = (
    "ist der nächste Schritt fällig",
    "Unten steht mein Entwurf",
    "Nach Deinem Ok geht er",
    "Antworte einfach auf diese Mail",
    "Der Entwurf geht so raus, wie er unten steht",
    "Dieser Schritt entfällt, und der Vorgang wird geschlossen",
    "Ich frage Dich in 7 Tagen noch einmal",
    "Die Rechnung ist beglichen, der Vorgang wird geschlossen",
    "Es zählen nur die ersten Zeilen über dem zitierten Text",
    "----- Entwurf -----",
    'Deine Antwort auf den Entwurf "',
    'In Deiner Antwort auf den Entwurf "',
    "Es wurde nichts gesendet; der Entwurf wartet weiter auf Dich",
    "schreib eines dieser Wörter in die erste Zeile",
    "bitte nur den neuen Text schicken",
)
# How the paragraphs of those mails begin, and their greeting line.
_NOTICE_OPENERS = (
    "hallo,", "für ", "nach deinem ok", "antworte ", "- ", "es zählen nur", "----- entwurf",
    "betreff:", "deine antwort", "in deiner antwort", "deinen neuen text",
    "es wurde nichts gesendet",
)  # fmt: skip
_NOTICE_GREETING = "hallo,"
# A token tag or a bare token, even mangled: never part of a client mail.
_TRACE_RE = re.compile(r"\[\s*nf\s*-|\bnf\s*-\s*[0-9a-f]{8}", re.IGNORECASE)
_QUOTE_CHARS = str.maketrans(dict.fromkeys("„“”«»", '"') | dict.fromkeys("‚‘’", "'"))
# Below a cut: an attribution or a header block alone needs no proof that it quotes the
# draft; more text does.
_BARE_QUOTE_LINES = 5
_MIN_DRAFT_LINE_WORDS = 3


def _normalized(text: str) -> str:
    """For comparing text: NFC, case-folded, typographic quotes plain, whitespace single."""
    folded = unicodedata.normalize("NFC", text).casefold().translate(_QUOTE_CHARS)
    return " ".join(folded.split())


_PHRASES = tuple(_normalized(phrase) for phrase in NOTICE_PHRASES)


@dataclass(frozen=True)
class OwnText:
    """The owner's own text in a reply, and whether it was cut cleanly from the quote.

    ``clean`` is False when the cut is not certain: the owner wrote into or below the
    quote, the part cut off does not show the draft, or the text still holds a token or
    a sentence of the bot's notice. Such a text must never be sent.
    """

    text: str
    clean: bool


def own_text(body: str, *, draft_body: str = "", token: str = "") -> OwnText:
    """The owner's own text above the quoted draft notice, without signature.

    The quote starts at the earliest of: a quote marker or header of any language
    (:func:`nachfass_bot.mail.quotes.quote_line`); a sentence of the bot's notice or a
    token tag (:data:`NOTICE_PHRASES`, also with no ``>`` and no header at all: the
    notice's paragraph and its "Hallo," go with it); a verbatim copy of ``draft_body``
    that ends the reply. Then the signature goes (:func:`strip_signature`). See
    :class:`OwnText` for when the cut is not clean; ``token`` is the draft's, looked for
    bare as well.
    """
    lines = text_lines(body)
    cut, clean = len(lines), True
    quoted = quote_line(lines)
    if quoted is not None:
        cut = quoted
    marker = _first_marker(lines)
    if marker is not None:
        start, certain = _notice_start(lines, marker)
        if start < cut:
            cut, clean = start, certain
    copy = _draft_copy(lines, draft_body)
    if copy is not None and copy < cut:
        cut = copy
    text = strip_signature("\n".join(lines[:cut]))
    clean = (
        clean
        and not _interleaved(lines, cut)
        and _shows_draft(lines[cut:], draft_body)
        and not _leftovers(text, token=token, draft_body=draft_body)
    )
    return OwnText(text, clean)


def _first_marker(lines: Sequence[str]) -> int | None:
    """The line where the first notice sentence or token tag begins (lines joined first,
    so a sentence wrapped over two lines is found too)."""
    starts: list[int] = []
    parts: list[str] = []
    offset = 0
    for line in lines:
        starts.append(offset)
        parts.append(_normalized(line))
        offset += len(parts[-1]) + 1
    joined = " ".join(parts)
    found = [position for position in map(joined.find, _PHRASES) if position >= 0]
    trace = _TRACE_RE.search(joined)
    if trace is not None:
        found.append(trace.start())
    return bisect_right(starts, min(found)) - 1 if found else None


def _notice_start(lines: Sequence[str], marker: int) -> tuple[int, bool]:
    """Where the notice around its first marker line begins, and whether that is certain.

    The notice begins with its marker's paragraph, and with the "Hallo," above it. A
    paragraph that begins with anything but a line of the notice holds the owner's own
    text as well (no blank line between them, or the owner wrote into the notice): not
    certain.
    """
    start = marker
    while start > 0 and lines[start - 1].strip():
        start -= 1
    first = _normalized(lines[start])
    certain = first.startswith(_NOTICE_OPENERS + _PHRASES) or bool(_TRACE_RE.match(first))
    above = start
    while above > 0 and not lines[above - 1].strip():
        above -= 1
    if above > 0 and _normalized(lines[above - 1]) == _NOTICE_GREETING:
        start = above - 1
    return start, certain


def _draft_copy(lines: Sequence[str], draft_body: str) -> int | None:
    """The line where a verbatim copy of the draft starts, when the reply ends with one
    below some text of its own (words compared, so a rewrapped copy counts too)."""
    draft_words = _normalized(draft_body).split()
    if not draft_words:
        return None
    words = [
        (word, index) for index, line in enumerate(lines) for word in _normalized(line).split()
    ]
    if len(words) <= len(draft_words):
        return None
    tail = words[-len(draft_words) :]
    if [word for word, _ in tail] != draft_words:
        return None
    first = tail[0][1]
    # A copy that starts inside a line of the owner's text is no clean cut.
    return first if words[-len(draft_words) - 1][1] < first else None


def _interleaved(lines: Sequence[str], cut: int) -> bool:
    """The owner wrote between or below the ">" lines of the quote (its signature aside)."""
    head = lines[cut : cut + _BARE_QUOTE_LINES]
    if not any(line.lstrip().startswith(">") for line in head):
        return False
    first = cut + next(i for i, line in enumerate(head) if line.lstrip().startswith(">"))
    for line in lines[first:]:
        if line.rstrip() in ("--", "-- "):
            return False
        if line.strip() and not line.lstrip().startswith(">"):
            return True
    return False


def _shows_draft(quote: Sequence[str], draft_body: str) -> bool:
    """The part cut off is the quoted draft: it holds a notice sentence, a token tag or a
    line of the draft — or it is no more than an attribution or header block."""
    if sum(1 for line in quote if line.strip()) <= _BARE_QUOTE_LINES:
        return True
    if _first_marker(quote) is not None:
        return True
    draft_lines = {
        _normalized(line)
        for line in text_lines(draft_body)
        if len(line.split()) >= _MIN_DRAFT_LINE_WORDS
    }
    return any(_normalized(line.lstrip("> \t")) in draft_lines for line in quote)


def _leftovers(text: str, *, token: str, draft_body: str) -> bool:
    """The text still holds a token, a notice sentence, or the draft's first line twice
    (the owner's text and a copy of the draft below it)."""
    normalized = _normalized(text)
    if _TRACE_RE.search(normalized) or (token and token.casefold() in normalized):
        return True
    if any(phrase in normalized for phrase in _PHRASES):
        return True
    opening = next((_normalized(line) for line in text_lines(draft_body) if line.strip()), "")
    return bool(opening) and sum(_normalized(line) == opening for line in text_lines(text)) > 1
