"""Bank statement files → bookings (docs/DESIGN.md, "Bank statements"). The fixtures in
tests/bank/ are made by tests/bank/make_statements.py."""

from __future__ import annotations

import importlib.util
import io
import sys
import zipfile
from datetime import date
from decimal import Decimal
from pathlib import Path
from types import ModuleType

import pytest

from nachfass_bot.adapters.bank.camt import read_camt
from nachfass_bot.adapters.bank.csvfile import SPARKASSE_CAMT_V2, CsvMapping, read_csv
from nachfass_bot.adapters.bank.mt940file import read_mt940
from nachfass_bot.adapters.bank.statements import (
    StatementFormat,
    read_statement,
    read_statement_file,
    sniff_format,
)
from nachfass_bot.domain.payments import Booking, MatchKind, OpenInvoice, match_credit
from nachfass_bot.errors import BankFileError, NachfassError

BANK = Path(__file__).parent / "bank"


def load_generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("make_statements", BANK / "make_statements.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def read(name: str) -> list[Booking]:
    return read_statement_file(BANK / name)


def test_generator_reproduces_the_fixtures(tmp_path: Path) -> None:
    made = load_generator().make(tmp_path)
    assert set(made) == {path.name for path in BANK.iterdir()} - {"make_statements.py"}
    for name in sorted(made):
        assert (tmp_path / name).read_bytes() == (BANK / name).read_bytes(), name


# --- CAMT.053 ------------------------------------------------------------------------------


def test_camt_v02_reads_every_booked_entry() -> None:
    bookings = read("camt053_v02_sparkasse.xml")
    assert [b.amount for b in bookings] == [
        Decimal("1190.00"),
        Decimal("400.00"),
        Decimal("-89.90"),
        Decimal("833.00"),
        Decimal("450.00"),
        Decimal("714.00"),
    ], "the pending (PDNG) entry is left out, the debit is negative"
    first = bookings[0]
    assert first == Booking(
        booked=date(2026, 3, 18),
        value_date=date(2026, 3, 18),
        amount=Decimal("1190.00"),
        currency="EUR",
        payer="Praxis Dr. Jürgen Weiß",
        payer_iban="DE02120300000000202051",
        purpose="RE 2026-014 Praxis Weiß, vielen Dank",
        reference="2026031800123",
        end_to_end=None,  # NOTPROVIDED
    )
    assert bookings[1].purpose == "Teilzahlung 1 von 3 zu Rg.-Nr. 2026015", "Ustrd joined"
    assert bookings[1].end_to_end == "KELLER-0318"
    assert bookings[2].payer == "Grün & Söhne Vermietung KG", "a debit's party is the creditor"


def test_camt_v08_reads_parties_datetimes_and_the_reversal() -> None:
    credit, lindgren, reversal = read("camt053_v08_dkb.xml")
    assert credit.payer == "Müller & Töchter OHG"
    assert credit.booked == date(2026, 3, 20), "DtTm gives the day"
    assert (credit.reference, credit.end_to_end) == ("DKB-20260320-0001", "MT-2026-0320-77")
    assert lindgren.amount == Decimal("1300.00")
    assert reversal.reversal and reversal.amount == Decimal("-250.00")
    assert reversal.end_to_end == credit.end_to_end
    assert reversal.payer == "Müller & Töchter OHG", "a reversed credit keeps its debtor"
    assert reversal.key != credit.key


def test_zip_holds_both_statements_in_name_order() -> None:
    zipped = read("camt053_2026-03.zip")
    assert zipped == read("camt053_v02_sparkasse.xml") + read("camt053_v08_dkb.xml")
    assert [b.key for b in zipped] == [
        b.key for b in read("camt053_v02_sparkasse.xml") + read("camt053_v08_dkb.xml")
    ], "an overlapping import finds the same keys"


def camt_document(entry: str, version: str = "02") -> bytes:
    ns = f"urn:iso:std:iso:20022:tech:xsd:camt.053.001.{version}"
    return (
        f'<?xml version="1.0" encoding="UTF-8"?><Document xmlns="{ns}"><BkToCstmrStmt>'
        f"<Stmt><Id>1</Id>{entry}</Stmt></BkToCstmrStmt></Document>"
    ).encode()


ENTRY = (
    '<Ntry><Amt Ccy="EUR">{amount}</Amt><CdtDbtInd>{sign}</CdtDbtInd><Sts>BOOK</Sts>'
    "<BookgDt><Dt>{day}</Dt></BookgDt>{details}</Ntry>"
)


def test_camt_batch_entry_becomes_one_booking_per_transaction() -> None:
    details = (
        "<NtryDtls>"
        '<TxDtls><Refs><EndToEndId>A</EndToEndId></Refs><AmtDtls><TxAmt><Amt Ccy="EUR">100.00'
        "</Amt></TxAmt></AmtDtls><RmtInf><Ustrd>RE 2026-001</Ustrd></RmtInf></TxDtls>"
        '<TxDtls><Refs><EndToEndId>B</EndToEndId></Refs><AmtDtls><TxAmt><Amt Ccy="EUR">50.00'
        "</Amt></TxAmt></AmtDtls><RmtInf><Ustrd>RE 2026-002</Ustrd></RmtInf></TxDtls>"
        "</NtryDtls><AcctSvcrRef>X</AcctSvcrRef>"
    )
    entry = ENTRY.format(amount="150.00", sign="CRDT", day="2026-03-02", details=details)
    first, second = read_camt(camt_document(entry), "sammler.xml")
    assert (first.amount, first.purpose, first.end_to_end) == (
        Decimal("100.00"),
        "RE 2026-001",
        "A",
    )
    assert (second.amount, second.purpose) == (Decimal("50.00"), "RE 2026-002")
    assert first.value_date == first.booked == date(2026, 3, 2), "no ValDt: the booking day"


@pytest.mark.parametrize(
    ("entry", "where", "reason"),
    [
        (ENTRY.format(amount="1e3", sign="CRDT", day="2026-03-02", details=""),
         "Element Stmt[1]/Ntry[1]/Amt", "„1e3“ ist kein Betrag"),
        (ENTRY.format(amount="-5.00", sign="CRDT", day="2026-03-02", details=""),
         "Element Stmt[1]/Ntry[1]/Amt", "kein Betrag"),
        (ENTRY.format(amount="5.00", sign="PLUS", day="2026-03-02", details=""),
         "Element Stmt[1]/Ntry[1]/CdtDbtInd", "CRDT oder DBIT"),
        (ENTRY.format(amount="5.00", sign="CRDT", day="2026-02-30", details=""),
         "Element Stmt[1]/Ntry[1]/BookgDt", "kein Datum"),
        ('<Ntry><Amt Ccy="EUR">5.00</Amt><CdtDbtInd>CRDT</CdtDbtInd></Ntry>',
         "Element Stmt[1]/Ntry[1]/BookgDt", "Datum fehlt"),
        ('<Ntry><Amt>5.00</Amt><CdtDbtInd>CRDT</CdtDbtInd></Ntry>',
         "Element Stmt[1]/Ntry[1]/Amt", "Währung"),
    ],
)  # fmt: skip
def test_camt_broken_entry_names_the_element(entry: str, where: str, reason: str) -> None:
    with pytest.raises(BankFileError) as caught:
        read_statement(camt_document(entry), "/home/jana/Kontoauszüge/auszug.xml")
    assert caught.value.file == "auszug.xml"
    assert caught.value.where == where
    assert reason in str(caught.value)
    assert str(caught.value).startswith(f"Kontoauszug auszug.xml, {where}: ")


def test_committed_broken_camt_names_the_entry() -> None:
    with pytest.raises(
        BankFileError, match=r"broken_camt_amount.xml, Element Stmt\[1\]/Ntry\[2\]/Amt"
    ):
        read("broken_camt_amount.xml")


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"<?xml version='1.0'?><Document><BkToCstmrStmt>", "Zeile 1: kein gültiges XML"),
        (b'<?xml version="1.0"?>\n<!DOCTYPE d [<!ENTITY a "aaaa">]>\n<d>&a;</d>', "DTD"),
        (b'<Invoice xmlns="urn:oasis:names:specification:ubl:schema:xsd:Invoice-2"/>',
         "kein CAMT.053"),
        (b'<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.052.001.02"/>', "kein CAMT.053"),
        (b'<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.02"/>',
         "BkToCstmrStmt fehlt"),
    ],
)  # fmt: skip
def test_camt_refuses_what_is_no_statement(data: bytes, message: str) -> None:
    with pytest.raises(BankFileError, match=message):
        read_statement(data, "x.xml")


