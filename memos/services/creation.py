"""Creating memos: from a posted invoice's items, or standalone from catalog charges.

Both services validate everything first (collecting errors per row, keyed by the caller's row
keys), then write the memo, its items and its history event in one transaction. Numbers are
taken last, in that transaction with the insert, so a failed or duplicate create leaves no gap.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import prefetch_related_objects
from django.utils import timezone

from billing import tax
from billing.busy import retry_when_busy
from billing.models import (
    Account,
    BillingSettings,
    Charge,
    Invoice,
    InvoiceItem,
    InvoiceStatus,
    NumberSeries,
    TaxMode,
)
from billing.money import (
    MONEY_COLUMN,
    PRICE_COLUMN,
    ZERO,
    check_fits,
    minor_unit,
)
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
from memos.services import engine_tax, idempotency
from memos.services.approval_rules import withdraw_submission
from memos.services.availability import available_on, check_available_to_credit, requested_of
from memos.services.common import record_event, resolve_reason_code
from memos.services.pricing import (
    PricedLine,
    charge_line_amount,
    charge_quantity,
    default_service_period,
    price_invoice_item_line,
    price_line,
    taxed_by_third_party_engine,
)

logger = logging.getLogger(__name__)

MAX_ITEMS = 1000
MAX_DESCRIPTION = 500
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
    """One line of a standalone memo: a catalog charge with its price and service period.

    The create page gives the unit price (the amount is then Unit price x Quantity, rounded to
    the currency's places: pricing.charge_line_amount); other callers may give the amount
    itself (the unit price is then amount / quantity). Empty service dates take the account's
    billing period (pricing.default_service_period)."""

    charge: Charge
    amount: Decimal | None = None
    quantity: Decimal | None = None
    service_start: dt.date | None = None
    service_end: dt.date | None = None
    description: str = ""
    tax_mode: str = TaxMode.EXCLUSIVE
    tax_amount: Decimal | None = None
    key: str = ""
    unit_price: Decimal | None = None


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


def _replayed(idempotency_key: str | None, *, actor, digest: str) -> Memo | None:
    """The memo a first submit with this key made, when this is the same submit again."""
    existing = _existing_memo(idempotency_key)
    if existing is None:
        return None
    idempotency.check_same_submit(existing, actor_id=idempotency.actor_id(actor), digest=digest)
    existing.replayed = True
    return existing


def _once(
    create: Callable[[BillingSettings], Memo],
    *,
    idempotency_key: str | None,
    digest: str,
    actor,
    tax_auto_calculation: bool,
) -> Memo:
    """Run `create` (given the billing settings, read once here) unless its idempotency key
    made a memo already: then the same submit gets that memo back and another is refused.

    The key is looked up first only when the third-party engine would tax the memo (a retry
    must never reach the engine). Otherwise it is looked up only if the create is refused: a
    first submit, nearly every submit, costs no look-up, and a retry still gets the first memo
    even when it would now be refused; a retry that gets as far as the insert meets the key's
    unique constraint (`_save`)."""
    billing_settings = BillingSettings.load()
    if taxed_by_third_party_engine(tax_auto_calculation, billing_settings):
        existing = _replayed(idempotency_key, actor=actor, digest=digest)
        return existing or create(billing_settings)
    try:
        return create(billing_settings)
    except ValidationError as refused:
        if idempotency.is_conflict(refused):
            raise  # met the key at the insert, and looked it up there
        existing = _replayed(idempotency_key, actor=actor, digest=digest)
        if existing is None:
            raise
        return existing


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
    """Create a Draft credit or debit memo from items of a Posted invoice (DOMAIN.md 2.2).

    With an idempotency key: the same user submitting the same input again gets the first memo
    back (`replayed` set on it); other input or another user with that key is refused."""
    memo_date = memo_date or timezone.localdate()
    idempotency_key = idempotency.checked_key(idempotency_key)
    header = {
        "memo_date": memo_date,
        "reason_code": reason_code,
        "comments": comments,
        "tax_auto_calculation": tax_auto_calculation,
        "apply_to_invoice_on_post": apply_to_invoice_on_post and memo_type == MemoType.CREDIT,
        "exclude_from_auto_apply": exclude_from_auto_apply and memo_type == MemoType.CREDIT,
        "auto_pay": auto_pay and memo_type == MemoType.DEBIT,
    }
    digest = ""
    if idempotency_key:
        digest = idempotency.content_digest(
            idempotency.invoice_content(invoice, memo_type, lines, header)
        )
    return _once(
        lambda billing_settings: _from_invoice(
            invoice=invoice,
            memo_type=memo_type,
            lines=lines,
            actor=actor,
            header=header,
            idempotency_key=idempotency_key,
            digest=digest,
            billing_settings=billing_settings,
        ),
        idempotency_key=idempotency_key,
        digest=digest,
        actor=actor,
        tax_auto_calculation=tax_auto_calculation,
    )


def _from_invoice(
    *,
    invoice: Invoice,
    memo_type: str,
    lines: list[InvoiceItemLine],
    actor,
    header: dict,
    idempotency_key: str | None,
    digest: str,
    billing_settings: BillingSettings,
) -> Memo:
    memo_date, tax_auto_calculation = header["memo_date"], header["tax_auto_calculation"]
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
        reason_code=header["reason_code"],
        line_count=len(lines),
    )
    memo = Memo(
        memo_type=memo_type,
        account=invoice.account,
        currency=invoice.currency,
        source=MemoSource.INVOICE,
        invoice=invoice,
        **{**header, "reason_code": resolved_reason},
        idempotency_key=idempotency_key,
        idempotency_digest=digest,
        created_by=actor if getattr(actor, "is_authenticated", False) else None,
    )
    # Tax of a credit for an invoice item is the invoice's tax: rates on the invoice date.
    plan = _MemoPlan(
        memo=memo,
        tax_day=invoice.invoice_date,
        third_party=taxed_by_third_party_engine(tax_auto_calculation, billing_settings),
    )
    # Every rate in one query, every item's tax code in at most one (none when the caller read
    # the items with their tax codes): nothing below queries per line.
    rates = tax.RateBook(plan.tax_day)
    prefetch_related_objects([line.invoice_item for line in lines[:MAX_ITEMS]], "tax_code")
    # What is left on each item, read once: the whole rest of an item takes the rest of its tax,
    # and the draft is checked against it. Not under the invoice's lock: a draft takes nothing
    # yet; posting checks again under the lock, so two drafts cannot together over-credit.
    available = available_on(invoice) if memo_type == MemoType.CREDIT else {}
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
            priced = price_invoice_item_line(
                item_amount=item.amount,
                available=available.get(item.pk),
                amount=line.amount,
                currency=invoice.currency,
                tax_code=item.tax_code,
                tax_mode=line.tax_mode,
                day=plan.tax_day,
                tax_auto_calculation=tax_auto_calculation,
                typed_tax=line.tax_amount,
                built_in_tax=not plan.third_party,
                rates=rates,
            )
        except ValidationError as exc:
            errors.add(key, exc)
            continue
        _add_item(
            plan,
            errors,
            key,
            index,
            priced,
            charge_name=item.charge_name,
            description=line.description or item.description,
            tax_mode=line.tax_mode,
            tax_code=item.tax_code,
            invoice_item=item,
            charge_id=item.charge_id,  # the id is all the item needs: no query for the charge
            service_start=item.service_start,
            service_end=item.service_end,
            quantity=item.quantity,
            unit_of_measure=item.unit_of_measure,
        )
    errors.raise_if_any()
    keys = {line.invoice_item.pk: line.key or f"item:{line.invoice_item.pk}" for line in lines}

    def check_under_lock() -> None:
        locked = Invoice.objects.select_for_update().get(pk=invoice.pk)
        if locked.status != InvoiceStatus.POSTED:
            raise ValidationError(f"Invoice {locked.number} is no longer posted.")
        locked.currency = invoice.currency  # the same row: no query for it in the messages
        if memo_type == MemoType.CREDIT:
            check_available_to_credit(
                invoice=locked,
                requested=requested_of(
                    (item.invoice_item_id, item.amount, item.tax_amount) for item in plan.items
                ),
                keys=keys,
                level=billing_settings.credit_validation_level,
                available=available,
            )

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
    """Create a standalone Draft credit or debit memo from catalog charges (DOMAIN.md 2.3).

    Idempotency keys as in create_memo_from_invoice."""
    memo_date = memo_date or timezone.localdate()
    idempotency_key = idempotency.checked_key(idempotency_key)
    header = {
        "memo_date": memo_date,
        "reason_code": reason_code,
        "comments": comments,
        "tax_auto_calculation": tax_auto_calculation,
        "exclude_from_auto_apply": exclude_from_auto_apply and memo_type == MemoType.CREDIT,
        "auto_pay": auto_pay and memo_type == MemoType.DEBIT,
    }
    digest = ""
    if idempotency_key:
        digest = idempotency.content_digest(
            idempotency.charges_content(account, memo_type, lines, header)
        )
    return _once(
        lambda billing_settings: _from_charges(
            account=account,
            memo_type=memo_type,
            lines=lines,
            actor=actor,
            header=header,
            idempotency_key=idempotency_key,
            digest=digest,
            billing_settings=billing_settings,
        ),
        idempotency_key=idempotency_key,
        digest=digest,
        actor=actor,
        tax_auto_calculation=tax_auto_calculation,
    )


def _from_charges(
    *,
    account: Account,
    memo_type: str,
    lines: list[ChargeLine],
    actor,
    header: dict,
    idempotency_key: str | None,
    digest: str,
    billing_settings: BillingSettings,
) -> Memo:
    memo_date, tax_auto_calculation = header["memo_date"], header["tax_auto_calculation"]
    errors = _Errors()
    resolved_reason = _check_header(
        errors,
        memo_type=memo_type,
        memo_date=memo_date,
        reason_code=header["reason_code"],
        line_count=len(lines),
    )
    currency = account.currency
    memo = Memo(
        memo_type=memo_type,
        account=account,
        currency=currency,
        source=MemoSource.CHARGES,
        **{**header, "reason_code": resolved_reason},
        idempotency_key=idempotency_key,
        idempotency_digest=digest,
        created_by=actor if getattr(actor, "is_authenticated", False) else None,
    )
    plan = _MemoPlan(
        memo=memo,
        tax_day=memo_date,
        third_party=taxed_by_third_party_engine(tax_auto_calculation, billing_settings),
    )
    rates = tax.RateBook(memo_date)
    prefetch_related_objects([line.charge for line in lines[:MAX_ITEMS]], "tax_code")
    for index, line in enumerate(lines[:MAX_ITEMS], start=1):
        key = line.key or f"line:{index}"
        try:
            _add_charge_line(plan, errors, key, index, line, account=account, rates=rates)
        except ValidationError as exc:
            errors.add(key, exc)
    errors.raise_if_any()
    return _write(plan, actor=actor, check_under_lock=None)


def _add_charge_line(
    plan: _MemoPlan,
    errors: _Errors,
    key: str,
    index: int,
    line: ChargeLine,
    *,
    account: Account,
    rates: tax.RateBook,
) -> None:
    """Check and price one charge line into `plan`, in the domain's steps: the charge, the
    quantity, the amount (Unit price x Quantity, or as given), the service period, the tax.
    Raises ValidationError with the line's message."""
    charge, memo, memo_date = line.charge, plan.memo, plan.tax_day
    if not _check_description(errors, key, line.description):
        return
    if charge.is_discount:
        raise ValidationError(
            f"{charge.name} is a discount charge: discount charges cannot be put on a memo."
        )
    quantity = charge_quantity(charge, line.quantity)
    amount = charge_amount(line, quantity, memo.currency)
    start, end = _service_period(line, account=account, day=memo_date)
    tax_code = charge.tax_code if charge.taxable else None
    priced = price_line(
        amount=amount,
        currency=memo.currency,
        tax_code=tax_code,
        tax_mode=line.tax_mode,
        day=memo_date,
        tax_auto_calculation=memo.tax_auto_calculation,
        typed_tax=line.tax_amount,
        built_in_tax=not plan.third_party,
        rates=rates,
    )
    unit_price = None
    if line.unit_price is not None and line.tax_mode == TaxMode.EXCLUSIVE:
        # The typed price is the line's price without tax; with Tax-Included it holds tax, so
        # the item's unit price is then derived from the amount without tax (as without one).
        unit_price = line.unit_price
    _add_item(
        plan,
        errors,
        key,
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
        unit_price=unit_price,
        unit_of_measure=charge.unit_of_measure,
    )


def charge_amount(line: ChargeLine, quantity: Decimal, currency) -> Decimal:
    """The line's amount: Unit price x Quantity when the unit price is given (what the create
    page shows), else the amount given. Both given must agree."""
    if line.unit_price is None:
        if line.amount is None:
            raise ValidationError("Type the unit price.")
        return line.amount
    amount = charge_line_amount(line.unit_price, quantity, currency)
    if line.amount is not None and line.amount != amount:
        raise ValidationError(
            f"Amount {line.amount} is not Unit price × Quantity ({amount}): give one of them."
        )
    return amount


def _service_period(line: ChargeLine, *, account: Account, day: dt.date):
    """The typed service dates, or the account's billing period for the charge."""
    start, end = line.service_start, line.service_end
    if start is None:
        try:
            start, period_end = default_service_period(
                line.charge, bill_cycle_day=account.bill_cycle_day, day=day
            )
        except (ValueError, OverflowError):  # a period ending past 9999-12-31
            raise ValidationError(
                f"The billing period of {line.charge.name} around {day:%Y-%m-%d} ends past "
                "the calendar: type the service dates."
            ) from None
        end = end or period_end
    end = end or start
    if end < start:
        raise ValidationError("The service end date cannot be before the service start date.")
    return start, end


def _add_item(
    plan: _MemoPlan, errors: _Errors, key: str, index: int, priced: PricedLine, **fields
) -> None:
    try:
        plan.items.append(_memo_item(index, priced, **fields))
    except ValidationError as exc:
        errors.add(key, exc)


def _memo_item(
    index: int,
    priced: PricedLine,
    *,
    quantity: Decimal,
    unit_price: Decimal | None = None,
    **fields,
) -> MemoItem:
    if unit_price is None:
        unit_price = _derived_unit_price(priced, quantity)
    return MemoItem(
        sort_order=index,
        amount_excl_tax=priced.amount_excl_tax,
        tax_amount=priced.tax_amount,
        amount=priced.amount,
        quantity=quantity,
        unit_price=unit_price,
        **fields,
    )


def _derived_unit_price(priced: PricedLine, quantity: Decimal) -> Decimal:
    unit_price = ZERO
    if quantity:
        # A large amount over a tiny quantity is wider than the unit price column. The quotient
        # is a derived figure: only its whole part must fit (places=0), its decimals may round.
        unit_price = check_fits(
            priced.amount_excl_tax / quantity,
            PRICE_COLUMN,
            places=0,
            field="Unit price (amount / quantity)",
        ).quantize(QUANTITY_PLACES)
    return unit_price


def check_memo_totals(currency, *, net: Decimal, tax: Decimal, total: Decimal) -> None:
    """Every line fits its columns; their sums must fit the memo's too (a database error
    otherwise). Raises ValidationError naming the limit; the live preview shows the same."""
    places = minor_unit(currency)
    for label, value in (
        ("The memo total", total),
        ("The memo total without tax", net),
        ("The memo's tax", tax),
    ):
        check_fits(value, MONEY_COLUMN, places=places, field=label)


def _check_totals(memo: Memo, items: list[MemoItem]) -> None:
    check_memo_totals(
        memo.currency,
        net=sum((item.amount_excl_tax for item in items), ZERO),
        tax=sum((item.tax_amount for item in items), ZERO),
        total=sum((item.amount for item in items), ZERO),
    )


def _uses_third_party_engine(memo: Memo) -> bool:
    return taxed_by_third_party_engine(memo.tax_auto_calculation)


def _write(plan: _MemoPlan, *, actor, check_under_lock) -> Memo:
    memo = plan.memo
    # Before the engine is asked (its lines are the typed amounts here), so a total that cannot
    # be stored is refused without committing anything there.
    _check_totals(memo, plan.items)
    if plan.third_party:
        # The engine is called before the transaction, so no lock is held while it answers.
        engine_tax.tax_with_engine(plan.memo, plan.items)
    try:
        saved = _save(plan, actor=actor, check_under_lock=check_under_lock)
    except Exception:
        # Not saved (refused, a duplicate refused, a database error): whatever the engine may
        # have committed under this memo's reference belongs to no memo.
        if memo.tax_maybe_committed:
            engine_tax.void_quietly(memo)
        raise
    # No read-back: the insert returned the generated columns, the rest is what was written.
    return saved


def _save(plan: _MemoPlan, *, actor, check_under_lock) -> Memo:
    """Write the memo, its items and its history event; or return the memo a first submit with
    the same idempotency key made."""
    memo = plan.memo
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
            memo.number = next_number(SERIES[memo.memo_type])
            memo.status = MemoStatus.DRAFT
            memo.save(force_insert=True)
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
    except IntegrityError:
        # A submit with the same key committed after the early look-up. Everything above rolled
        # back with the failed insert, the number included (no savepoint needed for that): the
        # look-up below runs after the rollback.
        existing = _existing_memo(memo.idempotency_key)
        if existing is None:
            raise
        # Refused (another user or other input): the caller voids the tax.
        idempotency.check_same_submit(
            existing, actor_id=memo.created_by_id, digest=memo.idempotency_digest
        )
        if memo.tax_maybe_committed:
            # The tax committed for this duplicate belongs to no memo.
            engine_tax.void_quietly(memo)
        existing.replayed = True
        return existing
    return memo


def _creation_message(memo: Memo) -> str:
    source = f"invoice {memo.invoice.number}" if memo.invoice_id else "charges"
    return f"Created {memo.get_memo_type_display().lower()} from {source}"


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
        engine_tax.tax_with_engine(plan.memo, plan.items)
    else:
        if locked.taxed_by_third_party:
            # The tenant went back to the built-in engine: the memo is no longer taxed by the
            # third-party one (its Tax Status would stay Error for good), and what the engine
            # may hold for it (a commit, or an answer that came too late) is voided once this
            # is saved.
            if locked.tax_maybe_committed:
                transaction.on_commit(lambda: engine_tax.void_quietly(locked))
            locked.taxed_by_third_party = False
            locked.tax_maybe_committed = False
            locked.tax_status, locked.tax_message = TaxStatus.NONE, ""
        day = locked.invoice.invoice_date if locked.invoice_id else locked.memo_date
        rates = tax.RateBook(day)
        # As the create priced them: the whole rest of an invoice item takes the rest of its
        # tax (a draft takes nothing yet, so what is left excludes this memo).
        available = (
            available_on(locked.invoice)
            if locked.invoice_id and locked.memo_type == MemoType.CREDIT
            else {}
        )
        for item in items:
            typed = item.amount if item.tax_mode == TaxMode.INCLUSIVE else item.amount_excl_tax
            # A line mirroring a negative invoice item is priced on its size, and negated.
            priced = price_invoice_item_line(
                item_amount=typed,
                available=available.get(item.invoice_item_id),
                amount=typed,
                currency=locked.currency,
                tax_code=item.tax_code,
                tax_mode=item.tax_mode,
                day=day,
                tax_auto_calculation=True,
                typed_tax=None,
                rates=rates,
            )
            item.amount_excl_tax, item.tax_amount, item.amount = (
                priced.amount_excl_tax,
                priced.tax_amount,
                priced.amount,
            )
    for item in items:
        if locked.memo_type == MemoType.DEBIT:
            item.balance = item.amount
    _check_totals(locked, items)
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
    # DOMAIN.md 8: recalculating is an edit (the total may move): it withdraws a submission.
    withdraw_submission(locked, actor=actor, why="tax recalculated")
    return locked
