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
from billing.bulk import insert_rows
from billing.busy import retry_when_busy
from billing.models import (
    Account,
    AccountingPeriod,
    BillRun,
    Charge,
    ChargePrice,
    ChargeType,
    Invoice,
    InvoiceItem,
    InvoiceStatus,
    NumberSeries,
    Subscription,
    SubscriptionCharge,
    TaxMode,
    UsageRecord,
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


# --- accounts ---------------------------------------------------------------------------------
ACCOUNT_FIELDS = (
    "name",
    "bill_cycle_day",
    "batch",
    # The bill-to contact (DOMAIN.md 7): who documents are addressed and emailed to.
    "bill_to_name",
    "bill_to_email",
    "bill_to_address",
)


def _check_account(account: Account) -> None:
    """The admin's validation (the model's fields, validators and constraints), with the
    messages keyed by field."""
    account.name = (account.name or "").strip()
    if not account.name:
        raise ValidationError({"name": "Name the account."})
    account.full_clean(exclude=["number"], validate_unique=False)


@retry_when_busy
@transaction.atomic
def create_account(
    *,
    name: str,
    currency,
    bill_cycle_day: int,
    batch: str = "Batch1",
    bill_to_name: str = "",
    bill_to_email: str = "",
    bill_to_address: str = "",
    actor=None,
) -> Account:
    """A new Active account, numbered from the account series (as the admin numbers one)."""
    account = Account(name=name, currency_id=getattr(currency, "pk", currency),
                      bill_cycle_day=bill_cycle_day, batch=batch, bill_to_name=bill_to_name,
                      bill_to_email=bill_to_email, bill_to_address=bill_to_address)  # fmt: skip
    _check_account(account)
    account.number = next_number(NumberSeries.Key.ACCOUNT)
    account.save()
    return account


@retry_when_busy
@transaction.atomic
def update_account(*, account: Account, actor=None, **changes) -> Account:
    """Change an account's name, bill cycle day, batch or bill-to contact; None leaves a field as
    it is. The currency is fixed once the account exists (its documents are in it), as in the
    admin."""
    unknown = set(changes) - set(ACCOUNT_FIELDS)
    if unknown:
        raise ValidationError({name: "This cannot be changed." for name in sorted(unknown)})
    locked = Account.objects.select_for_update().get(pk=account.pk)
    for name, value in changes.items():
        if value is not None:
            setattr(locked, name, value)
    _check_account(locked)
    locked.save(update_fields=list(ACCOUNT_FIELDS))
    return locked


# --- subscriptions --------------------------------------------------------------------------
@dataclass(frozen=True)
class SubscribedCharge:
    """A charge to subscribe to: its price (default: the list price in the account's currency),
    quantity and dates (default: the subscription's)."""

    charge: Charge
    price: Decimal | None = None
    quantity: Decimal = Decimal(1)
    start_date: dt.date | None = None
    end_date: dt.date | None = None
    key: str = ""


def _check_subscription_charge(row: SubscriptionCharge, errors: dict, key: str) -> None:
    if row.quantity is not None and row.quantity < 0:
        errors.setdefault(f"{key}.quantity", []).append("A quantity cannot be negative.")
    if row.end_date is not None and row.end_date < row.start_date:
        errors.setdefault(f"{key}.end_date", []).append(
            f"The end date cannot be before the start date {row.start_date:%Y-%m-%d}."
        )
    if row.charged_through_date and row.end_date and row.end_date < row.charged_through_date:
        last = row.charged_through_date - dt.timedelta(days=1)
        errors.setdefault(f"{key}.end_date", []).append(
            f"The charge is billed through {last:%Y-%m-%d}: it cannot end before that."
        )


@retry_when_busy
@transaction.atomic
def create_subscription(
    *,
    account: Account,
    start_date: dt.date,
    charges: list[SubscribedCharge],
    end_date: dt.date | None = None,
    actor=None,
) -> Subscription:
    """A new Active subscription of `account` to `charges` (errors keyed `charges.<n>.<field>`)."""
    errors: dict[str, list[str]] = {}
    if not charges:
        errors["charges"] = ["Subscribe to at least one charge."]
    if end_date is not None and end_date < start_date:
        errors["end_date"] = [
            f"The end date cannot be before the start date {start_date:%Y-%m-%d}."
        ]
    prices = dict(
        ChargePrice.objects.filter(
            charge__in=[c.charge for c in charges], currency_id=account.currency_id
        ).values_list("charge_id", "list_price")
    )
    rows = []
    for index, line in enumerate(charges):
        key = line.key or f"charges.{index}"
        if not line.charge.active:
            errors.setdefault(f"{key}.charge", []).append(f"{line.charge.name} is not active.")
        price = line.price if line.price is not None else prices.get(line.charge.pk)
        if price is None:
            errors.setdefault(f"{key}.price", []).append(
                f"{line.charge.name} has no list price in {account.currency_id}: give a price."
            )
        row = SubscriptionCharge(
            charge=line.charge,
            price=price,
            quantity=line.quantity if line.quantity is not None else Decimal(1),
            start_date=line.start_date or start_date,
            end_date=line.end_date or end_date,
        )
        if row.start_date < start_date:
            errors.setdefault(f"{key}.start_date", []).append(
                f"A charge cannot start before its subscription ({start_date:%Y-%m-%d})."
            )
        if end_date is not None and row.end_date and row.end_date > end_date:
            errors.setdefault(f"{key}.end_date", []).append(
                f"A charge cannot end after its subscription ({end_date:%Y-%m-%d})."
            )
        _check_subscription_charge(row, errors, key)
        rows.append(row)
    if errors:
        raise ValidationError(errors)
    subscription = Subscription.objects.create(
        number=next_number(NumberSeries.Key.SUBSCRIPTION),
        account=account,
        start_date=start_date,
        end_date=end_date,
    )
    for row in rows:
        row.subscription = subscription
    SubscriptionCharge.objects.bulk_create(rows)
    return subscription


@dataclass(frozen=True)
class ChargeChange:
    """New price, quantity or end date of one of a subscription's charges (None: unchanged)."""

    subscription_charge_id: int
    price: Decimal | None = None
    quantity: Decimal | None = None
    end_date: dt.date | None = None
    key: str = ""


@retry_when_busy
@transaction.atomic
def update_subscription(
    *,
    subscription: Subscription,
    actor=None,
    end_date: dt.date | None = None,
    charges: list[ChargeChange] = (),
) -> Subscription:
    """Change a subscription's end date and its charges' price, quantity and end date. What is
    already billed stays billed: an end date cannot fall inside a billed period. A new price or
    quantity applies to what is billed from now on."""
    locked = Subscription.objects.select_for_update().get(pk=subscription.pk)
    rows = {
        row.pk: row
        for row in SubscriptionCharge.objects.select_for_update()
        .filter(subscription=locked)
        .order_by("pk")
    }
    errors: dict[str, list[str]] = {}
    if end_date is not None:
        if end_date < locked.start_date:
            errors["end_date"] = [
                f"The end date cannot be before the start date {locked.start_date:%Y-%m-%d}."
            ]
        locked.end_date = end_date
    changed = {}
    for index, change in enumerate(charges):
        key = change.key or f"charges.{index}"
        row = rows.get(change.subscription_charge_id)
        if row is None:
            errors.setdefault(f"{key}.id", []).append(
                f"{locked.number} has no charge {change.subscription_charge_id}."
            )
            continue
        for name in ("price", "quantity", "end_date"):
            value = getattr(change, name)
            if value is not None:
                setattr(row, name, value)
        _check_subscription_charge(row, errors, key)
        changed[row.pk] = row
    if end_date is not None:
        for index, row in enumerate(rows.values()):
            if row.end_date is None or row.end_date > end_date:
                row.end_date = end_date
                _check_subscription_charge(row, errors, f"charges.{index}")
                changed[row.pk] = row
    if errors:
        raise ValidationError(errors)
    if end_date is not None:
        locked.save(update_fields=["end_date"])
    if changed:
        SubscriptionCharge.objects.bulk_update(
            list(changed.values()), ["price", "quantity", "end_date"]
        )
    return locked


# --- usage ------------------------------------------------------------------------------------
USAGE_BATCH_LIMIT = 10_000


@dataclass(frozen=True)
class UsageRow:
    subscription_charge_id: int
    usage_date: dt.date
    quantity: Decimal
    unit_of_measure: str = ""


@retry_when_busy
@transaction.atomic
def record_usage(*, rows: list[UsageRow], actor=None, key: str = "rows") -> int:
    """Record usage rows, all or nothing (errors keyed `<key>.<n>.<field>`): each names a usage
    charge of a subscription, a day inside the charge's dates, a quantity above zero. One
    query reads the charges, one statement (COPY on PostgreSQL) writes the rows, however many."""
    if not rows:
        raise ValidationError({key: ["Send at least one usage row."]})
    if len(rows) > USAGE_BATCH_LIMIT:
        raise ValidationError({key: [f"At most {USAGE_BATCH_LIMIT:,} rows at once."]})
    charges = SubscriptionCharge.objects.select_related("charge").in_bulk(
        {row.subscription_charge_id for row in rows}
    )
    errors: dict[str, list[str]] = {}
    values = []
    for index, row in enumerate(rows):
        at = f"{key}.{index}"
        charge = charges.get(row.subscription_charge_id)
        if charge is None:
            errors[f"{at}.subscription_charge"] = [
                f"No subscription charge {row.subscription_charge_id}."
            ]
            continue
        if charge.charge.charge_type != ChargeType.USAGE:
            errors[f"{at}.subscription_charge"] = [f"{charge.charge.name} is not a usage charge."]
            continue
        if row.usage_date < charge.start_date or (
            charge.end_date and row.usage_date > charge.end_date
        ):
            errors[f"{at}.usage_date"] = [
                f"{row.usage_date:%Y-%m-%d} is outside the charge's dates "
                f"({charge.start_date:%Y-%m-%d} to "
                f"{charge.end_date.isoformat() if charge.end_date else 'open'})."
            ]
        if row.quantity is None or row.quantity <= 0:
            errors[f"{at}.quantity"] = ["A usage quantity is greater than zero."]
        unit = row.unit_of_measure or charge.charge.unit_of_measure
        if len(unit) > 32:
            errors[f"{at}.unit_of_measure"] = ["At most 32 characters."]
        values.append((row.subscription_charge_id, row.usage_date, row.quantity, unit))
    if errors:
        raise ValidationError(errors)
    return insert_rows(
        UsageRecord,
        ["subscription_charge_id", "usage_date", "quantity", "unit_of_measure"],
        values,
    )
