"""One sent mail → a proposed thread: its kind (:func:`classify_sent`), its client and
greeting (:func:`read_sent_facts`) and, for an invoice, the facts read out of it
(:func:`read_invoice`). Shared by the cycle, ``scan`` and ``track --from-sent``
(docs/DESIGN.md, "Tracking from the Sent folder").
"""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping
from dataclasses import asdict, dataclass, field, replace
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from nachfass_bot.app.threads import NewThread
from nachfass_bot.config import Config
from nachfass_bot.domain.dates import in_date_window
from nachfass_bot.domain.models import Client, Kind, Source
from nachfass_bot.mail.invoice import InvoiceFacts, read_invoice
from nachfass_bot.mail.sentfacts import SentFacts, read_sent_facts
from nachfass_bot.mail.sentkind import KIND_NAMES, SentVerdict, classify_sent

__all__ = ["Finding", "Proposal", "SentReader", "as_copy_to"]

# An invoice's facts, by the field names of NewThread, as the owner's notice names them.
INVOICE_FIELD_LABELS = {"invoice_no": "Rechnungsnummer", "amount": "Betrag", "due_date": "fällig"}


@dataclass(frozen=True)
class Proposal:
    """The values of a thread to be, from one sent mail; kept as JSON while the owner
    decides (``[tracking] sent = "ask"``, or an invoice whose facts were not readable)."""

    kind: Kind
    email: str
    subject: str
    message_id: str
    started_at: datetime
    name: str | None = None
    du: bool = False
    anrede: str | None = None
    invoice_no: str | None = None
    amount: Decimal | None = None
    due_date: date | None = None
    due_from_terms: bool = False
    terms_days: int | None = None
    invoice_source: str | None = None  # "factur-x", "pdf-text" … (mail/invoice.py)
    delay_days: int | None = None
    guessed_du: bool = True  # no greeting said Du or Sie: the owner may want to correct it

    @property
    def missing(self) -> tuple[str, ...]:
        """An invoice's facts that could not be read (NewThread refuses it without)."""
        if self.kind is not Kind.RECHNUNG:
            return ()
        values = {"invoice_no": self.invoice_no, "amount": self.amount, "due_date": self.due_date}
        return tuple(name for name, value in values.items() if value in (None, ""))

    def new_thread(self, source: Source, not_before: datetime | None = None) -> NewThread:
        """The thread to store; IncompleteInvoice when an invoice's facts are missing."""
        return NewThread(
            kind=self.kind,
            email=self.email,
            subject=self.subject,
            name=self.name,
            du=self.du,
            anrede=self.anrede,
            started_at=self.started_at,
            message_id=self.message_id,
            invoice_no=self.invoice_no if self.kind is Kind.RECHNUNG else None,
            amount=self.amount if self.kind is Kind.RECHNUNG else None,
            due_date=self.due_date if self.kind is Kind.RECHNUNG else None,
            source=source,
            first_delay_days=self.delay_days,
            not_before=not_before,
        )

    def to_json(self) -> str:
        return json.dumps({key: _jsonable(value) for key, value in asdict(self).items()})

    @classmethod
    def from_json(cls, text: str) -> Proposal:
        data: dict[str, Any] = json.loads(text)
        data["kind"] = Kind(data["kind"])
        data["started_at"] = datetime.fromisoformat(data["started_at"])
        if data.get("amount") is not None:
            data["amount"] = Decimal(data["amount"])
        if data.get("due_date") is not None:
            data["due_date"] = date.fromisoformat(data["due_date"])
        return cls(**data)


def _jsonable(value: object) -> object:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    return value


@dataclass(frozen=True)
class Finding:
    """What one sent mail is: ``proposal`` None means "do not track" (``reason`` says
    why); ``requested`` is a copy to the tracking address."""

    verdict: SentVerdict
    proposal: Proposal | None
    reason: str
    requested: bool = False
    signals: tuple[str, ...] = field(default=())


