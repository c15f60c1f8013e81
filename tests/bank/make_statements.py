"""Make the bank statement fixtures in this folder: `python tests/bank/make_statements.py [DIR]`.

* CAMT.053 in the two versions German banks export: camt.053.001.02 (a Sparkasse-style
  day statement) and camt.053.001.08 (a DKB-style one with ``Pty`` parties, ``DtTm``
  dates and a reversal), written with ElementTree in the element order of the published
  ISO 20022 schemas (the XSDs are not shipped offline, so nothing validates them here);
* both again in one ZIP archive (stored, fixed dates: the bytes do not depend on zlib);
* MT940 as a Volksbank writes it: Windows-1252, ``:86:`` with the GVC and the ``?00``,
  ``?10``, ``?20``…``?29`` (27 characters each), ``?30``…``?34`` subfields, wrapped at 65
  characters, ``EREF+``/``SVWZ+`` inside the purpose, a reversal ``RC``;
* CSV in the Sparkasse "CSV-CAMT V2" layout (Windows-1252, every field quoted);
* one broken file per format.

Every file is byte-for-byte reproducible; tests/test_bank_files.py checks that.
"""

from __future__ import annotations

import io
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path
from xml.etree import ElementTree as ET

HERE = Path(__file__).resolve().parent
V02 = "urn:iso:std:iso:20022:tech:xsd:camt.053.001.02"
V08 = "urn:iso:std:iso:20022:tech:xsd:camt.053.001.08"
OWN_IBAN = "DE89370400440532013000"


@dataclass(frozen=True)
class Entry:
    amount: str  # "1190.00"
    credit: bool
    booked: str  # "2026-03-18"
    party: str
    iban: str
    purpose: tuple[str, ...]  # one Ustrd each
    reference: str
    end_to_end: str = "NOTPROVIDED"
    reversal: bool = False
    status: str = "BOOK"


SPARKASSE_DAY = (
    Entry("1190.00", True, "2026-03-18", "Praxis Dr. Jürgen Weiß", "DE02120300000000202051",
          ("RE 2026-014 Praxis Weiß, vielen Dank",), "2026031800123"),
    Entry("400.00", True, "2026-03-18", "Anna Keller Design", "DE12500105170648489890",
          ("Teilzahlung 1 von 3 zu", "Rg.-Nr. 2026015"), "2026031800124", "KELLER-0318"),
    Entry("89.90", False, "2026-03-18", "Grün & Söhne Vermietung KG", "DE44500105175407324931",
          ("Miete Lager März",), "2026031800125"),
    Entry("833.00", True, "2026-03-19", "ADLER BAU GMBH", "DE75512108001245126199",
          ("RE 2026-016 + 17",), "2026031900031"),
    Entry("450.00", True, "2026-03-19", "Lena Hoffmann", "DE91100000000123456789",
          ("Honorar Lektorat",), "2026031900032"),
    Entry("714.00", True, "2026-03-19", "JOERG BRANDT", "DE68210501700012345678",
          ("Übersetzung Katalog, danke!",), "2026031900033"),
    Entry("99.00", True, "2026-03-19", "Vorgemerkt AG", "DE27100777770209299700",
          ("RE 2026-099",), "2026031900034", status="PDNG"),
)  # fmt: skip
DKB_DAYS = (
    Entry("250.00", True, "2026-03-20T09:15:00+01:00", "Müller & Töchter OHG",
          "DE02300209000106531065", ("Anzahlung Projekt Möwe",), "DKB-20260320-0001",
          "MT-2026-0320-77"),
    Entry("1300.00", True, "2026-03-20T11:02:00+01:00", "Studio Lindgren",
          "DE02700100800030876808", ("Rechnung 2026-021",), "DKB-20260320-0002"),
    Entry("250.00", False, "2026-03-23T08:00:00+01:00", "Müller & Töchter OHG",
          "DE02300209000106531065", ("Rücküberweisung Anzahlung Projekt Möwe",),
          "DKB-20260323-0001", "MT-2026-0320-77", reversal=True),
)  # fmt: skip


def element(parent: ET.Element, path: str, text: str | None = None, **attrib: str) -> ET.Element:
    """Append the elements of ``path`` (``A/B/C``) below ``parent``; the last one gets
    ``text`` and ``attrib``."""
    node = parent
    for step in path.split("/"):
        node = ET.SubElement(node, step)
    node.text = text
    node.attrib.update(attrib)
    return node


