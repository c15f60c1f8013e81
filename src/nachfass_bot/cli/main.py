"""The command line: parses options, builds the parts, prints German results. No logic."""

from __future__ import annotations

import gc
import json
import logging
import re
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar
from zoneinfo import ZoneInfo

import click

from nachfass_bot.cli.clitext import use_german
from nachfass_bot.domain.dates import check_moment, german_date
from nachfass_bot.domain.models import CycleReport, Kind, Source, State, Thread
from nachfass_bot.domain.providers import PRESETS, Preset, preset_for_address, preset_named
from nachfass_bot.errors import (
    ConfigError,
    IncompleteInvoice,
    InvalidField,
    InvalidInput,
    NachfassError,
)

if TYPE_CHECKING:
    from nachfass_bot.adapters.store import Store
    from nachfass_bot.app.importing import Duplicate
    from nachfass_bot.app.payments import FileResult
    from nachfass_bot.app.recognise import Proposal
    from nachfass_bot.app.threads import NewThread
    from nachfass_bot.cli.checkup import Finding
    from nachfass_bot.config import Config

log = logging.getLogger("nachfass_bot")


@dataclass
class _Options:
    config_path: str | None
    verbose: bool

    def config(self) -> Config:
        from nachfass_bot.config import load_config, resolve_config_path

        return load_config(resolve_config_path(self.config_path))


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``nachfass-bot`` console script; returns the exit code."""
    use_german()
    args = list(argv) if argv is not None else sys.argv[1:]
    unreadable = next((arg for arg in args if _has_surrogate(arg)), None)
    if unreadable is not None:
        click.echo(
            "Fehler: Ein Wert enthält Zeichen, die das Terminal nicht lesen konnte "
            f"({unreadable.encode('utf-8', 'replace').decode()!r}). Bitte den Zeichensatz "
            "des Terminals auf UTF-8 stellen und den Wert neu eingeben.",
            err=True,
        )
        return 2
    try:
        cli.main(args=args, standalone_mode=False)
    except ConfigError as exc:
        click.echo(f"Konfigurationsfehler: {exc}", err=True)
        return 2
    except InvalidInput as exc:  # refused at the door, like a wrong option value
        click.echo(f"Fehler: {exc}", err=True)
        return 2
    except NachfassError as exc:
        click.echo(f"Fehler: {exc}", err=True)
        return 1
    except click.exceptions.Exit as exc:
        return int(exc.exit_code)
    except click.UsageError as exc:
        command = exc.ctx.command_path if exc.ctx else "nachfass-bot"
        click.echo(f"Fehler: {exc.format_message()}", err=True)
        click.echo(f"Hilfe: {command} --help", err=True)
        return 2
    except click.ClickException as exc:
        click.echo(f"Fehler: {exc.format_message()}", err=True)
        return 2
    except click.Abort:
        click.echo("Abgebrochen.", err=True)
        return 130
    return 0


def _has_surrogate(text: str) -> bool:
    """A byte the terminal's encoding could not decode (Python keeps it as a lone
    surrogate, PEP 383): SQLite and every mail would refuse it later."""
    return any("\ud800" <= char <= "\udfff" for char in text)


class _RowId(click.ParamType):  # type: ignore[type-arg]
    """A thread or task number: a whole number SQLite can hold (1 … 2^63 - 1)."""

    name = "nummer"

    def convert(
        self, value: object, param: click.Parameter | None, ctx: click.Context | None
    ) -> int:
        try:
            number = int(str(value))
        except ValueError:
            number = 0
        if not 1 <= number < 2**63:
            self.fail(f"„{value}“ ist keine gültige Nummer.", param, ctx)
        return number


ROW_ID = _RowId()


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
    # imaplib's debug log would write header fields and mail bodies: never, even verbose.
    logging.getLogger("imapclient").setLevel(logging.INFO if verbose else logging.WARNING)
    ctx.obj = _Options(config_path, verbose)


def _parse_now(text: str | None, config: Config, option: str = "--now") -> datetime:
    """``--now`` (or ``--sent-at``): ISO 8601; without an offset it is the owner's local
    time. A moment outside the date window (docs/DESIGN.md, "Input at the door") is
    refused before anything is computed with it."""

    clock = datetime.now(UTC)
    if text is None:
        return clock
    try:
        moment = datetime.fromisoformat(text)
    except ValueError as exc:
        raise click.BadParameter(f"„{text}“ ist kein Zeitpunkt wie 2026-03-11T10:00") from exc
    _at_the_door(option, lambda: check_moment(moment, clock))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=ZoneInfo(config.sending.timezone))
    return moment.astimezone(UTC)


_T = TypeVar("_T")


def _at_the_door(option: str, check: Callable[[], _T]) -> _T:
    """Run a domain check of an option's value; a refusal names the option (exit code 2)."""
    try:
        return check()
    except InvalidInput as exc:
        raise click.BadParameter(f"{option}: {exc}") from None


