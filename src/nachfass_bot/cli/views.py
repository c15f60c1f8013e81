"""The rich tables of ``list`` and ``show`` (the timeline: every decision with its
reason), and of ``import --dry-run``."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from rich.console import Console, Group, RenderableType
from rich.table import Table
from rich.text import Text

from nachfass_bot.domain.calendar import SendingWindow
from nachfass_bot.domain.models import EventKind, Kind, State, Thread
from nachfass_bot.texts.labels import DRAFT_LABELS, KIND_LABELS, STATE_LABELS, local_text
from nachfass_bot.texts.render import format_date_short, format_money

if TYPE_CHECKING:  # for the annotations only: `list` and `show` need not load them
    from nachfass_bot.app.importing import Duplicate, PlannedThread
    from nachfass_bot.app.scanning import ScanRow

# -- rich output for list and show ---------------------------------------------------------

EVENT_LABELS = {
    EventKind.ANSWER: "Antwort",
    EventKind.AUTO_REPLY: "Abwesenheit",
    EventKind.BOUNCE: "Unzustellbar",
    EventKind.DRAFT: "Entwurf",
    EventKind.APPROVAL: "Deine Antwort",
    EventKind.OWNER: "Dein Wort",
    EventKind.SENT: "Gesendet",
    EventKind.ERROR: "Fehler",
    EventKind.WARNING: "Warnung",
    EventKind.SYNC: "Abgleich",
    EventKind.DIGEST: "Überblick",
    EventKind.INFO: "Entscheidung",
}
_EVENT_STYLES = {
    EventKind.ANSWER: "bold green",
    EventKind.AUTO_REPLY: "yellow",
    EventKind.BOUNCE: "bold red",
    EventKind.APPROVAL: "magenta",
    EventKind.OWNER: "magenta",
    EventKind.SENT: "cyan",
    EventKind.ERROR: "bold red",
    EventKind.WARNING: "yellow",
}
_STATE_STYLES = {
    State.OPEN: "",
    State.ANSWERED: "green",
    State.PAUSED: "yellow",
    State.RESTING: "dim",
    State.PARKED: "dim",
    State.PAID: "green",
    State.CLOSED: "dim",
}
_PIPE_WIDTH = 160  # piped output: wide enough that no reason is wrapped mid-sentence


def output_console() -> Console:
    """A console for stdout; when piped, wide, so that grep finds whole lines."""
    console = Console()
    return console if console.is_terminal else Console(width=max(console.width, _PIPE_WIDTH))


def state_text(row: dict[str, Any]) -> str:
    """``beantwortet (Junk)``, ``offen, Entwurf wartet auf dein Ok`` …"""
    state = STATE_LABELS[State(row["state"])]
    if row["answered_folder"]:
        state += f" ({row['answered_folder']})"
    if row["draft_state"]:
        state += f", {DRAFT_LABELS.get(row['draft_state'], row['draft_state'])}"
    return state


def _moment(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None


def _client(row: dict[str, Any]) -> str:
    return str(row["client_name"] or row["client_email"])


def _amount(row: dict[str, Any]) -> str:
    return format_money(Decimal(row["amount"])) if row["amount"] else ""


def _open_of_total(row: dict[str, Any]) -> str:
    """An invoice's amount; after a partial payment what is open of it ("800,00 € von
    1.200,00 €"). A paid or closed invoice shows its amount."""
    open_amount, total = row.get("open_amount"), row["amount"]
    if not total or open_amount is None or row["state"] in ("paid", "closed"):
        return _amount(row)
    if Decimal(open_amount) == Decimal(total):
        return _amount(row)
    return f"{format_money(Decimal(open_amount))} von {format_money(Decimal(total))}"


def threads_table(rows: list[dict[str, Any]], window: SendingWindow) -> Table:
    """``list``: one line per thread (rows from :func:`thread_summary`)."""
    table = Table(title="Vorgänge", title_justify="left", header_style="bold")
    table.add_column("Nr.", justify="right")
    for column in ("Art", "Kunde", "Betreff", "Stand"):
        table.add_column(column)
    table.add_column("Schritt", justify="right")
    table.add_column("Betrag", justify="right")
    table.add_column("Nächster Schritt")
    for row in rows:
        style = _STATE_STYLES[State(row["state"])]
        table.add_row(
            str(row["id"]),
            KIND_LABELS[Kind(row["kind"])],
            _client(row),
            row["subject"],
            Text(state_text(row), style=style),
            str(row["step"]),
            _open_of_total(row),
            local_text(_moment(row["next_due_at"]), window),
        )
    return table


