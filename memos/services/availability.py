"""Available to credit (DOMAIN.md 2.2): how much of an invoice item credit memos may still take.

available = item amount (with tax) - amounts of Posted credit memo items from that item, and the
tax apart: item tax - tax of those credit memo items. Creation checks both, and posting checks
them again, so two drafts cannot together over-credit.

A negative invoice item (a discount or a credit on the invoice) is mirrored by a negative credit
line: what is available on it is negative, and a line may take between that and zero.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db.models import Q, Sum

from billing.models import BillingSettings, CreditValidationLevel, Invoice, InvoiceItem
from billing.money import ZERO, format_money, money_label
from memos.models import MemoItem, MemoStatus, MemoType

POSTED_CREDIT = Q(memo__memo_type=MemoType.CREDIT, memo__status=MemoStatus.POSTED)


@dataclass(frozen=True)
class Available:
    """What is left to credit on one invoice item: the net and the tax apart."""

    net: Decimal
    tax: Decimal
    # +1 for a charge, -1 for a negative item (its credit lines are negative too).
    sign: int = 1

    @property
    def amount(self) -> Decimal:
        return self.net + self.tax

    @property
    def nothing_left(self) -> bool:
        return self.amount * self.sign <= 0

    def capped(self) -> Available:
        """Never past zero on the item's side: an item over-credited while validation was
        relaxed has nothing left, not a negative amount left."""
        if self.sign > 0:
            return Available(max(self.net, ZERO), max(self.tax, ZERO), 1)
        return Available(min(self.net, ZERO), min(self.tax, ZERO), -1)


@dataclass(frozen=True)
class Requested:
    """What a memo asks of one invoice item: its lines' amounts with tax, and their tax."""

    amount: Decimal
    tax: Decimal = ZERO

    def __add__(self, other: Requested) -> Requested:
        return Requested(self.amount + other.amount, self.tax + other.tax)


def sign_of(item: InvoiceItem) -> int:
    return -1 if item.amount < 0 else 1


def available_to_credit(items: Iterable[InvoiceItem]) -> dict[int, Available]:
    """Available to credit per invoice item id, in one query."""
    items = list(items)
    credited = {
        pk: (net or ZERO, tax or ZERO)
        for pk, net, tax in MemoItem.objects.filter(POSTED_CREDIT, invoice_item__in=items)
        .order_by()
        .values("invoice_item")
        .annotate(net=Sum("amount_excl_tax"), tax=Sum("tax_amount"))
        .values_list("invoice_item", "net", "tax")
    }
    out = {}
    for item in items:
        net, tax = credited.get(item.pk, (ZERO, ZERO))
        out[item.pk] = Available(
            item.amount_excl_tax - net, item.tax_amount - tax, sign_of(item)
        ).capped()
    return out


def available_on(invoice: Invoice) -> dict[int, Available]:
    """Available to credit for every item of the invoice, in one query (items and credits)."""
    posted_credit = Q(
        memo_items__memo__memo_type=MemoType.CREDIT, memo_items__memo__status=MemoStatus.POSTED
    )
    rows = (
        InvoiceItem.objects.filter(invoice=invoice)
        .order_by()
        .values("pk")
        .annotate(
            net=Sum("memo_items__amount_excl_tax", filter=posted_credit),
            tax=Sum("memo_items__tax_amount", filter=posted_credit),
        )
        .values_list("pk", "amount_excl_tax", "tax_amount", "net", "tax")
    )
    return {
        pk: Available(
            item_net - (net or ZERO),
            item_tax - (tax or ZERO),
            -1 if item_net + item_tax < 0 else 1,
        ).capped()
        for pk, item_net, item_tax, net, tax in rows
    }


def _item_errors(left: Available, asked: Requested, currency) -> list[str]:
    """Why one item cannot take what is asked of it, in the operator's words."""
    errors = []
    if left.sign > 0:
        if asked.amount > left.amount:
            errors.append(
                f"At most {format_money(left.amount, currency)} available to credit on this item."
            )
        elif asked.tax > left.tax:  # within the amount, but more tax than the item has left
            errors.append(
                f"At most {format_money(left.tax, currency)} of tax available to credit on "
                "this item."
            )
        return errors
    # A negative item: its credit line mirrors it, from its (negative) amount left up to zero.
    if asked.amount < left.amount or asked.amount > 0:
        errors.append(
            f"This invoice item is negative: its credit line is between "
            f"{format_money(left.amount, currency)} and {format_money(ZERO, currency)}."
            if left.amount
            else "Nothing is left to credit on this negative item."
        )
    elif asked.tax < left.tax or asked.tax > 0:
        errors.append(
            f"The tax of this negative item's credit line is between "
            f"{format_money(left.tax, currency)} and {format_money(ZERO, currency)}."
        )
    return errors


def check_available_to_credit(
    *,
    invoice: Invoice,
    requested: Mapping[int, Requested],
    keys: Mapping[int, str] | None = None,
    level: str | None = None,
    available: Mapping[int, Available] | None = None,
) -> None:
    """Refuse credit beyond what is available, per item and/or for the invoice as a whole.

    `requested` maps invoice item ids to what the memo asks of them (amount with tax, and tax).
    `keys` maps item ids to the caller's row keys, so errors land beside the row that caused
    them. `level` defaults to the billing setting (header and item, header only, or none).
    `available`: what the caller read already (`available_on`), else it is read here.
    """
    level = level or BillingSettings.load().credit_validation_level
    if level == CreditValidationLevel.NONE:
        return
    keys = keys or {}
    available = available_on(invoice) if available is None else available
    currency = invoice.currency  # read for messages only
    errors: dict[str, list[str]] = {}
    if level == CreditValidationLevel.HEADER_AND_ITEM:
        for item_id, asked in requested.items():
            left = available.get(item_id, Available(ZERO, ZERO))
            item_errors = _item_errors(left, asked, currency)
            if item_errors:
                errors.setdefault(keys.get(item_id, f"item:{item_id}"), []).extend(item_errors)
    total_available = max(sum((a.amount for a in available.values()), ZERO), ZERO)
    total_requested = sum((r.amount for r in requested.values()), ZERO)
    if total_requested > total_available:
        errors.setdefault("__all__", []).append(
            f"The memo credits {money_label(total_requested, currency)}, "
            f"but only {money_label(total_available, currency)} of invoice "
            f"{invoice.number} is available to credit."
        )
    tax_available = max(sum((a.tax for a in available.values()), ZERO), ZERO)
    tax_requested = sum((r.tax for r in requested.values()), ZERO)
    # Past the total already: the tax is part of it, one message says it.
    if tax_requested > tax_available and total_requested <= total_available:
        errors.setdefault("__all__", []).append(
            f"The memo credits {money_label(tax_requested, currency)} of tax, "
            f"but only {money_label(tax_available, currency)} of invoice "
            f"{invoice.number}'s tax is available to credit."
        )
    if errors:
        raise ValidationError(errors)


def requested_of(items: Iterable[tuple[int, Decimal, Decimal]]) -> dict[int, Requested]:
    """What memo lines ask per invoice item, from (invoice item id, amount, tax) triples."""
    out: dict[int, Requested] = {}
    for item_id, amount, tax in items:
        out[item_id] = out.get(item_id, Requested(ZERO)) + Requested(amount, tax)
    return out