@dataclass(frozen=True)
class SentReader:
    """Reads the owner's sent mail with the owner's settings."""

    owner_email: str
    tracking_address: str
    max_recipients: int
    default_terms_days: int

    @classmethod
    def from_config(cls, config: Config) -> SentReader:
        owner = config.owner.email.strip().lower()
        return cls(
            owner_email=owner,
            tracking_address=config.tracking.tracking_address(owner),
            max_recipients=config.tracking.max_recipients,
            default_terms_days=config.preferences.payment.default_terms_days,
        )

    def read(
        self,
        raw: bytes,
        *,
        now: datetime,
        received: datetime | None = None,
        tracked_message_ids: Collection[str] = (),
        clients: Mapping[str, Client] | None = None,
        kind: Kind | None = None,
    ) -> Finding:
        """Judge one sent mail (raw bytes) and, when it is to be tracked, propose its
        thread. ``clients`` (by address) fill in Du/Sie and the name the greeting and
        the header do not give; a ``kind`` the owner named replaces the judgement.
        Never raises."""
        domain = self.owner_email.rpartition("@")[2]
        verdict = (
            SentVerdict(kind, f"{KIND_NAMES[kind]}: von Dir angegeben.")
            if kind is not None
            else classify_sent(
                raw,
                owner_email=self.owner_email,
                owner_domains=(domain,),
                tracking_address=self.tracking_address,
                max_recipients=self.max_recipients,
                tracked_message_ids=tracked_message_ids,
            )
        )
        if verdict.kind is None:
            return Finding(verdict, None, verdict.reason, verdict.requested)
        facts = read_sent_facts(raw, not_clients=(self.owner_email, self.tracking_address))
        if facts is None or facts.message_id is None:
            why = "kein Empfänger" if facts is None else "keine Message-ID"
            return Finding(verdict, None, f"Nicht verfolgt: {why}.", verdict.requested)
        proposal = self._proposal(verdict.kind, facts, now, received, clients or {})
        proposal = replace(proposal, delay_days=verdict.delay_days)
        if verdict.kind is Kind.RECHNUNG:
            invoice = read_invoice(raw, default_terms_days=self.default_terms_days)
            proposal = _with_invoice(proposal, invoice)
        return Finding(verdict, proposal, verdict.reason, verdict.requested, verdict.signals)

    def _proposal(
        self,
        kind: Kind,
        facts: SentFacts,
        now: datetime,
        received: datetime | None,
        clients: Mapping[str, Client],
    ) -> Proposal:
        known = clients.get(facts.client_email)
        greeting = facts.greeting
        du = greeting.du if greeting.du is not None else (known.du if known else False)
        anrede = greeting.anrede or (known.anrede if known else None)
        sent_at = min(_plausible(facts.date, now) or received or now, now)
        assert facts.message_id is not None  # checked by the caller
        return Proposal(
            kind=kind,
            email=facts.client_email,
            subject=facts.subject or "(ohne Betreff)",
            message_id=facts.message_id,
            started_at=sent_at,
            name=facts.client_name or (known.name if known else None),
            du=du,
            anrede=anrede,
            guessed_du=greeting.du is None and known is None,
        )


def _plausible(moment: datetime | None, now: datetime) -> datetime | None:
    """A Date field inside the date window around ``now`` (docs/DESIGN.md, "Input at
    the door"); a mail program's clock in 1980 must not make a thread due at once."""
    if moment is None or not in_date_window(moment.date(), now.date()):
        return None
    return moment


def _with_invoice(proposal: Proposal, invoice: InvoiceFacts | None) -> Proposal:
    if invoice is None:
        return proposal
    return replace(
        proposal,
        invoice_no=invoice.number,
        amount=invoice.amount_due,
        due_date=invoice.due_date,
        due_from_terms=invoice.due_from_terms,
        terms_days=invoice.terms_days,
        invoice_source=str(invoice.source),
        name=proposal.name or invoice.buyer_name,
    )


def as_copy_to(raw: bytes, recipients: Collection[str]) -> bytes:
    """A delivered copy of the owner's mail with its envelope recipients (Delivered-To)
    written as Bcc, as the Sent copy shows them: the copy then reads like the Sent one."""
    if not recipients:
        return raw
    line = b"Bcc: " + ", ".join(sorted(recipients)).encode("ascii", "replace") + b"\r\n"
    return line + raw