def camt(version: str, statement_id: str, created: str, entries: tuple[Entry, ...]) -> bytes:
    """A camt.053 document with one statement, in the schema's element order."""
    ET.register_namespace("", version)
    v08 = version == V08
    root = ET.Element(f"{{{version}}}Document")
    report = element(root, "BkToCstmrStmt")
    header = element(report, "GrpHdr")
    element(header, "MsgId", f"MSG-{statement_id}")
    element(header, "CreDtTm", created)
    stmt = element(report, "Stmt")
    element(stmt, "Id", statement_id)
    element(stmt, "ElctrncSeqNb", "12")
    element(stmt, "CreDtTm", created)
    account = element(stmt, "Acct")
    element(account, "Id/IBAN", OWN_IBAN)
    element(account, "Ccy", "EUR")
    element(account, "Svcr/FinInstnId/" + ("BICFI" if v08 else "BIC"), "COBADEFFXXX")
    for code, amount in (("OPBD", "5000.00"), ("CLBD", "7697.10")):
        balance = element(stmt, "Bal")
        element(balance, "Tp/CdOrPrtry/Cd", code)
        element(balance, "Amt", amount, Ccy="EUR")
        element(balance, "CdtDbtInd", "CRDT")
        element(balance, "Dt/Dt", created[:10])
    for entry in entries:
        ntry = element(stmt, "Ntry")
        element(ntry, "Amt", entry.amount, Ccy="EUR")
        element(ntry, "CdtDbtInd", "CRDT" if entry.credit else "DBIT")
        if entry.reversal:
            element(ntry, "RvslInd", "true")
        element(ntry, "Sts/Cd" if v08 else "Sts", entry.status)
        day = "DtTm" if "T" in entry.booked else "Dt"
        element(ntry, f"BookgDt/{day}", entry.booked)
        element(ntry, f"ValDt/{day}", entry.booked)
        element(ntry, "AcctSvcrRef", entry.reference)
        code = element(ntry, "BkTxCd/Domn")
        element(code, "Cd", "PMNT")
        element(code, "Fmly/Cd", "RCDT" if entry.credit else "ICDT")
        element(code, "Fmly/SubFmlyCd", "ESCT")
        tx = element(ntry, "NtryDtls/TxDtls")
        element(tx, "Refs/EndToEndId", entry.end_to_end)
        if v08:
            element(tx, "Amt", entry.amount, Ccy="EUR")
            element(tx, "CdtDbtInd", "CRDT" if entry.credit else "DBIT")
        parties = element(tx, "RltdPties")
        # A credit's (and a reversed credit's) counterparty is the debtor.
        role = "Dbtr" if entry.credit or entry.reversal else "Cdtr"
        element(parties, f"{role}/Pty/Nm" if v08 else f"{role}/Nm", entry.party)
        element(parties, f"{role}Acct/Id/IBAN", entry.iban)
        remittance = element(tx, "RmtInf")
        for line in entry.purpose:
            element(remittance, "Ustrd", line)
        element(ntry, "AddtlNtryInf", "GUTSCHR. UEBERWEISUNG" if entry.credit else "UEBERWEISUNG")
    ET.indent(root, space="  ")
    return ET.tostring(root, encoding="UTF-8", xml_declaration=True) + b"\n"