def thread_view(detail: dict[str, Any], window: SendingWindow, now: datetime) -> RenderableType:
    """``show``: the facts of one thread, its open tasks and the timeline of decisions."""
    title = Text(f"Vorgang {detail['id']}: {KIND_LABELS[Kind(detail['kind'])]} – ", style="bold")
    title.append(detail["subject"])
    facts = Table.grid(padding=(0, 2))
    facts.add_column(style="bold")
    facts.add_column()
    facts.add_row("Kunde", f"{_client(detail)} <{detail['client_email']}>")
    facts.add_row("Stand", f"{state_text(detail)}, Schritt {detail['step']}")
    facts.add_row("Nächster Schritt", local_text(_moment(detail["next_due_at"]), window))
    paused = _moment(detail["paused_until"])
    if paused and paused > now:
        facts.add_row(
            "Wartet bis", f"{local_text(paused, window)} (Abwesenheit des Kunden oder „später“)"
        )
    if detail["invoice_no"]:
        due_date = date.fromisoformat(detail["due_date"]) if detail["due_date"] else None
        due = f", zahlbar bis {format_date_short(due_date, window.zone)}" if due_date else ""
        facts.add_row("Rechnung", f"{detail['invoice_no']} über {_amount(detail)}{due}")
    payments = detail.get("payments") or []
    if payments and detail.get("open_amount") is not None:
        facts.add_row("Noch offen", format_money(Decimal(detail["open_amount"])))
    parts: list[RenderableType] = [title, facts]
    if payments:
        parts.append(Text("\nZahlungen", style="bold"))
        parts.extend(
            Text(
                f"  • {format_date_short(date.fromisoformat(p['paid_on']), window.zone)}: "
                f"{format_money(Decimal(p['amount']))} "
                f"({'Kontoauszug' if p['source'] == 'bank' else 'von Dir eingetragen'})"
            )
            for p in payments
        )
    if detail["tasks"]:
        parts.append(Text("\nOffene Aufgaben", style="bold"))
        parts.extend(
            Text(f"  • [{task['id']}] {task['text']}  (erledigt: nachfass-bot done {task['id']})")
            for task in detail["tasks"]
        )
    parts.append(Text(""))
    parts.append(timeline_table(detail["events"], window))
    return Group(*parts)


def timeline_table(events: list[dict[str, Any]], window: SendingWindow) -> Table:
    """Every decision of a thread, oldest first, with its German reason."""
    table = Table(title="Verlauf", title_justify="left", header_style="bold", show_lines=False)
    table.add_column("Wann", no_wrap=True)
    table.add_column("Was", no_wrap=True)
    table.add_column("Grund")
    for event in sorted(events, key=lambda event: str(event["at"])):
        kind = EventKind(event["kind"])
        table.add_row(
            local_text(_moment(event["at"]), window),
            Text(EVENT_LABELS[kind], style=_EVENT_STYLES.get(kind, "")),
            event["text"],
        )
    if not events:
        table.add_row("–", "", "noch keine Einträge")
    return table


def import_table(
    planned: Sequence[PlannedThread], duplicates: Sequence[Duplicate], window: SendingWindow
) -> Table:
    """``import --dry-run``: one line per row of the file, what it would become; the
    duplicates that would be skipped dimmed, with the thread they repeat."""
    table = Table(title="Import (Probelauf)", title_justify="left", header_style="bold")
    table.add_column("Zeile", justify="right")
    for column in ("Art", "Kunde", "Betreff", "Rechnung"):
        table.add_column(column)
    table.add_column("Betrag", justify="right")
    for column in ("Fällig", "Gesendet", "Ergebnis"):
        table.add_column(column)
    rows = [(item.line, item.new, Text("neu")) for item in planned]
    rows += [(item.line, item.new, Text(_repeats(item), style="dim")) for item in duplicates]
    for line, new, outcome in sorted(rows, key=lambda row: row[0]):
        table.add_row(
            str(line),
            KIND_LABELS[new.kind],
            new.name or new.email,
            new.subject,
            new.invoice_no or "",
            format_money(new.amount) if new.amount is not None else "",
            format_date_short(new.due_date, window.zone) if new.due_date else "",
            local_text(new.started_at, window) if new.started_at else "jetzt",
            outcome,
        )
    return table


