"""The weekly digest: the facts of one week → a German mail with a text and an HTML part.

Pure: :mod:`nachfass_bot.app.digest_facts` reads the facts from the store; this module only
derives what follows from them (days overdue, totals, each client's share of the money,
the subject line) and renders ``templates/de/digest.txt`` and ``digest.html``. Nothing here
reads the clock, the network or the database.

The text part reads well in a terminal (``nachfass-bot digest --print``). The HTML part is
built from tables with inline CSS only: no ``<style>`` block, no scripts, no images, no
links, so Outlook, Gmail and Thunderbird show it alike and nothing is loaded from outside.
Every thread names its number for ``nachfass-bot show``.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from email.message import EmailMessage
from email.utils import format_datetime
from typing import Any
from zoneinfo import ZoneInfo

from babel.dates import format_date

from nachfass_bot.texts.compose import address
from nachfass_bot.texts.render import LOCALE, Texts, format_money, one_line, salutation

RISK_DAYS = 90  # "money invoiced in the last 90 days"
TEXT_BAR_WIDTH = 20  # characters of a bar in the text part
TEMPLATE = "digest"

# What a due mail step is, by its template (docs/DESIGN.md, "Playbooks").
_MAIL_STEP_LABELS = {
    "angebot_1": "freundliche Nachfrage zum Angebot",
    "angebot_2": "letzte Nachfrage zum Angebot",
    "auftrag_1": "Frage nach dem Stand",
    "auftrag_3_assistent": "Bitte an die Assistenz um einen Telefontermin",
    "auftrag_4": "Mail für klare Verhältnisse",
    "rechnung_1": "freundliche Frage nach der Zahlung",
    "rechnung_2": "Zahlungserinnerung / 1. Mahnung",
    "rechnung_3": "letzte Zahlungserinnerung",
}
_NOTICE_LABELS = {"auto-reply": "Abwesenheitsnotiz", "bounce": "Unzustellbar"}


@dataclass(frozen=True)
class SentItem:
    """A mail to a client that went out (``unclear``: the send broke off, maybe not)."""

    thread_id: int
    client: str
    subject: str
    step_number: int
    recipient: str
    at: datetime
    unclear: bool = False


@dataclass(frozen=True)
class AnswerItem:
    """A client answer found during the week, and the folder it was found in."""

    thread_id: int
    client: str
    subject: str
    at: datetime
    folder: str
    in_spam: bool


@dataclass(frozen=True)
class DraftItem:
    """A draft that waits for the owner's yes."""

    thread_id: int
    client: str
    subject: str
    step_number: int
    created_at: datetime


@dataclass(frozen=True)
class TaskItem:
    """An open task for the owner (a call, a decision)."""

    thread_id: int
    client: str
    subject: str
    text: str
    due_at: datetime


@dataclass(frozen=True)
class UpcomingItem:
    """What the bot will do next for a thread. ``action``: mail, task, rest, park or
    send (an approved mail waiting for the sending window)."""

    thread_id: int
    client: str
    subject: str
    action: str
    step_number: int
    due_at: datetime
    template: str | None = None
    task: str | None = None


@dataclass(frozen=True)
class InvoiceItem:
    """An invoice that is open, or was sent within :data:`RISK_DAYS` (for the risk view)."""

    thread_id: int
    client_key: str  # the client's address: one client, however the name is written
    client: str
    invoice_no: str
    amount: Decimal
    due_date: date | None
    billed_at: datetime
    open: bool
    open_amount: Decimal | None = None  # less than ``amount`` after a partial payment

    @property
    def still_open(self) -> Decimal:
        return self.amount if self.open_amount is None else self.open_amount


@dataclass(frozen=True)
class PaymentItem:
    """Money recorded for an invoice in the week: from a statement or the owner's word."""

    thread_id: int
    client: str
    invoice_no: str
    amount: Decimal
    paid_on: date
    from_bank: bool


@dataclass(frozen=True)
class CreditItem:
    """A credit on an imported statement that pays no invoice (no purpose, no IBAN: bank
    data stays in the store)."""

    booked: date
    amount: Decimal
    payer: str


@dataclass(frozen=True)
class NoticeItem:
    """An auto-reply or bounce from the event log (``kind`` as logged)."""

    thread_id: int | None
    client: str
    kind: str
    at: datetime
    text: str


