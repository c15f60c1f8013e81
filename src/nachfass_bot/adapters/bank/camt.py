"""ISO 20022 CAMT.053 (bank-to-customer statement) as German banks export it, versions
camt.053.001.02 and camt.053.001.08 (other camt.053.001 versions are read by the same
paths). Parsed with defusedxml, DTDs forbidden: no entities, no network.

Per ``Stmt/Ntry``: ``Amt`` and its ``Ccy``, ``CdtDbtInd`` (CRDT / DBIT), ``RvslInd``,
``Sts`` (only booked entries count), ``BookgDt`` and ``ValDt`` (``Dt`` or ``DtTm``),
``AcctSvcrRef``; from ``NtryDtls/TxDtls``: ``Refs/EndToEndId`` (not ``NOTPROVIDED``), the
counterparty (``RltdPties/Dbtr/Nm`` in .02, ``RltdPties/Dbtr/Pty/Nm`` in .08; the
creditor for a debit) with its ``…Acct/Id/IBAN``, and ``RmtInf/Ustrd`` (joined) plus a
structured creditor reference. A batch entry with several amounted ``TxDtls`` becomes one
booking per transaction.
"""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal, InvalidOperation
from xml.etree.ElementTree import Element, ParseError

import defusedxml.ElementTree as SafeTree
from defusedxml import DefusedXmlException

from nachfass_bot.domain.payments import Booking
from nachfass_bot.errors import BankFileError

NAMESPACE_RE = re.compile(r"\{(urn:iso:std:iso:20022:tech:xsd:camt\.053\.001\.\d\d)\}Document")
_AMOUNT_RE = re.compile(r"\d{1,18}(?:\.\d{1,5})?")
_NOT_PROVIDED = "NOTPROVIDED"


class _Reader:
    """One document: its namespace and the file name for messages."""

    def __init__(self, namespace: str, file: str) -> None:
        self.ns = namespace
        self.file = file

    def path(self, steps: str) -> str:
        return "/".join(f"{{{self.ns}}}{step}" for step in steps.split("/"))

    def find(self, element: Element, steps: str) -> Element | None:
        return element.find(self.path(steps))

    def text(self, element: Element, steps: str) -> str | None:
        found = element.find(self.path(steps))
        if found is None or found.text is None or not found.text.strip():
            return None
        return " ".join(found.text.split())

    def fail(self, where: str, reason: str) -> BankFileError:
        return BankFileError(self.file, f"Element {where}", reason)


def read_camt(data: bytes, file: str) -> list[Booking]:
    """The booked entries of a CAMT.053 document; BankFileError naming the XML element
    where it broke (or the line, when the XML itself is not well-formed)."""
    try:
        root = SafeTree.fromstring(data, forbid_dtd=True)
    except ParseError as exc:
        line, column = exc.position
        raise BankFileError(
            file, f"Zeile {line}", f"kein gültiges XML (Spalte {column + 1})"
        ) from None
    except DefusedXmlException:
        raise BankFileError(
            file,
            "",
            "enthält eine DTD oder Entities; das wird aus Sicherheitsgründen nicht gelesen",
        ) from None
    match = NAMESPACE_RE.fullmatch(root.tag)
    if match is None:
        raise BankFileError(file, "", "ist kein CAMT.053-Kontoauszug (camt.053.001.02 oder .08)")
    reader = _Reader(match.group(1), file)
    statement_root = reader.find(root, "BkToCstmrStmt")
    if statement_root is None:
        raise reader.fail("Document", "BkToCstmrStmt fehlt")
    bookings: list[Booking] = []
    for s_index, statement in enumerate(statement_root.findall(reader.path("Stmt")), 1):
        for e_index, entry in enumerate(statement.findall(reader.path("Ntry")), 1):
            where = f"Stmt[{s_index}]/Ntry[{e_index}]"
            bookings.extend(_read_entry(reader, entry, where))
    return bookings


def _read_entry(reader: _Reader, entry: Element, where: str) -> list[Booking]:
    status = reader.text(entry, "Sts") or reader.text(entry, "Sts/Cd")
    if status is not None and status != "BOOK":
        return []  # pending or information only: not on the statement yet
    amount = _amount(reader, entry, where)
    currency = _currency(reader, entry, where)
    sign = _sign(reader, entry, where)
    booked = _date(reader, entry, "BookgDt", where)
    has_value_date = reader.find(entry, "ValDt") is not None
    valued = _date(reader, entry, "ValDt", where) if has_value_date else booked
    reversal = (reader.text(entry, "RvslInd") or "false").lower() in ("true", "1")
    reference = reader.text(entry, "AcctSvcrRef")
    details = entry.findall(reader.path("NtryDtls/TxDtls"))
    amounted = [tx for tx in details if _transaction_amount(reader, tx) is not None]
    if len(details) > 1 and len(amounted) == len(details):
        return [
            _booking(
                reader,
                tx,
                f"{where}/NtryDtls/TxDtls[{index}]",
                amount=sign * _amount(reader, tx, f"{where}/NtryDtls/TxDtls[{index}]", batch=True),
                currency=currency,
                dates=(booked, valued),
                reference=reader.text(tx, "Refs/AcctSvcrRef")
                or (f"{reference}/{index}" if reference else None),
                reversal=reversal,
            )
            for index, tx in enumerate(details, 1)
        ]
    # An entry without details has no counterparty and no purpose: an empty element.
    transaction = details[0] if details else Element("TxDtls")
    return [
        _booking(
            reader,
            transaction,
            where,
            amount=sign * amount,
            currency=currency,
            dates=(booked, valued),
            reference=reference or reader.text(transaction, "Refs/AcctSvcrRef"),
            reversal=reversal,
        )
    ]