@cli.command(help="Einen Vorgang (Angebot, Auftrag, Rechnung) zum Nachfassen aufnehmen.")
@click.option(
    "--from-sent", metavar="TEXT", help="Die Mail im Ordner Gesendet, deren Betreff TEXT enthält."
)
@click.option(
    "--from-sent-id",
    metavar="MESSAGE-ID",
    help="Die Mail im Ordner Gesendet mit dieser Message-ID.",
)
@click.option("--yes", is_flag=True, help="Mit --from-sent: ohne Rückfrage anlegen.")
@click.option("--kind", type=click.Choice([k.value for k in Kind]))
@click.option("--to", "to_addr", metavar="EMAIL", help="Adresse des Kunden.")
@click.option("--name", help="Name des Kunden, z. B. „Jonas Keller“.")
@click.option("--subject", help="Betreff bzw. Thema des Vorgangs.")
@click.option("--message-id", help="Message-ID der ursprünglichen Mail (für die Zuordnung).")
@click.option("--sent-at", help="Wann die ursprüngliche Mail ging (ISO 8601; Standard: jetzt).")
@click.option("--invoice-no", help="Rechnungsnummer (Rechnung).")
@click.option("--amount", help="Rechnungsbetrag, z. B. 1.190,00 oder 1190.00 (Rechnung).")
@click.option("--due", help="Zahlbar bis, YYYY-MM-DD (Rechnung).")
@click.option("--assistant", metavar="EMAIL", help="Adresse der Assistenz („gute Seele“).")
@click.option("--du", is_flag=True, default=None, help="Den Kunden duzen (Standard: Sie).")
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
    from nachfass_bot.app.engine import sending_window
    from nachfass_bot.app.overview import thread_summary
    from nachfass_bot.app.threads import track_thread
    from nachfass_bot.app.wiring import open_store
    from nachfass_bot.texts.labels import KIND_LABELS, local_text

    config = opts.config()
    now = datetime.now(UTC)
    from_sent = values["from_sent"] is not None or values["from_sent_id"] is not None
    if not from_sent:  # checked before the store is opened: a refusal stores nothing
        _require(values, ("kind", "--kind"), ("to_addr", "--to"), ("subject", "--subject"))
        new = _new_thread(values, config, now)
    with open_store(config) as store:
        if from_sent:
            new = _thread_from_sent(values, config, store, now)
        thread = track_thread(store, new, now)
        summary = thread_summary(store, sending_window(config), thread.id, config.preferences)
    if values["as_json"]:
        click.echo(json.dumps(summary, ensure_ascii=False))
        return
    window = sending_window(config)
    click.echo(f"Vorgang {thread.id} angelegt: {KIND_LABELS[thread.kind]} an {new.email}.")
    if thread.answered_at is not None:  # the answer had come before the thread was tracked
        click.echo(f"Die Antwort ist schon da (Ordner {thread.answered_folder}): kein Nachfassen.")
        return
    first = local_text(datetime.fromisoformat(summary["next_due_at"]), window)
    click.echo(f"Erster Schritt fällig: {first}")


def _require(values: dict[str, Any], *options: tuple[str, str]) -> None:
    missing = [option for key, option in options if not values[key]]
    if missing:
        raise click.UsageError(
            f"Es fehlt: {', '.join(missing)} (oder --from-sent „Betreff“, dann liest "
            "nachfass-bot die Angaben aus der gesendeten Mail)."
        )


def _thread_from_sent(
    values: dict[str, Any], config: Config, store: Store, now: datetime
) -> NewThread:
    """``track --from-sent``: the sent mail's facts, the explicit options on top, shown
    before anything is saved (``--yes`` skips the question)."""
    from nachfass_bot.app.engine import sending_window
    from nachfass_bot.app.scanning import find_sent
    from nachfass_bot.app.wiring import build_engine, build_texts
    from nachfass_bot.cli.views import sent_facts_lines

    engine = build_engine(config, store, build_texts(config))
    kind = Kind(values["kind"]) if values["kind"] else None
    row = find_sent(
        engine, subject=values["from_sent"], message_id=values["from_sent_id"], now=now, kind=kind
    )
    proposal = row.finding.proposal
    if proposal is None:
        raise click.UsageError(
            f"{row.finding.reason} Mit --kind angebot|auftrag|rechnung nimmst Du sie trotzdem auf."
        )
    found = _proposal_values(proposal)
    merged = {key: found.get(key) if value is None else value for key, value in values.items()}
    new = replace(_new_thread(merged, config, now), source=Source.CLI)
    if not values["as_json"]:
        for line in sent_facts_lines(row, sending_window(config)):
            click.echo(line)
    if not values["yes"] and not _confirmed("Vorgang so anlegen?"):
        raise click.Abort()
    return new


def _proposal_values(proposal: Proposal) -> dict[str, Any]:
    return {
        "kind": proposal.kind.value,
        "to_addr": proposal.email,
        "name": proposal.name,
        "subject": proposal.subject,
        "du": proposal.du,
        "anrede": proposal.anrede,
        "message_id": proposal.message_id,
        "sent_at": proposal.started_at.isoformat(),
        "invoice_no": proposal.invoice_no,
        "amount": str(proposal.amount) if proposal.amount is not None else None,
        "due": proposal.due_date.isoformat() if proposal.due_date else None,
    }


