"""The owner's reply to a draft, parsed (docs/DESIGN.md, "Approval by reply").

Each draft mailed to the owner carries a secret token in its subject (``[NF-<token>]``,
80 random bits). Only a reply that carries the token of a pending draft counts; comparing
the token with the stored one (:func:`token_matches`) and checking that the reply comes
from the owner's address is the caller's job. This module only reads text:

* :func:`find_token` — the token in a (RFC 2047-decoded) subject;
* :func:`strip_quote` — the part of the reply above the quoted draft, without signature
  (quote markers live in :mod:`nachfass_bot.mail.quotes`);
* :func:`parse_command` — the owner's command in that part ("ok", "stop", "später 7" …).

Pure: no clock (``today`` is an argument), no I/O.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from datetime import date

from nachfass_bot.domain.dates import in_date_window
from nachfass_bot.domain.models import CommandKind
from nachfass_bot.mail.headers import decode_words
from nachfass_bot.mail.quotes import split_quote, strip_signature
from nachfass_bot.mail.returndate import calendar_day

__all__ = [
    "TOKEN_TAG_RE",
    "Command",
    "CommandKind",
    "authentication_failed",
    "find_token",
    "new_token",
    "parse_command",
    "parse_owner_request",
    "strip_quote",
    "token_matches",
    "token_tag",
]

_TOKEN_BYTES = 10  # 80 bits

# "[NF-<20 hex digits>]"; whitespace inside is tolerated because sloppy RFC 2047 decoders
# leave the space between two encoded words of a folded subject (RFC 2047 §6.2).
TOKEN_TAG_RE: re.Pattern[str] = re.compile(
    r"\[\s*NF\s*-\s*((?:[0-9a-f]\s*){19}[0-9a-f])\s*\]", re.IGNORECASE
)


def new_token() -> str:
    """A fresh secret token: 80 random bits as 20 lower-case hex digits."""
    return secrets.token_hex(_TOKEN_BYTES)


def token_tag(token: str) -> str:
    """The subject tag for a token: ``[NF-<token>]``."""
    return f"[NF-{token}]"


def find_token(subject: str) -> str | None:
    """The token in a reply's subject ("Re: AW: [NF-…] Entwurf …"), lower-cased.

    Case-insensitive; still RFC 2047-encoded words are decoded first. None when there is
    no well-formed tag, and None when the subject carries two *different* tokens — which
    draft was meant would be a guess.
    """
    if not subject:
        return None
    text = decode_words(subject) if "=?" in subject else subject
    tokens = {re.sub(r"\s", "", found).lower() for found in TOKEN_TAG_RE.findall(text)}
    return tokens.pop() if len(tokens) == 1 else None


def token_matches(found: str | None, expected: str) -> bool:
    """Constant-time comparison of a found token with the stored one."""
    if not found or not expected:
        return False
    return secrets.compare_digest(found.lower().encode(), expected.lower().encode())


# --- quote stripping -------------------------------------------------------------------


def strip_quote(text: str) -> str:
    """The part of a reply above the quoted mail, without signature; stripped.

    Cuts at the first line that starts a quote (:func:`nachfass_bot.mail.quotes.split_quote`:
    ">" lines, "Am … schrieb …:", "On … wrote:", "-----Ursprüngliche Nachricht-----",
    "-----Original Message-----", Outlook's "Von: …" block followed by "Gesendet:"/"Sent:",
    a line of underscores …), then drops a trailing "-- " signature (RFC 3676 §4.3) and a
    "Von meinem iPhone gesendet" footer (:func:`nachfass_bot.mail.quotes.strip_signature`).
    """
    top, _ = split_quote(text)
    return strip_signature(top)


# --- commands --------------------------------------------------------------------------


@dataclass(frozen=True)
class Command:
    """The owner's command; ``days`` or ``until`` for LATER, ``text`` for UNKNOWN."""

    kind: CommandKind
    days: int | None = None
    until: date | None = None
    text: str = ""


