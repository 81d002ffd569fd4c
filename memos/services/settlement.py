"""Settling credit memos (DOMAIN.md section 3): apply, unapply, refund, reverse, write off.

Amounts move between a credit memo and its targets in one transaction, under row locks taken in
one fixed order (memos by id, then invoices by id), so no number of concurrent operators can
break the invariants: 0 <= applied + refunded <= amount, 0 <= balance <= amount.

A header-level amount is split over the target's items by the "application rule" setting
(Proration by default, or FIFO), and over the credit memo's items first in, first out.

The statements an operation runs do not grow with its targets or items: the documents are
locked once, their items read at once, every amount computed and the invariants checked in
memory, then each table written once (bulk inserts, one UPDATE ... FROM (VALUES ...) per
table). Item rows are not locked on their own: every service that changes an item holds its
document's lock first, so the document locks serialize them; the database's CheckConstraints
stay the backstop.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import F, Sum
from django.utils import timezone

from billing.allocation import fifo, prorate
from billing.bulk import add_to_columns
from billing.busy import retry_when_busy
from billing.models import (
    ApplicationRule,
    BillingSettings,
    Invoice,
    InvoiceItem,
    InvoiceStatus,
    NumberSeries,
)
from billing.models.fields import money_sum
from billing.money import ZERO, format_money, money_label, quantum, validate_money
from billing.numbering import next_number
from billing.services import ensure_open_period
from memos.models import (
    Memo,
    MemoApplication,
    MemoApplicationItem,
    MemoEvent,
    MemoItem,
    MemoSource,
    MemoStatus,
    MemoType,
    ReasonCode,
    ReasonCodeType,
    Refund,
    RefundMethod,
)
from memos.services.common import history_event, record_event, resolve_reason_code


@dataclass(frozen=True)
class ApplicationTarget:
    """Where credit goes: an invoice or a debit memo, with a header amount or per-item amounts."""

    invoice: Invoice | None = None
    debit_memo: Memo | None = None
    amount: Decimal | None = None
    item_amounts: dict[int, Decimal] = field(default_factory=dict)
    key: str = ""

    @property
    def document(self):
        return self.invoice or self.debit_memo


def _lock(credit_memo_id: int, debit_memo_ids: Iterable[int], invoice_ids: Iterable[int]):
    """Lock the memos (by id), then the invoices (by id): the one order every service uses."""
    memo_ids = sorted({credit_memo_id, *debit_memo_ids})
    memos = {
        m.pk: m
        for m in Memo.objects.select_for_update(of=("self",))
        .select_related("currency", "account")
        .filter(pk__in=memo_ids)
        .order_by("pk")
    }
    invoices = {
        i.pk: i
        for i in Invoice.objects.select_for_update()
        .filter(pk__in=sorted(set(invoice_ids)))
        .order_by("pk")
    }
    return memos, invoices


class InvariantBroken(Exception):
    """What a settlement computed would break DOMAIN.md section 3's invariants: a bug, never an
    operator's input (that is a ValidationError). Raised before anything is written."""


def items_of(docs) -> dict[tuple[type, int], list]:
    """The items of every target document, in item order: one query for the invoices', one
    for the debit memos'."""
    items: dict[tuple[type, int], list] = defaultdict(list)
    invoice_ids = sorted(doc.pk for doc in docs if isinstance(doc, Invoice))
    memo_ids = sorted(doc.pk for doc in docs if not isinstance(doc, Invoice))
    if invoice_ids:
        for item in InvoiceItem.objects.filter(invoice_id__in=invoice_ids).order_by(
            "invoice_id", "sort_order", "id"
        ):
            items[(Invoice, item.invoice_id)].append(item)
    if memo_ids:
        for item in MemoItem.objects.filter(memo_id__in=memo_ids).order_by(
            "memo_id", "sort_order", "id"
        ):
            items[(Memo, item.memo_id)].append(item)
    return items


def _split_over_target(amount: Decimal, items: list, rule: str, currency) -> dict[int, Decimal]:
    open_items = [i for i in items if i.balance > 0]
    balances = [i.balance for i in open_items]
    shares = (
        prorate(amount, balances, currency)
        if rule == ApplicationRule.PRORATION
        else fifo(amount, balances)
    )
    return {item.pk: share for item, share in zip(open_items, shares, strict=True) if share > 0}


