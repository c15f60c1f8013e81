"""The command line: parses options, builds the parts, prints German results. No logic."""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import click
from rich.console import Console
from rich.table import Table

from .config import Config, load_config, resolve_config_path
from .daemon import run_forever, single_instance
from .engine import Engine, sending_window
from .errors import ConfigError, NachfassError
from .idle import IdleWatcher
from .imap import ImapMailbox
from .mailbox import Mailbox
from .models import Client, CycleReport, Kind, State
from .preview import preview_message
from .retry import first_delay_from_env, run_with_retry
from .smtp import CaptureTransport, SmtpTransport
from .store import Store
from .texts import Texts
from .views import (
    DRAFT_LABELS,
    KIND_LABELS,
    STATE_LABELS,
    local_text,
    thread_detail,
    thread_summary,
)

log = logging.getLogger("nachfass_bot")


@dataclass
class _Options:
    config_path: str | None
    verbose: bool

    def config(self) -> Config:
        return load_config(resolve_config_path(self.config_path))


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``nachfass-bot`` console script; returns the exit code."""
    try:
        cli.main(args=list(argv) if argv is not None else None, standalone_mode=False)
    except ConfigError as exc:
        click.echo(f"Konfigurationsfehler: {exc}", err=True)
        return 2
    except NachfassError as exc:
        click.echo(f"Fehler: {exc}", err=True)
        return 1
    except click.exceptions.Exit as exc:
        return int(exc.exit_code)
    except click.UsageError as exc:
        command = exc.ctx.command_path if exc.ctx else "nachfass-bot"
        click.echo(f"Fehler: {_german_usage(exc.format_message())}", err=True)
        click.echo(f"Hilfe: {command} --help", err=True)
        return 2
    except click.ClickException as exc:
        click.echo(f"Fehler: {exc.format_message()}", err=True)
        return 2
    except click.Abort:
        click.echo("Abgebrochen.", err=True)
        return 130
    return 0


@click.group(help="nachfass-bot: fasst höflich bei schweigenden Kunden nach.")
@click.option(
    "--config",
    "config_path",
    metavar="DATEI",
    help="Konfigurationsdatei (sonst $NACHFASS_CONFIG, sonst ~/.config/nachfass-bot/).",
)
@click.option("-v", "--verbose", is_flag=True, help="Ausführlichere Protokollausgabe.")
@click.pass_context
def cli(ctx: click.Context, config_path: str | None, verbose: bool) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    logging.getLogger("apscheduler").setLevel(logging.DEBUG if verbose else logging.WARNING)
    ctx.obj = _Options(config_path, verbose)


@contextmanager
def _open_store(config: Config) -> Iterator[Store]:
    store = Store.open(config.store.path)
    try:
        yield store
    finally:
        store.close()


def _parse_now(text: str | None, config: Config) -> datetime:
    """``--now``: ISO 8601; without an offset it is the owner's local time."""
    if text is None:
        return datetime.now(UTC)
    try:
        moment = datetime.fromisoformat(text)
    except ValueError as exc:
        raise click.BadParameter(f"„{text}“ ist kein Zeitpunkt wie 2026-03-11T10:00") from exc
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=ZoneInfo(config.sending.timezone))
    return moment.astimezone(UTC)


