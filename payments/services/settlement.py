"""Recording, applying, unapplying and canceling payments (DOMAIN.md 6).

A payment is applied to posted invoices and debit memos of its account exactly as a credit memo
is (DOMAIN.md 3): the same target checks, the header amount split over the target's items by the
application rule (or per-item amounts), the same invariants checked before anything is written
(memos.services.settlement's choose_targets and plan_targets). Locks: the payment, then memos by
id, then invoices by id, then the account (payments.services.common).
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import F, Sum

from billing.allocation import prorate
from billing.bulk import add_to_columns
from billing.busy import retry_when_busy
from billing.models import Account, BillingSettings, Invoice, InvoiceItem, NumberSeries
from billing.models.fields import money_sum
from billing.money import ZERO, format_money, money_label, quantum, validate_money
from billing.numbering import next_number
from billing.services import ensure_open_period
from memos.models import Memo, MemoEvent, MemoItem
from memos.services.common import record_event
from memos.services.settlement import (
    ApplicationTarget,
    choose_targets,
    items_of,
    plan_targets,
)
from payments.models import (
    Payment,
    PaymentApplication,
    PaymentApplicationItem,
    PaymentEvent,
    PaymentStatus,
    PaymentType,
)
from payments.services.common import (
    add_to_unapplied_payments,
    payment_event,
    user_of,
    write_payment_applications,
)

__all__ = [
    "ApplicationTarget",
    "apply_payment",
    "cancel_payment",
    "record_payment",
    "unapply_payment",
]


def _lock_targets(targets):
    """Lock the targets' documents: memos by id, then invoices by id."""
    memo_ids = sorted({t.debit_memo.pk for t in targets if t.debit_memo})
    invoice_ids = sorted({t.invoice.pk for t in targets if t.invoice})
    memos = {
        m.pk: m
        for m in Memo.objects.select_for_update(of=("self",))
        .select_related("currency")
        .filter(pk__in=memo_ids)
        .order_by("pk")
    }
    invoices = {
        i.pk: i
        for i in Invoice.objects.select_for_update().filter(pk__in=invoice_ids).order_by("pk")
    }
    return memos, invoices


def _lock_payment(payment: Payment) -> Payment:
    return (
        Payment.objects.select_for_update(of=("self",))
        .select_related("currency", "account")
        .get(pk=payment.pk)
    )


def _apply_locked(payment: Payment, targets, effective_date: dt.date, actor, *, key_prefix=""):
    """Apply the locked `payment` to `targets` (ApplicationTarget); every refusal is raised
    before anything is written. Returns the applications (the account is the caller's)."""
    errors: dict[str, list] = {}
    if payment.status != PaymentStatus.PROCESSED:
        raise ValidationError(
            f"{payment.number} is {payment.get_status_display()}: "
            "only processed payments can be applied."
        )
    if not targets:
        raise ValidationError("Choose at least one invoice or debit memo to apply the payment to.")
    if effective_date < payment.payment_date:
        errors.setdefault("effective_date", []).append(
            f"The effective date cannot be before the payment date {payment.payment_date:%Y-%m-%d}."
        )
    memos, invoices = _lock_targets(targets)
    rule = BillingSettings.load().application_rule
    chosen = choose_targets(payment, targets, invoices, memos, errors, noun="payment")
    plans, total = plan_targets(
        chosen, items_of([doc for _, _, doc in chosen]), rule, payment.currency, errors
    )
    if total > payment.unapplied_amount:
        errors.setdefault("__all__", []).append(
            ValidationError(
                f"{money_label(total, payment.currency)} is more than the unapplied amount "
                f"{money_label(payment.unapplied_amount, payment.currency)} of {payment.number}.",
                code="over_applied",
            )
        )
    if errors:
        raise ValidationError(errors)
    return write_payment_applications([(payment, plans, effective_date)], actor=actor)


@retry_when_busy
@transaction.atomic
def record_payment(
    *,
    account: Account,
    amount: Decimal | str,
    payment_date: dt.date,
    method: str,
    actor,
    reference: str = "",
    comment: str = "",
    targets: list[ApplicationTarget] | None = None,
) -> Payment:
    """Record a payment received outside the gateway (Cash, Check, Wire Transfer, Other),
    optionally applied at once to invoices and debit memos of the account (effective on the
    payment date). Processed; its unapplied amount counts in the account's balance."""
    errors: dict[str, list] = {}
    account = Account.objects.select_related("currency").get(pk=account.pk)
    currency = account.currency
    try:
        amount = validate_money(amount, currency)
        if amount <= 0:
            raise ValidationError("Enter an amount greater than zero.")
    except ValidationError as exc:
        errors["amount"] = exc.messages
    if method == PaymentType.ELECTRONIC or method not in PaymentType.values:
        errors["method"] = [
            "Choose Cash, Check, Wire Transfer or Other (electronic payments come from "
            "payment runs)."
        ]
    if payment_date is None:
        errors["payment_date"] = ["Enter the payment date."]
    else:
        try:
            ensure_open_period(payment_date, field="Payment date")
        except ValidationError as exc:
            errors["payment_date"] = exc.messages
    if errors:
        raise ValidationError(errors)
    payment = Payment.objects.create(
        number=next_number(NumberSeries.Key.PAYMENT),
        account=account,
        currency=currency,
        amount=amount,
        payment_date=payment_date,
        method=method,
        reference=reference,
        comment=comment,
        status=PaymentStatus.PROCESSED,
        created_by=user_of(actor),
    )
    payment_event(
        payment,
        PaymentEvent.Kind.CREATED,
        actor=actor,
        message=f"Recorded {money_label(amount, currency)} by {payment.get_method_display()}",
        after={"amount": amount, "method": payment.get_method_display()},
    ).save()
    applied = ZERO
    if targets:
        payment.applied_amount = ZERO
        applications = _apply_locked(payment, targets, payment_date, actor)
        applied = sum((a.amount for a in applications), ZERO)
    add_to_unapplied_payments({account.pk: amount - applied})
    payment.refresh_from_db()
    return payment


