"""Writes of the billing domain. Every state change goes through a function here."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import F, prefetch_related_objects
from django.utils import timezone

from billing import tax
from billing.busy import retry_when_busy
from billing.models import (
    Account,
    AccountingPeriod,
    BillRun,
    Charge,
    Invoice,
    InvoiceItem,
    InvoiceStatus,
    NumberSeries,
    SubscriptionCharge,
    TaxMode,
)
from billing.money import ZERO, round_money, validate_money
from billing.numbering import next_number

DEFAULT_PAYMENT_TERM = dt.timedelta(days=30)


def ensure_open_period(day: dt.date, *, field: str = "Date") -> None:
    """Refuse a document date inside a closed accounting period."""
    period = AccountingPeriod.objects.closed_on(day).first()
    if period is not None:
        raise ValidationError(
            f"{field} {day:%Y-%m-%d} is in the closed accounting period {period.name} "
            f"({period.start_date:%Y-%m-%d} to {period.end_date:%Y-%m-%d}).",
            code="closed_period",
        )


@dataclass(frozen=True)
class InvoiceLine:
    """One line to invoice: quantity x unit price of a charge, taxed by the charge's tax code."""

    charge: Charge
    quantity: Decimal
    unit_price: Decimal
    description: str = ""
    service_start: dt.date | None = None
    service_end: dt.date | None = None
    tax_mode: str = TaxMode.EXCLUSIVE
    subscription_charge: SubscriptionCharge | None = None


@retry_when_busy
@transaction.atomic
def create_invoice(
    *,
    account: Account,
    invoice_date: dt.date,
    lines: list[InvoiceLine],
    due_date: dt.date | None = None,
    bill_run: BillRun | None = None,
    post: bool = False,
) -> Invoice:
    """Create a Draft invoice (numbered, taxed per item); post it at once if `post`."""
    if not lines:
        raise ValidationError("An invoice needs at least one item.", code="no_items")
    ensure_open_period(invoice_date, field="Invoice date")
    due_date = due_date or invoice_date + DEFAULT_PAYMENT_TERM
    if due_date < invoice_date:
        raise ValidationError("The due date cannot be before the invoice date.", code="due_date")
    currency = account.currency
    # The rates in one query and the charges' tax codes in at most one, not one of each per line.
    rates = tax.RateBook(invoice_date)
    prefetch_related_objects([line.charge for line in lines], "tax_code")
    items = []
    for index, line in enumerate(lines, start=1):
        amount = round_money(line.quantity * line.unit_price, currency)
        tax_code = line.charge.tax_code if line.charge.taxable else None
        taxed = rates.calculate(amount, tax_code=tax_code, mode=line.tax_mode, currency=currency)
        items.append(
            InvoiceItem(
                sort_order=index,
                charge=line.charge,
                subscription_charge=line.subscription_charge,
                charge_name=line.charge.name,
                description=line.description,
                service_start=line.service_start,
                service_end=line.service_end,
                quantity=line.quantity,
                unit_of_measure=line.charge.unit_of_measure,
                unit_price=line.unit_price,
                amount_excl_tax=taxed.amount_excl_tax,
                tax_code=tax_code,
                tax_mode=line.tax_mode,
                tax_amount=taxed.tax_amount,
                amount=taxed.amount,
                balance=ZERO,
            )
        )
    amount_excl_tax = sum((item.amount_excl_tax for item in items), ZERO)
    tax_amount = sum((item.tax_amount for item in items), ZERO)
    if amount_excl_tax + tax_amount < 0:
        raise ValidationError(
            "An invoice total cannot be negative; negative charges go on a credit memo.",
            code="negative_total",
        )
    invoice = Invoice.objects.create(
        number=next_number(NumberSeries.Key.INVOICE),
        account=account,
        currency=currency,
        invoice_date=invoice_date,
        due_date=due_date,
        amount_excl_tax=amount_excl_tax,
        tax_amount=tax_amount,
        amount=amount_excl_tax + tax_amount,
        bill_run=bill_run,
    )
    for item in items:
        item.invoice = invoice
    InvoiceItem.objects.bulk_create(items)
    if post:
        invoice = post_invoice(invoice=invoice)
    return invoice


@retry_when_busy
@transaction.atomic
def post_invoice(*, invoice: Invoice) -> Invoice:
    """Post a Draft invoice: it becomes immutable and its balance opens at its amount."""
    locked = Invoice.objects.select_for_update().get(pk=invoice.pk)
    if locked.status != InvoiceStatus.DRAFT:
        raise ValidationError(
            f"Invoice {locked.number} is {locked.get_status_display()}; only drafts can be posted.",
            code="not_draft",
        )
    ensure_open_period(locked.invoice_date, field="Invoice date")
    locked.status = InvoiceStatus.POSTED
    locked.balance = locked.amount
    locked.posted_at = timezone.now()
    locked.save(update_fields=["status", "balance", "posted_at"])
    InvoiceItem.objects.filter(invoice=locked).update(balance=F("amount"))
    return locked


def validate_amount(amount, account: Account, *, field: str = "Amount") -> Decimal:
    """A typed amount in the account's currency (too many decimals is an error)."""
    return validate_money(amount, account.currency, field=field)


@retry_when_busy
@transaction.atomic
def cancel_invoice(*, invoice: Invoice) -> Invoice:
    """Cancel a Draft invoice; the charge periods it billed can be billed again."""
    from billing.bill_runs.ledger import release_billed_periods
    from billing.models import BilledPeriod

    locked = Invoice.objects.select_for_update().get(pk=invoice.pk)
    if locked.status != InvoiceStatus.DRAFT:
        raise ValidationError(
            f"Invoice {locked.number} is {locked.get_status_display()}; "
            "only drafts can be canceled.",
            code="not_draft",
        )
    locked.status = InvoiceStatus.CANCELED
    locked.save(update_fields=["status"])
    release_billed_periods(BilledPeriod.objects.filter(invoice_items__invoice=locked))
    return locked
