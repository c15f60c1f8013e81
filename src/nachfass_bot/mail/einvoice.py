"""German e-invoices (EN 16931) as plain values: CII and UBL XML in, fields out. Pure.

Reads the few business terms the bot needs (docs/DESIGN.md, "Invoice facts"):

* CII (UN/CEFACT Cross Industry Invoice D16B: Factur-X / ZUGFeRD 2.x, XRechnung CII):
  BT-1 ``rsm:ExchangedDocument/ram:ID``, BT-2 ``ram:IssueDateTime`` (format 102),
  BT-5 ``ram:InvoiceCurrencyCode``, BT-9 ``ram:SpecifiedTradePaymentTerms/
  ram:DueDateDateTime``, BT-20 the terms' ``ram:Description``, BT-44
  ``ram:BuyerTradeParty/ram:Name``, BT-49 its ``ram:URIUniversalCommunication/ram:URIID``,
  BT-115 ``ram:SpecifiedTradeSettlementHeaderMonetarySummation/ram:DuePayableAmount``;
* UBL 2.1 Invoice (XRechnung UBL): ``cbc:ID``, ``cbc:IssueDate``, ``cbc:DueDate``,
  ``cbc:DocumentCurrencyCode``, ``cac:PaymentTerms/cbc:Note``, the customer party's
  ``cac:PartyLegalEntity/cbc:RegistrationName`` and ``cbc:EndpointID``,
  ``cac:LegalMonetaryTotal/cbc:PayableAmount``.

Credit notes (BT-3 381 and its kin; a UBL ``CreditNote`` root) are not invoices here.
XML is parsed with defusedxml: no DTD, no entities, no network. Anything that is not one of
the two syntaxes, or lacks number, issue date or amount, gives None; nothing raises.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from xml.etree.ElementTree import Element

import defusedxml.ElementTree as SafeTree

CII_ROOT = "{urn:un:unece:uncefact:data:standard:CrossIndustryInvoice:100}CrossIndustryInvoice"
UBL_ROOT = "{urn:oasis:names:specification:ubl:schema:xsd:Invoice-2}Invoice"

_CII = {
    "rsm": "urn:un:unece:uncefact:data:standard:CrossIndustryInvoice:100",
    "ram": "urn:un:unece:uncefact:data:standard:ReusableAggregateBusinessInformationEntity:100",
    "udt": "urn:un:unece:uncefact:data:standard:UnqualifiedDataType:100",
}
_UBL = {
    "cac": "urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2",
    "cbc": "urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2",
}
_CII_SETTLEMENT = "rsm:SupplyChainTradeTransaction/ram:ApplicableHeaderTradeSettlement"
_CII_BUYER = (
    "rsm:SupplyChainTradeTransaction/ram:ApplicableHeaderTradeAgreement/ram:BuyerTradeParty"
)
_UBL_BUYER = "cac:AccountingCustomerParty/cac:Party"
_CURRENCY_RE = re.compile(r"[A-Z]{3}")
_AMOUNT_RE = re.compile(r"\d{1,15}(?:\.\d{1,4})?")
CENT = Decimal("0.01")
# UNTDID 1001 credit notes (EN 16931 BT-3): money goes the other way, nothing to chase.
CREDIT_NOTE_CODES = frozenset(
    {"81", "83", "261", "262", "296", "308", "381", "396", "420", "458", "532"}
)


@dataclass(frozen=True)
class EInvoiceFields:
    """What one e-invoice XML says; ``syntax`` is "cii" or "ubl"."""

    syntax: str
    number: str
    issue_date: date
    due_date: date | None
    terms_text: str | None
    amount_due: Decimal
    currency: str
    buyer_name: str | None
    buyer_email: str | None


def read_einvoice(xml: bytes) -> EInvoiceFields | None:
    """The invoice fields of a CII or UBL invoice; None for anything else or broken XML."""
    try:
        root = SafeTree.fromstring(xml, forbid_dtd=True)
    except Exception:  # defusedxml's refusals, ParseError, encoding errors
        return None
    if root.tag == CII_ROOT:
        return _read_cii(root)
    if root.tag == UBL_ROOT:
        return _read_ubl(root)
    return None


def _read_cii(root: Element) -> EInvoiceFields | None:
    settlement = f"{_CII_SETTLEMENT}/"
    number = _text(root, "rsm:ExchangedDocument/ram:ID", _CII)
    issued = _cii_date(root, "rsm:ExchangedDocument/ram:IssueDateTime/udt:DateTimeString")
    amount = _amount(
        _text(
            root,
            settlement + "ram:SpecifiedTradeSettlementHeaderMonetarySummation/ram:DuePayableAmount",
            _CII,
        )
    )
    if number is None or issued is None or amount is None:
        return None
    if _text(root, "rsm:ExchangedDocument/ram:TypeCode", _CII) in CREDIT_NOTE_CODES:
        return None
    terms = settlement + "ram:SpecifiedTradePaymentTerms/"
    return EInvoiceFields(
        syntax="cii",
        number=number,
        issue_date=issued,
        due_date=_cii_date(root, terms + "ram:DueDateDateTime/udt:DateTimeString"),
        terms_text=_text(root, terms + "ram:Description", _CII),
        amount_due=amount,
        currency=_currency(_text(root, settlement + "ram:InvoiceCurrencyCode", _CII)),
        buyer_name=_text(root, f"{_CII_BUYER}/ram:Name", _CII),
        buyer_email=_email(
            _text(root, f"{_CII_BUYER}/ram:URIUniversalCommunication/ram:URIID", _CII)
            or _text(
                root,
                f"{_CII_BUYER}/ram:DefinedTradeContact/ram:EmailURIUniversalCommunication/ram:URIID",
                _CII,
            )
        ),
    )


def _read_ubl(root: Element) -> EInvoiceFields | None:
    number = _text(root, "cbc:ID", _UBL)
    issued = _iso_date(_text(root, "cbc:IssueDate", _UBL))
    amount = _amount(_text(root, "cac:LegalMonetaryTotal/cbc:PayableAmount", _UBL))
    if number is None or issued is None or amount is None:
        return None
    if _text(root, "cbc:InvoiceTypeCode", _UBL) in CREDIT_NOTE_CODES:
        return None
    return EInvoiceFields(
        syntax="ubl",
        number=number,
        issue_date=issued,
        due_date=_iso_date(_text(root, "cbc:DueDate", _UBL)),
        terms_text=_text(root, "cac:PaymentTerms/cbc:Note", _UBL),
        amount_due=amount,
        currency=_currency(_text(root, "cbc:DocumentCurrencyCode", _UBL)),
        buyer_name=_text(root, f"{_UBL_BUYER}/cac:PartyLegalEntity/cbc:RegistrationName", _UBL)
        or _text(root, f"{_UBL_BUYER}/cac:PartyName/cbc:Name", _UBL),
        buyer_email=_email(
            _text(root, f"{_UBL_BUYER}/cbc:EndpointID", _UBL)
            or _text(root, f"{_UBL_BUYER}/cac:Contact/cbc:ElectronicMail", _UBL)
        ),
    )


def _text(root: Element, path: str, namespaces: dict[str, str]) -> str | None:
    found = root.find(path, namespaces)
    if found is None or found.text is None:
        return None
    value = " ".join(found.text.split())
    return value or None


def _cii_date(root: Element, path: str) -> date | None:
    """A CII date: ``udt:DateTimeString`` with format 102 (CCYYMMDD), the only one EN 16931
    allows."""
    found = root.find(path, _CII)
    if found is None or found.text is None or found.get("format", "102") != "102":
        return None
    try:
        return datetime.strptime(found.text.strip(), "%Y%m%d").date()
    except ValueError:
        return None


def _iso_date(value: str | None) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        return None


def _amount(value: str | None) -> Decimal | None:
    """An XML decimal (``1190.00``) rounded to cents; negative or odd forms refused."""
    if value is None or not _AMOUNT_RE.fullmatch(value):
        return None
    try:
        return Decimal(value).quantize(CENT)
    except InvalidOperation:
        return None


def _currency(value: str | None) -> str:
    """ISO 4217 code; EN 16931 makes BT-5 mandatory, EUR when a sender left it out."""
    return value if value is not None and _CURRENCY_RE.fullmatch(value) else "EUR"


def _email(value: str | None) -> str | None:
    if value is None:
        return None
    value = value.removeprefix("mailto:").strip().lower()
    return value if re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", value) else None
