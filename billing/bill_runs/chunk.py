"""Bill a chunk of accounts: a fixed number of set-based statements, whatever the chunk's size.

Reads: the accounts, their due subscription charges (locked), their unbilled usage totals and
the tax rates. Writes: a bulk insert of billed periods, set-based updates of usage records and
charged-through dates, then bulk inserts of invoices, items and credit memos. The numbering
counters are taken once each, last, so the counter rows stay locked for the shortest time.

Why the usage total cannot miss a record: the subscription charge rows are locked FOR UPDATE
first, and inserting a usage record takes a key-share lock on its charge, so no usage for these
charges can be committed between the total and the update that marks the records billed.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from django.db.models import (
    Case,
    Count,
    DateField,
    F,
    IntegerField,
    Max,
    Min,
    Q,
    Sum,
    Value,
    When,
)

from billing.bill_runs.rating import DueLine, UsageTotal, rate_charge
from billing.bill_runs.rules import AccountDocuments, split_documents
from billing.models import (
    Account,
    BilledPeriod,
    BillRun,
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
from billing.numbering import allocate_numbers
from billing.services import DEFAULT_PAYMENT_TERM
from billing.tax import RateBook
from memos.models import MemoItem
from memos.services.bill_runs import CreditMemoDraft, create_bill_run_credit_memos


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
    accounts = {a.pk: a for a in Account.objects.filter(pk__in=account_ids)}
    sub_charges = _due_sub_charges(bill_run, account_ids)
    usage = _usage_totals(bill_run, account_ids) if bill_run.include_usage else {}
    rates = RateBook(bill_run.invoice_date)

    lines_by_account: dict[int, list[DueLine]] = defaultdict(list)
    charged_through: list[SubscriptionCharge] = []
    for sc in sub_charges:
        account = accounts[sc.subscription.account_id]
        rated = rate_charge(
            sc, target_date=target, usage=usage.get(sc.pk), tax=rates, currency=account.currency_id
        )
        if rated.lines:
            lines_by_account[account.pk] += rated.lines
            sc.charged_through_date = rated.charged_through
            charged_through.append(sc)
    documents = {
        account_id: split_documents(lines, rule) for account_id, lines in lines_by_account.items()
    }
    if not documents:
        return ChunkResult(accounts=len(accounts))

    periods = _insert_billed_periods(bill_run, lines_by_account)
    if usage:
        _mark_usage_billed(bill_run, lines_by_account, periods, usage)
    _advance_charged_through(charged_through)
    # The documents last: they take the numbering counters, held until the chunk commits.
    invoices = _insert_invoices(bill_run, accounts, documents, periods)
    memos = create_bill_run_credit_memos(
        bill_run=bill_run,
        drafts=_credit_memo_drafts(accounts, documents, invoices, periods),
        reason_code=reason_code,
    )
    return ChunkResult(
        accounts=len(accounts),
        invoices=len(invoices),
        credit_memos=len(memos),
        zero_total_invoices=sum(1 for invoice in invoices.values() if invoice.amount == 0),
    )


def _due_sub_charges(bill_run: BillRun, account_ids: list[int]) -> list[SubscriptionCharge]:
    """The accounts' charges that may owe something by the target date, locked."""
    target = bill_run.target_date
    charges = list(
        SubscriptionCharge.objects.select_for_update(of=("self",))
        .select_related("subscription", "charge__tax_code")
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
    )
    charges.sort(key=lambda sc: (sc.subscription.account_id, sc.subscription.number, sc.pk))
    return charges


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


def _insert_billed_periods(bill_run, lines_by_account) -> dict[int, BilledPeriod]:
    """One row per billed charge period; the unique constraint refuses a period billed before."""
    periods = {}
    for lines in lines_by_account.values():
        for line in lines:
            periods[id(line)] = BilledPeriod(
                subscription_charge_id=line.sub_charge.pk,
                period_start=line.period_start,
                period_end=line.period_end,
                bill_run=bill_run,
            )
    BilledPeriod.objects.bulk_create(periods.values())
    return periods