@cli.command(help="Einen Vorgang (Angebot, Auftrag, Rechnung) zum Nachfassen aufnehmen.")
@click.option("--kind", type=click.Choice([k.value for k in Kind]), required=True)
@click.option("--to", "to_addr", required=True, metavar="EMAIL", help="Adresse des Kunden.")
@click.option("--name", help="Name des Kunden, z. B. „Jonas Keller“.")
@click.option("--subject", required=True, help="Betreff bzw. Thema des Vorgangs.")
@click.option("--message-id", help="Message-ID der ursprünglichen Mail (für die Zuordnung).")
@click.option("--sent-at", help="Wann die ursprüngliche Mail ging (ISO 8601; Standard: jetzt).")
@click.option("--invoice-no", help="Rechnungsnummer (Rechnung).")
@click.option("--amount", help="Rechnungsbetrag, z. B. 1190.00 (Rechnung).")
@click.option("--due", help="Zahlbar bis, YYYY-MM-DD (Rechnung).")
@click.option("--assistant", metavar="EMAIL", help="Adresse der Assistenz („gute Seele“).")
@click.option("--du", is_flag=True, help="Den Kunden duzen (Standard: Sie).")
@click.option(
    "--anrede",
    type=click.Choice(["frau", "herr"]),
    help="„Guten Tag Frau/Herr Nachname“ (ohne Angabe: „Guten Tag Vorname Nachname“).",
)
@click.option("--b2c", is_flag=True, help="Privatkunde (Standard: Geschäftskunde).")
@click.option(
    "--expenses",
    metavar="BETRAG",
    help="Auftrag: bisherige Vorarbeit/Auslagen, falls er nicht zustande kommt.",
)
@click.option("--json", "as_json", is_flag=True, help="Ausgabe als JSON.")
@click.pass_obj
def track(opts: _Options, /, **values: Any) -> None:
    config = opts.config()
    kind = Kind(values["kind"])
    amount, due = _invoice_values(kind, values)
    now = datetime.now(UTC)
    started_at = _parse_now(values["sent_at"], config) if values["sent_at"] else now
    client = Client(
        email=_checked_email(values["to_addr"], "--to"),
        name=values["name"],
        du=values["du"],
        assistant_email=_checked_email(values["assistant"], "--assistant")
        if values["assistant"]
        else None,
        anrede=values["anrede"],
        customer_type="b2c" if values["b2c"] else "b2b",
    )
    with _open_store(config) as store:
        client_id = store.upsert_client(client, now)
        thread_id = store.add_thread(
            kind=kind,
            client_id=client_id,
            subject=values["subject"],
            started_at=started_at,
            now=now,
            message_id=_message_id(values["message_id"]),
            invoice_no=values["invoice_no"],
            amount=amount,
            due_date=due,
            expenses=_money(values["expenses"], "--expenses") if values["expenses"] else None,
        )
        store.add_event(now, f"{KIND_LABELS[kind]} aufgenommen", thread_id=thread_id)
        thread = store.thread(thread_id)
        assert thread is not None
        summary = thread_summary(store, sending_window(config), thread, config.preferences)
    if values["as_json"]:
        click.echo(json.dumps(summary, ensure_ascii=False))
        return
    window = sending_window(config)
    first = local_text(datetime.fromisoformat(summary["next_due_at"]), window)
    click.echo(f"Vorgang {thread_id} angelegt: {KIND_LABELS[kind]} an {client.email}.")
    click.echo(f"Erster Schritt fällig: {first}")


def _invoice_values(kind: Kind, values: dict[str, Any]) -> tuple[Decimal | None, date | None]:
    if kind is not Kind.RECHNUNG:
        return None, None
    missing = [
        opt
        for opt, key in [("--invoice-no", "invoice_no"), ("--amount", "amount"), ("--due", "due")]
        if not values[key]
    ]
    if missing:
        raise click.UsageError(f"Für eine Rechnung fehlt: {', '.join(missing)}")
    amount = _money(values["amount"], "--amount")
    try:
        due = date.fromisoformat(values["due"])
    except ValueError as exc:
        raise click.BadParameter(f"„{values['due']}“ ist kein Datum wie 2026-03-31") from exc
    return amount, due


def _money(text: str, option: str) -> Decimal:
    """``1190.00``, ``1190,00`` or ``1.190,00`` as a Decimal with cents."""
    cleaned = text.strip().replace("€", "").strip()
    if "," in cleaned:
        cleaned = cleaned.replace(".", "").replace(",", ".")
    try:
        amount = Decimal(cleaned)
    except InvalidOperation as exc:
        raise click.BadParameter(f"{option}: „{text}“ ist kein Betrag wie 1190.00") from exc
    if not amount.is_finite() or amount < 0:
        raise click.BadParameter(f"{option}: „{text}“ ist kein Betrag wie 1190.00")
    return amount.quantize(Decimal("0.01"))


def _checked_email(value: str, option: str) -> str:
    if "@" not in value or any(ch.isspace() for ch in value):
        raise click.BadParameter(f"{option}: „{value}“ ist keine E-Mail-Adresse")
    return value.strip().lower()


def _message_id(value: str | None) -> str | None:
    if not value:
        return None
    value = value.strip()
    return value if value.startswith("<") else f"<{value}>"


