"""What recording, applying and the payment run share: writing payment applications in bulk,
history events, and the account's unapplied payments (DOMAIN.md 1 and 6).

Locks, in the one order every payment service takes them (after credit memo settlement's own:
memos by id, then invoices by id): the payment row(s), then memos by id, then invoices by id,
and the account row last (its unapplied payments column, by a relative UPDATE).
"""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal
from typing import Any

from billing.bulk import add_to_columns
from billing.models import Account, Invoice, InvoiceItem
from billing.money import ZERO, money_label
from memos.models import Memo, MemoEvent, MemoItem
from memos.services.common import history_event
from memos.services.settlement import InvariantBroken
from payments.models import Payment, PaymentApplication, PaymentApplicationItem, PaymentEvent


def user_of(actor):
    return actor if getattr(actor, "is_authenticated", False) else None


def payment_event(
    payment: Payment, kind: str, *, actor=None, message: str = "", after: dict | None = None
) -> PaymentEvent:
    """One history event, not yet written (bulk_create them, or .save())."""
    values: dict[str, Any] = {
        k: (str(v) if isinstance(v, Decimal) or hasattr(v, "isoformat") else v)
        for k, v in (after or {}).items()
    }
    return PaymentEvent(
        payment=payment, kind=kind, actor=user_of(actor), message=message[:500], after=values
    )


def add_to_unapplied_payments(deltas: dict[int, Decimal]) -> None:
    """Move accounts' unapplied payments (the balance's payments term) by `deltas`; one
    statement, last in the transaction's locks."""
    add_to_columns(
        Account,
        {pk: {"unapplied_payment_amount": d} for pk, d in deltas.items() if d},
    )


def write_payment_applications(
    batches, *, actor, by: str = "", payments_applied_already: bool = False
) -> list[PaymentApplication]:
    """Record planned applications of payments whose targets the caller has locked:
    `batches` are (payment, plans, effective date) with plans as
    memos.services.settlement.plan_targets makes them. Checked in memory (DOMAIN.md 3's
    invariants, for payments: 0 <= applied <= amount, 0 <= balance <= amount on every document
    and item), then written with a fixed number of statements whatever the number of payments,
    targets and items. The payments' applied amounts move too, unless they were inserted applied
    already (`payments_applied_already`: the payment run's). The account's unapplied payments
    are the caller's (add_to_unapplied_payments)."""
    user = user_of(actor)
    applications, rows, memo_events, events = [], [], [], []
    item_deltas: dict[type, dict] = {
        InvoiceItem: defaultdict(lambda: defaultdict(Decimal)),
        MemoItem: defaultdict(lambda: defaultdict(Decimal)),
    }
    broken = []
    applied: dict[int, Decimal] = defaultdict(Decimal)
    for payment, plans, effective_date in batches:
        currency = payment.currency
        for doc, amount, item_amounts in plans:
            is_invoice = isinstance(doc, Invoice)
            application = PaymentApplication(
                payment=payment,
                invoice=doc if is_invoice else None,
                debit_memo=None if is_invoice else doc,
                amount=amount,
                effective_date=effective_date,
                created_by=user,
            )
            applications.append(application)
            moved = ZERO
            for item, share in item_amounts:
                item.balance -= share
                moved += share
                if share <= 0 or not 0 <= item.balance <= item.amount:
                    broken.append(f"{doc.number} item {item.pk}: balance outside 0..amount")
                rows.append((application, item, share))
                item_deltas[type(item)][item.pk]["balance"] -= share
            doc.balance -= amount
            applied[payment.pk] += amount
            if moved != amount:
                broken.append(f"{doc.number}: items moved {moved}, applied {amount}")
            if not 0 <= doc.balance <= doc.amount:
                broken.append(f"{doc.number}: balance outside 0..amount")
            label = money_label(amount, currency)
            events.append(
                payment_event(
                    payment,
                    PaymentEvent.Kind.APPLIED,
                    actor=actor,
                    message=f"Applied {label} to {doc.number}{by}",
                    after={
                        "target": doc.number,
                        "amount": amount,
                        "effective_date": effective_date,
                    },
                )
            )
            if not is_invoice:
                memo_events.append(
                    history_event(
                        doc,
                        MemoEvent.Kind.APPLIED,
                        actor=actor,
                        message=f"Payment {payment.number} applied {label}{by}",
                        after={"payment": payment.number, "amount": amount},
                    )
                )
        if not payments_applied_already:
            payment.applied_amount += applied[payment.pk]
        if not 0 <= payment.applied_amount <= payment.amount:
            broken.append(f"{payment.number}: applied outside 0..amount")
    if broken:
        raise InvariantBroken("; ".join(broken))
    PaymentApplication.objects.bulk_create(applications)
    PaymentApplicationItem.objects.bulk_create(
        [
            PaymentApplicationItem(
                application=application,
                invoice_item=item if isinstance(item, InvoiceItem) else None,
                debit_memo_item=item if isinstance(item, MemoItem) else None,
                amount=share,
            )
            for application, item, share in rows
        ]
    )
    add_to_columns(InvoiceItem, item_deltas[InvoiceItem])
    add_to_columns(MemoItem, item_deltas[MemoItem])
    add_to_columns(Invoice, _balance_deltas(a for a in applications if a.invoice_id is not None))
    add_to_columns(Memo, _balance_deltas(a for a in applications if a.debit_memo_id is not None))
    if not payments_applied_already:
        add_to_columns(Payment, {pk: {"applied_amount": total} for pk, total in applied.items()})
    PaymentEvent.objects.bulk_create(events)
    MemoEvent.objects.bulk_create(memo_events)
    return applications


def _balance_deltas(applications) -> dict[int, dict[str, Decimal]]:
    deltas: dict[int, dict[str, Decimal]] = defaultdict(lambda: defaultdict(Decimal))
    for a in applications:
        deltas[a.invoice_id or a.debit_memo_id]["balance"] -= a.amount
    return deltas
