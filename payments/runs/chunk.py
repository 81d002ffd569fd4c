"""A payment-run chunk: apply unapplied credit memos, then collect what is due, for many accounts
with a fixed number of SQL statements whatever their number (the gateway calls are HTTP, one per
document collected).

Reads (locked, in the settlement order: memos by id, then invoices by id): the accounts, their
posted credit memos with an unapplied amount (not "Exclude from auto apply rules") and posted
debit memos with a balance dated on or before the target date, their posted invoices with a
balance due on or before the target date, those documents' items, the default payment methods.

1. Credit: per account, the credit memos oldest memo date first (then lowest id) go to the
   documents oldest due date first (then lowest number; a debit memo is due on its memo date),
   each document taking min(what the memo has left, its balance), split over its items by the
   application rule; written by memos.services.settlement.write_credit_applications for all the
   chunk's memos at once, each on the memo's history as made by the run.
2. Collect: every such document still with a balance, if collectable (invoices when the account
   has Auto-Pay, debit memos when their own Auto-Pay is on), is charged for its balance to the
   account's default payment method, under the idempotency key (run, document). Approved: a
   Processed electronic payment, applied to the document in full. Declined: an Error payment and
   a run error with the gateway's reason. Failed or unknown: a run error (an unknown outcome
   keeps its key, which a retry asks the gateway about before charging). An account with
   something to collect and no payment method is an error of the account.

Numbers (P-) are taken last, so the counter row is locked for the shortest time. A chunk redone
(taken over, or account by account after it failed) asks the gateway by key before charging, and
the gateway answers a repeated key with its first charge: nothing is charged twice.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass
from types import SimpleNamespace

from django.db.models import Q
from django.utils import timezone

from billing.models import Account, Invoice, InvoiceStatus, NumberSeries
from billing.money import ZERO, money_label
from billing.numbering import allocate_numbers
from billing.services import ensure_open_period
from memos.models import Memo, MemoStatus, MemoType
from memos.services.settlement import items_of, split_over_target, write_credit_applications
from payments import gateway
from payments.models import (
    Payment,
    PaymentEvent,
    PaymentMethod,
    PaymentRun,
    PaymentRunApplication,
    PaymentRunError,
    PaymentRunErrorKind,
    PaymentRunScope,
    PaymentStatus,
    PaymentType,
)
from payments.services.common import payment_event, write_payment_applications


@dataclass
class RunResult:
    accounts: int = 0
    credit_applications: int = 0
    collected: int = 0
    declines: int = 0
    errors: int = 0

    def __iadd__(self, other: RunResult) -> RunResult:
        self.accounts += other.accounts
        self.credit_applications += other.credit_applications
        self.collected += other.collected
        self.declines += other.declines
        self.errors += other.errors
        return self


def _key(doc) -> tuple[type, int]:
    return (type(doc), doc.pk)


def _due(doc) -> dt.date:
    return doc.due_date if isinstance(doc, Invoice) else doc.memo_date


def process_accounts(
    *, run: PaymentRun, account_ids: list[int], rule: str, reconcile: bool = False
) -> RunResult:
    """The run's work for `account_ids`, inside the caller's transaction (the chunk's)."""
    result = RunResult(accounts=len(account_ids))
    accounts = {
        a.pk: a
        for a in Account.objects.filter(pk__in=account_ids)
        .select_related("currency")
        .order_by("pk")
    }
    debit = Q(memo_type=MemoType.DEBIT, balance__gt=0, memo_date__lte=run.target_date)
    credit = Q(memo_type=MemoType.CREDIT, unapplied_amount__gt=0, exclude_from_auto_apply=False)
    memos = list(
        Memo.objects.select_for_update(of=("self",))
        .select_related("currency")
        .filter(account_id__in=account_ids, status=MemoStatus.POSTED)
        .filter(debit | credit if run.apply_credit_memos else debit)
        .order_by("pk")
    )
    invoices = list(
        Invoice.objects.select_for_update()
        .filter(
            account_id__in=account_ids,
            status=InvoiceStatus.POSTED,
            balance__gt=0,
            due_date__lte=run.target_date,
        )
        .order_by("pk")
    )
    targets_of: dict[int, list] = defaultdict(list)
    credits_of: dict[int, list[Memo]] = defaultdict(list)
    for memo in memos:
        (credits_of if memo.memo_type == MemoType.CREDIT else targets_of)[memo.account_id].append(
            memo
        )
    for invoice in invoices:
        targets_of[invoice.account_id].append(invoice)
    for docs in targets_of.values():
        docs.sort(key=lambda d: (_due(d), d.number))
    items = items_of([doc for docs in targets_of.values() for doc in docs])

    if run.apply_credit_memos:
        result.credit_applications = _apply_credit(
            run, accounts, credits_of, targets_of, items, rule
        )
    if run.collect_payments:
        result += _collect(run, accounts, targets_of, items, rule, reconcile)
    return result


def _apply_credit(run, accounts, credits_of, targets_of, items, rule) -> int:
    batches = []
    for account_id, credits in credits_of.items():
        currency = accounts[account_id].currency
        left = {_key(d): d.balance for d in targets_of[account_id]}
        shadows = {
            _key(d): [SimpleNamespace(pk=i.pk, balance=i.balance) for i in items[_key(d)]]
            for d in targets_of[account_id]
        }
        for memo in sorted(credits, key=lambda m: (m.memo_date, m.pk)):
            available = memo.unapplied_amount
            plans = []
            for doc in targets_of[account_id]:
                if available <= 0:
                    break
                if doc.currency_id != memo.currency_id or left[_key(doc)] <= 0:
                    continue
                amount = min(available, left[_key(doc)])
                split = split_over_target(amount, shadows[_key(doc)], rule, currency)
                for shadow in shadows[_key(doc)]:
                    shadow.balance -= split.get(shadow.pk, ZERO)
                real = {i.pk: i for i in items[_key(doc)]}
                plans.append((doc, amount, [(real[pk], share) for pk, share in split.items()]))
                left[_key(doc)] -= amount
                available -= amount
            if plans:
                batches.append((memo, plans, max(run.target_date, memo.memo_date)))
    applications = write_credit_applications(
        batches, actor=None, by=f" by payment run {run.number}", after={"payment_run": run.number}
    )
    PaymentRunApplication.objects.bulk_create(
        [PaymentRunApplication(payment_run=run, application=a) for a in applications]
    )
    return len(applications)


def _collectable(account, doc, only) -> bool:
    if doc.balance <= 0:
        return False
    wanted = None if only is None else only.get(account.pk)
    if wanted is not None and _key(doc) not in wanted:
        return False
    if isinstance(doc, Invoice):
        return account.auto_pay
    return doc.auto_pay


def _retry_scope(run: PaymentRun):
    """For a retry run: {account id: None (all its documents) or {document keys}} of the run it
    retries, and the unknown outcomes' keys by document (asked about before charging)."""
    if run.scope != PaymentRunScope.RETRY or run.retry_of_id is None:
        return None, {}
    only: dict[int, set | None] = {}
    unknown: dict[tuple, str] = {}
    for error in PaymentRunError.objects.filter(payment_run_id=run.retry_of_id):
        if error.invoice_id is None and error.debit_memo_id is None:
            only[error.account_id] = None
            continue
        key = (Invoice, error.invoice_id) if error.invoice_id else (Memo, error.debit_memo_id)
        if only.get(error.account_id, set()) is not None:
            only.setdefault(error.account_id, set()).add(key)
        if error.kind == PaymentRunErrorKind.UNKNOWN and error.idempotency_key:
            unknown[key] = error.idempotency_key
    return only, unknown


def _collect(run, accounts, targets_of, items, rule, reconcile) -> RunResult:
    result = RunResult()
    only, unknown = _retry_scope(run)
    payment_date = timezone.localdate()
    ensure_open_period(payment_date, field="Payment date")
    methods: dict[int, PaymentMethod] = {}
    for method in PaymentMethod.objects.filter(account_id__in=list(accounts), active=True).order_by(
        "account_id", "-is_default", "pk"
    ):
        methods.setdefault(method.account_id, method)
    payments, approved, errors, events = [], [], [], []
    for account_id, account in accounts.items():
        docs = [d for d in targets_of.get(account_id, []) if _collectable(account, d, only)]
        if not docs:
            continue
        method = methods.get(account_id)
        if method is None:
            total = sum((d.balance for d in docs), ZERO)
            errors.append(
                PaymentRunError(
                    payment_run=run,
                    account=account,
                    kind=PaymentRunErrorKind.ERROR,
                    reason=f"No electronic payment method to collect {len(docs)} document(s) "
                    f"({money_label(total, account.currency)}) from.",
                )
            )
            continue
        for doc in docs:
            key = gateway.idempotency_key(run.number, doc.number)
            outcome = None
            if _key(doc) in unknown:
                earlier = gateway.charge_outcome_of(unknown[_key(doc)])
                if earlier is not None and earlier.status in (gateway.APPROVED, gateway.UNKNOWN):
                    outcome, key = earlier, unknown[_key(doc)]
            if outcome is None:
                outcome = gateway.charge(
                    key=key,
                    amount=doc.balance,
                    currency=account.currency_id,
                    token=method.gateway_token,
                    account_number=account.number,
                    document_number=doc.number,
                    reconcile_first=reconcile,
                )
            is_invoice = isinstance(doc, Invoice)
            target = {"invoice": doc} if is_invoice else {"debit_memo": doc}
            if outcome.status in (gateway.APPROVED, gateway.DECLINED):
                ok = outcome.status == gateway.APPROVED
                payment = Payment(
                    account=account,
                    currency_id=account.currency_id,
                    amount=doc.balance,
                    applied_amount=doc.balance if ok else ZERO,
                    payment_date=payment_date,
                    method=PaymentType.ELECTRONIC,
                    payment_method=method,
                    status=PaymentStatus.PROCESSED if ok else PaymentStatus.ERROR,
                    gateway_reference=outcome.reference,
                    gateway_message=outcome.reason,
                    payment_run=run,
                    idempotency_key=key,
                    reference=doc.number,
                )
                payment.currency = account.currency
                payments.append((payment, doc))
                if ok:
                    approved.append((payment, doc))
                    result.collected += 1
                    continue
                result.declines += 1
                kind = PaymentRunErrorKind.DECLINED
                reason = f"Declined: {outcome.reason}"
            else:
                result.errors += 1
                kind = (
                    PaymentRunErrorKind.UNKNOWN
                    if outcome.status == gateway.UNKNOWN
                    else PaymentRunErrorKind.ERROR
                )
                reason = outcome.reason
            errors.append(
                PaymentRunError(
                    payment_run=run,
                    account=account,
                    kind=kind,
                    reason=reason,
                    idempotency_key=key if kind == PaymentRunErrorKind.UNKNOWN else "",
                    **target,
                )
            )
    numbers = allocate_numbers(NumberSeries.Key.PAYMENT, len(payments))
    for (payment, doc), number in zip(payments, numbers, strict=True):
        payment.number = number
        label = money_label(payment.amount, payment.currency)
        if payment.status == PaymentStatus.PROCESSED:
            events.append(
                payment_event(
                    payment,
                    PaymentEvent.Kind.CREATED,
                    message=f"Collected {label} for {doc.number} by payment run {run.number}",
                    after={
                        "payment_run": run.number,
                        "gateway_reference": payment.gateway_reference,
                    },
                )
            )
        else:
            events.append(
                payment_event(
                    payment,
                    PaymentEvent.Kind.DECLINED,
                    message=f"Charge of {label} for {doc.number} declined: "
                    f"{payment.gateway_message}",
                    after={"payment_run": run.number},
                )
            )
    Payment.objects.bulk_create([payment for payment, _ in payments])
    plans = []
    for payment, doc in approved:
        split = split_over_target(doc.balance, items[_key(doc)], rule, payment.currency)
        item_shares = [(i, split[i.pk]) for i in items[_key(doc)] if split.get(i.pk)]
        plans.append((payment, [(doc, doc.balance, item_shares)], payment.payment_date))
    write_payment_applications(
        plans, actor=None, by=f" by payment run {run.number}", payments_applied_already=True
    )
    PaymentEvent.objects.bulk_create(events)
    PaymentRunError.objects.bulk_create(errors)
    return result
