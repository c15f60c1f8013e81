# ruff: noqa: E501  (the XML templates keep one element per line)
"""Make the invoice fixtures in this folder: `python tests/invoices/make_invoices.py [DIR]`.

* Factur-X / ZUGFeRD 2.x PDFs (profiles EN 16931 and BASIC): a one-page PDF written here,
  turned into a PDF/A-3 with the embedded ``factur-x.xml`` by the ``factur-x`` library
  (``generate_from_binary``, which checks the XML against the profile's XSD first);
* XRechnung 3.0 XML in CII and in UBL syntax, each checked against its XSD (shipped with
  ``factur-x``: the CII D16B EN 16931 and the UBL 2.1 schemas);
* a plain PDF with German invoice text and no XML;
* mails (RFC 5322) carrying each of them, and mails whose facts are only in the text.

Everything but the Factur-X PDFs is byte-for-byte reproducible; those carry the time of
making in their metadata, so tests compare the facts read from a fresh run instead.
"""

from __future__ import annotations

import sys
import zlib
from email.message import EmailMessage
from email.policy import SMTP
from pathlib import Path

from facturx import generate_from_binary, xml_check_xsd
from lxml import etree

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/: pdfbytes
from pdfbytes import assemble_pdf

HERE = Path(__file__).resolve().parent
SELLER = "Jana Texter"
SELLER_MAIL = "jana@texter.example"

CII_NS = (
    'xmlns:rsm="urn:un:unece:uncefact:data:standard:CrossIndustryInvoice:100" '
    'xmlns:ram="urn:un:unece:uncefact:data:standard:'
    'ReusableAggregateBusinessInformationEntity:100" '
    'xmlns:udt="urn:un:unece:uncefact:data:standard:UnqualifiedDataType:100"'
)
GUIDELINES = {
    "en16931": "urn:cen.eu:en16931:2017",
    "basic": "urn:cen.eu:en16931:2017#compliant#urn:factur-x.eu:1p0:basic",
    "xrechnung": "urn:cen.eu:en16931:2017#compliant#urn:xeinkauf.de:kosit:xrechnung_3.0",
}


