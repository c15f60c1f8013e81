"""How a bank's CSV export is laid out: which column holds what (docs/DESIGN.md, "Bank
statements"). Plain data, so that the config can name a mapping (``[bank.csv]``) and the
CSV reader in ``adapters/bank/csvfile.py`` can follow it.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class CsvMapping:
    """Which column holds what, and how the file is written. Optional columns may be
    None; ``pending_column``/``pending_values`` mark rows that are not booked yet."""

    booked: str
    amount: str
    payer: str
    purpose: str
    value_date: str | None = None
    iban: str | None = None
    currency: str | None = None
    reference: str | None = None
    end_to_end: str | None = None
    pending_column: str | None = None
    pending_values: tuple[str, ...] = ()
    delimiter: str = ";"
    decimal_comma: bool = True
    encoding: str = "cp1252"  # "cp1252", "utf-8" or "utf-8-sig"
    date_format: str = "%d.%m.%Y"
    default_currency: str = "EUR"

    def columns(self) -> tuple[str, ...]:
        named = (
            self.booked,
            self.amount,
            self.payer,
            self.purpose,
            self.value_date,
            self.iban,
            self.currency,
            self.reference,
            self.end_to_end,
            self.pending_column,
        )
        return tuple(column for column in named if column)


SPARKASSE_CAMT_V2 = CsvMapping(
    booked="Buchungstag",
    value_date="Valutadatum",
    amount="Betrag",
    currency="Waehrung",
    payer="Beguenstigter/Zahlungspflichtiger",
    iban="Kontonummer/IBAN",
    purpose="Verwendungszweck",
    end_to_end="Kundenreferenz (End-to-End)",
    pending_column="Info",
    pending_values=("Umsatz vorgemerkt",),
    date_format="%d.%m.%y",
)
PRESETS = {"sparkasse-csv-camt-v2": SPARKASSE_CAMT_V2}
