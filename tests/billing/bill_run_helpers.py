"""Builders for the bill-run engine tests: accounts with subscription charges, a run billed in
process (plan + work, no task backend), and the documents it generated as plain values."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from billing.bill_runs import documents, runner, services
from billing.factories import (
    AccountFactory,
    ChargeFactory,
    SubscriptionChargeFactory,
    SubscriptionFactory,
    TaxCodeFactory,
    TaxRateFactory,
    UsageRecordFactory,
)
from billing.models import (
    BillingPeriod,
    BillingSettings,
    BillRun,
    BillRunScope,
    ChargeModel,
    ChargeType,
    Invoice,
    Subscription,
    SubscriptionCharge,
    TaxCode,
)
from memos.models import Memo

# Invoice date and target date of the runs unless a test says otherwise.
DAY = dt.date(2026, 11, 1)


def D(value) -> Decimal:
    return Decimal(str(value))


def use_rule(rule: str) -> None:
    settings = BillingSettings.load()
    settings.generation_rule = rule
    settings.save(update_fields=["generation_rule"])


def tax_code(rate="10", *, code: str | None = None) -> TaxCode:
    """A tax code at `rate` percent since 2020; rate None: a code with no rate at all."""
    tax = TaxCodeFactory(**({"code": code} if code else {}))
    if rate is not None:
        TaxRateFactory(tax_code=tax, rate=D(rate), effective_from=dt.date(2020, 1, 1))
    return tax


def subscribe(
    account,
    price,
    *,
    charge_type: str = ChargeType.RECURRING,
    period: str = BillingPeriod.MONTH,
    tax: TaxCode | None = None,
    start: dt.date = DAY,
    end: dt.date | None = None,
    charged_through: dt.date | None = None,
    quantity="1",
    charge_model: str | None = None,
    name: str | None = None,
    subscription: Subscription | None = None,
) -> SubscriptionCharge:
    """A subscription charge of `account` at `price` (untaxed unless `tax` is given)."""
    if charge_model is None:
        charge_model = (
            ChargeModel.FLAT_FEE if charge_type != ChargeType.USAGE else ChargeModel.PER_UNIT
        )
    charge = ChargeFactory(
        charge_type=charge_type,
        charge_model=charge_model,
        billing_period=period if charge_type == ChargeType.RECURRING else "",
        taxable=tax is not None,
        tax_code=tax,
        **({"name": name} if name else {}),
    )
    if subscription is None:
        subscription = SubscriptionFactory(account=account, start_date=start)
    return SubscriptionChargeFactory(
        subscription=subscription,
        charge=charge,
        price=D(price),
        quantity=D(quantity),
        start_date=start,
        end_date=end,
        charged_through_date=charged_through,
    )


def usage(sub_charge: SubscriptionCharge, day: dt.date, quantity):
    return UsageRecordFactory(subscription_charge=sub_charge, usage_date=day, quantity=D(quantity))


def create_run(actor=None, **kwargs) -> BillRun:
    """A Pending run (its start task waits for a commit that a test transaction never makes)."""
    kwargs.setdefault("invoice_date", DAY)
    kwargs.setdefault("target_date", DAY)
    return services.create_bill_run(actor=actor, **kwargs)


def process(run: BillRun) -> BillRun:
    """Bill a Pending run in process, as its tasks would: plan the chunks, work them, finish."""
    runner.plan_chunks(run.pk)
    runner.work(run.pk)
    run.refresh_from_db()
    return run


def bill(actor=None, *, failures: bool = False, **kwargs) -> BillRun:
    """Create and bill a run; unless `failures` is expected, every account must have billed."""
    run = process(create_run(actor, **kwargs))
    if not failures:
        errors = list(run.errors.values_list("account__number", "reason"))
        assert (run.status, run.accounts_failed, errors) == ("completed", 0, []), (
            f"{run.number} is {run.status}: {errors}"
        )
    return run


def bill_account(account, **kwargs) -> BillRun:
    return bill(scope=BillRunScope.ACCOUNT, account=account, **kwargs)


def post(run: BillRun, actor=None) -> BillRun:
    services.request_post(bill_run=run, actor=actor)
    documents.post_documents(bill_run=run, actor=actor)
    run.refresh_from_db()
    return run


def cancel(run: BillRun, actor=None) -> BillRun:
    services.request_cancel(bill_run=run, actor=actor)
    documents.cancel_documents(bill_run=run, actor=actor)
    run.refresh_from_db()
    return run


def lines(document) -> list[tuple]:
    """(charge name, unit price, amount excl. tax, tax, amount) of each item, in order."""
    return [
        (item.charge_name, item.unit_price, item.amount_excl_tax, item.tax_amount, item.amount)
        for item in document.items.order_by("sort_order", "id")
    ]


def totals(document) -> tuple[Decimal, Decimal, Decimal]:
    return (document.amount_excl_tax, document.tax_amount, document.amount)


def invoices_of(run: BillRun, account=None) -> list[Invoice]:
    qs = Invoice.objects.filter(bill_run=run)
    if account is not None:
        qs = qs.filter(account=account)
    return list(qs.order_by("account_id", "id"))


def memos_of(run: BillRun, account=None) -> list[Memo]:
    qs = Memo.objects.filter(bill_run=run)
    if account is not None:
        qs = qs.filter(account=account)
    return list(qs.order_by("account_id", "id"))


def new_account(**kwargs):
    return AccountFactory(**kwargs)