def split_over_target(amount: Decimal, items: list, rule: str, currency) -> dict[int, Decimal]:
    """`amount` over the open items of a target by the application rule: {item id: share}."""
    return _split_over_target(amount, items, rule, currency)


def _pair_with_credit_items(
    credit_items: list[MemoItem],
    target_amounts: list[tuple[object, Decimal]],
    available: dict[int, Decimal],
):
    """(credit memo item, target item, amount) triples drawing on the credit items in order.
    `available` (unapplied per credit item) is drawn down, so the next target of the same
    application starts where this one stopped."""
    pairs = []
    for target_item, amount in target_amounts:
        left = amount
        for credit_item in credit_items:
            if left == 0:
                break
            take = min(available[credit_item.pk], left)
            if take > 0:
                pairs.append((credit_item, target_item, take))
                available[credit_item.pk] -= take
                left -= take
        if left > 0:
            raise ValidationError("The credit memo's items do not have enough unapplied amount.")
    return pairs


def _check_credit_memo(memo: Memo) -> None:
    if memo.memo_type != MemoType.CREDIT:
        raise ValidationError(
            f"{memo.number} is a debit memo: only credit memos are applied or refunded."
        )
    if memo.status != MemoStatus.POSTED:
        raise ValidationError(
            f"{memo.number} is {memo.get_status_display()}: "
            "only posted credit memos can be settled."
        )


@retry_when_busy
@transaction.atomic
def apply_credit_memo(
    *, credit_memo: Memo, targets: list[ApplicationTarget], effective_date: dt.date, actor
) -> list[MemoApplication]:
    """Apply a posted credit memo to posted invoices and/or debit memos of its account."""
    if not targets:
        raise ValidationError("Choose at least one invoice or debit memo to apply the credit to.")
    memos, invoices = _lock(
        credit_memo.pk,
        [t.debit_memo.pk for t in targets if t.debit_memo],
        [t.invoice.pk for t in targets if t.invoice],
    )
    return apply_locked(memos, invoices, credit_memo.pk, targets, effective_date, actor)


def apply_locked(
    memos, invoices, credit_memo_id, targets, effective_date, actor
) -> list[MemoApplication]:
    """Apply the credit memo to `targets`, whose documents the caller has locked (`_lock`:
    memos, then invoices, by id). Every refusal is raised before anything is written."""
    memo = memos[credit_memo_id]
    _check_credit_memo(memo)
    currency = memo.currency
    errors: dict[str, list[str]] = {}
    if effective_date < memo.memo_date:
        errors.setdefault("effective_date", []).append(
            f"The effective date cannot be before the memo date {memo.memo_date:%Y-%m-%d}."
        )
    rule = BillingSettings.load().application_rule
    chosen = choose_targets(memo, targets, invoices, memos, errors)
    plans, total = plan_targets(
        chosen, items_of([doc for _, _, doc in chosen]), rule, currency, errors
    )
    if total > memo.unapplied_amount:
        errors.setdefault("__all__", []).append(
            ValidationError(over_applied(total, memo), code="over_applied")
        )
    if errors:
        raise ValidationError(errors)
    return _write_applications(memo, plans, effective_date, actor)


def choose_targets(source, targets, invoices, memos, errors, *, noun: str = "credit") -> list:
    """The (key, target, locked document) of each target that can take `source`'s money (a
    credit memo's or a payment's: same account and currency, posted, with a balance); the
    others' problems go to `errors` under their keys. Shared by credit memo and payment
    applications (DOMAIN.md 3 and 6)."""
    chosen = []
    seen = set()
    for index, target in enumerate(targets):
        key = target.key or f"target:{index}"
        doc = invoices[target.invoice.pk] if target.invoice else memos[target.debit_memo.pk]
        if (type(doc), doc.pk) in seen:
            errors.setdefault(key, []).append(f"{doc.number} is listed twice.")
            continue
        seen.add((type(doc), doc.pk))
        problem = target_problem(source, doc, noun=noun)
        if problem:
            errors.setdefault(key, []).append(problem)
            continue
        chosen.append((key, target, doc))
    return chosen