def _confirmed(question: str) -> bool:
    answer = click.prompt(f"{question} (j/n)", default="n", show_default=False)
    return str(answer).strip().lower() in ("j", "ja", "y", "yes")


_INVOICE_OPTIONS = {"invoice_no": "--invoice-no", "amount": "--amount", "due_date": "--due"}
_FIELD_OPTIONS = {
    "kind": "--kind",
    "email": "--to",
    "assistant": "--assistant",
    "amount": "--amount",
    "expenses": "--expenses",
    "due": "--due",
    "sent_at": "--sent-at",
    "anrede": "--anrede",
}


def _new_thread(values: dict[str, Any], config: Config, now: datetime) -> NewThread:
    """The options of ``track`` as a NewThread, checked by the app's
    :func:`~nachfass_bot.app.threads.read_entry`; a refusal names its option. Only the
    written form of the dates is read here."""
    from nachfass_bot.app.threads import ThreadEntry, read_entry

    kind = values["kind"]
    due = _due(values["due"]) if kind == Kind.RECHNUNG.value and values["due"] else None
    sent_at = _sent_at(values["sent_at"]) if values["sent_at"] else None
    entry = ThreadEntry(
        kind=kind,
        email=values["to_addr"],
        subject=values["subject"],
        name=values["name"],
        du=bool(values["du"]),
        anrede=values["anrede"],
        b2c=values["b2c"],
        assistant=values["assistant"],
        sent_at=sent_at,
        message_id=values["message_id"],
        invoice_no=values["invoice_no"],
        amount=values["amount"],
        due=due,
        expenses=values["expenses"],
    )
    try:
        return read_entry(entry, now, ZoneInfo(config.sending.timezone))
    except InvalidField as exc:
        raise click.BadParameter(f"{_FIELD_OPTIONS[exc.field]}: {exc}") from None
    except IncompleteInvoice as exc:
        missing = ", ".join(_INVOICE_OPTIONS[field] for field in exc.missing)
        raise click.UsageError(f"Für eine Rechnung fehlt: {missing}") from None


