"""``nachfass-bot import FILE.csv``: many threads from a spreadsheet or an accounting
tool's list of open items (docs/DESIGN.md, "Importing a list"), through the real CLI."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from loophelpers import cli, cli_json, track, write_config
from nachfass_bot.adapters.store import Store
from nachfass_bot.app.importing import MAX_PROBLEMS, check_rows, import_threads, plan_import
from nachfass_bot.app.importrows import parse_table
from nachfass_bot.domain.models import Inbound, State
from servers import MailAccount, SmtpSink

TODAY = datetime.now(UTC).date()
DUE = TODAY + timedelta(days=14)
SENT = TODAY - timedelta(days=3)
BERLIN = ZoneInfo("Europe/Berlin")


def german(day: date) -> str:
    return day.strftime("%d.%m.%Y")


@pytest.fixture
def config(
    tmp_path: Path, dovecot: MailAccount, smtp_sink: SmtpSink, monkeypatch: pytest.MonkeyPatch
) -> Path:
    return write_config(tmp_path, dovecot, smtp_sink, monkeypatch)


def write(config: Path, text: str, encoding: str = "utf-8") -> str:
    path = config.parent / "offene-posten.csv"
    path.write_bytes(text.encode(encoding))
    return str(path)


def listed(config: Path, capsys: pytest.CaptureFixture[str]) -> list[dict]:
    return list(cli_json(config, capsys, "list"))


GERMAN_FILE = (
    "Art;E-Mail;Name;Betreff;Rechnungs-Nr.;Betrag;Fällig am;Gesendet;Du;Anrede;Kundennummer\n"
    f"Rechnung;Kasse@Praxis-Sommer.test;Praxis Sömmer;Rechnung 2026-014;2026-014;1.190,00 €;"
    f"{german(DUE)};{german(SENT)} 10:15;nein;Frau;K17\n"
    ";;;;;;;;;;\n"
    f"Angebot;jonas@keller.test;Jonas Keller;Angebot Website-Relaunch;;;;{SENT.isoformat()};"
    "ja;;K2\n"
    f"auftrag;info@hoffmann.test;;Flyer Frühjahr;;;;{german(SENT)};;herr;\n"
)


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "cp1252"])
def test_a_german_file_imports_in_any_of_its_encodings(
    config: Path, capsys: pytest.CaptureFixture[str], encoding: str
) -> None:
    assert cli(config, "import", write(config, GERMAN_FILE, encoding)) == 0
    out = capsys.readouterr().out
    assert "3 Vorgänge aufgenommen (Nr. 1–3)." in out
    assert "Nicht verwendete Spalten: Kundennummer" in out
    invoice, offer, order = listed(config, capsys)
    assert (invoice["kind"], offer["kind"], order["kind"]) == ("rechnung", "angebot", "auftrag")
    assert invoice["client_email"] == "kasse@praxis-sommer.test"
    assert invoice["client_name"] == "Praxis Sömmer"
    assert (invoice["invoice_no"], invoice["amount"]) == ("2026-014", "1190.00")
    assert invoice["due_date"] == DUE.isoformat()
    sent = datetime.combine(SENT, datetime.min.time().replace(hour=10, minute=15), BERLIN)
    assert datetime.fromisoformat(invoice["started_at"]) == sent
    assert offer["subject"] == "Angebot Website-Relaunch"
    store = Store.open(config.parent / "nachfass.db")
    try:
        clients = {t.client.email: t.client for t in store.threads()}
    finally:
        store.close()
    assert clients["jonas@keller.test"].du
    assert not clients["kasse@praxis-sommer.test"].du
    assert clients["kasse@praxis-sommer.test"].anrede == "frau"
    assert clients["info@hoffmann.test"].anrede == "herr"


@pytest.mark.parametrize("separator", [",", "\t"])
def test_an_english_file_with_commas_or_tabs_imports(
    config: Path, capsys: pytest.CaptureFixture[str], separator: str
) -> None:
    header = ["Kind", "EMAIL", "subject", "Invoice_No", "amount", "due", "sent_at", "du",
              "message_id"]  # fmt: skip
    row = ["rechnung", "kasse@praxis.test", "Invoice 7", "R-7", '"1.190,50"', DUE.isoformat(),
           f"{SENT.isoformat()}T09:30", "yes", "abc@mail.test"]  # fmt: skip
    text = "\ufeff" + "\r\n".join(separator.join(cells) for cells in (header, row)) + "\r\n"
    assert cli(config, "import", write(config, text)) == 0
    (thread,) = listed(config, capsys)
    assert (thread["invoice_no"], thread["amount"]) == ("R-7", "1190.50")
    store = Store.open(config.parent / "nachfass.db")
    try:
        (stored,) = store.threads()
    finally:
        store.close()
    assert "<abc@mail.test>" in stored.message_ids
    assert stored.client.du


def test_bad_rows_are_all_listed_with_line_numbers_and_nothing_is_stored(
    config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = (
        "Art;E-Mail;Betreff;Rechnungsnummer;Betrag;Fällig\n"
        f"rechnung;kasse@praxis.test;R1;R1;100;{german(DUE)}\n"  # good, and still not stored
        f"rechnung;a@b.test;R2;R2;1,190.00;{german(DUE)}\n"
        "angebot;Chef <x@firma.test>;A;;;\n"
        "rechnung;c@d.test;R3;R3;100;31.02.2026\n"
        "auftrag;e@f.test;;;;\n"
        "Mahnung;g@h.test;X;;;\n"
        "rechnung;i@j.test;R4;;100;\n"
        "rechnung;k@l.test;R5;R5;100;31.12.9999\n"
        'angebot;m@n.test;"Betreff über\nzwei Zeilen";;;\n'
        "angebot;a@b.test, c@d.test;A2;;;\n"
    )
    assert cli(config, "import", write(config, text)) == 2
    err = capsys.readouterr().err
    assert "Nichts importiert: 9 Zeilen sind fehlerhaft" in err
    for expected in (
        "Zeile 3: Betrag: „1,190.00“ ist mehrdeutig",
        "Zeile 4: E-Mail: „Chef <x@firma.test>“: bitte nur die Adresse angeben",
        "Zeile 5: Fällig: „31.02.2026“ ist kein Datum wie 31.03.2026 oder 2026-03-31",
        "Zeile 6: Betreff: der Betreff fehlt",
        "Zeile 7: Art: „Mahnung“ ist keine Art von Vorgang",
        "Zeile 8: für eine Rechnung fehlt: Rechnungsnummer, Fällig",
        "Zeile 9: Fällig: 31.12.9999 liegt zu weit in der Zukunft",
        "Zeile 10: Betreff: der Betreff enthält einen Zeilenumbruch",
        "Zeile 12: E-Mail: „a@b.test, c@d.test“: bitte genau eine Adresse angeben",
    ):
        assert expected in err
    assert "Zeile 2:" not in err and "Zeile 11" not in err
    assert "Traceback" not in err
    assert not (config.parent / "nachfass.db").exists(), "nothing was stored"


def test_a_file_full_of_errors_lists_a_capped_number(
    config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rows = "".join(f"angebot;kunde{n}@firma;Angebot {n}\n" for n in range(MAX_PROBLEMS + 20))
    assert cli(config, "import", write(config, "kind;email;subject\n" + rows)) == 2
    err = capsys.readouterr().err
    assert f"Nichts importiert: {MAX_PROBLEMS + 20} Zeilen sind fehlerhaft" in err
    assert err.count("ist keine gültige E-Mail-Adresse") == MAX_PROBLEMS
    assert "… und 20 weitere Fehler." in err


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "Die Datei ist leer"),
        ("sep=;\n;;;\n\n", "Die Datei ist leer"),
        ("Name;Betrag\nJonas;100\n", "der Kopfzeile fehlen die Spalten kind/Art, email/E-Mail"),
        ("Art;Kind;E-Mail;Betreff\n", "die Spalte „Kind“ steht doppelt"),
    ],
)
def test_a_file_without_usable_header_is_refused(
    config: Path, capsys: pytest.CaptureFixture[str], text: str, message: str
) -> None:
    assert cli(config, "import", write(config, text)) == 2
    assert message in capsys.readouterr().err


def test_a_missing_file_is_one_german_line(config: Path, capsys) -> None:
    assert cli(config, "import", str(config.parent / "gibt-es-nicht.csv")) == 2
    assert "gibt es nicht" in capsys.readouterr().err


def test_dry_run_shows_the_rows_and_stores_nothing(
    config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(config, GERMAN_FILE, "cp1252")
    capsys.readouterr()
    assert cli(config, "import", "--dry-run", path) == 0
    out = capsys.readouterr().out
    assert "Import (Probelauf)" in out
    assert "Praxis Sömmer" in out and "1.190,00 €" in out and german(DUE) in out
    assert "Probelauf: 3 Vorgänge würden aufgenommen; nichts gespeichert." in out
    assert listed(config, capsys) == []


def test_duplicates_of_stored_threads_and_of_earlier_rows_are_skipped(
    config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    existing = track(config, capsys, "--kind", "rechnung", "--to", "kasse@praxis.test",
                     "--subject", "Rechnung 14", "--invoice-no", "R14", "--amount", "100",
                     "--due", DUE.isoformat())  # fmt: skip
    text = (
        "kind;email;subject;invoice_no;amount;due\n"
        f"rechnung;KASSE@praxis.test;Rechnung  14;R14;100;{german(DUE)}\n"
        f"rechnung;kasse@praxis.test;Rechnung 15;R15;100;{german(DUE)}\n"
        "angebot;jonas@keller.test;Angebot;;;\n"
        "angebot;jonas@keller.test;angebot;;;\n"
    )
    path = write(config, text)
    capsys.readouterr()
    assert cli(config, "import", "--dry-run", path) == 0
    out = capsys.readouterr().out
    assert f"übersprungen: gibt es schon (Vorgang {existing})" in out
    assert "übersprungen: wie Zeile 4" in out
    assert cli(config, "import", path) == 0
    out = capsys.readouterr().out
    assert f"Zeile 2 übersprungen: den Vorgang gibt es schon (Nr. {existing})." in out
    assert "Zeile 5 übersprungen: derselbe Vorgang wie in Zeile 4." in out
    assert "2 Vorgänge aufgenommen (Nr. 2–3)." in out
    subjects = [row["subject"] for row in listed(config, capsys)]
    assert subjects == ["Rechnung 14", "Rechnung 15", "Angebot"]
    assert cli(config, "import", path) == 0, "a second import doubles nothing"
    assert "0 Vorgänge aufgenommen." in capsys.readouterr().out
    assert len(listed(config, capsys)) == 3


# -- the parts, without the CLI ---------------------------------------------------------------


def test_line_numbers_count_file_lines_with_an_excel_hint_and_quoted_breaks() -> None:
    text = (
        'sep=,\n\nkind,email,name,subject\nangebot,a@b.test,"zwei\nZeilen",A\n\n'
        "angebot,c@d.test,,X\n"
    )
    table = parse_table(text)
    assert [row.line for row in table.rows] == [4, 7]
    assert table.rows[0].entry.name == "zwei\nZeilen"


def test_an_answer_synced_before_the_import_marks_its_thread_answered(
    memory_store: Store,
) -> None:
    now = datetime.now(UTC)
    answer = Inbound(
        folder="Spam", uid=7, message_id="<re@keller.test>", from_addr="jonas@keller.test",
        to_addrs=("anna@berger.test",), subject="Re: Angebot", date=now - timedelta(hours=1),
        received=now - timedelta(hours=1), is_junk_folder=True,
    )  # fmt: skip
    with memory_store.atomic():
        memory_store.add_synced_mails([("<re@keller.test>", answer)])
    text = (
        "kind;email;subject;sent_at\n"
        f"angebot;jonas@keller.test;Angebot;{german(SENT)}\n"
        f"angebot;info@hoffmann.test;Angebot;{german(SENT)}\n"
    )
    checked = check_rows(parse_table(text), now, BERLIN)
    result = import_threads(memory_store, plan_import(memory_store, checked), now)
    assert result.answered == 1
    states = [thread.state for thread in memory_store.threads()]
    assert states == [State.ANSWERED, State.OPEN]


@pytest.mark.parametrize(
    ("option", "column", "value"),
    [
        ("--amount", "Betrag", "1,190.00"),
        ("--amount", "Betrag", "-5"),
        ("--to", "E-Mail", "a@firma.test, b@firma.test"),
        ("--due", "Fällig", "2010-01-01"),
    ],
)
def test_track_and_import_refuse_a_value_with_the_same_reason(
    config: Path, capsys: pytest.CaptureFixture[str], option: str, column: str, value: str
) -> None:
    values = {"--to": "kasse@praxis.test", "--amount": "100", "--due": DUE.isoformat()}
    values[option] = value
    args = ["--kind", "rechnung", "--subject", "R1", "--invoice-no", "R1"]
    args += [part for pair in values.items() for part in pair]
    assert cli(config, "track", *args) == 2
    track_err = capsys.readouterr().err
    reason = track_err.split(f"{option}: ", 1)[1].splitlines()[0]
    cells = [values["--to"], values["--amount"], values["--due"]]
    text = f"Art;Betreff;Rechnungsnummer;E-Mail;Betrag;Fällig\nrechnung;R1;R1;{';'.join(cells)}\n"
    assert cli(config, "import", write(config, text)) == 2
    assert f"Zeile 2: {column}: {reason}" in capsys.readouterr().err