def plan_targets(chosen, items_by_doc, rule: str, currency, errors) -> tuple[list, Decimal]:
    """What each chosen target takes: (document, amount, [(item, share), ...]) and the total.
    A header amount is split over the target's open items by the application rule; per-item
    amounts are checked against each item's balance. Problems go to `errors` by key."""
    plans = []
    total = ZERO
    for key, target, doc in chosen:
        label = doc.number
        items = items_by_doc[(type(doc), doc.pk)]
        try:
            if target.item_amounts:
                by_id = {i.pk: i for i in items}
                split = {}
                for item_id, raw in target.item_amounts.items():
                    value = validate_money(raw, currency)
                    if value == 0:
                        continue
                    item = by_id.get(item_id)
                    if item is None:
                        raise ValidationError(f"An item of another document was given for {label}.")
                    if value < 0 or value > item.balance:
                        raise ValidationError(
                            f"{item.charge_name} on {label}: at most "
                            f"{format_money(max(item.balance, ZERO), currency)} can be applied."
                        )
                    split[item_id] = value
                amount = sum(split.values(), ZERO)
            else:
                amount = validate_money(target.amount, currency)
                if amount <= 0:
                    raise ValidationError("Enter an amount greater than zero.")
                # Checked before splitting: FIFO cannot split more than the items hold.
                if amount > doc.balance:
                    raise ValidationError(more_than_balance(doc, currency))
                split = _split_over_target(amount, items, rule, currency)
        except ValidationError as exc:
            errors.setdefault(key, []).extend(exc.messages)
            continue
        if amount <= 0:
            errors.setdefault(key, []).append("Enter an amount greater than zero.")
            continue
        if amount > doc.balance:
            errors.setdefault(key, []).append(more_than_balance(doc, currency))
            continue
        total += amount
        plans.append((doc, amount, [(i, split[i.pk]) for i in items if split.get(i.pk)]))
    return plans, total


def _write_applications(memo: Memo, plans, effective_date: dt.date, actor):
    return write_credit_applications([(memo, plans, effective_date)], actor=actor)


def write_credit_applications(batches, *, actor, by: str = "", after: dict | None = None):
    """Record planned applications of one or more credit memos, whose documents the caller has
    locked: `batches` are (credit memo, plans, effective date), plans as plan_targets makes
    them, planned against the documents' current balances in order (a target that takes
    credit from two memos is planned with what the first left). Amounts are computed and
    checked in memory first, then written with a fixed number of statements, whatever the
    number of memos, targets and items. `by` ends each history message (" by payment run
    PR-00000001"); `after` is added to each event's values. Returns the applications."""
    credit_items: dict[int, list[MemoItem]] = defaultdict(list)
    memo_ids = sorted({memo.pk for memo, _, _ in batches})
    for item in MemoItem.objects.filter(memo_id__in=memo_ids).order_by(
        "memo_id", "sort_order", "id"
    ):
        credit_items[item.memo_id].append(item)
    available = {
        item.pk: item.unapplied_amount for items in credit_items.values() for item in items
    }
    user = _user(actor)
    extra = after or {}
    applications, moves, events = [], [], []
    memo_totals: dict[int, Decimal] = defaultdict(Decimal)
    by_memo: dict[int, tuple] = {}
    for memo, plans, effective_date in batches:
        currency = memo.currency
        memo_applications, memo_moves = [], []
        for doc, amount, item_amounts in plans:
            is_invoice = isinstance(doc, Invoice)
            application = MemoApplication(
                credit_memo=memo,
                invoice=doc if is_invoice else None,
                debit_memo=None if is_invoice else doc,
                amount=amount,
                effective_date=effective_date,
                created_by=user,
            )
            memo_applications.append(application)
            memo_moves += [
                (application, credit_item, target_item, share)
                for credit_item, target_item, share in _pair_with_credit_items(
                    credit_items[memo.pk], item_amounts, available
                )
            ]
            doc.balance -= amount
            events.append(
                history_event(
                    memo,
                    MemoEvent.Kind.APPLIED,
                    actor=actor,
                    message=f"Applied {money_label(amount, currency)} to {doc.number}{by}",
                    after={
                        "target": doc.number,
                        "amount": amount,
                        "effective_date": effective_date,
                        **extra,
                    },
                )
            )
            if not is_invoice:
                events.append(
                    history_event(
                        doc,
                        MemoEvent.Kind.APPLIED,
                        actor=actor,
                        message=f"{memo.number} applied {money_label(amount, currency)}{by}",
                        after={"credit_memo": memo.number, "amount": amount, **extra},
                    )
                )
        for _, credit_item, target_item, share in memo_moves:
            credit_item.applied_amount += share
            credit_item.unapplied_amount -= share
            target_item.balance -= share
        total = sum((application.amount for application in memo_applications), ZERO)
        memo.applied_amount += total
        memo.unapplied_amount = memo.amount - memo.applied_amount - memo.refund_amount
        memo_totals[memo.pk] += total
        by_memo[memo.pk] = (memo, [doc for doc, _, _ in plans], memo_applications, memo_moves)
        applications += memo_applications
        moves += memo_moves
    for memo, docs, memo_applications, memo_moves in by_memo.values():
        _check_invariants(memo, docs, memo_applications, memo_moves)
    MemoApplication.objects.bulk_create(applications)
    _move_items(moves, sign=1)
    memo_deltas: dict[int, dict[str, Decimal]] = defaultdict(lambda: defaultdict(Decimal))
    invoice_deltas: dict[int, dict[str, Decimal]] = defaultdict(lambda: defaultdict(Decimal))
    for pk, total in memo_totals.items():
        memo_deltas[pk]["applied_amount"] += total
    for a in applications:
        if a.debit_memo_id:
            memo_deltas[a.debit_memo_id]["balance"] -= a.amount
        else:
            invoice_deltas[a.invoice_id]["balance"] -= a.amount
    add_to_columns(Memo, memo_deltas)
    add_to_columns(Invoice, invoice_deltas)
    MemoEvent.objects.bulk_create(events)
    return applications