def _line_fields(line: DueLine, sign: int, periods) -> dict:
    charge = line.sub_charge.charge
    return {
        "charge": charge,
        "subscription_charge": line.sub_charge,
        "billed_period": periods[id(line)],
        "charge_name": charge.name,
        "description": line.description,
        "service_start": line.service_start,
        "service_end": line.service_end,
        "quantity": line.quantity,
        "unit_of_measure": charge.unit_of_measure,
        "unit_price": sign * line.unit_price,
        "amount_excl_tax": sign * line.amount_excl_tax,
        "tax_code": line.tax_code,
        "tax_mode": TaxMode.EXCLUSIVE,
        "tax_amount": sign * line.tax_amount,
        "amount": sign * line.amount,
    }


def _insert_invoices(bill_run, accounts, documents: dict[int, AccountDocuments], periods):
    billed = [(account_id, docs) for account_id, docs in documents.items() if docs.invoice_lines]
    if not billed:
        return {}
    numbers = allocate_numbers(NumberSeries.Key.INVOICE, len(billed))
    invoices = {}
    for (account_id, docs), number in zip(billed, numbers, strict=True):
        account = accounts[account_id]
        net = sum((line.amount_excl_tax for line in docs.invoice_lines), ZERO)
        tax = sum((line.tax_amount for line in docs.invoice_lines), ZERO)
        invoices[account_id] = Invoice(
            number=number,
            account=account,
            currency_id=account.currency_id,
            invoice_date=bill_run.invoice_date,
            due_date=bill_run.invoice_date + DEFAULT_PAYMENT_TERM,
            amount_excl_tax=net,
            tax_amount=tax,
            amount=net + tax,
            bill_run=bill_run,
        )
    Invoice.objects.bulk_create(invoices.values())
    InvoiceItem.objects.bulk_create(
        InvoiceItem(
            invoice=invoices[account_id], sort_order=index, **_line_fields(line, 1, periods)
        )
        for account_id, docs in billed
        for index, line in enumerate(docs.invoice_lines, start=1)
    )
    return invoices


def _credit_memo_drafts(accounts, documents, invoices, periods) -> list[CreditMemoDraft]:
    return [
        CreditMemoDraft(
            account=accounts[account_id],
            coupled_invoice=invoices[account_id] if docs.coupled else None,
            items=[
                MemoItem(sort_order=index, **_line_fields(line, -1, periods))
                for index, line in enumerate(docs.credit_lines, start=1)
            ],
        )
        for account_id, docs in documents.items()
        if docs.credit_lines
    ]


def _mark_usage_billed(bill_run: BillRun, lines_by_account, periods, usage) -> None:
    """Point the usage records just totalled at the period that billed them: one UPDATE with
    the period ids the chunk already has (a subquery per record would scan the run's periods)."""
    period_of = {
        line.sub_charge.pk: periods[id(line)].pk
        for lines in lines_by_account.values()
        for line in lines
        if line.sub_charge.pk in usage
    }
    if not period_of:
        return
    _unbilled_usage(bill_run).filter(subscription_charge_id__in=period_of).update(
        billed_period_id=Case(
            *(When(subscription_charge_id=sc, then=Value(pk)) for sc, pk in period_of.items()),
            output_field=IntegerField(),
        )
    )


def _advance_charged_through(sub_charges: list[SubscriptionCharge]) -> None:
    """One UPDATE, grouped by the new date (a run moves most charges to a handful of dates)."""
    if not sub_charges:
        return
    by_date: dict = defaultdict(list)
    for sc in sub_charges:
        by_date[sc.charged_through_date].append(sc.pk)
    SubscriptionCharge.objects.filter(pk__in=[sc.pk for sc in sub_charges]).update(
        charged_through_date=Case(
            *(When(pk__in=ids, then=Value(day)) for day, ids in by_date.items()),
            output_field=DateField(),
        )
    )