def _booking(
    reader: _Reader,
    tx: Element,
    where: str,
    *,
    amount: Decimal,
    currency: str,
    dates: tuple[date, date],
    reference: str | None,
    reversal: bool,
) -> Booking:
    # The counterparty: the debtor of a credit, the creditor of a debit; a reversed
    # credit keeps its debtor, so the other side is the fallback.
    first, second = ("Dbtr", "Cdtr") if amount > 0 else ("Cdtr", "Dbtr")
    name, party = "", first
    for role in (first, second):
        name = _party_name(reader, tx, role)
        if name:
            party = role
            break
    iban = reader.text(tx, f"RltdPties/{party}Acct/Id/IBAN")
    purpose_parts = [
        " ".join(part.text.split())
        for part in tx.findall(reader.path("RmtInf/Ustrd"))
        if part.text and part.text.strip()
    ]
    creditor_reference = reader.text(tx, "RmtInf/Strd/CdtrRefInf/Ref")
    if creditor_reference:
        purpose_parts.append(creditor_reference)
    end_to_end = reader.text(tx, "Refs/EndToEndId")
    return Booking(
        booked=dates[0],
        value_date=dates[1],
        amount=amount,
        currency=currency,
        payer=name,
        payer_iban=iban.replace(" ", "") if iban else None,
        purpose=" ".join(purpose_parts),
        reference=reference,
        end_to_end=end_to_end if end_to_end and end_to_end != _NOT_PROVIDED else None,
        reversal=reversal,
    )


def _party_name(reader: _Reader, tx: Element, role: str) -> str:
    for path in (f"{role}/Nm", f"{role}/Pty/Nm", f"Ultmt{role}/Nm", f"Ultmt{role}/Pty/Nm"):
        name = reader.text(tx, f"RltdPties/{path}")
        if name:
            return name
    return ""


def _transaction_amount(reader: _Reader, tx: Element) -> Element | None:
    found = reader.find(tx, "Amt")  # .08 and later
    return found if found is not None else reader.find(tx, "AmtDtls/TxAmt/Amt")


def _amount(reader: _Reader, element: Element, where: str, *, batch: bool = False) -> Decimal:
    found = _transaction_amount(reader, element) if batch else reader.find(element, "Amt")
    step = "Amt"
    if found is None:
        raise reader.fail(f"{where}/{step}", "Betrag fehlt")
    text = (found.text or "").strip()
    if not _AMOUNT_RE.fullmatch(text):
        raise reader.fail(f"{where}/{step}", f"„{text[:40]}“ ist kein Betrag wie 1190.00")
    try:
        return Decimal(text)
    except InvalidOperation:  # pragma: no cover - the pattern admits only decimals
        raise reader.fail(f"{where}/{step}", f"„{text[:40]}“ ist kein Betrag") from None


def _currency(reader: _Reader, entry: Element, where: str) -> str:
    found = reader.find(entry, "Amt")
    currency = found.get("Ccy", "") if found is not None else ""
    if not re.fullmatch(r"[A-Z]{3}", currency):
        raise reader.fail(f"{where}/Amt", "Währung (Ccy) fehlt oder ist keine ISO-4217-Währung")
    return currency


def _sign(reader: _Reader, entry: Element, where: str) -> Decimal:
    indicator = reader.text(entry, "CdtDbtInd")
    if indicator == "CRDT":
        return Decimal(1)
    if indicator == "DBIT":
        return Decimal(-1)
    raise reader.fail(f"{where}/CdtDbtInd", "muss CRDT oder DBIT sein")


def _date(reader: _Reader, entry: Element, name: str, where: str) -> date:
    text = reader.text(entry, f"{name}/Dt") or reader.text(entry, f"{name}/DtTm")
    if text is None:
        raise reader.fail(f"{where}/{name}", "Datum fehlt")
    try:
        return date.fromisoformat(text[:10])
    except ValueError:
        raise reader.fail(f"{where}/{name}", f"„{text[:40]}“ ist kein Datum") from None
