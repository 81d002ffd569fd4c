"""Bill a chunk of accounts: a fixed number of set-based statements, whatever the chunk's size.

Reads: the accounts' due subscription charges (locked, as plain values), their charges, their
unbilled usage totals and the tax rates. Writes, as plain tuples through billing/bulk.py (COPY on
PostgreSQL): the billed periods, one UPDATE of the usage records and one of the charged-through
dates, the invoice and credit memo items (and the memos' Created events), then the invoices and
the credit memos. Their ids are reserved up front, so every row can be built before the numbered
documents exist (Django's foreign keys are checked at commit); the numbering counters are taken
last, once each, so the counter rows stay locked for the shortest time.

Why the usage total cannot miss a record: the subscription charge rows are locked FOR UPDATE
first, and inserting a usage record takes a key-share lock on its charge, so no usage for these
charges can be committed between the total and the update that marks the records billed.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass
from decimal import Decimal

from django.db.models import Count, F, Max, Min, Q, Sum

from billing.bill_runs.rating import DueLine, UsageTotal, rate_charge
from billing.bill_runs.rules import split_documents
from billing.bulk import insert_rows, reserve_ids, update_from_rows
from billing.models import (
    BilledPeriod,
    BillRun,
    Charge,
    ChargeType,
    Invoice,
    InvoiceItem,
    NumberSeries,
    SubscriptionCharge,
    SubscriptionStatus,
    TaxMode,
    UsageRecord,
)
from billing.money import ZERO
from billing.numbering import allocate_series
from billing.services import DEFAULT_PAYMENT_TERM
from billing.tax import RateBook
from memos.models import Memo
from memos.services.bill_runs import (
    ITEM_FIELDS,
    CreditMemoDraft,
    write_credit_memo_items,
    write_credit_memos,
)


@dataclass
class ChunkResult:
    accounts: int = 0
    invoices: int = 0
    credit_memos: int = 0
    zero_total_invoices: int = 0

    def __iadd__(self, other: ChunkResult) -> ChunkResult:
        self.accounts += other.accounts
        self.invoices += other.invoices
        self.credit_memos += other.credit_memos
        self.zero_total_invoices += other.zero_total_invoices
        return self


def included_charge_types(bill_run: BillRun) -> list[str]:
    flags = {
        ChargeType.ONE_TIME: bill_run.include_one_time,
        ChargeType.RECURRING: bill_run.include_recurring,
        ChargeType.USAGE: bill_run.include_usage,
    }
    return [charge_type for charge_type, included in flags.items() if included]


def bill_accounts(
    *, bill_run: BillRun, account_ids: list[int], rule: str, reason_code
) -> ChunkResult:
    """Bill `account_ids` for `bill_run`; call inside the chunk's transaction."""
    target = bill_run.target_date
    sub_charges = _due_sub_charges(bill_run, account_ids)
    usage = _usage_totals(bill_run, account_ids) if bill_run.include_usage else {}
    rates = RateBook(bill_run.invoice_date)

    lines_by_account: dict[int, list[DueLine]] = defaultdict(list)
    charged_through: list[tuple[int, dt.date]] = []
    for sc in sub_charges:
        account = sc.subscription.account_id
        rated = rate_charge(
            sc, target_date=target, usage=usage.get(sc.pk), tax=rates, currency=sc.currency_id
        )
        if rated.lines:
            lines_by_account[account] += rated.lines
            charged_through.append((sc.pk, rated.charged_through))
    result = ChunkResult(accounts=len(set(account_ids)))
    if not lines_by_account:
        return result
    documents = {
        account: split_documents(lines, rule) for account, lines in lines_by_account.items()
    }
    currency = {sc.subscription.account_id: sc.currency_id for sc in sub_charges}

    lines = [line for lines in lines_by_account.values() for line in lines]
    billed = [(account, docs) for account, docs in documents.items() if docs.invoice_lines]
    credited = [(account, docs) for account, docs in documents.items() if docs.credit_lines]
    period_ids, invoice_ids, memo_ids = reserve_ids(
        (BilledPeriod, len(lines)), (Invoice, len(billed)), (Memo, len(credited))
    )
    periods = {id(line): pk for line, pk in zip(lines, period_ids, strict=True)}
    invoice_of = {account: pk for (account, _), pk in zip(billed, invoice_ids, strict=True)}

    _insert_billed_periods(bill_run, lines, periods)
    if usage:
        _mark_usage_billed(bill_run, lines, periods, usage)
    update_from_rows(SubscriptionCharge, "id", ["charged_through_date"], charged_through)
    insert_rows(
        InvoiceItem,
        ["invoice_id", "sort_order", *ITEM_FIELDS],
        (
            (invoice_of[account], index, *_item(line, 1, periods))
            for account, docs in billed
            for index, line in enumerate(docs.invoice_lines, start=1)
        ),
    )
    drafts = [
        CreditMemoDraft(
            memo_id=memo_id,
            account_id=account,
            currency_id=currency[account],
            coupled_invoice_id=invoice_of[account] if docs.coupled else None,
            items=[_item(line, -1, periods) for line in docs.credit_lines],
        )
        for (account, docs), memo_id in zip(credited, memo_ids, strict=True)
    ]
    write_credit_memo_items(bill_run=bill_run, drafts=drafts)

    # The documents last: they take the numbering counters, held until the chunk commits.
    numbers = allocate_series(
        {NumberSeries.Key.INVOICE: len(billed), NumberSeries.Key.CREDIT_MEMO: len(drafts)}
    )
    result.invoices = len(billed)
    result.zero_total_invoices = _insert_invoices(
        bill_run, billed, invoice_of, currency, numbers[NumberSeries.Key.INVOICE]
    )
    result.credit_memos = write_credit_memos(
        bill_run=bill_run,
        drafts=drafts,
        numbers=numbers[NumberSeries.Key.CREDIT_MEMO],
        reason_code=reason_code,
    )
    return result