def _check_invariants(memo: Memo, docs, applications, moves) -> None:
    """DOMAIN.md section 3's invariants on what apply is about to write, checked in memory on
    every document and item it changes (items included, which no CheckConstraint covers);
    InvariantBroken when one fails."""
    broken = []
    if not 0 <= memo.applied_amount + memo.refund_amount <= memo.amount:
        broken.append(f"{memo.number}: applied + refunded outside 0..amount")
    for doc in docs:
        if not 0 <= doc.balance <= doc.amount:
            broken.append(f"{doc.number}: balance outside 0..amount")
    moved: dict[int, Decimal] = defaultdict(Decimal)
    for application, credit_item, target_item, share in moves:
        moved[id(application)] += share
        if share <= 0 or not 0 <= credit_item.unapplied_amount <= credit_item.amount:
            broken.append(f"{memo.number} item {credit_item.pk}: unapplied outside 0..amount")
        if not 0 <= target_item.balance <= target_item.amount:
            broken.append(f"item {target_item.pk}: balance outside 0..amount")
    for application in applications:
        if moved[id(application)] != application.amount:
            broken.append(f"{application.target.number}: items moved {moved[id(application)]}")
    if broken:
        raise InvariantBroken("; ".join(broken))


def over_applied(total: Decimal, memo: Memo) -> str:
    """The refusal of applying `total`, more than the memo's unapplied amount."""
    return (
        f"{money_label(total, memo.currency)} is more than the unapplied amount "
        f"{money_label(memo.unapplied_amount, memo.currency)} of {memo.number}."
    )


def more_than_balance(doc, currency) -> str:
    return (
        f"At most {money_label(doc.balance, currency)} can be applied to {doc.number} "
        "(its balance)."
    )


def target_problem(source, doc, *, noun: str = "credit") -> str:
    """Why `doc` cannot take money from `source` (a credit memo or a payment), or ""."""
    if isinstance(doc, Invoice):
        if doc.status != InvoiceStatus.POSTED:
            return (
                f"{doc.number} is {doc.get_status_display()}: {noun} goes to posted invoices only."
            )
    else:
        if doc.memo_type != MemoType.DEBIT or doc.status != MemoStatus.POSTED:
            return f"{doc.number} is not a posted debit memo."
    if doc.account_id != source.account_id:
        return f"{doc.number} belongs to another account."
    if doc.currency_id != source.currency_id:
        what = "the credit memo" if noun == "credit" else f"the {noun}"
        return f"{doc.number} is in {doc.currency_id}, {what} in {source.currency_id}."
    if doc.balance <= 0:
        return f"{doc.number} has no balance left."
    return ""