def cii_xml(
    *,
    guideline: str,
    number: str,
    issued: str,
    due: str | None,
    terms: str,
    net: str,
    tax: str,
    gross: str,
    buyer: str,
    buyer_mail: str,
    seller: tuple[str, str] = (SELLER, SELLER_MAIL),
) -> bytes:
    """A CII invoice (EN 16931 element order) with one line at 19 % VAT; dates CCYYMMDD."""
    due_xml = (
        f'<ram:DueDateDateTime><udt:DateTimeString format="102">{due}'
        "</udt:DateTimeString></ram:DueDateDateTime>"
        if due
        else ""
    )
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<rsm:CrossIndustryInvoice {CII_NS}>
  <rsm:ExchangedDocumentContext>
    <ram:GuidelineSpecifiedDocumentContextParameter>
      <ram:ID>{guideline}</ram:ID>
    </ram:GuidelineSpecifiedDocumentContextParameter>
  </rsm:ExchangedDocumentContext>
  <rsm:ExchangedDocument>
    <ram:ID>{number}</ram:ID>
    <ram:TypeCode>380</ram:TypeCode>
    <ram:IssueDateTime><udt:DateTimeString format="102">{issued}</udt:DateTimeString></ram:IssueDateTime>
  </rsm:ExchangedDocument>
  <rsm:SupplyChainTradeTransaction>
    <ram:IncludedSupplyChainTradeLineItem>
      <ram:AssociatedDocumentLineDocument><ram:LineID>1</ram:LineID></ram:AssociatedDocumentLineDocument>
      <ram:SpecifiedTradeProduct><ram:Name>Texte für die Website</ram:Name></ram:SpecifiedTradeProduct>
      <ram:SpecifiedLineTradeAgreement>
        <ram:NetPriceProductTradePrice><ram:ChargeAmount>{net}</ram:ChargeAmount></ram:NetPriceProductTradePrice>
      </ram:SpecifiedLineTradeAgreement>
      <ram:SpecifiedLineTradeDelivery><ram:BilledQuantity unitCode="C62">1</ram:BilledQuantity></ram:SpecifiedLineTradeDelivery>
      <ram:SpecifiedLineTradeSettlement>
        <ram:ApplicableTradeTax>
          <ram:TypeCode>VAT</ram:TypeCode><ram:CategoryCode>S</ram:CategoryCode>
          <ram:RateApplicablePercent>19</ram:RateApplicablePercent>
        </ram:ApplicableTradeTax>
        <ram:SpecifiedTradeSettlementLineMonetarySummation>
          <ram:LineTotalAmount>{net}</ram:LineTotalAmount>
        </ram:SpecifiedTradeSettlementLineMonetarySummation>
      </ram:SpecifiedLineTradeSettlement>
    </ram:IncludedSupplyChainTradeLineItem>
    <ram:ApplicableHeaderTradeAgreement>
      <ram:BuyerReference>04011000-12345-34</ram:BuyerReference>
      <ram:SellerTradeParty>
        <ram:Name>{seller[0]}</ram:Name>
        <ram:PostalTradeAddress>
          <ram:PostcodeCode>50667</ram:PostcodeCode><ram:LineOne>Domstraße 1</ram:LineOne>
          <ram:CityName>Köln</ram:CityName><ram:CountryID>DE</ram:CountryID>
        </ram:PostalTradeAddress>
        <ram:URIUniversalCommunication><ram:URIID schemeID="EM">{seller[1]}</ram:URIID></ram:URIUniversalCommunication>
        <ram:SpecifiedTaxRegistration><ram:ID schemeID="VA">DE123456789</ram:ID></ram:SpecifiedTaxRegistration>
      </ram:SellerTradeParty>
      <ram:BuyerTradeParty>
        <ram:Name>{buyer}</ram:Name>
        <ram:PostalTradeAddress>
          <ram:PostcodeCode>10115</ram:PostcodeCode><ram:LineOne>Hauptstraße 5</ram:LineOne>
          <ram:CityName>Berlin</ram:CityName><ram:CountryID>DE</ram:CountryID>
        </ram:PostalTradeAddress>
        <ram:URIUniversalCommunication><ram:URIID schemeID="EM">{buyer_mail}</ram:URIID></ram:URIUniversalCommunication>
      </ram:BuyerTradeParty>
    </ram:ApplicableHeaderTradeAgreement>
    <ram:ApplicableHeaderTradeDelivery/>
    <ram:ApplicableHeaderTradeSettlement>
      <ram:InvoiceCurrencyCode>EUR</ram:InvoiceCurrencyCode>
      <ram:SpecifiedTradeSettlementPaymentMeans>
        <ram:TypeCode>58</ram:TypeCode>
        <ram:PayeePartyCreditorFinancialAccount>
          <ram:IBANID>DE02120300000000202051</ram:IBANID>
        </ram:PayeePartyCreditorFinancialAccount>
      </ram:SpecifiedTradeSettlementPaymentMeans>
      <ram:ApplicableTradeTax>
        <ram:CalculatedAmount>{tax}</ram:CalculatedAmount><ram:TypeCode>VAT</ram:TypeCode>
        <ram:BasisAmount>{net}</ram:BasisAmount><ram:CategoryCode>S</ram:CategoryCode>
        <ram:RateApplicablePercent>19</ram:RateApplicablePercent>
      </ram:ApplicableTradeTax>
      <ram:SpecifiedTradePaymentTerms>
        <ram:Description>{terms}</ram:Description>{due_xml}
      </ram:SpecifiedTradePaymentTerms>
      <ram:SpecifiedTradeSettlementHeaderMonetarySummation>
        <ram:LineTotalAmount>{net}</ram:LineTotalAmount>
        <ram:TaxBasisTotalAmount>{net}</ram:TaxBasisTotalAmount>
        <ram:TaxTotalAmount currencyID="EUR">{tax}</ram:TaxTotalAmount>
        <ram:GrandTotalAmount>{gross}</ram:GrandTotalAmount>
        <ram:DuePayableAmount>{gross}</ram:DuePayableAmount>
      </ram:SpecifiedTradeSettlementHeaderMonetarySummation>
    </ram:ApplicableHeaderTradeSettlement>
  </rsm:SupplyChainTradeTransaction>