@dataclass(slots=True)
class DueSubscription:
    """What billing reads of a charge's subscription."""

    number: str
    account_id: int
    end_date: dt.date | None


@dataclass(slots=True)
class DueCharge:
    """A due subscription charge as the chunk reads it: plain values, with the attributes
    rating reads of a SubscriptionCharge (its Charge is a model instance, shared)."""

    pk: int
    start_date: dt.date
    end_date: dt.date | None
    charged_through_date: dt.date | None
    quantity: Decimal
    price: Decimal
    charge: Charge
    subscription: DueSubscription
    currency_id: str


def _due_sub_charges(bill_run: BillRun, account_ids: list[int]) -> list[DueCharge]:
    """The accounts' charges that may owe something by the target date, locked."""
    target = bill_run.target_date
    rows = list(
        SubscriptionCharge.objects.select_for_update(of=("self",))
        .filter(
            subscription__account_id__in=account_ids,
            charge__charge_type__in=included_charge_types(bill_run),
            start_date__lte=target,
        )
        .filter(Q(charged_through_date__isnull=True) | Q(charged_through_date__lte=target))
        # A one-time charge billed once is never due again.
        .exclude(charge__charge_type=ChargeType.ONE_TIME, charged_through_date__gt=F("start_date"))
        .exclude(subscription__status=SubscriptionStatus.CANCELLED, subscription__end_date=None)
        # Locked by id, as every other writer of charges locks them (no deadlocks); the
        # documents list them by subscription.
        .order_by("pk")
        .values_list(
            "pk",
            "start_date",
            "end_date",
            "charged_through_date",
            "quantity",
            "price",
            "charge_id",
            "subscription__number",
            "subscription__account_id",
            "subscription__end_date",
            "subscription__account__currency_id",
        )  # fmt: skip
    )
    # A run bills a handful of charges for thousands of accounts: read each once.
    charges = Charge.objects.select_related("tax_code").in_bulk({row[6] for row in rows})
    due = [
        DueCharge(pk, start, end, through, quantity, price, charges[charge_id],
                  DueSubscription(number, account_id, sub_end), currency)
        for (pk, start, end, through, quantity, price, charge_id, number, account_id, sub_end,
             currency) in rows
    ]  # fmt: skip
    due.sort(key=lambda sc: (sc.subscription.account_id, sc.subscription.number, sc.pk))
    return due