def camt_zip(members: dict[str, bytes]) -> bytes:
    """A ZIP archive as online banking offers a month of statements: stored entries with
    a fixed date, so the bytes are the same on every machine."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_STORED) as archive:
        for name, data in members.items():
            info = zipfile.ZipInfo(name, date_time=(2026, 3, 31, 18, 0, 0))
            info.external_attr = 0o644 << 16
            archive.writestr(info, data)
    return buffer.getvalue()


def field_86(gvc: str, text: str, purpose: str, name: str, iban: str, bic: str) -> str:
    """``:86:`` as German banks structure it, wrapped at 65 characters per line."""
    chunks = [purpose[i : i + 27] for i in range(0, len(purpose), 27)][:10]
    names = [name[:27], name[27:54]] if len(name) > 27 else [name]
    value = f"{gvc}?00{text}?100931"
    value += "".join(f"?{20 + index}{chunk}" for index, chunk in enumerate(chunks))
    value += f"?30{bic}?31{iban}"
    value += "".join(f"?{32 + index}{part}" for index, part in enumerate(names))
    value += "?34000" if gvc == "166" else ""
    lines = [value[i : i + 65] for i in range(0, len(value), 65)]
    return ":86:" + "\r\n".join(lines)


def mt940(*, broken: bool = False) -> bytes:
    """A Volksbank day statement in Windows-1252 with CRLF line ends."""
    lines = [
        ":20:STARTUMSE",
        ":25:76090500/0001234567",
        ":28C:00021/001",
        ":60F:C260323EUR3210,45",
        ":61:2603240324C595,00NMSCNONREF//VB26032400017",
        field_86("166", "GUTSCHR. UEBERWEISUNG", "EREF+RG-2026-022 SVWZ+Rechnung 22 Kanzlei Groß",
                 "Kanzlei Groß & Partner mbB", "DE86300606010002468101", "DAAEDEDDXXX"),
        ":61:2603240324C300,00NMSCNONREF",
        field_86("166", "GUTSCHR. UEBERWEISUNG", "EREF+SUESS-7781 SVWZ+Abschlag RE2026-023 Café",
                 "Café Süß GbR", "DE10760501010011223344", "SSKNDE77XXX"),
        ":61:2603240324D45,00NDDTNONREF",
        field_86("105", "FOLGELASTSCHRIFT", "EREF+TK-88812 SVWZ+Telekom Rechnung März 2026",
                 "Telekom Deutschland GmbH", "DE13370100500003333333", "PBNKDEFFXXX"),
        ":61:2603250325RC300,00NMSCNONREF",
        field_86("159", "RUECKUEBERWEISUNG", "EREF+SUESS-7781 SVWZ+Retoure Abschlag RE2026-023",
                 "Café Süß GbR", "DE10760501010011223344", "SSKNDE77XXX"),
        ":62F:C260325EUR3760,45",
        "-",
    ]  # fmt: skip
    if broken:
        lines[6] = ":61:2613240324C300,00NMSCNONREF"  # month 13
    return ("\r\n".join(lines) + "\r\n").encode("cp1252")


SPARKASSE_CSV_HEADER = (
    "Auftragskonto", "Buchungstag", "Valutadatum", "Buchungstext", "Verwendungszweck",
    "Glaeubiger ID", "Mandatsreferenz", "Kundenreferenz (End-to-End)", "Sammlerreferenz",
    "Lastschrift Ursprungsbetrag", "Auslagenersatz Ruecklastschrift",
    "Beguenstigter/Zahlungspflichtiger", "Kontonummer/IBAN", "BIC (SWIFT-Code)", "Betrag",
    "Waehrung", "Info",
)  # fmt: skip
SPARKASSE_ROWS = (
    ("26.03.26", "26.03.26", "GUTSCHR. UEBERW.", "RE 2026-024 Schulz Möbel",
     "SCHULZ-24", "Schulz Möbelwerkstatt", "DE75512108001245126199", "476,00", "Umsatz gebucht"),
    ("26.03.26", "26.03.26", "GUTSCHR. UEBERW.", "Rechnung 2026-025 Teil 1",
     "NOTPROVIDED", "Ölmühle Bauer e.K.", "DE91100000000123456789", "100,00", "Umsatz gebucht"),
    ("27.03.26", "27.03.26", "LASTSCHRIFT", "Strom März", "EW-3311", "Stadtwerke Münster",
     "DE02400501500000123456", "-1.240,50", "Umsatz gebucht"),
    ("27.03.26", "27.03.26", "GUTSCHR. UEBERW.", "RE 2026-099", "NOTPROVIDED",
     "Vorgemerkt AG", "DE27100777770209299700", "99,00", "Umsatz vorgemerkt"),
)  # fmt: skip


def sparkasse_csv(*, broken: bool = False) -> bytes:
    """The Sparkasse "CSV-CAMT V2" export: Windows-1252, semicolons, every field quoted."""
    rows = [SPARKASSE_CSV_HEADER]
    for booked, valued, text, purpose, e2e, name, iban, amount, info in SPARKASSE_ROWS:
        rows.append(
            (OWN_IBAN, booked, valued, text, purpose, "", "", e2e, "", "", "", name, iban,
             "COBADEFFXXX", amount, "EUR", info)
        )  # fmt: skip
    if broken:
        rows[2] = (*rows[2][:14], "100,00,5", *rows[2][15:])
    lines = [";".join(f'"{cell}"' for cell in row) for row in rows]
    return ("\r\n".join(lines) + "\r\n").encode("cp1252")


def make(target: Path) -> dict[str, bytes]:
    sparkasse = camt(V02, "2026-03-19-STMT", "2026-03-19T20:00:00", SPARKASSE_DAY)
    dkb = camt(V08, "2026-03-23-STMT", "2026-03-23T20:00:00+01:00", DKB_DAYS)
    broken_camt = sparkasse.replace(b'<Amt Ccy="EUR">400.00</Amt>', b'<Amt Ccy="EUR">400,00</Amt>')
    files = {
        "camt053_v02_sparkasse.xml": sparkasse,
        "camt053_v08_dkb.xml": dkb,
        "camt053_2026-03.zip": camt_zip(
            {"2026-03-19_camt053.xml": sparkasse, "2026-03-23_camt053.xml": dkb}
        ),
        "mt940_volksbank.sta": mt940(),
        "sparkasse_csv_camt_v2.csv": sparkasse_csv(),
        "broken_camt_amount.xml": broken_camt,
        "broken_mt940_date.sta": mt940(broken=True),
        "broken_csv_amount.csv": sparkasse_csv(broken=True),
    }
    for name, data in files.items():
        (target / name).write_bytes(data)
    return files


if __name__ == "__main__":
    make(Path(sys.argv[1]) if len(sys.argv) > 1 else HERE)