_WORDS: dict[str, CommandKind] = {
    "ok": CommandKind.APPROVE,
    "okay": CommandKind.APPROVE,
    "o.k": CommandKind.APPROVE,
    "ja": CommandKind.APPROVE,
    "senden": CommandKind.APPROVE,
    "yes": CommandKind.APPROVE,
    "stop": CommandKind.STOP,
    "stopp": CommandKind.STOP,
    "nein": CommandKind.STOP,
    "no": CommandKind.STOP,
    "bezahlt": CommandKind.PAID,
    "erledigt": CommandKind.DONE,
    "done": CommandKind.DONE,
}
# Politeness around a command word does not change it: "ok danke", "nein bitte".
_FILLERS = frozenset({"bitte", "danke"})

_LATER = r"^sp(?:ä|ae|a)ter\s*:?\s*"
_LATER_DAYS_RE = re.compile(
    _LATER + r"(?:in\s+)?(?P<count>\d{1,3})\s*(?P<unit>tagen|tage|tag|t|days|day|d"
    r"|wochen|woche|w|weeks|week)?[\W_]*$"
)
_LATER_DATE_RE = re.compile(
    _LATER + r"(?:bis\s+(?:zum\s+)?|am\s+)?(?P<day>\d{1,2})\.(?P<month>\d{1,2})"
    r"(?:\.(?P<year>\d{4}|\d{2})?)?[\W_]*$"
)
MAX_LATER_DAYS = 365


def _first_line(top: str) -> str:
    """The first non-empty line, case-folded and stripped."""
    for line in top.split("\n"):
        if line.strip():
            return line.strip().casefold()
    return ""


def _word_command(line: str) -> CommandKind | None:
    """APPROVE / STOP / PAID when the line is one command word (plus fillers, emoji)."""
    words = re.findall(r"[\w.]+", line)
    words = [word.strip(".") if word != "o.k." else "o.k" for word in words]
    kinds = {_WORDS.get(word) for word in words if word and word not in _FILLERS}
    if len(kinds) != 1 or None in kinds:
        return None
    return kinds.pop()


def _later_days(line: str) -> int | None:
    """ "später 7", "später 7 Tage", "später 2 Wochen" → days; None if not that form."""
    match = _LATER_DAYS_RE.match(line)
    if match is None:
        return None
    count = int(match.group("count"))
    unit = match.group("unit") or "t"
    days = count * 7 if unit.startswith("w") else count
    return days if 1 <= days <= MAX_LATER_DAYS else None


def _later_date(line: str, today: date) -> date | None:
    """ "später 12.01." (next 12 January on or after today) or "später 12.01.2027"."""
    match = _LATER_DATE_RE.match(line)
    if match is None:
        return None
    day, month, year = int(match.group("day")), int(match.group("month")), match.group("year")
    return _future_date(day, month, year, today)


def parse_command(body: str, *, today: date) -> Command:
    """The owner's command in a reply body (plain text; quotes are stripped here).

    Only the first non-empty line above the quote counts, case-insensitive, trailing
    punctuation and emoji ignored: ok/okay/ja/senden/yes → APPROVE; stop/stopp/nein/no →
    STOP; bezahlt → PAID; "später 7", "spaeter 7 Tage", "später 2 Wochen" → LATER with
    ``days`` (1–365); "später 12.01." → LATER ``until`` the next 12 January on or after
    ``today``; "später 12.01.2027" → that date (a past date, or one outside the date
    window of :mod:`nachfass_bot.domain.dates`, is UNKNOWN). Anything else,
    e.g. "ok, aber bitte ändere den zweiten Satz", is UNKNOWN with ``text`` = the whole
    stripped top part, for the caller to show or to treat as an edited draft.
    """
    top = strip_quote(body)
    line = _first_line(top)
    kind = _word_command(line)
    if kind is not None:
        return Command(kind)
    until = _later_date(line, today)
    if until is not None:
        return Command(CommandKind.LATER, until=until)
    days = _later_days(line)
    if days is not None:
        return Command(CommandKind.LATER, days=days)
    if _is_edited_text(top):
        return Command(CommandKind.EDIT, text=top)
    return Command(CommandKind.UNKNOWN, text=top)