def test_broken_xml_names_the_line() -> None:
    xml = b'<?xml version="1.0"?>\n<Document>\n  <a>\n</Document>\n'
    with pytest.raises(BankFileError) as caught:
        read_statement(xml, "x.xml")
    assert caught.value.where == "Zeile 4"


def test_zip_without_camt_or_broken_is_refused() -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("liesmich.txt", "nichts")
    with pytest.raises(BankFileError, match="enthält keine CAMT-Datei"):
        read_statement(buffer.getvalue(), "leer.zip")
    truncated = (BANK / "camt053_2026-03.zip").read_bytes()[:3000]
    with pytest.raises(BankFileError, match="kein lesbares ZIP-Archiv"):
        read_statement(truncated, "kaputt.zip")


def test_broken_camt_inside_a_zip_names_archive_and_member() -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("a.xml", (BANK / "camt053_v08_dkb.xml").read_bytes())
        archive.writestr("b.xml", (BANK / "broken_camt_amount.xml").read_bytes())
    with pytest.raises(BankFileError) as caught:
        read_statement(buffer.getvalue(), "maerz.zip")
    assert caught.value.file == "maerz.zip/b.xml"


# --- MT940 ---------------------------------------------------------------------------------


def test_mt940_reads_german_field_86() -> None:
    gross, suess, telekom, storno = read("mt940_volksbank.sta")
    assert gross == Booking(
        booked=date(2026, 3, 24),
        value_date=date(2026, 3, 24),
        amount=Decimal("595.00"),
        currency="EUR",
        payer="Kanzlei Groß & Partner mbB",  # ?32 + ?33, Windows-1252 umlaut
        payer_iban="DE86300606010002468101",  # ?31
        purpose="Rechnung 22 Kanzlei Groß",  # SVWZ+ of ?20…?2x
        reference="VB26032400017",  # after // in :61:
        end_to_end="RG-2026-022",  # EREF+
    )
    assert suess.payer == "Café Süß GbR" and "RE2026-023" in suess.purpose
    assert suess.reference is None, "NONREF without a bank reference"
    assert telekom.amount == Decimal("-45.00")
    assert storno.reversal and storno.amount == Decimal("-300.00"), "RC: a reversed credit"
    assert storno.end_to_end == suess.end_to_end
    assert len({b.key for b in (gross, suess, telekom, storno)}) == 4


