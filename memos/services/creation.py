"""Creating memos: from a posted invoice's items, or standalone from catalog charges.

Both services validate everything first (collecting errors per row, keyed by the caller's row
keys), then write the memo, its items and its history event in one transaction. Numbers are
taken last, inside a savepoint with the insert, so a failed or duplicate create leaves no gap.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import uuid
from dataclasses import dataclass, field
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from billing import tax_engine
from billing.busy import retry_when_busy
from billing.models import (
    Account,
    Charge,
    ChargeType,
    Invoice,
    InvoiceItem,
    InvoiceStatus,
    NumberSeries,
    TaxMode,
)
from billing.money import ZERO, round_money, to_decimal
from billing.numbering import next_number
from billing.services import ensure_open_period
from memos.models import (
    Memo,
    MemoEvent,
    MemoItem,
    MemoSource,
    MemoStatus,
    MemoType,
    ReasonCode,
    TaxStatus,
)
from memos.services.availability import check_available_to_credit
from memos.services.common import record_event, resolve_reason_code
from memos.services.pricing import PricedLine, price_line, taxed_by_third_party_engine

MAX_ITEMS = 1000
MAX_DESCRIPTION = 500
# The engine's names for our documents (billing/tax_engine.py's protocol).
ENGINE_DOCUMENT_TYPES = {MemoType.CREDIT: "credit_memo", MemoType.DEBIT: "debit_memo"}
QUANTITY_PLACES = Decimal("0.000001")
SERIES = {
    MemoType.CREDIT: NumberSeries.Key.CREDIT_MEMO,
    MemoType.DEBIT: NumberSeries.Key.DEBIT_MEMO,
}


@dataclass(frozen=True)
class InvoiceItemLine:
    """One selected row of the from-invoice form: the amount typed for an invoice item."""

    invoice_item: InvoiceItem
    amount: Decimal
    tax_mode: str = TaxMode.EXCLUSIVE
    tax_amount: Decimal | None = None  # typed, only with tax auto-calculation off
    description: str = ""
    key: str = ""


@dataclass(frozen=True)
class ChargeLine:
    """One line of a standalone memo: a catalog charge with its amount and service period."""

    charge: Charge
    amount: Decimal
    quantity: Decimal | None = None
    service_start: dt.date | None = None
    service_end: dt.date | None = None
    description: str = ""
    tax_mode: str = TaxMode.EXCLUSIVE
    tax_amount: Decimal | None = None
    key: str = ""


@dataclass
class _MemoPlan:
    """A validated memo, not yet written."""

    memo: Memo
    items: list[MemoItem] = field(default_factory=list)
    tax_day: dt.date | None = None
    # Taxed by the third-party engine when written (decided once, before the lines are priced).
    third_party: bool = False


def _check_description(errors: _Errors, key: str, description: str) -> bool:
    if len(description) > MAX_DESCRIPTION:
        errors.add(key, f"Description is {len(description)} characters; at most {MAX_DESCRIPTION}.")
        return False
    return True


class _Errors:
    """Collects validation errors by key (a form field or a row key), raised together."""

    def __init__(self) -> None:
        self.by_key: dict[str, list[str]] = {}

    def add(self, key: str, error: ValidationError | str) -> None:
        messages = error.messages if isinstance(error, ValidationError) else [error]
        self.by_key.setdefault(key, []).extend(messages)

    def absorb(self, error: ValidationError) -> None:
        if hasattr(error, "error_dict"):
            for key, messages in error.message_dict.items():
                self.by_key.setdefault(key, []).extend(messages)
        else:
            self.add("__all__", error)

    def raise_if_any(self) -> None:
        if self.by_key:
            raise ValidationError(self.by_key)


def _existing_memo(idempotency_key: str | None) -> Memo | None:
    if not idempotency_key:
        return None
    return Memo.objects.filter(idempotency_key=idempotency_key).first()


def _check_header(
    errors: _Errors,
    *,
    memo_type: str,
    memo_date: dt.date,
    reason_code: ReasonCode | None,
    line_count: int,
) -> ReasonCode | None:
    if memo_type not in MemoType.values:
        errors.add("memo_type", f"Unknown memo type {memo_type!r}.")
    try:
        ensure_open_period(memo_date, field="Memo Date")
    except ValidationError as exc:
        errors.add("memo_date", exc)
    resolved = None
    try:
        resolved = resolve_reason_code(memo_type, reason_code)
    except (ValidationError, KeyError) as exc:
        if isinstance(exc, ValidationError):
            errors.absorb(exc)
    if line_count == 0:
        errors.add("__all__", "Select at least one item.")
    if line_count > MAX_ITEMS:
        errors.add(
            "__all__", f"A memo can have at most {MAX_ITEMS:,} items; this one has {line_count:,}."
        )
    return resolved


@retry_when_busy
def create_memo_from_invoice(
    *,
    invoice: Invoice,
    memo_type: str,
    lines: list[InvoiceItemLine],
    actor,
    memo_date: dt.date | None = None,
    reason_code: ReasonCode | None = None,
    comments: str = "",
    tax_auto_calculation: bool = True,
    apply_to_invoice_on_post: bool = False,
    exclude_from_auto_apply: bool = False,
    auto_pay: bool = True,
    idempotency_key: str | None = None,
) -> Memo:
    """Create a Draft credit or debit memo from items of a Posted invoice (DOMAIN.md 2.2)."""
    existing = _existing_memo(idempotency_key)
    if existing is not None:
        return existing
    memo_date = memo_date or timezone.localdate()
    errors = _Errors()
    if invoice.status != InvoiceStatus.POSTED:
        raise ValidationError(
            f"Invoice {invoice.number} is {invoice.get_status_display()}: "
            "memos can only be created from posted invoices."
        )
    if memo_date < invoice.invoice_date:
        errors.add(
            "memo_date",
            f"Memo Date cannot be before the invoice date {invoice.invoice_date:%Y-%m-%d}.",
        )
    resolved_reason = _check_header(
        errors,
        memo_type=memo_type,
        memo_date=memo_date,
        reason_code=reason_code,
        line_count=len(lines),
    )
    memo = Memo(
        memo_type=memo_type,
        account=invoice.account,
        currency=invoice.currency,
        source=MemoSource.INVOICE,
        invoice=invoice,
        memo_date=memo_date,
        reason_code=resolved_reason,
        comments=comments,
        tax_auto_calculation=tax_auto_calculation,
        apply_to_invoice_on_post=apply_to_invoice_on_post and memo_type == MemoType.CREDIT,
        exclude_from_auto_apply=exclude_from_auto_apply and memo_type == MemoType.CREDIT,
        auto_pay=auto_pay and memo_type == MemoType.DEBIT,
        idempotency_key=idempotency_key or None,
        created_by=actor if getattr(actor, "is_authenticated", False) else None,
    )
    # Tax of a credit for an invoice item is the invoice's tax: rates on the invoice date.
    plan = _MemoPlan(
        memo=memo, tax_day=invoice.invoice_date, third_party=_uses_third_party_engine(memo)
    )
    seen: set[int] = set()
    for index, line in enumerate(lines[:MAX_ITEMS], start=1):
        key = line.key or f"item:{line.invoice_item.pk}"
        item = line.invoice_item
        if not _check_description(errors, key, line.description):
            continue
        if item.invoice_id != invoice.pk:
            errors.add(key, f"This item belongs to another invoice than {invoice.number}.")
            continue
        if item.pk in seen:
            errors.add(key, "This invoice item is selected twice.")
            continue
        seen.add(item.pk)
        try:
            priced = price_line(
                amount=line.amount,
                currency=invoice.currency,
                tax_code=item.tax_code,
                tax_mode=line.tax_mode,
                day=plan.tax_day,
                tax_auto_calculation=tax_auto_calculation,
                typed_tax=line.tax_amount,
                built_in_tax=not plan.third_party,
            )
        except ValidationError as exc:
            errors.add(key, exc)
            continue
        plan.items.append(
            _memo_item(
                index,
                priced,
                charge_name=item.charge_name,
                description=line.description or item.description,
                tax_mode=line.tax_mode,
                tax_code=item.tax_code,
                invoice_item=item,
                charge=item.charge,
                service_start=item.service_start,
                service_end=item.service_end,
                quantity=item.quantity,
                unit_of_measure=item.unit_of_measure,
            )
        )
    errors.raise_if_any()
    keys = {line.invoice_item.pk: line.key or f"item:{line.invoice_item.pk}" for line in lines}

    def check_under_lock() -> None:
        locked = Invoice.objects.select_for_update().get(pk=invoice.pk)
        if locked.status != InvoiceStatus.POSTED:
            raise ValidationError(f"Invoice {locked.number} is no longer posted.")
        if memo_type == MemoType.CREDIT:
            requested: dict[int, Decimal] = {}
            for item in plan.items:
                requested[item.invoice_item_id] = (
                    requested.get(item.invoice_item_id, ZERO) + item.amount
                )
            check_available_to_credit(invoice=locked, requested=requested, keys=keys)

    return _write(plan, actor=actor, check_under_lock=check_under_lock)


@retry_when_busy
def create_memo_from_charges(
    *,
    account: Account,
    memo_type: str,
    lines: list[ChargeLine],
    actor,
    memo_date: dt.date | None = None,
    reason_code: ReasonCode | None = None,
    comments: str = "",
    tax_auto_calculation: bool = True,
    exclude_from_auto_apply: bool = False,
    auto_pay: bool = True,
    idempotency_key: str | None = None,
) -> Memo:
    """Create a standalone Draft credit or debit memo from catalog charges (DOMAIN.md 2.3)."""
    existing = _existing_memo(idempotency_key)
    if existing is not None:
        return existing
    memo_date = memo_date or timezone.localdate()
    errors = _Errors()
    resolved_reason = _check_header(
        errors,
        memo_type=memo_type,
        memo_date=memo_date,
        reason_code=reason_code,
        line_count=len(lines),
    )
    currency = account.currency
    memo = Memo(
        memo_type=memo_type,
        account=account,
        currency=currency,
        source=MemoSource.CHARGES,
        memo_date=memo_date,
        reason_code=resolved_reason,
        comments=comments,
        tax_auto_calculation=tax_auto_calculation,
        exclude_from_auto_apply=exclude_from_auto_apply and memo_type == MemoType.CREDIT,
        auto_pay=auto_pay and memo_type == MemoType.DEBIT,
        idempotency_key=idempotency_key or None,
        created_by=actor if getattr(actor, "is_authenticated", False) else None,
    )
    plan = _MemoPlan(memo=memo, tax_day=memo_date, third_party=_uses_third_party_engine(memo))
    for index, line in enumerate(lines[:MAX_ITEMS], start=1):
        key = line.key or f"line:{index}"
        charge = line.charge
        if not _check_description(errors, key, line.description):
            continue
        if charge.is_discount:
            errors.add(
                key,
                f"{charge.name} is a discount charge: discount charges cannot be put on a memo.",
            )
            continue
        quantity = line.quantity
        if quantity in (None, ""):
            quantity = Decimal(1)
        try:
            quantity = to_decimal(quantity)
        except (ValidationError, TypeError):
            errors.add(key, "Quantity must be a number.")
            continue
        if quantity != quantity.quantize(QUANTITY_PLACES):
            errors.add(key, "Quantity can have at most 6 decimal places.")
            continue
        if quantity <= 0:
            errors.add(
                key,
                "Quantity of a usage charge must be positive."
                if charge.charge_type == ChargeType.USAGE
                else "Quantity must be positive.",
            )
            continue
        period_start, period_end = charge.current_period(memo_date)
        start = line.service_start or period_start
        end = line.service_end or (period_end if not line.service_start else start)
        if end < start:
            errors.add(key, "The service end date cannot be before the service start date.")
            continue
        tax_code = charge.tax_code if charge.taxable else None
        try:
            priced = price_line(
                amount=line.amount,
                currency=currency,
                tax_code=tax_code,
                tax_mode=line.tax_mode,
                day=memo_date,
                tax_auto_calculation=tax_auto_calculation,
                typed_tax=line.tax_amount,
                built_in_tax=not plan.third_party,
            )
        except ValidationError as exc:
            errors.add(key, exc)
            continue
        plan.items.append(
            _memo_item(
                index,
                priced,
                charge_name=charge.name,
                description=line.description,
                tax_mode=line.tax_mode,
                tax_code=tax_code,
                charge=charge,
                service_start=start,
                service_end=end,
                quantity=quantity,
                unit_of_measure=charge.unit_of_measure,
            )
        )
    errors.raise_if_any()
    return _write(plan, actor=actor, check_under_lock=None)


def _memo_item(index: int, priced: PricedLine, *, quantity: Decimal, **fields) -> MemoItem:
    return MemoItem(
        sort_order=index,
        amount_excl_tax=priced.amount_excl_tax,
        tax_amount=priced.tax_amount,
        amount=priced.amount,
        quantity=quantity,
        unit_price=(priced.amount_excl_tax / quantity).quantize(QUANTITY_PLACES)
        if quantity
        else ZERO,
        **fields,
    )


def _uses_third_party_engine(memo: Memo) -> bool:
    return taxed_by_third_party_engine(memo.tax_auto_calculation)


def _tax_with_engine(plan: _MemoPlan) -> None:
    """Replace the built-in tax by the third-party engine's; on failure keep the memo savable
    as a Draft with Tax Status Error and the engine's reason (DOMAIN.md 2.6)."""
    memo = plan.memo
    memo.taxed_by_third_party = True
    memo.tax_reference = memo.tax_reference or uuid.uuid4().hex
    # Amounts read back from the database carry the storage precision (3 places): send them in
    # the currency's minor unit, as the protocol wants.
    typed = [
        (
            item,
            round_money(
                item.amount if item.tax_mode == TaxMode.INCLUSIVE else item.amount_excl_tax,
                memo.currency,
            ),
        )
        for item in plan.items
    ]
    try:
        results = tax_engine.calculate(
            document_number=memo.tax_reference,
            document_type=ENGINE_DOCUMENT_TYPES[memo.memo_type],
            document_date=memo.memo_date,
            currency=memo.currency.code,
            account_number=memo.account.number,
            lines=[
                tax_engine.EngineLine(
                    key=str(item.sort_order),
                    amount=amount,
                    mode=item.tax_mode,
                    tax_code=item.tax_code.code if item.tax_code else None,
                    description=item.description or item.charge_name,
                )
                for item, amount in typed
            ],
        )
    except tax_engine.TaxEngineError as exc:
        for item, amount in typed:
            item.amount_excl_tax, item.tax_amount, item.amount = amount, ZERO, amount
        memo.tax_status, memo.tax_message = TaxStatus.ERROR, str(exc)
        return
    for (item, _), result in zip(typed, results, strict=True):
        item.amount_excl_tax, item.tax_amount = result.amount_excl_tax, result.tax_amount
        item.amount = result.amount_excl_tax + result.tax_amount
    memo.tax_status, memo.tax_message = TaxStatus.COMPLETE, ""


