"""The owner's reply to a draft, parsed (docs/DESIGN.md, "Approval by reply").

Each draft mailed to the owner carries a secret token in its subject (``[NF-<token>]``,
80 random bits). Only a reply that carries the token of a pending draft counts; looking
the token up is the caller's job. This module reads the mail:

* :func:`check_reply` — may this reply act at all: exactly the owner as sender, no failed
  authentication, and which token it names (:func:`command_token`: the subject's, and
  only when nothing in the mail names another);
* :func:`find_token` — the token in a (RFC 2047-decoded) subject;
* :func:`parse_command` — the owner's command in the own text above the quoted draft
  ("ok", "stop", "später 7", an edited draft …); the cut is
  :func:`nachfass_bot.mail.owntext.own_text`.

Pure: no clock (``today`` is an argument), no I/O.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

import authres
import authres.dmarc

from nachfass_bot.domain.dates import in_date_window
from nachfass_bot.domain.models import CommandKind
from nachfass_bot.domain.money import parse_amount
from nachfass_bot.errors import InvalidAddress, InvalidAmount
from nachfass_bot.mail.address import parse_address
from nachfass_bot.mail.headers import (
    all_raw_headers,
    authentication_results,
    clean_line,
    decode_words,
    message_header,
    plain_text,
    sole_address,
)
from nachfass_bot.mail.owntext import own_text
from nachfass_bot.mail.quotes import split_quote, strip_signature
from nachfass_bot.mail.returndate import calendar_day

__all__ = [
    "TOKEN_TAG_RE",
    "Command",
    "CommandKind",
    "ReplyCheck",
    "authentication_failed",
    "check_reply",
    "command_token",
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


def command_token(subject: str, body: str) -> str | None:
    """The token a reply names: the one in its subject, lower-cased.

    None when the subject has no tag or two different ones (:func:`find_token`), and None
    when the body carries a tag with another token: which draft was meant would be a
    guess. A token in the body alone names nothing — the quoted draft carries its token,
    so the body proves no more than that somebody has seen the draft. The same token in
    the quoted draft is fine.
    """
    token = find_token(subject)
    if token is None:
        return None
    in_body = {re.sub(r"\s", "", found).lower() for found in TOKEN_TAG_RE.findall(body)}
    return token if in_body <= {token} else None


def token_matches(found: str | None, expected: str) -> bool:
    """Constant-time comparison of a found token with the stored one."""
    if not found or not expected:
        return False
    return secrets.compare_digest(found.lower().encode(), expected.lower().encode())


# --- quote stripping -------------------------------------------------------------------


def strip_quote(text: str) -> str:
    """The part of a reply above the quoted mail, without signature; stripped.

    Cuts at the first line that starts a quote (:func:`nachfass_bot.mail.quotes.split_quote`:
    ">" lines, "Am … schrieb …:", "On … wrote:", "Le … a écrit :", "-----Ursprüngliche
    Nachricht-----", Outlook's "Von: …" block followed by "Gesendet:"/"Sent:", a line of
    underscores …), then drops a trailing "-- " signature (RFC 3676 §4.3) and a "Von meinem
    iPhone gesendet" footer (:func:`nachfass_bot.mail.quotes.strip_signature`). Generic,
    for any mail to the bot; a reply to a draft is cut by :func:`own_text`, which also
    knows the bot's notice text and the draft (:mod:`nachfass_bot.mail.owntext`).
    """
    top, _ = split_quote(text)
    return strip_signature(top)


# --- commands --------------------------------------------------------------------------


@dataclass(frozen=True)
class Command:
    """The owner's command; ``days`` or ``until`` for LATER, ``text`` for EDIT and
    UNKNOWN; ``unclear_cut`` for an UNKNOWN whose own text could not be cut cleanly from
    the quoted draft (:class:`OwnText`): the owner is asked to send only the new text."""

    kind: CommandKind
    days: int | None = None
    until: date | None = None
    text: str = ""
    unclear_cut: bool = False
    amount: Decimal | None = None  # PAID: "bezahlt 500" is a partial payment of 500,00 €


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
_PAID_AMOUNT_RE = re.compile(
    r"^bezahlt\s*:?\s+(?P<amount>(?:€\s*)?\d[\d.,\s]*(?:\s*(?:€|eur))?)[\s.!]*$"
)


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


def parse_command(body: str, *, today: date, draft_body: str = "", token: str = "") -> Command:
    """The owner's command in a reply to a draft (plain text; the quote is cut here by
    :func:`own_text`, with the draft's text and token when the caller has them).

    Only the first non-empty line of the own text counts, case-insensitive, trailing
    punctuation and emoji ignored: ok/okay/ja/senden/yes → APPROVE; stop/stopp/nein/no →
    STOP; bezahlt → PAID; "bezahlt 500", "bezahlt 1.190,00 €" → PAID with ``amount`` (a
    partial payment, read by :func:`parse_amount`); "später 7", "spaeter 7 Tage", "später 2
    Wochen" → LATER with ``days`` (1–365); "später 12.01." → LATER ``until`` the next 12
    January on or after ``today``; "später 12.01.2027" → that date (a past date, or one
    outside the date window of :mod:`nachfass_bot.domain.dates`, is UNKNOWN). A whole mail
    that opens with a greeting is EDIT with ``text`` = the own text — only when it was cut
    cleanly, else UNKNOWN with ``unclear_cut``. Anything else, e.g. "ok, aber bitte ändere
    den zweiten Satz", is UNKNOWN with ``text`` = the own text, for the caller to show.
    """
    own = own_text(body, draft_body=draft_body, token=token)
    top = own.text
    line = _first_line(top)
    kind = _word_command(line)
    if kind is not None:
        return Command(kind)
    paid = _PAID_AMOUNT_RE.match(line)
    if paid is not None:
        try:
            return Command(CommandKind.PAID, amount=parse_amount(paid.group("amount")))
        except InvalidAmount:
            return Command(CommandKind.UNKNOWN, text=top)
    until = _later_date(line, today)
    if until is not None:
        return Command(CommandKind.LATER, until=until)
    days = _later_days(line)
    if days is not None:
        return Command(CommandKind.LATER, days=days)
    if own.clean and _is_edited_text(top):
        return Command(CommandKind.EDIT, text=top)
    return Command(CommandKind.UNKNOWN, text=top, unclear_cut=not own.clean)


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


_RESUME_RE = re.compile(r"^(?:weiter|fortsetzen)\b[\s:,]*(?P<rest>.*)$", re.IGNORECASE)


@dataclass(frozen=True)
class ResumeRequest:
    """ "weiter" in answer to a bounce alert: go on, at ``address`` when one is given;
    ``problem`` (German) when the address given is none."""

    address: str | None = None
    problem: str | None = None


def parse_resume(body: str) -> ResumeRequest | None:
    """ "weiter" or "weiter neue@adresse.de" on the first line of the own text above the
    quote; None for anything else. The address is checked by :func:`parse_address`."""
    own = strip_quote(body).strip()
    match = _RESUME_RE.match(own.splitlines()[0].strip()) if own else None
    if match is None:
        return None
    rest = match["rest"].strip().rstrip(".!")
    if not rest:
        return ResumeRequest()
    try:
        return ResumeRequest(address=parse_address(rest))
    except InvalidAddress as exc:
        return ResumeRequest(problem=str(exc))


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


# --- who may command: sender, authentication, token ------------------------------------


@dataclass(frozen=True)
class ReplyCheck:
    """What the header of a mail from the owner's address allows.

    ``token`` is the draft token the mail names (:func:`command_token`), None for none;
    ``refusal`` says in German why the mail must not act at all, None when it may.
    """

    token: str | None
    refusal: str | None


def check_reply(raw: bytes, owner_email: str) -> ReplyCheck:
    """May this mail command the bot, and which draft does it name?

    Refused unless the From field names the owner and nobody else
    (:func:`nachfass_bot.mail.headers.sole_address`: one field, one mailbox, no other
    address in the display name), and unless the trusted ``Authentication-Results``
    record no failure for the owner's domain (:func:`authentication_failed`). The token
    comes from the one Subject field only.
    """
    header = message_header(raw)
    if header is None:
        return ReplyCheck(None, "der Kopf der Mail ist nicht lesbar")
    subjects = all_raw_headers(header, "Subject")
    subject = clean_line(decode_words(subjects[0])) if len(subjects) == 1 else ""
    token = command_token(subject, plain_text(raw))
    owner = owner_email.strip().lower()
    if sole_address(all_raw_headers(header, "From")) != owner:
        return ReplyCheck(token, "die Absenderzeile nennt nicht eindeutig nur Deine Adresse")
    failure = authentication_failed(authentication_results(raw), owner.rpartition("@")[2])
    if failure:
        return ReplyCheck(token, f"die Prüfung des Absenders ist gescheitert ({failure})")
    return ReplyCheck(token, None)


# --- Authentication-Results (RFC 8601) -------------------------------------------------

# Results that say the sender is not who the From field claims (RFC 8601 §2.7, RFC 7489;
# "compauth" is Microsoft's composite check). "hardfail" is RFC 4408's old name for fail.
_FAILING = frozenset({"fail", "softfail", "permerror", "hardfail"})
_WHOLE_MESSAGE_METHODS = frozenset({"dmarc", "compauth"})
# Where DKIM and SPF name the domain they checked.
_DOMAIN_PROPERTIES = {"dkim": (("header", "d"), ("header", "i")), "spf": (("smtp", "mailfrom"),)}
_AUTHRES = authres.FeatureContext(authres.dmarc)
# Stands in for the authserv-id a field leaves out (RFC 2606 reserves .invalid).
_MISSING_AUTHSERV_ID = "authserv-id.invalid"


@dataclass(frozen=True)
class _Results:
    """One Authentication-Results field: who wrote it, and its (method, result, props)."""

    authserv_id: str
    results: tuple[tuple[str, str, dict[tuple[str, str], str]], ...]


def _parse_results(value: str) -> _Results | None:
    """One unfolded field value parsed by ``authres`` (comments, quoted strings, case),
    None when it cannot be read.

    Microsoft 365 leaves out the authserv-id ("spf=pass (…) smtp.mailfrom=…; dkim=…"):
    such a field is read with a stand-in id, the same for every such field.
    """
    for text in (value, f"{_MISSING_AUTHSERV_ID}; {value}"):
        try:
            parsed = _AUTHRES.parse_value(text)
        except Exception:  # authres raises its own SyntaxError and, on odd input, others
            continue
        results = tuple(
            (
                str(result.method).lower(),
                str(result.result).lower(),
                {
                    (str(p.type).lower(), str(p.name).lower()): str(p.value)
                    for p in result.properties
                },
            )
            for result in parsed.results
        )
        return _Results(str(parsed.authserv_id).lower(), results)
    return None


def _names_domain(value: str, domain: str) -> bool:
    """A checked identity ("anna@Berger.de", "@berger.de", "mail.berger.de") belongs to
    the domain, or the domain to it (relaxed alignment, RFC 7489 §3.1)."""
    checked = value.strip().strip('"').rpartition("@")[2].strip().rstrip(".").lower()
    if "." not in checked:
        return False
    return checked == domain or checked.endswith("." + domain) or domain.endswith("." + checked)


def authentication_failed(results: Sequence[str], from_domain: str) -> str | None:
    """The failed check ("dmarc=fail") a trusted server recorded for the sender, or None.

    ``results`` are the Authentication-Results fields top to bottom
    (:func:`nachfass_bot.mail.headers.authentication_results`). Trust rule, as the bot
    has no configured authserv-id: only the fields carrying the authserv-id of the
    topmost readable field count. That field was added last, by the server that
    delivered the mail into the owner's mailbox; RFC 8601 §5 has that server drop fields
    which claim its own id, and §7.1 says fields of any other id (earlier hops, or
    written by the sender himself) are to be ignored. A field forged with the trusted id
    can only add a failure, never hide one: every failure among the trusted fields counts.

    Failing: DMARC or Microsoft's compauth (fail, softfail, permerror), or DKIM/SPF for
    the From domain. Then somebody else may have written "ok" in the owner's name
    (RFC 7489). Unreadable fields are skipped.
    """
    domain = from_domain.strip().lower()
    readable = [parsed for parsed in map(_parse_results, results) if parsed is not None]
    if not readable:
        return None
    trusted = readable[0].authserv_id
    for field in readable:
        if field.authserv_id != trusted:
            continue
        for method, result, properties in field.results:
            if result not in _FAILING:
                continue
            named = [properties.get(key, "") for key in _DOMAIN_PROPERTIES.get(method, ())]
            if method in _WHOLE_MESSAGE_METHODS or any(_names_domain(v, domain) for v in named):
                return f"{method}={result}"
    return None