@retry_when_busy
@transaction.atomic
def apply_payment(
    *, payment: Payment, targets: list[ApplicationTarget], effective_date: dt.date, actor
) -> list[PaymentApplication]:
    """Apply (part of) a processed payment's unapplied amount to posted invoices and/or debit
    memos of its account."""
    locked = _lock_payment(payment)
    applications = _apply_locked(locked, targets, effective_date, actor)
    add_to_unapplied_payments({locked.account_id: -sum((a.amount for a in applications), ZERO)})
    return applications


def remaining_on(application: PaymentApplication) -> Decimal:
    undone = application.unapplications.aggregate(total=Sum("amount"))["total"] or ZERO
    return application.amount - undone


@retry_when_busy
@transaction.atomic
def unapply_payment(
    *,
    application: PaymentApplication,
    effective_date: dt.date,
    actor,
    amount: Decimal | str | None = None,
) -> PaymentApplication:
    """Move (part of) a payment application back to the payment's unapplied amount, split over
    the target's items in proportion to what each still holds."""
    if application.kind != PaymentApplication.Kind.APPLY:
        raise ValidationError("Only an application can be unapplied.")
    payment = _lock_payment(application.payment)
    target = ApplicationTarget(invoice=application.invoice, debit_memo=application.debit_memo)
    memos, invoices = _lock_targets([target])
    doc = (
        invoices[application.invoice_id]
        if application.invoice_id
        else memos[application.debit_memo_id]
    )
    currency = payment.currency
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
    held: dict[int, Decimal] = {}
    items: dict[int, object] = {}
    for move in (
        PaymentApplicationItem.objects.filter(
            application__in=[application, *application.unapplications.all()]
        )
        .select_related("invoice_item", "debit_memo_item")
        .order_by("pk")
    ):
        item = move.invoice_item or move.debit_memo_item
        sign = 1 if move.application_id == application.pk else -1
        held[item.pk] = held.get(item.pk, ZERO) + sign * move.amount
        items[item.pk] = item
    pairs = [(pk, value) for pk, value in held.items() if value > 0]
    shares = prorate(amount, [value for _, value in pairs], currency)
    unapplication = PaymentApplication.objects.create(
        payment=payment,
        kind=PaymentApplication.Kind.UNAPPLY,
        invoice_id=application.invoice_id,
        debit_memo_id=application.debit_memo_id,
        undoes=application,
        amount=amount,
        effective_date=effective_date,
        created_by=user_of(actor),
    )
    is_invoice = application.invoice_id is not None
    moved = [(items[pk], share) for (pk, _), share in zip(pairs, shares, strict=True) if share > 0]
    PaymentApplicationItem.objects.bulk_create(
        [
            PaymentApplicationItem(
                application=unapplication,
                invoice_item=item if is_invoice else None,
                debit_memo_item=None if is_invoice else item,
                amount=share,
            )
            for item, share in moved
        ]
    )
    add_to_columns(
        InvoiceItem if is_invoice else MemoItem,
        {item.pk: {"balance": share} for item, share in moved},
    )
    type(doc).objects.filter(pk=doc.pk).update(balance=money_sum(F("balance"), amount))
    Payment.objects.filter(pk=payment.pk).update(
        applied_amount=money_sum(F("applied_amount"), -amount)
    )
    label = money_label(amount, currency)
    payment_event(
        payment,
        PaymentEvent.Kind.UNAPPLIED,
        actor=actor,
        message=f"Unapplied {label} from {doc.number}",
        after={"target": doc.number, "amount": amount},
    ).save()
    if not is_invoice:
        record_event(
            doc,
            MemoEvent.Kind.UNAPPLIED,
            actor=actor,
            message=f"Payment {payment.number} unapplied {label}",
        )
    add_to_unapplied_payments({payment.account_id: amount})
    return unapplication


@retry_when_busy
@transaction.atomic
def cancel_payment(*, payment: Payment, actor) -> Payment:
    """Cancel a processed payment with nothing applied: it leaves the account's balance."""
    locked = _lock_payment(payment)
    if locked.status != PaymentStatus.PROCESSED:
        raise ValidationError(
            f"{locked.number} is {locked.get_status_display()}: "
            "only processed payments can be canceled.",
            code="invalid_transition",
        )
    if locked.applied_amount:
        raise ValidationError(
            f"{locked.number} has {money_label(locked.applied_amount, locked.currency)} applied: "
            "unapply it first.",
            code="applied",
        )
    Payment.objects.filter(pk=locked.pk).update(status=PaymentStatus.CANCELED)
    payment_event(locked, PaymentEvent.Kind.CANCELED, actor=actor, message="Canceled").save()
    add_to_unapplied_payments({locked.account_id: -locked.amount})
    locked.refresh_from_db()
    return locked