def _write(plan: _MemoPlan, *, actor, check_under_lock) -> Memo:
    memo = plan.memo
    engine_called = False
    if plan.third_party:
        # The engine is called before the transaction, so no lock is held while it answers.
        _tax_with_engine(plan)
        engine_called = memo.tax_status == TaxStatus.COMPLETE
    memo.amount_excl_tax = sum((item.amount_excl_tax for item in plan.items), ZERO)
    memo.tax_amount = sum((item.tax_amount for item in plan.items), ZERO)
    memo.amount = memo.amount_excl_tax + memo.tax_amount
    if memo.amount <= 0:
        raise ValidationError(
            "The memo total is zero: enter an amount or a tax to credit or debit."
        )
    if memo.memo_type == MemoType.DEBIT:
        memo.balance = memo.amount
        for item in plan.items:
            item.balance = item.amount
    try:
        with transaction.atomic():
            if check_under_lock is not None:
                check_under_lock()
            try:
                # A savepoint around number + insert: a duplicate submit rolls both back.
                with transaction.atomic():
                    memo.number = next_number(SERIES[memo.memo_type])
                    memo.status = MemoStatus.DRAFT
                    memo.save(force_insert=True)
            except IntegrityError:
                existing = _existing_memo(memo.idempotency_key)
                if existing is None:
                    raise
                if engine_called:
                    # The tax committed for this duplicate belongs to no memo.
                    _void_quietly(memo)
                return existing
            for item in plan.items:
                item.memo = memo
            MemoItem.objects.bulk_create(plan.items)
            record_event(
                memo,
                MemoEvent.Kind.CREATED,
                actor=actor,
                message=_creation_message(memo),
                after={
                    "status": "Draft",
                    "amount": memo.amount,
                    "items": len(plan.items),
                    **(
                        {"tax_status": memo.get_tax_status_display()}
                        if memo.taxed_by_third_party
                        else {}
                    ),
                },
            )
    except Exception:
        if engine_called:
            _void_quietly(memo)
        raise
    memo.refresh_from_db()
    return memo