</rsm:CrossIndustryInvoice>
""".encode()


def ubl_xml() -> bytes:
    """An XRechnung 3.0 invoice in UBL 2.1 syntax (element order of the UBL schema)."""
    cur = 'currencyID="EUR"'
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<Invoice xmlns="urn:oasis:names:specification:ubl:schema:xsd:Invoice-2"
    xmlns:cac="urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2"
    xmlns:cbc="urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2">
  <cbc:CustomizationID>{GUIDELINES["xrechnung"]}</cbc:CustomizationID>
  <cbc:ProfileID>urn:fdc:peppol.eu:2017:poacc:billing:01:1.0</cbc:ProfileID>
  <cbc:ID>RE-2026-0117</cbc:ID>
  <cbc:IssueDate>2026-11-20</cbc:IssueDate>
  <cbc:DueDate>2026-12-04</cbc:DueDate>
  <cbc:InvoiceTypeCode>380</cbc:InvoiceTypeCode>
  <cbc:DocumentCurrencyCode>EUR</cbc:DocumentCurrencyCode>
  <cbc:BuyerReference>991-01234-56</cbc:BuyerReference>
  <cac:AccountingSupplierParty>
    <cac:Party>
      <cbc:EndpointID schemeID="EM">{SELLER_MAIL}</cbc:EndpointID>
      <cac:PostalAddress>
        <cbc:CityName>Köln</cbc:CityName><cbc:PostalZone>50667</cbc:PostalZone>
        <cac:Country><cbc:IdentificationCode>DE</cbc:IdentificationCode></cac:Country>
      </cac:PostalAddress>
      <cac:PartyTaxScheme>
        <cbc:CompanyID>DE123456789</cbc:CompanyID>
        <cac:TaxScheme><cbc:ID>VAT</cbc:ID></cac:TaxScheme>
      </cac:PartyTaxScheme>
      <cac:PartyLegalEntity><cbc:RegistrationName>{SELLER}</cbc:RegistrationName></cac:PartyLegalEntity>
    </cac:Party>
  </cac:AccountingSupplierParty>
  <cac:AccountingCustomerParty>
    <cac:Party>
      <cbc:EndpointID schemeID="EM">rechnung@stadt-musterhausen.example</cbc:EndpointID>
      <cac:PostalAddress>
        <cbc:CityName>Musterhausen</cbc:CityName><cbc:PostalZone>12345</cbc:PostalZone>
        <cac:Country><cbc:IdentificationCode>DE</cbc:IdentificationCode></cac:Country>
      </cac:PostalAddress>
      <cac:PartyLegalEntity><cbc:RegistrationName>Stadt Musterhausen</cbc:RegistrationName></cac:PartyLegalEntity>
    </cac:Party>
  </cac:AccountingCustomerParty>
  <cac:PaymentMeans>
    <cbc:PaymentMeansCode>58</cbc:PaymentMeansCode>
    <cac:PayeeFinancialAccount><cbc:ID>DE02120300000000202051</cbc:ID></cac:PayeeFinancialAccount>
  </cac:PaymentMeans>
  <cac:PaymentTerms><cbc:Note>Zahlbar bis 04.12.2026 ohne Abzug.</cbc:Note></cac:PaymentTerms>
  <cac:TaxTotal>
    <cbc:TaxAmount {cur}>456.00</cbc:TaxAmount>
    <cac:TaxSubtotal>
      <cbc:TaxableAmount {cur}>2400.00</cbc:TaxableAmount>
      <cbc:TaxAmount {cur}>456.00</cbc:TaxAmount>
      <cac:TaxCategory>
        <cbc:ID>S</cbc:ID><cbc:Percent>19</cbc:Percent>
        <cac:TaxScheme><cbc:ID>VAT</cbc:ID></cac:TaxScheme>
      </cac:TaxCategory>
    </cac:TaxSubtotal>
  </cac:TaxTotal>
  <cac:LegalMonetaryTotal>
    <cbc:LineExtensionAmount {cur}>2400.00</cbc:LineExtensionAmount>
    <cbc:TaxExclusiveAmount {cur}>2400.00</cbc:TaxExclusiveAmount>
    <cbc:TaxInclusiveAmount {cur}>2856.00</cbc:TaxInclusiveAmount>
    <cbc:PrepaidAmount {cur}>500.00</cbc:PrepaidAmount>
    <cbc:PayableAmount {cur}>2356.00</cbc:PayableAmount>
  </cac:LegalMonetaryTotal>
  <cac:InvoiceLine>
    <cbc:ID>1</cbc:ID>
    <cbc:InvoicedQuantity unitCode="HUR">24</cbc:InvoicedQuantity>
    <cbc:LineExtensionAmount {cur}>2400.00</cbc:LineExtensionAmount>
    <cac:Item>
      <cbc:Name>Beratung Bürgerportal</cbc:Name>
      <cac:ClassifiedTaxCategory>
        <cbc:ID>S</cbc:ID><cbc:Percent>19</cbc:Percent>
        <cac:TaxScheme><cbc:ID>VAT</cbc:ID></cac:TaxScheme>
      </cac:ClassifiedTaxCategory>
    </cac:Item>
    <cac:Price><cbc:PriceAmount {cur}>100.00</cbc:PriceAmount></cac:Price>
  </cac:InvoiceLine>
</Invoice>
""".encode()