def test_mt940_in_utf8_reads_the_same() -> None:
    text = (BANK / "mt940_volksbank.sta").read_bytes().decode("cp1252")
    assert read_mt940(text.encode("utf-8"), "x.sta") == read("mt940_volksbank.sta")


def test_mt940_booking_date_differs_from_value_date() -> None:
    data = (
        b":20:STARTUMSE\r\n:25:76090500/1\r\n:28C:1/1\r\n:60F:C260331EUR0,00\r\n"
        b":61:2604010331C10,00NMSCNONREF\r\n:86:166?00GUTSCHRIFT?20RE 2026-001\r\n"
        b":62F:C260401EUR10,00\r\n-\r\n"
    )
    (booking,) = read_statement(data, "umsatz.txt")
    assert (booking.value_date, booking.booked) == (date(2026, 4, 1), date(2026, 3, 31))
    assert booking.purpose == "RE 2026-001" and booking.payer == ""


def test_committed_broken_mt940_names_the_line() -> None:
    lines = (BANK / "broken_mt940_date.sta").read_bytes().split(b"\r\n")
    line = next(i for i, text in enumerate(lines, 1) if text.startswith(b":61:2613"))
    with pytest.raises(BankFileError) as caught:
        read("broken_mt940_date.sta")
    assert caught.value.where == f"Zeile {line}"
    assert "Valutadatum" in str(caught.value)


@pytest.mark.parametrize(
    ("line_61", "reason"),
    [(":61:26033X0331C10,00NMSC", "ohne Datum"), (":61:2603310331X10,00NMSC", "Soll/Haben")],
)
def test_mt940_unreadable_statement_line(line_61: str, reason: str) -> None:
    data = f":20:X\n:25:1/2\n:28C:1\n:60F:C260331EUR0,00\n{line_61}\n:86:x\n".encode()
    with pytest.raises(BankFileError) as caught:
        read_mt940(data, "a.sta")
    assert caught.value.where == "Zeile 5"
    assert reason in str(caught.value)


def test_mt940_library_refusal_names_the_line() -> None:
    data = b":20:X\n:25:1/2\n:28C:1\n:60F:Cxx0331EUR0,00\n:61:2603310331C10,00NMSC\n:86:x\n"
    with pytest.raises(BankFileError) as caught:
        read_mt940(data, "a.sta")
    assert caught.value.where == "Zeile 4"


def test_mt940_without_statement_header_is_refused() -> None:
    with pytest.raises(BankFileError, match="Feld :20: fehlt"):
        read_mt940(b":61:2603310331C10,00NMSC\n", "a.sta")


