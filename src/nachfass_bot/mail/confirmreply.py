"""The owner's answer to a "Neu aufgenommen" mail, parsed (docs/DESIGN.md, "Tracking
from the Sent folder").

The mail lists recognised sent mails by number. One instruction per line, case-insensitive:

* ``ok`` / ``ja`` — take all (``ok 1 3``: those) — needed with ``[tracking] sent = "ask"``;
* ``nein 2`` / ``stop 2`` — drop number 2 (``nein`` alone: all);
* ``du 1`` / ``sie 1`` — how number 1 is addressed;
* ``angebot 2`` / ``auftrag 2`` / ``rechnung 2`` — the kind, optionally with an
  invoice's facts: ``rechnung 1 fällig 31.03.``, ``rechnung 2 nr 2026-014 betrag
  1.190,00 fällig 31.03.2027``.

Pure: ``today`` is an argument; the caller checks the sender and the token.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from nachfass_bot.domain.dates import in_date_window
from nachfass_bot.domain.models import Kind
from nachfass_bot.domain.money import parse_amount
from nachfass_bot.errors import InvalidAmount
from nachfass_bot.mail.owntext import own_text
from nachfass_bot.mail.returndate import calendar_day

__all__ = ["ConfirmAction", "ConfirmCommand", "ConfirmReply", "parse_confirm_reply"]


class ConfirmAction(enum.StrEnum):
    ACCEPT = "accept"
    DROP = "drop"
    DU = "du"
    SIE = "sie"
    KIND = "kind"


@dataclass(frozen=True)
class ConfirmCommand:
    """One understood line; empty ``positions`` means every listed mail."""

    action: ConfirmAction
    positions: tuple[int, ...] = ()
    kind: Kind | None = None
    invoice_no: str | None = None
    amount: Decimal | None = None
    due_date: date | None = None


@dataclass(frozen=True)
class ConfirmReply:
    commands: tuple[ConfirmCommand, ...]
    not_understood: tuple[str, ...]  # lines that are no instruction, as written


_ACTION_WORDS = {
    "ok": ConfirmAction.ACCEPT,
    "okay": ConfirmAction.ACCEPT,
    "ja": ConfirmAction.ACCEPT,
    "nein": ConfirmAction.DROP,
    "stop": ConfirmAction.DROP,
    "stopp": ConfirmAction.DROP,
    "du": ConfirmAction.DU,
    "sie": ConfirmAction.SIE,
    "angebot": ConfirmAction.KIND,
    "auftrag": ConfirmAction.KIND,
    "rechnung": ConfirmAction.KIND,
}
_LINE_RE = re.compile(
    r"^(?P<word>[a-zäöü]+)\b[\s:]*(?P<numbers>(?:\d{1,3}(?:\s*(?:,|und|&)?\s*)?)*)(?P<rest>.*)$"
)
_DUE_RE = re.compile(
    r"\b(?:fällig|faellig|zahlbar\s+bis|bis)\s*(?:am\s+)?:?\s*"
    r"(?P<day>\d{1,2})\.(?P<month>\d{1,2})(?:\.(?P<year>\d{4}|\d{2})?)?\b"
)
_NUMBER_RE = re.compile(r"\b(?:nr\.?|nummer|rechnungsnummer)\s*:?\s*(?P<no>[\w/.-]*\d[\w/.-]*)")
_AMOUNT_RE = re.compile(
    r"\b(?:betrag|summe)\s*:?\s*(?P<amount>(?:€|eur)?\s*[\d.,\s]*\d(?:\s*(?:€|eur))?)"
)
# A closing after the instructions is no instruction ("Danke!", "Viele Grüße, Erika").
_CLOSING_RE = re.compile(r"^(?:danke|vielen\s+dank|viele\s+grüße|gruß|grüße|lg|vg|beste\s+grüße)\b")
_FILLERS = re.compile(r"[\s.!,;:)(-]+$")


def parse_confirm_reply(
    body: str, *, today: date, notice_body: str = "", token: str = ""
) -> ConfirmReply:
    """Every instruction in the owner's own text above the quoted notice (cut by
    :func:`own_text`). A line that is none goes to ``not_understood``, except a closing
    after at least one instruction."""
    text = own_text(body, draft_body=notice_body, token=token).text
    commands: list[ConfirmCommand] = []
    unknown: list[str] = []
    for line in text.splitlines():
        folded = _FILLERS.sub("", line.strip().casefold())
        if not folded:
            continue
        command = _command(folded, today)
        if command is not None:
            commands.append(command)
        elif not (commands and _CLOSING_RE.match(folded)):
            unknown.append(line.strip())
    return ConfirmReply(tuple(commands), tuple(unknown))


def _command(line: str, today: date) -> ConfirmCommand | None:
    match = _LINE_RE.match(line)
    if match is None or match["word"] not in _ACTION_WORDS:
        return None
    action = _ACTION_WORDS[match["word"]]
    positions = tuple(int(n) for n in re.findall(r"\d+", match["numbers"]))
    rest = match["rest"].strip()
    if action is not ConfirmAction.KIND:
        return None if rest else ConfirmCommand(action, positions)
    if not positions:
        return None  # "rechnung" alone names no mail
    return _kind_command(Kind(match["word"]), positions, rest, today)


def _kind_command(
    kind: Kind, positions: tuple[int, ...], rest: str, today: date
) -> ConfirmCommand | None:
    due = _DUE_RE.search(rest)
    number = _NUMBER_RE.search(rest)
    amount_match = _AMOUNT_RE.search(rest)
    leftover = rest
    for found in (due, number, amount_match):
        if found is not None:
            leftover = leftover.replace(found.group(0), " ")
    if leftover.strip(" ,;"):
        return None  # something more we do not understand: better ask than guess
    due_date = _due_date(due, today) if due else None
    if due is not None and due_date is None:
        return None
    amount = None
    if amount_match is not None:
        try:
            amount = parse_amount(amount_match["amount"])
        except InvalidAmount:
            return None
    return ConfirmCommand(
        ConfirmAction.KIND,
        positions,
        kind=kind,
        invoice_no=number["no"].upper() if number else None,
        amount=amount,
        due_date=due_date,
    )


def _due_date(found: re.Match[str], today: date) -> date | None:
    """A due date as written; without a year the one nearest to ``today`` (an invoice
    may be overdue already, or due in some months)."""
    day, month, year = int(found["day"]), int(found["month"]), found["year"]
    if year is not None:
        candidate = calendar_day(int(year) + 2000 if len(year) == 2 else int(year), month, day)
    else:
        options = [calendar_day(today.year + offset, month, day) for offset in (-1, 0, 1)]
        valid = [d for d in options if d is not None]
        candidate = min(valid, key=lambda d: abs((d - today).days)) if valid else None
    if candidate is None or not in_date_window(candidate, today):
        return None
    return candidate