def _move_items(moves, *, sign: int) -> None:
    """Record how applications split over items, and move the item amounts (sign 1 applies,
    -1 unapplies) in the database: `moves` are (application, credit memo item, target item,
    amount), the applications saved already. Two inserts and updates, however many moves."""
    rows = []
    memo_items: dict[int, dict[str, Decimal]] = defaultdict(lambda: defaultdict(Decimal))
    invoice_items: dict[int, dict[str, Decimal]] = defaultdict(lambda: defaultdict(Decimal))
    for application, credit_item, target_item, amount in moves:
        is_invoice = isinstance(target_item, InvoiceItem)
        rows.append(
            MemoApplicationItem(
                application=application,
                credit_memo_item=credit_item,
                invoice_item=target_item if is_invoice else None,
                debit_memo_item=None if is_invoice else target_item,
                amount=amount,
            )
        )
        memo_items[credit_item.pk]["applied_amount"] += sign * amount
        (invoice_items if is_invoice else memo_items)[target_item.pk]["balance"] -= sign * amount
    MemoApplicationItem.objects.bulk_create(rows)
    add_to_columns(MemoItem, memo_items)
    add_to_columns(InvoiceItem, invoice_items)


def remaining_on(application: MemoApplication) -> Decimal:
    """What of an application is still applied (its amount less its unapplications)."""
    undone = application.unapplications.aggregate(total=Sum("amount"))["total"] or ZERO
    return application.amount - undone


@retry_when_busy
@transaction.atomic
def unapply_credit_memo(
    *, application: MemoApplication, effective_date: dt.date, actor, amount: Decimal | None = None
) -> MemoApplication:
    """Move (part of) an application back to the credit memo's unapplied amount."""
    if application.kind != MemoApplication.Kind.APPLY:
        raise ValidationError("Only an application can be unapplied.")
    memos, invoices = _lock(
        application.credit_memo_id,
        [application.debit_memo_id] if application.debit_memo_id else [],
        [application.invoice_id] if application.invoice_id else [],
    )
    memo = memos[application.credit_memo_id]
    currency = memo.currency
    if application.debit_memo_id and memos[application.debit_memo_id].reversed_memo_id == memo.pk:
        raise ValidationError(
            f"This application is part of the reversal (or write-off) of {memo.number} by "
            f"{memos[application.debit_memo_id].number}: it cannot be unapplied."
        )
    remaining = remaining_on(application)
    if remaining <= 0:
        raise ValidationError({"amount": "This application has been unapplied in full already."})
    amount = remaining if amount in (None, "") else validate_money(amount, currency)
    if amount <= 0 or amount > remaining:
        raise ValidationError(
            {
                "amount": f"Enter an amount from {format_money(quantum(currency), currency)} "
                f"to {format_money(remaining, currency)}."
            }
        )
    last = (
        application.unapplications.order_by("-effective_date")
        .values_list("effective_date", flat=True)
        .first()
    )
    floor = max(application.effective_date, last or application.effective_date)
    if effective_date < floor:
        raise ValidationError(
            {
                "effective_date": f"The effective date cannot be before {floor:%Y-%m-%d}, "
                "the date of the application it undoes."
            }
        )
    is_invoice = application.invoice_id is not None
    doc = invoices[application.invoice_id] if is_invoice else memos[application.debit_memo_id]
    # What each item pair still holds, then the unapplied amount split over it in proportion.
    held: dict[tuple[int, int], Decimal] = {}
    items: dict[tuple[int, int], tuple] = {}
    moves = (
        MemoApplicationItem.objects.filter(
            application__in=[application, *application.unapplications.all()]
        )
        .select_related("credit_memo_item", "invoice_item", "debit_memo_item")
        .order_by("pk")
    )
    for move in moves:
        target_item = move.invoice_item or move.debit_memo_item
        pair = (move.credit_memo_item_id, target_item.pk)
        sign = 1 if move.application_id == application.pk else -1
        held[pair] = held.get(pair, ZERO) + sign * move.amount
        items[pair] = (move.credit_memo_item, target_item)
    pairs_held = [(pair, value) for pair, value in held.items() if value > 0]
    shares = prorate(amount, [value for _, value in pairs_held], currency)
    unapplication = MemoApplication.objects.create(
        credit_memo=memo,
        kind=MemoApplication.Kind.UNAPPLY,
        invoice_id=application.invoice_id,
        debit_memo_id=application.debit_memo_id,
        undoes=application,
        amount=amount,
        effective_date=effective_date,
        created_by=_user(actor),
    )
    _move_items(
        [
            (unapplication, *items[pair], share)
            for (pair, _), share in zip(pairs_held, shares, strict=True)
            if share > 0
        ],
        sign=-1,
    )
    type(doc).objects.filter(pk=doc.pk).update(balance=money_sum(F("balance"), amount))
    Memo.objects.filter(pk=memo.pk).update(applied_amount=money_sum(F("applied_amount"), -amount))
    message = f"Unapplied {money_label(amount, currency)} from {doc.number}"
    record_event(
        memo,
        MemoEvent.Kind.UNAPPLIED,
        actor=actor,
        message=message,
        after={"target": doc.number, "amount": amount},
    )
    if not is_invoice:
        record_event(
            doc,
            MemoEvent.Kind.UNAPPLIED,
            actor=actor,
            message=f"{memo.number} unapplied {money_label(amount, currency)}",
        )
    return unapplication