def _pdf_string(line: str) -> bytes:
    raw = line.encode("cp1252")  # WinAnsiEncoding: umlauts and € in the standard fonts
    return b"(" + raw.replace(b"\\", b"\\\\").replace(b"(", b"\\(").replace(b")", b"\\)") + b")"


def text_pdf(lines: list[str]) -> bytes:
    """A one-page A4 PDF 1.4 with ``lines`` in Helvetica, written object by object."""
    content = (
        b"BT /F1 11 Tf 56 780 Td 15 TL "
        + b" ".join(_pdf_string(line) + b" '" for line in lines)
        + b" ET"
    )
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] "
        b"/Resources << /Font << /F1 4 0 R >> >> /Contents 5 0 R >>",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>",
        b"<< /Length %d >>\nstream\n" % len(content) + content + b"\nendstream",
    ]
    return assemble_pdf(objects, b"1.4")


def mail(
    subject: str, to: str, body: str, attachment: tuple[str, str, bytes] | None = None
) -> bytes:
    """An invoice mail as the owner's mail program sends it; fixed boundary and IDs."""
    msg = EmailMessage()
    msg["From"] = f"{SELLER} <{SELLER_MAIL}>"
    msg["To"] = to
    msg["Subject"] = subject
    msg["Date"] = "Mon, 30 Nov 2026 10:15:00 +0100"
    msg["Message-ID"] = f"<{zlib.crc32(subject.encode()):08x}@texter.example>"
    msg.set_content(body)
    if attachment is not None:
        name, ctype, data = attachment
        maintype, subtype = ctype.split("/")
        msg.add_attachment(data, maintype=maintype, subtype=subtype, filename=name)
        msg.set_boundary("==invoice-boundary==")
    return msg.as_bytes(policy=SMTP)


def check_xsd(xml: bytes, flavor: str, level: str) -> None:
    xml_check_xsd(etree.fromstring(xml), flavor=flavor, level=level)


PLAIN_LINES = [
    "Jana Texter - Domstraße 1 - 50667 Köln",
    "Werbeagentur Hoffmann GmbH, Lindenallee 3, 20095 Hamburg",
    "Rechnung",
    "Rechnungs-Nr.: 2026-031",
    "Rechnungsdatum: 23.11.2026",
    "Leistung: Texte für den Herbstkatalog",
    "Nettobetrag: 2.000,00 €",
    "zzgl. 19 % USt.: 380,00 €",
    "Gesamtbetrag: 2.380,00 €",
    "Zahlbar bis 07.12.2026 ohne Abzug auf das Konto DE02 1203 0000 0000 2020 51.",
]

BODY_ONLY = """Guten Tag Herr Keller,

anbei meine Rechnung für den Workshop am 24.11.2026.

Rechnungsnummer: WS-2026-07
Rechnungsdatum: 25.11.2026
Rechnungsbetrag: EUR 1.190,00

Zahlungsziel 14 Tage. Vielen Dank für den schönen Auftrag!

Viele Grüße
Jana Texter
"""

SUBJECT_ONLY = """Hallo Petra,

wie besprochen die Rechnung für die Korrektur der Broschüre:
zu zahlen sind 595,00 € innerhalb von 10 Tagen.

Liebe Grüße
Jana
"""