def _creation_message(memo: Memo) -> str:
    source = f"invoice {memo.invoice.number}" if memo.invoice_id else "charges"
    return f"Created {memo.get_memo_type_display().lower()} from {source}"


def _void_quietly(memo: Memo) -> None:
    """Best effort: a tax committed for a memo that was then not saved is voided at the engine."""
    with contextlib.suppress(tax_engine.TaxEngineError):
        tax_engine.void(document_number=memo.tax_reference)


@retry_when_busy
@transaction.atomic
def recalculate_tax(*, memo: Memo, actor) -> Memo:
    """Recalculate a Draft memo's tax (built-in or third-party engine) and its totals."""
    # Lock the memo row only: PostgreSQL refuses FOR UPDATE on the nullable side of the outer
    # join to the invoice.
    locked = (
        Memo.objects.select_for_update(of=("self",))
        .select_related("currency", "account", "invoice")
        .get(pk=memo.pk)
    )
    if locked.status != MemoStatus.DRAFT:
        raise ValidationError(
            f"{locked.number} is {locked.get_status_display()}: only drafts can be recalculated."
        )
    if not locked.tax_auto_calculation:
        raise ValidationError(f"{locked.number} has tax typed by hand (auto-calculation is off).")
    before = {
        "tax_amount": locked.tax_amount,
        "amount": locked.amount,
        "tax_status": locked.get_tax_status_display(),
    }
    items = list(locked.items.select_related("tax_code").order_by("sort_order"))
    plan = _MemoPlan(memo=locked, items=items)
    if _uses_third_party_engine(locked):
        _tax_with_engine(plan)
    else:
        if locked.taxed_by_third_party:
            # The tenant went back to the built-in engine: the memo is no longer taxed by the
            # third-party one (its Tax Status would stay Error for good), and a tax committed
            # there is voided once this is saved.
            if locked.tax_status == TaxStatus.COMPLETE:
                transaction.on_commit(lambda: _void_quietly(locked))
            locked.taxed_by_third_party = False
            locked.tax_status, locked.tax_message = TaxStatus.NONE, ""
        day = locked.invoice.invoice_date if locked.invoice_id else locked.memo_date
        for item in items:
            typed = item.amount if item.tax_mode == TaxMode.INCLUSIVE else item.amount_excl_tax
            priced = price_line(
                amount=typed,
                currency=locked.currency,
                tax_code=item.tax_code,
                tax_mode=item.tax_mode,
                day=day,
                tax_auto_calculation=True,
                typed_tax=None,
            )
            item.amount_excl_tax, item.tax_amount, item.amount = (
                priced.amount_excl_tax,
                priced.tax_amount,
                priced.amount,
            )
    for item in items:
        if locked.memo_type == MemoType.DEBIT:
            item.balance = item.amount
    MemoItem.objects.bulk_update(items, ["amount_excl_tax", "tax_amount", "amount", "balance"])
    locked.amount_excl_tax = sum((i.amount_excl_tax for i in items), ZERO)
    locked.tax_amount = sum((i.tax_amount for i in items), ZERO)
    locked.amount = locked.amount_excl_tax + locked.tax_amount
    if locked.memo_type == MemoType.DEBIT:
        locked.balance = locked.amount
    locked.save()
    record_event(
        locked,
        MemoEvent.Kind.TAX_RECALCULATED,
        actor=actor,
        message=locked.tax_message or "Tax recalculated",
        before=before,
        after={
            "tax_amount": locked.tax_amount,
            "amount": locked.amount,
            "tax_status": locked.get_tax_status_display(),
        },
    )
    return locked