# --- CSV -----------------------------------------------------------------------------------


def test_sparkasse_csv_camt_v2() -> None:
    schulz, bauer, strom = read("sparkasse_csv_camt_v2.csv")
    assert schulz == Booking(
        booked=date(2026, 3, 26),
        value_date=date(2026, 3, 26),
        amount=Decimal("476.00"),
        currency="EUR",
        payer="Schulz Möbelwerkstatt",
        payer_iban="DE75512108001245126199",
        purpose="RE 2026-024 Schulz Möbel",
        end_to_end="SCHULZ-24",
    )
    assert bauer.payer == "Ölmühle Bauer e.K." and bauer.end_to_end is None
    assert strom.amount == Decimal("-1240.50"), "thousands dot, decimal comma, minus"
    assert schulz.key.startswith("sha256:"), "no bank reference in this export"


def test_committed_broken_csv_names_the_line() -> None:
    with pytest.raises(BankFileError) as caught:
        read("broken_csv_amount.csv")
    assert caught.value.where == "Zeile 3"
    assert "Betrag" in str(caught.value)


OWN_MAPPING = CsvMapping(
    booked="Datum",
    amount="Betrag (EUR)",
    payer="Name",
    purpose="Zweck",
    iban="IBAN",
    delimiter=",",
    decimal_comma=False,
    encoding="utf-8",
    date_format="%Y-%m-%d",
)


def test_csv_mapping_with_preamble_bom_and_decimal_point() -> None:
    data = (
        "\ufeffKonto,DE89370400440532013000\n\n"
        "Datum,Name,Zweck,IBAN,Betrag (EUR)\n"
        "2026-03-02,Jürgen Weiß,RE 2026-014,DE02 1203 0000 0000 2020 51,1190.00\n"
        "2026-03-03,Stadtwerke,Strom,,-12.5\n"
    ).encode()
    weiss, strom = read_csv(data, "export.csv", OWN_MAPPING)
    assert weiss.payer == "Jürgen Weiß" and weiss.payer_iban == "DE02120300000000202051"
    assert weiss.amount == Decimal("1190.00") and weiss.currency == "EUR"
    assert strom.amount == Decimal("-12.50") and strom.payer_iban is None


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ("2026-03-02,A,B,,12.345", "Spalte „Betrag (EUR)“: „12.345“"),
        ("02.03.2026,A,B,,10.00", "Spalte „Datum“: „02.03.2026“ ist kein Datum"),
        ("2026-03-02,A", "fehlt in dieser Zeile"),
    ],
)
def test_csv_broken_row_names_the_line(row: str, message: str) -> None:
    data = f"Datum,Name,Zweck,IBAN,Betrag (EUR)\n2026-03-01,A,B,,1.00\n{row}\n".encode()
    with pytest.raises(BankFileError) as caught:
        read_csv(data, "export.csv", OWN_MAPPING)
    assert caught.value.where == "Zeile 3"
    assert message in str(caught.value)


def test_csv_in_the_wrong_encoding_names_the_line() -> None:
    data = "Datum,Name,Zweck,IBAN,Betrag (EUR)\n2026-03-01,Weiß,B,,1.00\n".encode("cp1252")
    with pytest.raises(BankFileError, match="Zeile 2: ist nicht als utf-8-sig gespeichert"):
        read_csv(data, "export.csv", OWN_MAPPING)


def test_csv_without_the_mapped_header_is_refused() -> None:
    with pytest.raises(BankFileError, match="keine Kopfzeile"):
        read_csv(b"a;b\n1;2\n", "export.csv", SPARKASSE_CAMT_V2)


def test_decimal_comma_file_refuses_a_decimal_point() -> None:
    data = (BANK / "sparkasse_csv_camt_v2.csv").read_bytes().replace(b'"476,00"', b'"476.00"')
    with pytest.raises(BankFileError, match="Zeile 2"):
        read_csv(data, "umsatz.csv")


# --- format and file ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("camt053_v02_sparkasse.xml", StatementFormat.CAMT),
        ("camt053_2026-03.zip", StatementFormat.ZIP),
        ("mt940_volksbank.sta", StatementFormat.MT940),
        ("sparkasse_csv_camt_v2.csv", StatementFormat.CSV),
    ],
)
def test_sniffer_reads_the_bytes_not_the_name(name: str, expected: StatementFormat) -> None:
    assert sniff_format((BANK / name).read_bytes(), "download.bin") == expected
    assert sniff_format((BANK / name).read_bytes(), name) == expected