# An edited draft is a whole mail: it opens with a greeting and says something. A remark
# to the bot ("ok, aber bitte ändere den zweiten Satz") does not, and must never reach
# the client.
_GREETING_RE = re.compile(
    r"^(?:guten\s+(?:tag|morgen|abend)|hallo|hi|moin|servus|liebe[rs]?|sehr\s+geehrte[rs]?"
    r"|grüß\s+gott|gruess\s+gott|grüezi)\b",
    re.IGNORECASE,
)
MIN_EDIT_WORDS = 8


def _is_edited_text(top: str) -> bool:
    first = _first_line(top)
    return bool(_GREETING_RE.match(first)) and len(re.findall(r"\w+", top)) >= MIN_EDIT_WORDS


_VACATION_RE = re.compile(
    r"^urlaub\s*(?:bis\s+(?:zum\s+|einschl(?:ießlich|\.)?\s+)?)?"
    r"(?P<day>\d{1,2})\.(?P<month>\d{1,2})\.(?P<year>\d{4}|\d{2})?[\W_]*$"
)


def parse_owner_request(subject: str, body: str, *, today: date) -> Command | None:
    """A mail from the owner to the bot that answers no draft: "urlaub bis 06.01." (in
    the subject or the first line) → VACATION ``until`` that day, or UNKNOWN with the
    line as ``text`` when that day is impossible, past or outside the date window;
    "status" → STATUS; anything else → None (an ordinary mail the owner sent to herself)."""
    for line in (_first_line(subject), _first_line(strip_quote(body))):
        if line.rstrip(".!") == "status":
            return Command(CommandKind.STATUS)
        match = _VACATION_RE.match(line)
        if match:
            day, month, year = int(match["day"]), int(match["month"]), match["year"]
            until = _future_date(day, month, year, today)
            if until is None:  # a vacation, but no day we can use: say so
                return Command(CommandKind.UNKNOWN, text=line)
            return Command(CommandKind.VACATION, until=until)
    return None


def _future_date(day: int, month: int, year: str | None, today: date) -> date | None:
    """The day named, on or after ``today`` and inside the date window
    (:mod:`nachfass_bot.domain.dates`); None when there is no such day."""
    if year is not None:
        candidate = calendar_day(int(year) + 2000 if len(year) == 2 else int(year), month, day)
    else:  # the next such day; 29.02. may be up to 8 years away
        upcoming = (calendar_day(today.year + offset, month, day) for offset in range(9))
        candidate = next((d for d in upcoming if d is not None and d >= today), None)
    if candidate is None or candidate < today or not in_date_window(candidate, today):
        return None
    return candidate


# --- Authentication-Results (RFC 8601) -------------------------------------------------

_AUTH_FAIL_RE = re.compile(
    r"\b(?P<method>dkim|spf|dmarc)\s*=\s*(?P<result>fail|softfail|permerror)\b"
    r"(?P<props>[^;]*)",
    re.IGNORECASE,
)


def authentication_failed(results: list[str], from_domain: str) -> str | None:
    """The failed check ("dmarc=fail") that the receiving server recorded for the From
    domain, or None. DMARC failing, or DKIM/SPF failing for that domain, disqualifies a
    command: somebody else wrote "ok" in the owner's name (RFC 8601, RFC 7489)."""
    domain = from_domain.lower()
    for header in results:
        for match in _AUTH_FAIL_RE.finditer(header):
            method = match["method"].lower()
            props = match["props"].lower()
            mentions = domain in props
            if method == "dmarc" or mentions:
                return f"{method}={match['result'].lower()}"
    return None
