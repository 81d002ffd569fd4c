"""Available to credit (DOMAIN.md 2.2): how much of an invoice item credit memos may still take.

available = item amount (with tax) - amounts of Posted credit memo items from that item.
Creation checks it, and posting checks it again, so two drafts cannot together over-credit.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db.models import Q, Sum

from billing.models import BillingSettings, CreditValidationLevel, Invoice, InvoiceItem
from billing.money import ZERO, format_money
from memos.models import MemoItem, MemoStatus, MemoType


def available_to_credit(items: Iterable[InvoiceItem]) -> dict[int, Decimal]:
    """Available to credit per invoice item id, in one query."""
    items = list(items)
    credited = dict(
        MemoItem.objects.filter(
            invoice_item__in=items,
            memo__memo_type=MemoType.CREDIT,
            memo__status=MemoStatus.POSTED,
        )
        .values("invoice_item")
        .annotate(total=Sum("amount"))
        .values_list("invoice_item", "total")
    )
    return {item.pk: item.amount - (credited.get(item.pk) or ZERO) for item in items}


def available_on(invoice: Invoice) -> dict[int, Decimal]:
    """Available to credit for every item of the invoice, in one query (items and credits)."""
    posted_credit = Q(
        memo_items__memo__memo_type=MemoType.CREDIT, memo_items__memo__status=MemoStatus.POSTED
    )
    rows = (
        InvoiceItem.objects.filter(invoice=invoice)
        .order_by()
        .values("pk")
        .annotate(credited=Sum("memo_items__amount", filter=posted_credit))
        .values_list("pk", "amount", "credited")
    )
    return {pk: amount - (credited or ZERO) for pk, amount, credited in rows}


def check_available_to_credit(
    *,
    invoice: Invoice,
    requested: Mapping[int, Decimal],
    keys: Mapping[int, str] | None = None,
    level: str | None = None,
) -> None:
    """Refuse credit beyond what is available, per item and/or for the invoice as a whole.

    `requested` maps invoice item ids to the credit asked for (with tax). `keys` maps item ids to
    the caller's row keys, so errors land beside the row that caused them. `level` defaults to the
    billing setting (header and item, header only, or none).
    """
    level = level or BillingSettings.load().credit_validation_level
    if level == CreditValidationLevel.NONE:
        return
    keys = keys or {}
    available = available_on(invoice)
    errors: dict[str, list[str]] = {}
    if level == CreditValidationLevel.HEADER_AND_ITEM:
        for item_id, amount in requested.items():
            left = max(available.get(item_id, ZERO), ZERO)
            if amount > left:
                currency = invoice.currency  # read for a message only
                key = keys.get(item_id, f"item:{item_id}")
                errors.setdefault(key, []).append(
                    f"At most {format_money(left, currency)} available to credit on this item."
                )
    total_available = max(sum(available.values(), ZERO), ZERO)
    total_requested = sum(requested.values(), ZERO)
    if total_requested > total_available:
        currency = invoice.currency
        errors.setdefault("__all__", []).append(
            f"The memo credits {currency.code} {format_money(total_requested, currency)}, "
            f"but only {currency.code} {format_money(total_available, currency)} of invoice "
            f"{invoice.number} is available to credit."
        )
    if errors:
        raise ValidationError(errors)