def test_unknown_format_and_missing_file() -> None:
    with pytest.raises(BankFileError, match="Format nicht erkannt"):
        read_statement(b"%PDF-1.7 ...", "auszug.pdf")
    with pytest.raises(BankFileError, match="gibt es nicht"):
        read_statement_file(BANK / "fehlt.xml")
    with pytest.raises(BankFileError, match="ist ein Ordner"):
        read_statement_file(BANK)


def test_bank_file_errors_belong_to_the_hierarchy() -> None:
    assert issubclass(BankFileError, NachfassError)


# --- the fixtures' stories -----------------------------------------------------------------

OPEN = [
    OpenInvoice(1, "2026-014", Decimal("1190.00"), "Jürgen Weiß", "buchhaltung@praxis-weiss.test"),
    OpenInvoice(2, "2026-015", Decimal("1000.00"), "Anna Keller", "anna@keller-design.test"),
    OpenInvoice(3, "2026-016", Decimal("238.00"), None, "info@adler-bau.test"),
    OpenInvoice(4, "2026-017", Decimal("595.00"), None, "info@adler-bau.test"),
    OpenInvoice(5, "2026-018", Decimal("450.00"), "Lena Hoffmann", "lena.hoffmann@gmx.test"),
    OpenInvoice(6, "2026-019", Decimal("450.00"), "Lena Hoffmann", "lena.hoffmann@gmx.test"),
    OpenInvoice(7, "2026-020", Decimal("714.00"), "Jörg Brandt", "joerg@brandt-text.test"),
    OpenInvoice(8, "2026-021", Decimal("1200.00"), "Britt Lindgren", "britt@lindgren.test"),
    OpenInvoice(9, "2026-022", Decimal("595.00"), "Dr. Carla Groß", "carla@kanzlei-gross.test"),
    OpenInvoice(10, "2026-023", Decimal("900.00"), "Café Süß", "hallo@cafe-suess.test"),
    OpenInvoice(11, "2026-024", Decimal("476.00"), "Tom Schulz", "tom@schulz-moebel.test"),
    OpenInvoice(12, "2026-025", Decimal("350.00"), "Ölmühle Bauer", "info@oelmuehle.test"),
]  # fmt: skip


def verdicts(*names: str) -> list[tuple[MatchKind, tuple[str, ...]]]:
    seen: list[Booking] = []
    result = []
    for name in names:
        for booking in read(name):
            found = match_credit(booking, OPEN, earlier=seen)
            result.append((found.kind, tuple(inv.number for inv in found.invoices)))
            seen.append(booking)
    return result


def test_every_fixture_booking_gets_its_verdict() -> None:
    assert verdicts("camt053_2026-03.zip", "mt940_volksbank.sta", "sparkasse_csv_camt_v2.csv") == [
        (MatchKind.EXACT, ("2026-014",)),
        (MatchKind.PARTIAL, ("2026-015",)),
        (MatchKind.DEBIT, ()),
        (MatchKind.COMBINED, ("2026-016", "2026-017")),  # "RE 2026-016 + 17"
        (MatchKind.UNMATCHED, ()),  # Lena Hoffmann, two open invoices of 450,00
        (MatchKind.QUESTION, ("2026-020",)),  # JOERG BRANDT, no number
        (MatchKind.UNMATCHED, ()),  # a payer who is no client
        (MatchKind.OVERPAID, ("2026-021",)),
        (MatchKind.REVERSAL, ()),
        (MatchKind.EXACT, ("2026-022",)),  # "Rechnung 22"
        (MatchKind.PARTIAL, ("2026-023",)),
        (MatchKind.DEBIT, ()),
        (MatchKind.REVERSAL, ()),
        (MatchKind.EXACT, ("2026-024",)),
        (MatchKind.PARTIAL, ("2026-025",)),
        (MatchKind.DEBIT, ()),
    ]


def test_mt940_refusal_keeps_bank_data_out_of_the_log(caplog: pytest.LogCaptureFixture) -> None:
    data = (
        b":20:X\n:25:1/2\n:28C:1\n:60F:C260331EUR0,00\n:61:2603310331C10,00NMSC\n"
        b":86:166?20RE 2026-014?31DE02120300000000202051?32Weiss\n:62F:Cxx0331EUR0,00\n"
    )
    caplog.set_level("DEBUG")
    with pytest.raises(BankFileError):
        read_mt940(data, "a.sta")
    assert "DE02120300000000202051" not in caplog.text
    assert "Cxx0331" not in caplog.text