def build_engine(config: Config, store: Store) -> Engine:
    """The real engine: IMAP and SMTP from the config, passwords read now."""
    imap_password = config.imap.password()
    smtp_password = config.smtp.password() if config.smtp.username else None
    return Engine(
        config=config,
        store=store,
        texts=Texts(timezone=config.sending.timezone, override_dir=config.templates_dir),
        transport=SmtpTransport(config.smtp, smtp_password),
        open_mailbox=lambda: ImapMailbox.connect(config.imap, imap_password),
    )


@cli.command(help="Einen Durchlauf machen (Post lesen, entscheiden, Entwürfe, Versand).")
@click.option("--now", help="So tun, als wäre es jetzt dieser Zeitpunkt (ISO 8601).")
@click.pass_obj
def tick(opts: _Options, now: str | None) -> None:
    config = opts.config()
    moment = _parse_now(now, config)
    with single_instance(config.store.path), _open_store(config) as store:
        engine = build_engine(config, store)
        # A dropped connection is retried; the UID sync resumes after the last batch.
        report = CycleReport()
        run_with_retry(lambda: engine.tick(moment, report), first_delay=first_delay_from_env())
    click.echo(_report_text(report))
    if report.problems:
        for problem in report.problems:
            click.echo(f"Problem: {problem}", err=True)


def _report_text(report: CycleReport) -> str:
    parts = [
        _count(report.answers, "Antwort erkannt", "Antworten erkannt"),
        _count(report.drafts, "Entwurf erstellt", "Entwürfe erstellt"),
        _count(report.tasks, "Aufgabe", "Aufgaben"),
        _count(report.commands, "Freigabe-Antwort verarbeitet", "Freigabe-Antworten verarbeitet"),
        _count(report.sent, "Mail gesendet", "Mails gesendet"),
    ]
    return "Durchlauf fertig: " + ", ".join(parts) + "."


def _count(number: int, singular: str, plural: str) -> str:
    return f"{number} {singular if number == 1 else plural}"


# Click has no German messages; these cover what a user meets on the command line.
_USAGE_PHRASES = (
    ("Missing option", "Option fehlt:"),
    ("Missing argument", "Argument fehlt:"),
    ("No such option:", "Unbekannte Option:"),
    ("No such command", "Unbekannter Befehl"),
    ("Invalid value for", "Ungültiger Wert für"),
    ("is not one of", "ist keiner von"),
    ("is not a valid integer", "ist keine ganze Zahl"),
    ("Got unexpected extra argument", "Unerwartetes Argument"),
    ("requires an argument", "braucht einen Wert"),
)


def _german_usage(message: str) -> str:
    for english, german in _USAGE_PHRASES:
        message = message.replace(english, german)
    return message


@cli.command(help="Als Dienst laufen: alle paar Minuten ein Durchlauf, bis SIGTERM/SIGINT.")
@click.option("--interval", type=int, help="Minuten zwischen zwei Durchläufen.")
@click.pass_obj
def run(opts: _Options, interval: int | None) -> None:
    config = opts.config()
    if not opts.verbose:
        logging.getLogger().setLevel(logging.INFO)
    with _open_store(config) as store:
        # A missing password or a refused login stops here, before the daemon starts.
        build_engine(config, store).open_mailbox().close()

    def cycle(now: datetime) -> None:
        with _open_store(config) as store:
            report = build_engine(config, store).tick(now)
        log.info("cycle done: %s", _report_text(report))

    def watcher(wake: Callable[[], None]) -> IdleWatcher:
        # Its own connection; the password is read again for every reconnect.
        return IdleWatcher(lambda: ImapMailbox.connect(config.imap, config.imap.password()), wake)

    with single_instance(config.store.path):
        run_forever(
            cycle,
            interval or config.mailbox.poll_minutes,
            watcher_factory=watcher,
            retry_delay=first_delay_from_env(),
        )