def fixtures() -> dict[str, bytes]:
    """Every fixture file by name."""
    en16931 = cii_xml(
        guideline=GUIDELINES["en16931"], number="2026-014", issued="20261130",
        due="20261214", terms="Zahlbar bis 14.12.2026 ohne Abzug.", net="1000.00",
        tax="190.00", gross="1190.00", buyer="Adler Immobilien GmbH",
        buyer_mail="buchhaltung@adler-immobilien.example",
    )  # fmt: skip
    basic = cii_xml(
        guideline=GUIDELINES["basic"], number="2026-015", issued="20261130", due=None,
        terms="Zahlbar innerhalb von 30 Tagen ohne Abzug.", net="500.00", tax="95.00",
        gross="595.00", buyer="Praxis Dr. Sommer", buyer_mail="praxis@sommer.example",
    )  # fmt: skip
    xrechnung_cii = cii_xml(
        guideline=GUIDELINES["xrechnung"], number="XR-2026-0042", issued="20261127",
        due="20261227", terms="Zahlbar innerhalb von 30 Tagen.", net="3200.00",
        tax="608.00", gross="3808.00", buyer="Landesamt für Statistik",
        buyer_mail="eingangsrechnung@lfs.example",
    )  # fmt: skip
    xrechnung_ubl = ubl_xml()
    check_xsd(en16931, "factur-x", "en16931")
    check_xsd(basic, "factur-x", "basic")
    check_xsd(xrechnung_cii, "factur-x", "en16931")
    check_xsd(xrechnung_ubl, "ubl-2.1", "en16931")
    page = text_pdf(["Rechnung - siehe eingebettete E-Rechnung"])
    files = {
        "facturx_en16931.pdf": generate_from_binary(page, en16931, level="en16931"),
        "zugferd_basic.pdf": generate_from_binary(page, basic, level="basic"),
        "xrechnung_cii.xml": xrechnung_cii,
        "xrechnung_ubl.xml": xrechnung_ubl,
        "plain_invoice.pdf": text_pdf(PLAIN_LINES),
    }
    adler = "Adler Immobilien <buchhaltung@adler-immobilien.example>"
    files["mail_facturx_en16931.eml"] = mail(
        "Rechnung 2026-014",
        adler,
        "Guten Tag,\n\nanbei meine Rechnung.\n",
        ("Rechnung_2026-014.pdf", "application/pdf", files["facturx_en16931.pdf"]),
    )
    files["mail_zugferd_basic.eml"] = mail(
        "Ihre Rechnung", "Praxis Dr. Sommer <praxis@sommer.example>",
        "Guten Tag,\n\nanbei die Rechnung als ZUGFeRD-PDF.\n",
        ("rechnung.pdf", "application/pdf", files["zugferd_basic.pdf"]),
    )  # fmt: skip
    files["mail_xrechnung_cii.eml"] = mail(
        "XRechnung XR-2026-0042", "eingangsrechnung@lfs.example",
        "Sehr geehrte Damen und Herren,\n\nanbei die XRechnung.\n",
        ("XR-2026-0042.xml", "application/xml", xrechnung_cii),
    )  # fmt: skip
    files["mail_xrechnung_ubl.eml"] = mail(
        "Rechnung RE-2026-0117", "rechnung@stadt-musterhausen.example",
        "Sehr geehrte Damen und Herren,\n\nanbei die XRechnung (UBL).\n",
        ("RE-2026-0117.xml", "text/xml", xrechnung_ubl),
    )  # fmt: skip
    files["mail_plain_pdf.eml"] = mail(
        "Rechnung Herbstkatalog", "Sabine Hoffmann <s.hoffmann@werbeagentur-hoffmann.example>",
        "Liebe Frau Hoffmann,\n\nanbei meine Rechnung als PDF.\n",
        ("Rechnung.pdf", "application/pdf", files["plain_invoice.pdf"]),
    )  # fmt: skip
    files["mail_body_only.eml"] = mail(
        "Rechnung Workshop", "Thomas Keller <keller@keller-bau.example>", BODY_ONLY
    )
    files["mail_subject_only.eml"] = mail(
        "Rechnung 2026-016", "Petra Adler <petra@adler-design.example>", SUBJECT_ONLY
    )
    return files


DEMO_INVOICE = HERE.parents[1] / "src" / "nachfass_bot" / "cli" / "demo_rechnung_2026-014.pdf"


def demo_invoice() -> bytes:
    """The e-invoice the demo's owner sends (``nachfass-bot demo``): Factur-X EN 16931."""
    xml = cii_xml(
        guideline=GUIDELINES["en16931"], number="2026-014", issued="20260302",
        due="20260309", terms="Zahlbar bis 09.03.2026 ohne Abzug.", net="1000.00",
        tax="190.00", gross="1190.00", buyer="Praxis Dr. Jürgen Weiß",
        buyer_mail="buchhaltung@praxis-weiss.example",
        seller=("Anna Berger, Berger Design", "anna@berger-design.example"),
    )  # fmt: skip
    check_xsd(xml, "factur-x", "en16931")
    page = text_pdf(["Rechnung 2026-014 - siehe eingebettete E-Rechnung (Factur-X)"])
    return bytes(generate_from_binary(page, xml, level="en16931"))


def main(folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name, data in fixtures().items():
        (folder / name).write_bytes(data)


if __name__ == "__main__":
    if sys.argv[1:] == ["--demo"]:
        DEMO_INVOICE.write_bytes(demo_invoice())
    else:
        main(Path(sys.argv[1]) if len(sys.argv) > 1 else HERE)