@retry_when_busy
@transaction.atomic
def refund_credit_memo(
    *,
    credit_memo: Memo,
    amount: Decimal,
    method: str,
    refund_date: dt.date,
    actor,
    reason_code: ReasonCode | None = None,
    comment: str = "",
) -> Refund:
    """Refund (part of) a posted credit memo's unapplied amount externally."""
    memos, _ = _lock(credit_memo.pk, [], [])
    memo = memos[credit_memo.pk]
    _check_credit_memo(memo)
    currency = memo.currency
    errors: dict[str, list[str]] = {}
    try:
        amount = validate_money(amount, currency)
        if amount <= 0:
            raise ValidationError("Enter an amount greater than zero.")
        if amount > memo.unapplied_amount:
            raise ValidationError(
                f"At most {money_label(memo.unapplied_amount, currency)} "
                "(the unapplied amount) can be refunded."
            )
    except ValidationError as exc:
        errors["amount"] = exc.messages
    if method not in RefundMethod.values:
        errors["method"] = ["Choose a refund method."]
    if refund_date < memo.memo_date:
        errors["refund_date"] = [
            f"The refund date cannot be before the memo date {memo.memo_date:%Y-%m-%d}."
        ]
    else:
        try:
            ensure_open_period(refund_date, field="Refund date")
        except ValidationError as exc:
            errors["refund_date"] = exc.messages
    try:
        reason = resolve_reason_code(memo.memo_type, reason_code, code_type=ReasonCodeType.REFUND)
    except ValidationError as exc:
        errors.update(exc.message_dict)
        reason = None
    if errors:
        raise ValidationError(errors)
    credit_items = list(MemoItem.objects.filter(memo=memo).order_by("sort_order", "id"))
    shares = fifo(amount, [i.unapplied_amount for i in credit_items])
    add_to_columns(
        MemoItem,
        {
            item.pk: {"refund_amount": share}
            for item, share in zip(credit_items, shares, strict=True)
            if share
        },
    )
    refund = Refund.objects.create(
        number=next_number(NumberSeries.Key.REFUND),
        credit_memo=memo,
        amount=amount,
        method=method,
        refund_date=refund_date,
        reason_code=reason,
        comment=comment,
        created_by=_user(actor),
    )
    Memo.objects.filter(pk=memo.pk).update(refund_amount=money_sum(F("refund_amount"), amount))
    record_event(
        memo,
        MemoEvent.Kind.REFUNDED,
        actor=actor,
        message=f"Refunded {money_label(amount, currency)} by "
        f"{refund.get_method_display()} ({refund.number})",
        after={"refund": refund.number, "amount": amount, "method": refund.get_method_display()},
    )
    return refund


@retry_when_busy
@transaction.atomic
def reverse_credit_memo(*, credit_memo: Memo, actor, memo_date: dt.date | None = None) -> Memo:
    """Reverse a posted credit memo with nothing applied: a debit memo mirrors it, is posted, and
    the credit memo is applied to it in full. The credit memo stays Posted, Reversed = Yes."""
    return _mirror(
        credit_memo,
        actor=actor,
        memo_date=memo_date,
        reason_name="Credit memo reversal",
        reversing=True,
    )