def _usage_totals(bill_run: BillRun, account_ids: list[int]) -> dict[int, UsageTotal]:
    rows = (
        _unbilled_usage(bill_run)
        .filter(subscription_charge__subscription__account_id__in=account_ids)
        .values("subscription_charge_id")
        .annotate(
            quantity=Sum("quantity"),
            first=Min("usage_date"),
            last=Max("usage_date"),
            records=Count("id"),
        )
    )
    return {
        row["subscription_charge_id"]: UsageTotal(
            row["quantity"], row["first"], row["last"], row["records"]
        )
        for row in rows
    }


def _unbilled_usage(bill_run: BillRun):
    """Usage not billed yet, up to the target date and within its charge's (and subscription's)
    end."""
    return UsageRecord.objects.filter(
        Q(subscription_charge__end_date__isnull=True)
        | Q(usage_date__lte=F("subscription_charge__end_date")),
        Q(subscription_charge__subscription__end_date__isnull=True)
        | Q(usage_date__lte=F("subscription_charge__subscription__end_date")),
        billed_period__isnull=True,
        usage_date__lte=bill_run.target_date,
    )


def _insert_billed_periods(bill_run, lines: list[DueLine], periods) -> None:
    """One row per billed charge period (ids reserved: `periods` by id(line)); the unique
    constraint refuses a period billed before."""
    insert_rows(
        BilledPeriod,
        ["id", "subscription_charge_id", "period_start", "period_end", "bill_run_id"],
        (
            (periods[id(line)], line.sub_charge.pk, line.period_start, line.period_end, bill_run.pk)
            for line in lines
        ),
    )


EXCLUSIVE = TaxMode.EXCLUSIVE.value


def _item(line: DueLine, sign: int, periods) -> tuple:
    """The values of memos.services.bill_runs.ITEM_FIELDS for `line` (sign -1: a credit memo's
    item)."""
    charge = line.sub_charge.charge
    return (
        charge.pk,
        line.sub_charge.pk,
        periods[id(line)],
        charge.name,
        line.description,
        line.service_start,
        line.service_end,
        line.quantity,
        charge.unit_of_measure,
        sign * line.unit_price,
        sign * line.amount_excl_tax,
        line.tax_code.pk if line.tax_code is not None else None,
        EXCLUSIVE,
        sign * line.tax_amount,
        sign * line.amount,
    )


def _insert_invoices(bill_run, billed, invoice_ids, currency, numbers) -> int:
    """Insert the invoices (their items are in already) numbered `numbers`. Returns how many
    total zero."""
    due_date = bill_run.invoice_date + DEFAULT_PAYMENT_TERM
    rows, zero = [], 0
    for (account, docs), number in zip(billed, numbers, strict=True):
        net = sum((line.amount_excl_tax for line in docs.invoice_lines), ZERO)
        tax = sum((line.tax_amount for line in docs.invoice_lines), ZERO)
        zero += net + tax == 0
        rows.append(
            (invoice_ids[account], number, account, currency[account], bill_run.invoice_date,
             due_date, net, tax, net + tax, bill_run.pk)
        )  # fmt: skip
    insert_rows(
        Invoice,
        ["id", "number", "account_id", "currency_id", "invoice_date", "due_date",
         "amount_excl_tax", "tax_amount", "amount", "bill_run_id"],
        rows,
    )  # fmt: skip
    return zero


def _mark_usage_billed(bill_run: BillRun, lines: list[DueLine], periods, usage) -> None:
    """Point the usage records just totalled at the period that billed them: one UPDATE with
    the period ids the chunk already has and each charge's last billable day (the target date,
    or the charge's or its subscription's end if earlier), the records _unbilled_usage totalled."""
    rows = []
    for line in lines:
        sc = line.sub_charge
        if sc.pk in usage:
            ends = (bill_run.target_date, sc.end_date, sc.subscription.end_date)
            last_day = min(day for day in ends if day is not None)
            rows.append((sc.pk, periods[id(line)], last_day))
    update_from_rows(
        UsageRecord,
        "subscription_charge",
        ["billed_period"],
        rows,
        compare=("usage_date",),
        where="t.billed_period_id IS NULL AND t.usage_date <= v.c0",
    )