def _due(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError as exc:
        raise click.BadParameter(f"„{text}“ ist kein Datum wie 2026-03-31") from exc


def _any_day(text: str) -> date:
    """``31.03.2026`` or ``2026-03-31``."""
    try:
        if match := re.fullmatch(r"\s*(\d{1,2})\.(\d{1,2})\.(\d{4})\s*", text):
            day, month, year = (int(part) for part in match.groups())
            return date(year, month, day)
        return date.fromisoformat(text.strip())
    except ValueError as exc:
        raise click.BadParameter(f"„{text}“ ist kein Datum wie 31.03.2026 oder 2026-03-31") from exc


def _sent_at(text: str) -> datetime:
    try:
        return datetime.fromisoformat(text)
    except ValueError as exc:
        raise click.BadParameter(f"„{text}“ ist kein Zeitpunkt wie 2026-03-11T10:00") from exc


@cli.command(
    name="import",
    help="Viele Vorgänge auf einmal aus einer CSV-Datei aufnehmen (Spalten: siehe README).",
)
@click.argument("file", metavar="DATEI.csv", type=click.Path(path_type=Path))
@click.option(
    "--dry-run", is_flag=True, help="Nur zeigen, was aufgenommen würde; nichts speichern."
)
@click.pass_obj
def import_command(opts: _Options, file: Path, dry_run: bool) -> None:
    from nachfass_bot.adapters.importfile import read_table_text
    from nachfass_bot.app.engine import sending_window
    from nachfass_bot.app.importing import check_rows, import_threads, plan_import
    from nachfass_bot.app.importrows import parse_table
    from nachfass_bot.app.wiring import open_store
    from nachfass_bot.cli.views import import_table, output_console

    config = opts.config()
    now = datetime.now(UTC)
    window = sending_window(config)
    table = parse_table(read_table_text(file))
    checked = check_rows(table, now, ZoneInfo(config.sending.timezone))
    with open_store(config) as store:
        plan = plan_import(store, checked)
        result = None if dry_run else import_threads(store, plan, now)
    if table.ignored:
        click.echo(f"Nicht verwendete Spalten: {', '.join(table.ignored)}")
    if dry_run:
        output_console().print(import_table(plan.threads, plan.duplicates, window))
        click.echo(
            f"Probelauf: {_count(len(plan.threads), 'Vorgang', 'Vorgänge')} würden "
            "aufgenommen; nichts gespeichert."
        )
    for duplicate in plan.duplicates:
        click.echo(f"Zeile {duplicate.line} übersprungen: {_repeated(duplicate)}")
    if result is None:
        return
    ids = result.thread_ids
    numbers = f" (Nr. {ids[0]}–{ids[-1]})" if len(ids) > 1 else f" (Nr. {ids[0]})" if ids else ""
    click.echo(f"{_count(len(ids), 'Vorgang', 'Vorgänge')} aufgenommen{numbers}.")
    if result.answered:
        click.echo(
            f"Davon schon beantwortet (Antwort kam vor dem Import): {result.answered}; "
            "bei diesen wird nicht nachgefasst."
        )


SCAN_DAYS = 90  # scan without --since: the last three months


@cli.command(help="Den Ordner Gesendet nach Angeboten, Aufträgen und Rechnungen durchsuchen.")
@click.option("--since", metavar="DATUM", help="Ab diesem Tag, YYYY-MM-DD (Standard: 90 Tage).")
@click.option("--apply", "apply_found", is_flag=True, help="Das Gefundene auch aufnehmen.")
@click.option("--now", help="So tun, als wäre es jetzt dieser Zeitpunkt (ISO 8601).")
@click.option("--json", "as_json", is_flag=True, help="Ausgabe als JSON.")
@click.pass_obj
def scan(
    opts: _Options, since: str | None, apply_found: bool, now: str | None, as_json: bool
) -> None:
    from nachfass_bot.app.engine import sending_window
    from nachfass_bot.app.scanning import apply_scan, scan_sent
    from nachfass_bot.app.wiring import build_engine, build_texts, open_store
    from nachfass_bot.cli.daemon import single_instance
    from nachfass_bot.cli.views import output_console, scan_row_json, scan_table

    config = opts.config()
    moment = _parse_now(now, config)
    first_day = _due(since) if since else (moment - timedelta(days=SCAN_DAYS)).date()
    window = sending_window(config)
    with single_instance(config.store.path), open_store(config) as store:
        engine = build_engine(config, store, build_texts(config))
        rows = scan_sent(engine, since=first_day, now=moment)
        threads = apply_scan(store, rows, moment) if apply_found else {}
    if as_json:
        found = [scan_row_json(row, threads.get(row.uid)) for row in rows]
        click.echo(json.dumps(found, ensure_ascii=False))
        return
    output_console().print(scan_table(rows, window, applied=apply_found))
    new = [
        row
        for row in rows
        if not row.known and row.finding.proposal and not row.finding.proposal.missing
    ]
    if not apply_found:
        click.echo(
            f"{_count(len(new), 'Vorgang', 'Vorgänge')} würden aufgenommen; nichts gespeichert. "
            "Mit --apply nimmst Du sie auf."
        )
        return
    answered = sum(1 for thread in threads.values() if thread.state is State.ANSWERED)
    click.echo(f"{_count(len(threads), 'Vorgang', 'Vorgänge')} aufgenommen.")
    if answered:
        click.echo(f"Davon schon beantwortet: {answered}; bei diesen wird nicht nachgefasst.")


def _repeated(duplicate: Duplicate) -> str:
    if duplicate.thread_id is not None:
        return f"den Vorgang gibt es schon (Nr. {duplicate.thread_id})."
    return f"derselbe Vorgang wie in Zeile {duplicate.earlier_line}."


def _show_progress(folder: str, done: int, total: int) -> None:
    """A long first sync on a terminal: one line that counts up."""
    end = "\n" if done >= total else ""
    click.echo(f"\rOrdner {folder}: {done} von {total} Mails gelesen", err=True, nl=bool(end))


@cli.command(help="Einen Durchlauf machen (Post lesen, entscheiden, Entwürfe, Versand).")
@click.option("--now", help="So tun, als wäre es jetzt dieser Zeitpunkt (ISO 8601).")
@click.pass_obj
def tick(opts: _Options, now: str | None) -> None:
    from nachfass_bot.adapters.retry import first_delay_from_env
    from nachfass_bot.app.wiring import (
        build_signed_in_engine,
        build_texts,
        open_store,
        tick_with_retry,
    )
    from nachfass_bot.cli.daemon import single_instance

    config = opts.config()
    moment = _parse_now(now, config)
    with single_instance(config.store.path), open_store(config) as store:
        engine = build_signed_in_engine(config, store, build_texts(config), moment)
        if sys.stderr.isatty():
            engine.inbox.progress = _show_progress
        report = tick_with_retry(engine, moment, first_delay_from_env())
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


@cli.command(help="Als Dienst laufen: alle paar Minuten ein Durchlauf, bis SIGTERM/SIGINT.")
@click.option("--interval", type=int, help="Minuten zwischen zwei Durchläufen.")
@click.option(
    "--now", help="Die Uhr des Dienstes startet bei diesem Zeitpunkt (ISO 8601) und läuft weiter."
)
@click.pass_obj
def run(opts: _Options, interval: int | None, now: str | None) -> None:
    from nachfass_bot.adapters.retry import first_delay_from_env
    from nachfass_bot.app.wiring import (
        build_texts,
        build_watcher,
        check_startup,
        run_cycle,
        weekly_digest_job,
    )
    from nachfass_bot.cli.daemon import clock_from, run_forever, single_instance, utc_now

    config = opts.config()
    clock = clock_from(_parse_now(now, config)) if now else utc_now
    if not opts.verbose:
        logging.getLogger().setLevel(logging.INFO)
    texts = build_texts(config)
    check_startup(config, texts, clock())

    def cycle(now: datetime) -> None:
        log.info("cycle done: %s", _report_text(run_cycle(config, texts, now)))

    with single_instance(config.store.path):
        run_forever(
            cycle,
            interval or config.mailbox.poll_minutes,
            watcher_factory=lambda wake: build_watcher(config, wake),
            retry_delay=first_delay_from_env(),
            weekly=weekly_digest_job(config, texts),
            clock=clock,
        )


@contextmanager
def _collector_paused() -> Iterator[None]:
    """Python's cycle collector paused for a block of a short command that builds many
    small objects and no reference cycles (the rows of ``list``): each collection walks
    every object alive, the imported modules' too, and at 10,000 threads they took ≈10 %
    of ``list --json``. A cycle left behind waits for the next collection."""
    paused = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if paused:
            gc.enable()


@cli.command(name="list", help="Alle Vorgänge anzeigen.")
@click.option("--json", "as_json", is_flag=True, help="Ausgabe als JSON.")
@click.pass_obj
def list_threads(opts: _Options, as_json: bool) -> None:
    with _collector_paused():  # ≈50 collections over 10,000 threads' rows and their JSON
        _list_threads(opts, as_json)


def _list_threads(opts: _Options, as_json: bool) -> None:
    from nachfass_bot.adapters.store import opened
    from nachfass_bot.app.overview import thread_summaries
    from nachfass_bot.cli.jsonout import json_rows

    config = opts.config()
    window = config.sending.window()
    with opened(config.store.path) as store:  # no engine to load (start-up time)
        rows = thread_summaries(store, window, config.preferences)
    if as_json:
        click.echo(json_rows(rows))
        return
    from nachfass_bot.cli.views import output_console, threads_table  # rich: not for JSON

    if not rows:
        click.echo("Noch keine Vorgänge. Lege einen mit „nachfass-bot track …“ an.")
        return
    output_console().print(threads_table(rows, window))


@cli.command(help="Einen Vorgang mit allen Entscheidungen und Gründen zeigen.")
@click.argument("thread_id", type=ROW_ID)
@click.option("--json", "as_json", is_flag=True, help="Ausgabe als JSON.")
@click.pass_obj
def show(opts: _Options, thread_id: int, as_json: bool) -> None:
    from nachfass_bot.adapters.store import opened
    from nachfass_bot.app.overview import thread_detail
    from nachfass_bot.cli.views import output_console, thread_view

    config = opts.config()
    window = config.sending.window()
    with opened(config.store.path) as store:  # no engine to load (start-up time)
        detail = thread_detail(store, window, thread_id, config.preferences)
    if as_json:
        click.echo(json.dumps(detail, ensure_ascii=False, indent=2))
        return
    output_console().print(thread_view(detail, window, datetime.now(UTC)))


@cli.command(help="Demo ohne Konto: acht simulierte Wochen mit vier Kunden.")
@click.option(
    "--keep",
    type=click.Path(file_okay=False, path_type=Path),
    help="Postfach und Datenbank in diesem Ordner behalten (sonst wird alles gelöscht).",
)
def demo(keep: Path | None) -> None:
    from nachfass_bot.cli.demo import run_demo

    run_demo(keep_dir=keep, echo=click.echo)


@cli.command(help="Eine Mail so zeigen, wie sie rausgehen würde (Kopfzeilen und Text).")
@click.argument("thread_id", type=ROW_ID)
@click.option("--step", type=int, help="Schritt-Nummer (Standard: der nächste Schritt).")
@click.option("--now", help="So tun, als wäre es jetzt dieser Zeitpunkt (ISO 8601).")
@click.pass_obj
def preview(opts: _Options, thread_id: int, step: int | None, now: str | None) -> None:
    from nachfass_bot.app.preview import preview_message
    from nachfass_bot.app.wiring import build_preview_engine, build_texts, open_store

    config = opts.config()
    moment = _parse_now(now, config)
    with open_store(config) as store:
        engine = build_preview_engine(config, store, build_texts(config))
        message = preview_message(engine, thread_id, step, moment)
    click.echo(message)


# -- the weekly digest, setting up and checking, the systemd service -------------------------


@cli.command(
    name="digest", help="Den Wochenüberblick zeigen (--print) oder an dich senden (--send)."
)
@click.option("--now", help="So tun, als wäre es jetzt dieser Zeitpunkt (ISO 8601).")
@click.option(
    "--print", "mode", flag_value="print", default=True, help="Textteil ausgeben (Standard)."
)
@click.option(
    "--send",
    "mode",
    flag_value="send",
    help="Jetzt an deine Adresse senden (zählt als Überblick dieser Woche).",
)
@click.option(
    "--if-due",
    "mode",
    flag_value="due",
    help="Senden, wenn der Überblick dieser Woche fällig und noch nicht gesendet ist (für cron).",
)
@click.option(
    "--html",
    "html_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Den HTML-Teil zusätzlich in diese Datei schreiben (zum Ansehen im Browser).",
)
@click.pass_obj
def digest_command(opts: _Options, now: str | None, mode: str, html_path: Path | None) -> None:
    from nachfass_bot.app.digest_facts import gather_week
    from nachfass_bot.app.weekly import send_digest, send_if_due
    from nachfass_bot.app.wiring import build_texts, open_store, smtp_transport
    from nachfass_bot.texts.digest import render_digest

    config = opts.config()
    moment = _parse_now(now, config)
    texts = build_texts(config)
    with open_store(config) as store:
        if mode == "due":
            # Quiet when there is nothing to do: cron mails every output to the owner.
            if send_if_due(store, config, texts, lambda: smtp_transport(config), moment):
                click.echo(f"Wochenüberblick an {config.owner.email} gesendet.")
            return
        if mode == "send":
            result = send_digest(store, config, texts, smtp_transport(config), moment)
        else:
            result = render_digest(gather_week(store, config, moment), texts)
    if html_path is not None:
        html_path.write_text(result.html, encoding="utf-8")
    if mode == "send":
        click.echo(f"Wochenüberblick an {config.owner.email} gesendet: {result.subject}")
        return
    click.echo(f"Betreff: {result.subject}\n")
    click.echo(result.text, nl=False)


@cli.command(help="Eine kommentierte Konfiguration anlegen (überschreibt nie eine vorhandene).")
@click.option(
    "--provider",
    "provider_name",
    metavar="NAME",
    help="Voreinstellungen eines Anbieters: " + ", ".join(p.key for p in PRESETS) + ".",
)
@click.option(
    "--address",
    metavar="ADRESSE",
    help="Deine E-Mail-Adresse; daran erkenne ich den Anbieter, wenn --provider fehlt.",
)
@click.pass_obj
def init(opts: _Options, provider_name: str | None, address: str | None) -> None:
    from nachfass_bot.cli.service import write_initial_config
    from nachfass_bot.config import resolve_config_path

    target = resolve_config_path(opts.config_path).absolute()
    if address is None and provider_name is None and sys.stdin.isatty():
        address = (
            click.prompt(
                "Deine E-Mail-Adresse (leer lassen: später eintragen)",
                default="",
                show_default=False,
            ).strip()
            or None
        )
    preset = _chosen_preset(provider_name, address)
    written = write_initial_config(target, date.today(), preset, address)
    click.echo(f"Konfiguration angelegt: {written}")
    if preset is not None:
        _echo_preset(preset)
    click.echo("So geht es weiter:")
    click.echo("  1. Öffne die Datei und trage Name, Adresse, Signatur und deine Mail-Server ein.")
    if preset is not None and preset.auth == "oauth2":
        click.echo(
            "  2. Richte das Programm aus token_command ein (oder die eingebaute Anmeldung, "
            "dann einmal: nachfass-bot auth login)."
        )
    else:
        click.echo(
            "  2. Passwörter kommen nicht in die Datei: setze die Umgebungsvariablen aus "
            "password_env (z. B. export NACHFASS_IMAP_PASSWORT='…') oder nutze "
            "password_command."
        )
    click.echo("  3. Prüfe alles mit: nachfass-bot check")
    click.echo(
        "  4. Hol, was schon offen ist: nachfass-bot scan zeigt Angebote und Rechnungen der "
        "letzten 90 Tage aus deinem Ordner Gesendet, mit --apply werden sie aufgenommen."
    )
    click.echo(
        "     Neue findet der Bot danach selbst im Ordner Gesendet (oder per Bcc an "
        "deine Adresse mit +nachfass)."
    )
    click.echo("  5. Starte den Dienst: nachfass-bot service install (oder nachfass-bot run)")


def _chosen_preset(provider_name: str | None, address: str | None) -> Preset | None:
    """``--provider`` wins; else the provider guessed from the address's domain."""
    if provider_name is not None:
        preset = preset_named(provider_name)
        if preset is None:
            known = ", ".join(p.key for p in PRESETS)
            raise NachfassError(
                f"Den Anbieter „{provider_name}“ kenne ich nicht (bekannt: {known})."
            )
        return preset
    return preset_for_address(address) if address else None


def _echo_preset(preset: Preset) -> None:
    """What the owner must know about her provider before ``check`` can pass."""
    click.echo(f"Voreinstellungen für {preset.name}: Server, Ports und Ordner sind eingetragen.")
    if preset.needs:
        click.echo(f"  Vorher nötig: {preset.needs}.")
    if preset.auth == "oauth2":
        click.echo(
            f"  {preset.name} nimmt für IMAP und SMTP nur noch OAuth2 an: eingetragen ist "
            'token_command = "oama access …" (oama oder pizauth vorher einrichten). Oder '
            "die eingebaute Anmeldung: oauth_provider und oauth_client_id eintragen, "
            "token_command entfernen, dann einmal „nachfass-bot auth login“ (README)."
        )
    if not preset.plus_addressing:
        click.echo(
            f"  {preset.name} kennt keine Adressen mit „+“: trage in [tracking] address eine "
            "eigene Adresse für Bcc-Kopien ein."
        )
    if preset.files_sent:
        click.echo(
            '  Der Anbieter legt gesendete Mails selbst in Gesendet ab: sent_copy = "server".'
        )


@cli.command(help="Anmeldung bei IMAP und SMTP prüfen und die beobachteten Ordner zeigen.")
@click.pass_obj
def check(opts: _Options) -> None:
    from nachfass_bot.cli.checkup import Level, run_checkup
    from nachfass_bot.config import load_config, resolve_config_path

    path = resolve_config_path(opts.config_path)
    click.echo(f"Prüfe {path} …")
    try:
        config = load_config(path)
    except ConfigError as exc:
        # Exit code 1 like every other problem check finds (a plain ConfigError gives 2).
        raise NachfassError(str(exc)) from None
    click.echo("✓ Konfiguration gelesen")
    findings = run_checkup(config)
    for finding in findings:
        click.echo(_finding_text(finding))
    errors = sum(finding.level is Level.ERROR for finding in findings)
    if errors:
        problems = _count(errors, "Problem", "Probleme")
        raise NachfassError(
            f"{problems} gefunden. Nach dem Beheben noch einmal: nachfass-bot check"
        )
    click.echo("\nAlles bereit. Weiter mit „nachfass-bot service install“ oder „nachfass-bot run“.")


def _finding_text(finding: Finding) -> str:
    from nachfass_bot.cli.checkup import Level

    mark = {Level.OK: "✓", Level.WARNING: "!", Level.ERROR: "✗"}[finding.level]
    text = f"{mark} {finding.title}: {finding.detail}"
    if finding.fix:
        text += f"\n    So behebst du es: {finding.fix}"
    return text


@cli.group(help="Anmeldung per OAuth2 (Microsoft 365, Outlook.com, Gmail).")
def auth() -> None:
    pass


@auth.command(
    name="login",
    help="Einmal beim Mailanbieter anmelden (oauth_provider in [imap]/[smtp]); danach "
    "erneuert nachfass-bot das Zugangstoken selbst.",
)
@click.pass_obj
def auth_login(opts: _Options) -> None:
    from nachfass_bot.app.wiring import sign_in_once

    config = opts.config()
    signed_in = sign_in_once(config, click.echo)
    if not signed_in:
        raise NachfassError(
            'Kein Abschnitt meldet sich selbst an: dafür in [imap] (und [smtp]) auth = "oauth2" '
            'und oauth_provider = "microsoft" oder "google" eintragen. Mit token_command '
            "holt das dort genannte Programm das Token, eine Anmeldung hier braucht es nicht."
        )
    sections = " und ".join(f"[{name}]" for name in signed_in)
    click.echo(
        f"Angemeldet ({sections}). Die Anmeldedaten liegen mit Rechten 600 neben der "
        "Datenbank; nachfass-bot erneuert das Zugangstoken von selbst."
    )


@cli.group(help="nachfass-bot als Hintergrunddienst (systemd) einrichten.")
def service() -> None:
    pass


@service.command(name="install", help="Einen systemd-Benutzerdienst anlegen, der „run“ startet.")
@click.option("--force", is_flag=True, help="Einen vorhandenen Dienst ersetzen.")
@click.pass_obj
def service_install(opts: _Options, force: bool) -> None:
    from nachfass_bot.cli.service import ENABLE_COMMANDS, install_unit, secret_variables

    config = opts.config()
    unit = install_unit(config, force=force)
    click.echo(f"Dienst angelegt: {unit}")
    variables = secret_variables(config)
    if variables:
        names = ", ".join(variables)
        click.echo(
            f"Der Dienst braucht die Passwort-Variablen {names}: wie sie hineinkommen, "
            "steht als Kommentar in der Datei (dort nie ein Passwort eintragen)."
        )
    click.echo("Einschalten mit:")
    for command in ENABLE_COMMANDS:
        click.echo(f"  {command}")
    click.echo("Protokoll ansehen: journalctl --user -u nachfass-bot -f")


_OwnerWord = Callable[["Store", int, datetime], Thread]


def _owner_word(command: str) -> _OwnerWord:
    """What ``close``, ``pause`` and ``resume`` do, imported when one of them runs."""
    from nachfass_bot.app.threads import close_thread, pause_thread, resume_thread

    words: dict[str, _OwnerWord] = {
        "close": close_thread,
        "pause": pause_thread,
        "resume": resume_thread,
    }
    return words[command]


def _owner_says(command: str, help_text: str) -> None:
    """``nachfass-bot <command> THREAD_ID``: the owner's word on a thread
    (docs/DESIGN.md, "Thread states")."""

    @cli.command(name=command, help=help_text)
    @click.argument("thread_id", type=ROW_ID)
    @click.pass_obj
    def change(opts: _Options, thread_id: int) -> None:
        from nachfass_bot.app.threads import OUTCOMES
        from nachfass_bot.app.wiring import open_store

        config = opts.config()
        with open_store(config) as store:
            thread = _owner_word(command)(store, thread_id, datetime.now(UTC))
        click.echo(f"Vorgang {thread_id} {OUTCOMES[thread.state]}.")


@cli.command(
    help="Eine Rechnung als bezahlt schließen, oder mit --amount eine Teilzahlung eintragen."
)
@click.argument("thread_id", type=ROW_ID)
@click.option(
    "--amount", help="Eingegangener Betrag, z. B. 500,00 (weniger als offen: Teilzahlung)."
)
@click.pass_obj
def paid(opts: _Options, thread_id: int, amount: str | None) -> None:
    from nachfass_bot.app.threads import OUTCOMES, mark_paid
    from nachfass_bot.app.wiring import open_store
    from nachfass_bot.domain.money import parse_amount
    from nachfass_bot.texts.render import format_money

    config = opts.config()
    value = parse_amount(amount) if amount is not None else None
    with open_store(config) as store:
        thread = mark_paid(store, thread_id, datetime.now(UTC), value)
    if thread.state is State.PAID or value is None:
        click.echo(f"Vorgang {thread_id} {OUTCOMES[State.PAID]}.")
        return
    rest = format_money(thread.open_amount or Decimal(0))
    click.echo(f"Vorgang {thread_id}: {format_money(value)} eingetragen, offen bleiben {rest}.")


_owner_says("close", "Einen Vorgang schließen (kein Nachfassen mehr).")
_owner_says("pause", "Einen Vorgang anhalten, bis Du ihn fortsetzt.")
_owner_says("resume", "Einen pausierten oder beendeten Vorgang wieder aufnehmen.")


@cli.group(help="Kontoauszüge: Zahlungen erkennen (CAMT.053, MT940, CSV).")
def bank() -> None:
    pass


@bank.command(name="import", help="Kontoauszüge einlesen und Zahlungen den Rechnungen zuordnen.")
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.pass_obj
def bank_import(opts: _Options, files: tuple[Path, ...]) -> None:
    from nachfass_bot.app.wiring import build_payments, open_store

    config = opts.config()
    with open_store(config) as store:
        results = build_payments(config, store).import_files(files, datetime.now(UTC))
    broken = 0
    for result in results:
        if result.state == "broken":
            broken += 1
            click.echo(f"{result.problem}", err=True)
        elif result.state == "known":
            click.echo(f"{result.name}: schon eingelesen, nichts geändert.")
        else:
            click.echo(f"{result.name}: {import_summary(result)}")
    if broken:
        raise NachfassError(f"{broken} von {len(results)} Dateien nicht eingelesen")


def import_summary(result: FileResult) -> str:
    """``12 Buchungen, 10 neu: 2 bezahlt, 1 Frage an Dich, 7 nicht zugeordnet``."""
    from nachfass_bot.domain.payments import MatchKind

    words = {
        MatchKind.EXACT: "bezahlt",
        MatchKind.COMBINED: "zusammen bezahlt",
        MatchKind.PARTIAL: "Teilzahlung",
        MatchKind.OVERPAID: "überzahlt",
        MatchKind.QUESTION: "Frage an Dich",
        MatchKind.REVERSAL: "Rückbuchung",
        MatchKind.UNMATCHED: "nicht zugeordnet",
        MatchKind.DEBIT: "Lastschrift/Ausgang",
    }
    text = f"{result.bookings} Buchungen, {result.new} neu"
    kinds = [f"{count} {words[kind]}" for kind, count in result.kinds.items()]
    return text + (": " + ", ".join(kinds) if kinds else "")


@bank.command(name="forget", help="Gespeicherte Buchungen vor einem Tag löschen.")
@click.option(
    "--before", required=True, help="Tag (TT.MM.JJJJ oder JJJJ-MM-TT): ältere Buchungen löschen."
)
@click.pass_obj
def bank_forget(opts: _Options, before: str) -> None:
    from nachfass_bot.adapters.ledger import Ledger
    from nachfass_bot.app.wiring import open_store

    config = opts.config()
    day = _any_day(before)
    with open_store(config) as store:
        count = Ledger(store).forget(day)
    click.echo(f"{count} Buchungen vor dem {german_date(day)} gelöscht.")


@cli.command(help="Eine Aufgabe (Anruf, Entscheidung) als erledigt markieren.")
@click.argument("task_id", type=ROW_ID)
@click.pass_obj
def done(opts: _Options, task_id: int) -> None:
    from nachfass_bot.app.threads import finish_task
    from nachfass_bot.app.wiring import open_store

    config = opts.config()
    with open_store(config) as store:
        finish_task(store, task_id, datetime.now(UTC))
    click.echo(f"Aufgabe {task_id} erledigt.")