@retry_when_busy
@transaction.atomic
def write_off_credit_memo(*, credit_memo: Memo, actor, memo_date: dt.date | None = None) -> Memo:
    """Write off a fully unapplied posted credit memo: the same mechanics, reason Write-off."""
    return _mirror(
        credit_memo, actor=actor, memo_date=memo_date, reason_name="Write-off", reversing=False
    )


def _mirror(credit_memo: Memo, *, actor, memo_date, reason_name: str, reversing: bool) -> Memo:
    memos, _ = _lock(credit_memo.pk, [], [])
    memo = memos[credit_memo.pk]
    _check_credit_memo(memo)
    verb = "reversed" if reversing else "written off"
    if memo.reversed or Memo.objects.filter(reversed_memo=memo).exists():
        raise ValidationError(f"{memo.number} has already been reversed or written off.")
    if memo.applied_amount or memo.refund_amount:
        raise ValidationError(
            f"{memo.number} has been applied or refunded: "
            f"only a fully unapplied credit memo can be {verb}."
        )
    memo_date = memo_date or max(timezone.localdate(), memo.memo_date)
    if memo_date < memo.memo_date:
        raise ValidationError(
            {"memo_date": f"The debit memo's date cannot be before {memo.memo_date:%Y-%m-%d}."}
        )
    ensure_open_period(memo_date, field="Memo Date")
    reason = ReasonCode.objects.filter(
        code_type=ReasonCodeType.DEBIT_MEMO, name=reason_name
    ).first()
    if reason is None:
        raise ValidationError(
            f"The debit memo reason code {reason_name!r} is missing; ask an admin to restore it."
        )
    debit = Memo.objects.create(
        memo_type=MemoType.DEBIT,
        number=next_number(NumberSeries.Key.DEBIT_MEMO),
        account=memo.account,
        currency=memo.currency,
        status=MemoStatus.POSTED,
        source=MemoSource.REVERSAL,
        reversed_memo=memo,
        memo_date=memo_date,
        amount_excl_tax=memo.amount_excl_tax,
        tax_amount=memo.tax_amount,
        amount=memo.amount,
        balance=memo.amount,
        auto_pay=False,
        reason_code=reason,
        comments=f"{reason_name} of {memo.number}",
        tax_auto_calculation=False,
        posted_at=timezone.now(),
        created_by=_user(actor),
    )
    items = [
        MemoItem(
            memo=debit,
            sort_order=item.sort_order,
            charge=item.charge,
            charge_name=item.charge_name,
            description=item.description,
            service_start=item.service_start,
            service_end=item.service_end,
            quantity=item.quantity,
            unit_of_measure=item.unit_of_measure,
            unit_price=item.unit_price,
            amount_excl_tax=item.amount_excl_tax,
            tax_code=item.tax_code,
            tax_mode=item.tax_mode,
            tax_amount=item.tax_amount,
            amount=item.amount,
            balance=item.amount,
        )
        for item in MemoItem.objects.filter(memo=memo).order_by("sort_order", "id")
    ]
    MemoItem.objects.bulk_create(items)
    record_event(
        debit,
        MemoEvent.Kind.CREATED,
        actor=actor,
        message=f"Created and posted to {reason_name.lower()} {memo.number}",
        after={"status": "Posted", "amount": debit.amount},
    )
    target = ApplicationTarget(debit_memo=debit, amount=memo.amount)
    apply_locked({debit.pk: debit, memo.pk: memo}, {}, memo.pk, [target], memo_date, actor)
    if reversing:
        Memo.objects.filter(pk=memo.pk).update(reversed=True)
    kind = MemoEvent.Kind.REVERSED if reversing else MemoEvent.Kind.WRITTEN_OFF
    record_event(
        memo,
        kind,
        actor=actor,
        message=f"{verb.capitalize()} by {debit.number}",
        after={"debit_memo": debit.number, "reversed": reversing},
    )
    debit.refresh_from_db()
    return debit


def _user(actor):
    return actor if getattr(actor, "is_authenticated", False) else None
