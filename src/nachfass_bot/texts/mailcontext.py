"""What a client template gets to say: pure, from the thread(s), the owner and the rules.

The keys are listed per template in ``templates/de/README.md``. Interest and the flat
fee (§288 BGB) appear only when the owner enabled them, never in the first, friendly
payment question, and the flat fee only for business clients.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from nachfass_bot.config import OwnerConfig
from nachfass_bot.domain.calendar import SendingWindow
from nachfass_bot.domain.interest import base_rate, flat_fee, late_interest_rate
from nachfass_bot.domain.models import Kind, Thread
from nachfass_bot.domain.preferences import PaymentConfig
from nachfass_bot.texts.render import dative_name, salutation


def client_context(
    threads: Sequence[Thread],
    *,
    step_index: int,
    now: datetime,
    window: SendingWindow,
    owner: OwnerConfig,
    payment: PaymentConfig,
) -> dict[str, Any]:
    """The context of a client mail for ``threads[0]`` (more threads: further invoices
    of the same client in the same mail)."""
    thread = threads[0]
    client = thread.client
    today = now.astimezone(window.zone).date()
    context: dict[str, Any] = {
        "anrede": salutation(client.name, client.du, client.anrede),
        "assistant_anrede": salutation(None, client.du),
        "assistant_name": None,
        "du": client.du,
        "client_name": client.name,
        "client_dative": dative_name(client.name, client.du, client.anrede),
        "subject": thread.subject,
        "started_at": thread.started_at,
        "owner_name": owner.name,
        "signature": owner.signature,
        "new_due_date": today + timedelta(days=payment.reminder_days),
        "expenses": thread.expenses,
    }
    if thread.kind is Kind.RECHNUNG:
        context.update(_payment_context(threads, step_index, today, window, payment))
    return context


def _payment_context(
    threads: Sequence[Thread],
    step_index: int,
    today: date,
    window: SendingWindow,
    payment: PaymentConfig,
) -> dict[str, Any]:
    invoices = [_invoice(thread, window) for thread in threads]
    business = threads[0].client.customer_type != "b2c"
    reminder = step_index > 0  # the first mail is a friendly question, never a threat
    interest = None
    if reminder and payment.interest:
        interest = {
            "rate": late_interest_rate(today, b2b=business, override=payment.base_rate),
            "base_rate": base_rate(today, payment.base_rate),
            "b2b": business,
        }
    return {
        "invoices": invoices,
        "total": sum((invoice["amount"] for invoice in invoices), Decimal("0")),
        "invoice_no": invoices[0]["invoice_no"],
        "amount": invoices[0]["amount"],
        "due_date": invoices[0]["due_date"],
        "interest": interest,
        "flat_fee": flat_fee(business) if reminder and payment.flat_fee else None,
        "final_step": payment.final_step,
    }


def _invoice(thread: Thread, window: SendingWindow) -> dict[str, Any]:
    """One invoice as a payment mail names it. ``amount`` is what is still open (the
    invoice total less the payments recorded, issue 14): a mail never asks for money
    that came already. ``invoice_total`` and ``paid`` are the two parts."""
    total = thread.amount if thread.amount is not None else Decimal("0")
    open_amount = thread.open_amount if thread.open_amount is not None else total
    return {
        "invoice_no": thread.invoice_no or "",
        "invoice_date": thread.started_at.astimezone(window.zone).date(),
        "amount": open_amount,
        "invoice_total": total,
        "paid": thread.paid_amount,
        "due_date": thread.due_date or thread.started_at.astimezone(window.zone).date(),
    }


def template_for(thread: Thread, template: str) -> str:
    """The final-clarity mail of an order with expenses uses its own variant."""
    if template == "auftrag_4" and thread.expenses is not None:
        return "auftrag_4_absage"
    return template