@dataclass(frozen=True)
class RestItem:
    """A thread that went to rest or was parked (``reminder``: parked earlier; the first
    digest of a month names it again)."""

    thread_id: int
    client: str
    subject: str
    parked: bool
    since: datetime
    reminder: bool = False


@dataclass(frozen=True)
class WeekFacts:
    """Everything the digest says, as read from the store for the week before ``end``."""

    start: datetime
    end: datetime
    timezone: str
    owner_name: str
    sent: tuple[SentItem, ...] = ()
    answers: tuple[AnswerItem, ...] = ()
    drafts: tuple[DraftItem, ...] = ()
    tasks: tuple[TaskItem, ...] = ()
    upcoming: tuple[UpcomingItem, ...] = ()
    invoices: tuple[InvoiceItem, ...] = ()
    notices: tuple[NoticeItem, ...] = ()
    resting: tuple[RestItem, ...] = ()
    payments: tuple[PaymentItem, ...] = ()
    unmatched: tuple[CreditItem, ...] = ()


@dataclass(frozen=True)
class RiskRow:
    """One client's share of the open money and of the money invoiced in 90 days."""

    client: str
    open_amount: Decimal
    open_share: int  # whole percent, for display
    billed_amount: Decimal
    billed_share: int
    open_flagged: bool  # more than half (exact, not the rounded share)
    billed_flagged: bool


@dataclass(frozen=True)
class Digest:
    """The rendered digest: one subject, a plain-text and an HTML body."""

    subject: str
    text: str
    html: str
    quiet: bool


def week_label(moment: datetime, zone: ZoneInfo) -> str:
    """The ISO week of ``moment`` in ``zone``, e.g. ``"2026-W11"`` (German "KW 11")."""
    year, week, _ = moment.astimezone(zone).isocalendar()
    return f"{year}-W{week:02d}"


def risk_rows(invoices: tuple[InvoiceItem, ...], end: datetime) -> list[RiskRow]:
    """Each client's share of open money and of money invoiced in the last 90 days,
    biggest first; a client holding more than half of either is flagged."""
    since = end - timedelta(days=RISK_DAYS)
    names: dict[str, str] = {}
    open_by: dict[str, Decimal] = defaultdict(Decimal)
    billed_by: dict[str, Decimal] = defaultdict(Decimal)
    for invoice in invoices:
        names.setdefault(invoice.client_key, invoice.client)
        if invoice.open:
            open_by[invoice.client_key] += invoice.still_open
        if since <= invoice.billed_at <= end:
            billed_by[invoice.client_key] += invoice.amount
    open_total, billed_total = sum(open_by.values(), Decimal()), sum(billed_by.values(), Decimal())
    rows = [
        RiskRow(
            client=names[key],
            open_amount=open_by[key],
            open_share=_percent(open_by[key], open_total),
            billed_amount=billed_by[key],
            billed_share=_percent(billed_by[key], billed_total),
            open_flagged=open_total > 0 and open_by[key] * 2 > open_total,
            billed_flagged=billed_total > 0 and billed_by[key] * 2 > billed_total,
        )
        for key in names
        if open_by[key] or billed_by[key]
    ]
    return sorted(rows, key=lambda row: (-max(row.open_amount, row.billed_amount), row.client))