@cli.command(name="list", help="Alle Vorgänge anzeigen.")
@click.option("--json", "as_json", is_flag=True, help="Ausgabe als JSON.")
@click.pass_obj
def list_threads(opts: _Options, as_json: bool) -> None:
    config = opts.config()
    window = sending_window(config)
    with _open_store(config) as store:
        rows = [
            thread_summary(store, window, thread, config.preferences) for thread in store.threads()
        ]
    if as_json:
        click.echo(json.dumps(rows, ensure_ascii=False, indent=2))
        return
    if not rows:
        click.echo("Noch keine Vorgänge. Lege einen mit „nachfass-bot track …“ an.")
        return
    table = Table(title="Vorgänge")
    for column in ("Nr.", "Art", "Kunde", "Betreff", "Stand", "Schritt", "Nächster Schritt"):
        table.add_column(column)
    for row in rows:
        table.add_row(*_table_cells(row, window))
    Console().print(table)


def _table_cells(row: dict[str, Any], window: Any) -> list[str]:
    due = datetime.fromisoformat(row["next_due_at"]) if row["next_due_at"] else None
    state = STATE_LABELS[State(row["state"])]
    if row["answered_folder"]:
        state += f" ({row['answered_folder']})"
    if row["draft_state"]:
        state += f", {DRAFT_LABELS.get(row['draft_state'], row['draft_state'])}"
    return [
        str(row["id"]),
        KIND_LABELS[Kind(row["kind"])],
        row["client_name"] or row["client_email"],
        row["subject"],
        state,
        str(row["step"]),
        local_text(due, window),
    ]


@cli.command(help="Einen Vorgang mit allen Entscheidungen und Gründen zeigen.")
@click.argument("thread_id", type=int)
@click.option("--json", "as_json", is_flag=True, help="Ausgabe als JSON.")
@click.pass_obj
def show(opts: _Options, thread_id: int, as_json: bool) -> None:
    config = opts.config()
    window = sending_window(config)
    with _open_store(config) as store:
        thread = store.thread(thread_id)
        if thread is None:
            raise NachfassError(f"Einen Vorgang {thread_id} gibt es nicht.")
        detail = thread_detail(store, window, thread, config.preferences)
    if as_json:
        click.echo(json.dumps(detail, ensure_ascii=False, indent=2))
        return
    cells = _table_cells(detail, window)
    click.echo(f"Vorgang {detail['id']}: {cells[1]} – {detail['subject']}")
    click.echo(f"Kunde: {cells[2]} <{detail['client_email']}>")
    click.echo(f"Stand: {cells[4]}, Schritt {detail['step']}, nächster Schritt: {cells[6]}")
    paused = datetime.fromisoformat(detail["paused_until"]) if detail["paused_until"] else None
    if paused and paused > datetime.now(UTC):
        until = local_text(paused, window)
        click.echo(f"Wartet bis: {until} (Abwesenheit des Kunden oder „später“)")
    for task in detail["tasks"]:
        click.echo(f"Offene Aufgabe: {task['text']}")
    click.echo("Verlauf:")
    for event in detail["events"]:
        click.echo(f"  {local_text(datetime.fromisoformat(event['at']), window)}  {event['text']}")


@cli.command(help="Demo ohne Konto: acht simulierte Wochen mit vier Kunden.")
@click.option(
    "--keep",
    type=click.Path(file_okay=False, path_type=Path),
    help="Postfach und Datenbank in diesem Ordner behalten (sonst wird alles gelöscht).",
)
def demo(keep: Path | None) -> None:
    from .demo import run_demo

    run_demo(keep_dir=keep, echo=click.echo)


@cli.command(help="Eine Mail so zeigen, wie sie rausgehen würde (Kopfzeilen und Text).")
@click.argument("thread_id", type=int)
@click.option("--step", type=int, help="Schritt-Nummer (Standard: der nächste Schritt).")
@click.option("--now", help="So tun, als wäre es jetzt dieser Zeitpunkt (ISO 8601).")
@click.pass_obj
def preview(opts: _Options, thread_id: int, step: int | None, now: str | None) -> None:
    config = opts.config()
    moment = _parse_now(now, config)
    with _open_store(config) as store:
        engine = Engine(
            config=config,
            store=store,
            texts=Texts(timezone=config.sending.timezone, override_dir=config.templates_dir),
            transport=CaptureTransport(),
            open_mailbox=_no_mailbox,
        )
        message = preview_message(engine, thread_id, step, moment)
    click.echo(message)


def _no_mailbox() -> Mailbox:
    raise NachfassError("Die Vorschau braucht kein Postfach.")
