"""What a client template gets to say: pure, from the thread(s), the owner and the rules.

The keys are listed per template in ``templates/de/README.md``. Interest and the flat
fee (§288 BGB) appear only when the owner enabled them, never in the first, friendly
payment question, and the flat fee only for business clients.

Dates a client is asked to meet fall on business days (§ 193 BGB). Later mails refer to
the earlier ones by date; the last reminder names the day the default began: the day
after the date the first reminder set, read from that mail as it was sent.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from nachfass_bot.config import OwnerConfig
from nachfass_bot.domain.calendar import SendingWindow
from nachfass_bot.domain.interest import base_rate, flat_fee, late_interest_rate
from nachfass_bot.domain.models import Draft, Kind, Thread
from nachfass_bot.domain.preferences import PaymentConfig
from nachfass_bot.texts.render import dative_name, deadline_in, salutation

# [payment] final_step → what the last reminder says the owner will do, after "werde ich".
FINAL_STEPS = {
    "mahnbescheid": "einen gerichtlichen Mahnbescheid beantragen",
    "inkasso": "ein Inkassounternehmen mit der Forderung beauftragen",
    "anwalt": "eine Anwaltskanzlei mit der Forderung beauftragen",
}


def client_context(
    threads: Sequence[Thread],
    *,
    step_index: int,
    now: datetime,
    window: SendingWindow,
    owner: OwnerConfig,
    payment: PaymentConfig,
    earlier: Sequence[Draft] = (),
) -> dict[str, Any]:
    """The context of a client mail for ``threads[0]`` (more threads: further invoices
    of the same client in the same mail). ``earlier``: the thread's mails already sent
    (or possibly sent), any order."""
    thread = threads[0]
    client = thread.client
    today = now.astimezone(window.zone).date()
    before = _earlier_mails(earlier, step_index)
    sent_days = [mail.sent_at.astimezone(window.zone).date() for mail in before if mail.sent_at]
    context: dict[str, Any] = {
        "anrede": salutation(client.name, client.du, client.anrede),
        # The assistant is a stranger: Sie, whatever the client and the owner say.
        "assistant_anrede": salutation(client.assistant_name, False),
        "assistant_name": client.assistant_name,
        "du": client.du,
        "client_name": client.name,
        # The client named to the assistant ("mit Herrn Weiß"), so never the first name.
        "client_dative": dative_name(client.name, False, client.anrede),
        "subject": thread.subject,
        "started_at": thread.started_at,
        "owner_name": owner.name,
        "signature": owner.signature,
        "new_due_date": _deadline(today, payment.reminder_days, window),
        "expenses": thread.expenses,
        "first_mail_date": sent_days[0] if sent_days else None,
        "previous_mail_date": sent_days[-1] if sent_days else None,
    }
    if thread.kind is Kind.RECHNUNG:
        context.update(_payment_context(threads, step_index, today, window, payment))
        context["default_from"] = _default_from(
            step_index, context["new_due_date"], before, today, window, payment
        )
    return context


def _deadline(day: date, days: int, window: SendingWindow) -> date:
    """``days`` after ``day``, moved to the next business day (§ 193 BGB)."""
    return window.business_day_on_or_after(day + timedelta(days=days))


def _earlier_mails(earlier: Sequence[Draft], step_index: int) -> list[Draft]:
    """The last sent mail of each step before ``step_index``, in step order."""
    latest: dict[int, Draft] = {}
    for mail in sorted(earlier, key=lambda mail: mail.id):
        if mail.step_index < step_index and mail.sent_at is not None:
            latest[mail.step_index] = mail
    return [latest[index] for index in sorted(latest)]


def _default_from(
    step_index: int,
    new_due_date: date,
    before: Sequence[Draft],
    today: date,
    window: SendingWindow,
    payment: PaymentConfig,
) -> date | None:
    """The first day of default (Verzug, § 286 BGB): the day after the date the first
    reminder (step 2) set. For that reminder itself the day after its own new date; for
    the last reminder the date read from the first reminder as sent (else its send day
    plus ``reminder_days``), and None while that day is still to come."""
    if step_index < 1:
        return None
    if step_index == 1:
        return new_due_date + timedelta(days=1)
    reminders = [mail for mail in before if mail.step_index == 1 and mail.sent_at]
    if not reminders:
        return None
    reminder = reminders[-1]
    assert reminder.sent_at is not None
    sent_day = reminder.sent_at.astimezone(window.zone).date()
    deadline = deadline_in(reminder.body) or _deadline(sent_day, payment.reminder_days, window)
    since = deadline + timedelta(days=1)
    return since if since <= today else None


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
        "total": sum((invoice["amount_due"] for invoice in invoices), Decimal("0")),
        "invoice_no": invoices[0]["invoice_no"],
        "amount": invoices[0]["amount"],
        "due_date": invoices[0]["due_date"],
        "interest": interest,
        "flat_fee": flat_fee(business) if reminder and payment.flat_fee else None,
        "final_step": FINAL_STEPS.get(payment.final_step or ""),
    }


def _invoice(thread: Thread, window: SendingWindow) -> dict[str, Any]:
    """One invoice as a payment mail names it. ``amount_due`` (and ``amount``) is what is
    still open (the invoice total less the payments recorded): a mail never asks for
    money that came already. ``invoice_total`` and ``paid`` are the two parts."""
    total = thread.amount if thread.amount is not None else Decimal("0")
    open_amount = thread.open_amount if thread.open_amount is not None else total
    return {
        "invoice_no": thread.invoice_no or "",
        "invoice_date": thread.started_at.astimezone(window.zone).date(),
        "amount": open_amount,
        "amount_due": open_amount,
        "invoice_total": total,
        "paid": thread.paid_amount,
        "due_date": thread.due_date or thread.started_at.astimezone(window.zone).date(),
    }


def template_for(thread: Thread, template: str) -> str:
    """The final-clarity mail of an order with expenses uses its own variant."""
    if template == "auftrag_4" and thread.expenses is not None:
        return "auftrag_4_absage"
    return template