def _percent(part: Decimal, total: Decimal) -> int:
    if total <= 0:
        return 0
    return int((part * 100 / total).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def is_quiet(facts: WeekFacts) -> bool:
    """True when the week has nothing to report (the risk view alone does not count)."""
    return not any(
        (
            facts.sent,
            facts.answers,
            facts.drafts,
            facts.tasks,
            facts.upcoming,
            facts.notices,
            facts.resting,
            facts.payments,
            facts.unmatched,
            [invoice for invoice in facts.invoices if invoice.open],
        )
    )


def render_digest(facts: WeekFacts, texts: Texts) -> Digest:
    """Render both parts of the digest for ``facts``; raises TemplateError."""
    context = digest_context(facts)
    mail = texts.render(TEMPLATE, **context)
    html = texts.render_html(TEMPLATE, **context)
    return Digest(subject=mail.subject, text=mail.body, html=html, quiet=bool(context["quiet"]))


def digest_context(facts: WeekFacts) -> dict[str, Any]:
    """The context of ``digest.txt`` and ``digest.html``: plain dicts and lists, so that
    texts.py cleans every string.

    ``greeting``, ``week_number`` (the ISO week reviewed: the one most of the seven days
    belong to), ``period`` ("23. Februar bis 1. März 2026": the seven days before ``end``),
    ``start`` and ``end`` (aware datetimes), ``quiet``,
    ``headline``, ``spam_count``; the lists ``answers``, ``drafts`` (plus
    ``days_waiting``), ``tasks``, ``notices`` (plus ``label``), ``invoices`` (open only,
    plus ``days_overdue``), ``sent``, ``upcoming`` (plus ``what``) and ``resting``, each
    entry a dict of the item's fields, and a thread at most once per list: ``tasks``,
    ``notices`` and ``sent`` carry the thread's further items in ``more``; ``payments``
    (money recorded in the week) with ``payments_total`` and ``unmatched`` (credits that
    paid no invoice); ``open_total``; ``risk`` (:class:`RiskRow` fields plus ``open_bar``
    and ``billed_bar`` for the text part), ``risk_open_total``, ``risk_billed_total``,
    ``risk_days`` and ``risk_flags`` (German sentences).
    """
    zone = ZoneInfo(facts.timezone)
    today = facts.end.astimezone(zone).date()
    invoices = sorted(
        (_invoice_entry(invoice, today) for invoice in facts.invoices if invoice.open),
        key=lambda entry: (-entry["days_overdue"], entry["thread_id"]),
    )
    open_total = sum((invoice["amount"] for invoice in invoices), Decimal())
    rows = risk_rows(facts.invoices, facts.end)
    spam = [answer for answer in facts.answers if answer.in_spam]
    drafts = sorted(facts.drafts, key=lambda draft: (draft.created_at, draft.thread_id))
    first_day = facts.start.astimezone(zone).date()
    last_day = (facts.end - timedelta(days=1)).astimezone(zone).date()
    context: dict[str, Any] = {
        "greeting": salutation(facts.owner_name, du=True),
        "week_number": (first_day + (last_day - first_day) / 2).isocalendar()[1],
        "period": _period(first_day, last_day),
        "start": facts.start,
        "end": facts.end,
        "quiet": is_quiet(facts),
        "spam_count": len(spam),
        "answers": _once_per_thread(asdict(answer) for answer in facts.answers),
        "drafts": _once_per_thread(_draft_entry(draft, facts.end) for draft in drafts),
        "tasks": _once_per_thread(
            (asdict(task) for task in sorted(facts.tasks, key=lambda task: task.due_at)),
            merge=True,
        ),
        "notices": _once_per_thread(
            (
                {**asdict(notice), "label": _NOTICE_LABELS.get(notice.kind, notice.kind)}
                for notice in facts.notices
            ),
            merge=True,
        ),
        "invoices": invoices,
        "open_total": open_total,
        "sent": _once_per_thread(
            (asdict(item) for item in sorted(facts.sent, key=lambda item: item.at)), merge=True
        ),
        "upcoming": _once_per_thread(
            {**asdict(item), "what": _upcoming_text(item)}
            for item in sorted(facts.upcoming, key=lambda item: (item.due_at, item.thread_id))
        ),
        "resting": _once_per_thread(asdict(item) for item in facts.resting),
        "payments": [asdict(item) for item in facts.payments],
        "payments_total": sum((item.amount for item in facts.payments), Decimal()),
        "unmatched": [asdict(item) for item in facts.unmatched],
        "risk": [_risk_entry(row) for row in rows],
        "risk_open_total": sum((row.open_amount for row in rows), Decimal()),
        "risk_billed_total": sum((row.billed_amount for row in rows), Decimal()),
        "risk_days": RISK_DAYS,
        "risk_flags": _risk_flags(rows),
    }
    context["headline"] = _headline(facts, context)
    return context


def _period(first: date, last: date) -> str:
    """The seven days as "23. Februar bis 1. März 2026" (a first year only if it differs)."""
    pattern = "d. MMMM" if first.year == last.year else "d. MMMM y"
    start = format_date(first, pattern, locale=LOCALE)
    return f"{start} bis {format_date(last, 'd. MMMM y', locale=LOCALE)}"


def _once_per_thread(
    entries: Iterable[dict[str, Any]], *, merge: bool = False
) -> list[dict[str, Any]]:
    """Each thread once, at its first entry. With ``merge`` its later entries go into
    that entry's ``more`` list (tasks, notices, sent mails); else they are left out.
    Entries without a thread stay as they are."""
    result: list[dict[str, Any]] = []
    by_thread: dict[int, dict[str, Any]] = {}
    for entry in entries:
        thread_id = entry.get("thread_id")
        first = by_thread.get(thread_id) if thread_id is not None else None
        if first is None:
            entry = {**entry, "more": []}
            result.append(entry)
            if thread_id is not None:
                by_thread[thread_id] = entry
        elif merge:
            first["more"].append(entry)
    return result


def _invoice_entry(invoice: InvoiceItem, today: date) -> dict[str, Any]:
    days = (today - invoice.due_date).days if invoice.due_date else 0
    return {**asdict(invoice), "amount": invoice.still_open, "days_overdue": days}


def _draft_entry(draft: DraftItem, end: datetime) -> dict[str, Any]:
    return {**asdict(draft), "days_waiting": max((end - draft.created_at).days, 0)}


def _risk_entry(row: RiskRow) -> dict[str, Any]:
    return {
        **asdict(row),
        "open_bar": _text_bar(row.open_share),
        "billed_bar": _text_bar(row.billed_share),
    }


def _text_bar(share: int) -> str:
    filled = round(share * TEXT_BAR_WIDTH / 100)
    return "█" * filled + "░" * (TEXT_BAR_WIDTH - filled)


def _risk_flags(rows: list[RiskRow]) -> list[str]:
    """One warning per measure where a single client holds more than half."""
    flags = []
    for row in rows:
        if row.open_flagged:
            flags.append(f"{row.client} steht für {row.open_share} % des offenen Geldes.")
        if row.billed_flagged:
            flags.append(
                f"{row.client} steht für {row.billed_share} % dessen, was Du in den letzten "
                f"{RISK_DAYS} Tagen in Rechnung gestellt hast."
            )
    return flags


def _upcoming_text(item: UpcomingItem) -> str:
    if item.action == "send":
        return f"freigegebene Mail (Schritt {item.step_number}) geht raus"
    if item.action == "mail":
        label = _MAIL_STEP_LABELS.get(item.template or "", "Nachfass-Mail")
        return f"Entwurf für Schritt {item.step_number} ({label})"
    if item.action == "task":
        return f"Aufgabe: {item.task or 'bitte um den Vorgang kümmern'}"
    if item.action == "rest":
        return "ohne Antwort ruht der Vorgang (Schweigen gilt als Absage)"
    return "ohne Antwort wird der Vorgang beiseitegelegt"


def _headline(facts: WeekFacts, context: dict[str, Any]) -> str:
    """The subject's summary: what needs the owner first, at most four parts."""
    if context["quiet"]:
        return "eine ruhige Woche"
    parts = [_count(len(facts.answers), "Antwort", "Antworten")]
    parts.append(_count(len(facts.drafts), "Entwurf wartet", "Entwürfe warten"))
    parts.append(_count(len(facts.tasks), "Aufgabe", "Aufgaben"))
    if context["open_total"]:
        parts.append(f"{format_money(context['open_total'])} offen")
    parts.append(_count(len(facts.sent), "Mail gesendet", "Mails gesendet"))
    headline = ", ".join([part for part in parts if part][:3]) or "kein Handlungsbedarf"
    return f"Antwort im Spam-Ordner! {headline}" if context["spam_count"] else headline


def _count(number: int, singular: str, plural: str) -> str:
    if number == 0:
        return ""
    return f"{number} {singular if number == 1 else plural}"


def digest_message(
    digest: Digest, *, owner_email: str, owner_name: str, message_id: str, now: datetime
) -> EmailMessage:
    """The digest as a multipart/alternative mail from the owner to the owner.

    ``Auto-Submitted: auto-generated`` (RFC 3834) keeps vacation responders quiet.
    """
    owner = address(owner_email, owner_name)
    message = EmailMessage()
    message["From"] = owner
    message["To"] = owner
    message["Subject"] = one_line(digest.subject)
    message["Date"] = format_datetime(now)
    message["Message-ID"] = message_id
    message["Auto-Submitted"] = "auto-generated"
    message.set_content(digest.text, charset="utf-8")
    message.add_alternative(digest.html, subtype="html", charset="utf-8")
    return message