def _repeats(duplicate: Duplicate) -> str:
    if duplicate.thread_id is not None:
        return f"übersprungen: gibt es schon (Vorgang {duplicate.thread_id})"
    return f"übersprungen: wie Zeile {duplicate.earlier_line}"


def scan_table(rows: Sequence[ScanRow], window: SendingWindow, *, applied: bool) -> Table:
    """``scan``: one line per sent mail that looks like an offer, order or invoice, with
    the facts read and why; what ``--apply`` tracks (or tracked)."""
    title = "Im Ordner Gesendet gefunden" + (" – aufgenommen" if applied else " (Probelauf)")
    table = Table(title=title, title_justify="left", header_style="bold")
    for column in ("Gesendet", "Art", "Kunde", "Betreff", "Rechnung"):
        table.add_column(column)
    table.add_column("Betrag", justify="right")
    for column in ("Fällig", "Anrede", "Warum", "Ergebnis"):
        table.add_column(column)
    for row in rows:
        proposal = row.finding.proposal
        if proposal is None:
            continue
        table.add_row(
            format_date_short(proposal.started_at, window.zone),
            KIND_LABELS[proposal.kind],
            proposal.name or proposal.email,
            proposal.subject,
            proposal.invoice_no or "",
            format_money(proposal.amount) if proposal.amount is not None else "",
            format_date_short(proposal.due_date, window.zone) if proposal.due_date else "",
            ("Du" if proposal.du else "Sie") + (" (geraten)" if proposal.guessed_du else ""),
            row.finding.reason,
            _scan_outcome(row),
        )
    return table


def _scan_outcome(row: ScanRow) -> Text:
    proposal = row.finding.proposal
    if row.known:
        return Text("wird schon verfolgt", style="dim")
    if proposal is not None and proposal.missing:
        return Text("fehlt: " + ", ".join(proposal.missing), style="yellow")
    return Text("neu")


def sent_facts_lines(row: ScanRow, window: SendingWindow) -> list[str]:
    """``track --from-sent``: what was read from the sent mail, one fact a line."""
    proposal = row.finding.proposal
    if proposal is None:
        return [row.finding.reason]
    lines = [
        f"Mail: „{row.subject}“ an {row.to}",
        f"Gesendet: {local_text(proposal.started_at, window)}",
        f"Art: {KIND_LABELS[proposal.kind]} ({row.finding.reason})",
        f"Kunde: {proposal.name or '–'} <{proposal.email}>, "
        + ("Du" if proposal.du else "Sie")
        + (" (geraten)" if proposal.guessed_du else ""),
    ]
    if proposal.kind is Kind.RECHNUNG:
        amount = format_money(proposal.amount) if proposal.amount is not None else "–"
        due = format_date_short(proposal.due_date, window.zone) if proposal.due_date else "–"
        terms = f" ({proposal.terms_days} Tage Zahlungsziel)" if proposal.due_from_terms else ""
        lines.append(f"Rechnung: {proposal.invoice_no or '–'}, {amount}, fällig {due}{terms}")
    return lines


def scan_row_json(row: ScanRow, thread: Thread | None) -> dict[str, Any]:
    """``scan --json``: one found mail, its facts and, after ``--apply``, its thread."""
    proposal = row.finding.proposal
    facts: dict[str, Any] = {}
    if proposal is not None:
        facts = {
            "kind": str(proposal.kind),
            "email": proposal.email,
            "name": proposal.name,
            "du": proposal.du,
            "sent_at": proposal.started_at.isoformat(),
            "message_id": proposal.message_id,
            "invoice_no": proposal.invoice_no,
            "amount": str(proposal.amount) if proposal.amount is not None else None,
            "due_date": proposal.due_date.isoformat() if proposal.due_date else None,
            "missing": list(proposal.missing),
        }
    return {
        "uid": row.uid,
        "subject": row.subject,
        "reason": row.finding.reason,
        "known": row.known,
        **facts,
        "thread_id": thread.id if thread else None,
        "state": str(thread.state) if thread else None,
    }
