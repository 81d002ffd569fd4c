"""The bill-run engine (DOMAIN.md section 4): what a run bills, the four Invoice/Credit Memo
generation rules, coupled invoice/credit memo pairs, idempotence, failure isolation, the run's
state rules and create_bill_run's validation. Runs on SQLite and PostgreSQL.

Runs are billed in process (runner.plan_chunks + runner.work) unless a test drives the tasks
through django_capture_on_commit_callbacks; BILL_RUN_CHUNK_SIZE is 10 in the test settings."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from billing.bill_runs import documents, runner, services
from billing.factories import AccountingPeriodFactory, TaxRateFactory
from billing.models import (
    AccountStatus,
    BilledPeriod,
    BillingPeriod,
    BillRun,
    BillRunChunk,
    BillRunError,
    BillRunScope,
    BillRunStatus,
    ChargeModel,
    ChargeType,
    ChunkStatus,
    GenerationRule,
    Invoice,
    InvoiceStatus,
    NumberSeries,
    PeriodStatus,
    SubscriptionCharge,
    SubscriptionStatus,
    UsageRecord,
)
from billing.selectors import account_balance
from memos.models import Memo, MemoEvent, MemoSource, MemoStatus, MemoType
from memos.services.lifecycle import cancel_memo, post_memo, unpost_memo
from tests.billing.bill_run_helpers import (
    DAY,
    D,
    bill,
    bill_account,
    cancel,
    create_run,
    invoices_of,
    lines,
    memos_of,
    new_account,
    post,
    process,
    subscribe,
    tax_code,
    totals,
    usage,
    use_rule,
)

pytestmark = pytest.mark.django_db

OCT_1 = dt.date(2026, 10, 1)
NOV_30 = dt.date(2026, 11, 30)
DEC_1 = dt.date(2026, 12, 1)
DUE = DAY + dt.timedelta(days=30)
ZERO = Decimal("0")


@pytest.fixture
def vat():
    """A 10% tax code."""
    return tax_code("10", code="VAT10")


def taxed_or_not(taxed: bool, vat):
    return vat if taxed else None


def ctd(sub_charge: SubscriptionCharge):
    sub_charge.refresh_from_db()
    return sub_charge.charged_through_date


def assert_generated_invoice(invoice: Invoice, run: BillRun) -> None:
    assert invoice.status == InvoiceStatus.DRAFT
    assert invoice.bill_run_id == run.pk
    assert invoice.invoice_date == run.invoice_date
    assert invoice.due_date == run.invoice_date + dt.timedelta(days=30)
    assert invoice.balance == 0


def assert_generated_memo(memo: Memo, run: BillRun, coupled_invoice=None) -> None:
    assert memo.memo_type == MemoType.CREDIT
    assert memo.status == MemoStatus.DRAFT
    assert memo.source == MemoSource.BILL_RUN
    assert memo.bill_run_id == run.pk
    assert memo.memo_date == run.invoice_date
    assert memo.reason_code.name == "Negative Periodic Charges"
    assert memo.coupled_invoice_id == (coupled_invoice.pk if coupled_invoice else None)
    assert memo.events.filter(kind=MemoEvent.Kind.CREATED).count() == 1


# --- 1. The four generation rules -----------------------------------------------------------------
@pytest.mark.parametrize(
    "rule", [GenerationRule.NET_NEGATIVE_UNGROUPED, GenerationRule.NET_NEGATIVE_GROUPED]
)
@pytest.mark.parametrize("taxed", [False, True], ids=["untaxed", "taxed"])
def test_rules_1_and_2_net_positive_one_invoice_keeps_the_negative_line(rule, taxed, vat):
    use_rule(rule)
    account = new_account()
    tax = taxed_or_not(taxed, vat)
    subscribe(account, "50", tax=tax, name="Plan")
    subscribe(account, "-10", tax=tax, name="Credit")

    run = bill_account(account)

    assert run.status == BillRunStatus.COMPLETED
    [invoice] = invoices_of(run)
    assert memos_of(run) == []
    assert_generated_invoice(invoice, run)
    if taxed:
        assert lines(invoice) == [
            ("Plan", D(50), D(50), D(5), D(55)),
            ("Credit", D(-10), D(-10), D(-1), D(-11)),
        ]
        assert totals(invoice) == (D(40), D(4), D(44))
    else:
        assert lines(invoice) == [
            ("Plan", D(50), D(50), ZERO, D(50)),
            ("Credit", D(-10), D(-10), ZERO, D(-10)),
        ]
        assert totals(invoice) == (D(40), ZERO, D(40))
    assert (run.invoices_generated, run.credit_memos_generated) == (1, 0)


@pytest.mark.parametrize("taxed", [False, True], ids=["untaxed", "taxed"])
def test_rule_1_net_negative_one_credit_memo_with_every_line_inverted(taxed, vat):
    use_rule(GenerationRule.NET_NEGATIVE_UNGROUPED)
    account = new_account()
    tax = taxed_or_not(taxed, vat)
    subscribe(account, "50", tax=tax, name="Plan")
    subscribe(account, "-80", tax=tax, name="Credit")

    run = bill_account(account)

    assert invoices_of(run) == []
    [memo] = memos_of(run)
    assert_generated_memo(memo, run)
    if taxed:
        assert lines(memo) == [
            ("Plan", D(-50), D(-50), D(-5), D(-55)),
            ("Credit", D(80), D(80), D(8), D(88)),
        ]
        assert totals(memo) == (D(30), D(3), D(33))
    else:
        assert lines(memo) == [
            ("Plan", D(-50), D(-50), ZERO, D(-50)),
            ("Credit", D(80), D(80), ZERO, D(80)),
        ]
        assert totals(memo) == (D(30), ZERO, D(30))
    assert memo.unapplied_amount == memo.amount
    assert (run.invoices_generated, run.credit_memos_generated) == (0, 1)


def test_rule_1_sign_test_is_on_amounts_including_tax(vat):
    """+50 taxed and -52 untaxed is -2 before tax but +3 with tax: an invoice. +50 untaxed and
    -48 taxed is +2 before tax but -2.80 with tax: a credit memo. Never a negative total."""
    use_rule(GenerationRule.NET_NEGATIVE_UNGROUPED)
    positive = new_account()
    subscribe(positive, "50", tax=vat, name="Plan")
    subscribe(positive, "-52", name="Credit")
    negative = new_account()
    subscribe(negative, "50", name="Plan")
    subscribe(negative, "-48", tax=vat, name="Credit")

    run = bill()

    [invoice] = invoices_of(run)
    assert invoice.account == positive
    assert lines(invoice) == [
        ("Plan", D(50), D(50), D(5), D(55)),
        ("Credit", D(-52), D(-52), ZERO, D(-52)),
    ]
    assert totals(invoice) == (D(-2), D(5), D(3))
    [memo] = memos_of(run)
    assert memo.account == negative
    assert lines(memo) == [
        ("Plan", D(-50), D(-50), ZERO, D(-50)),
        ("Credit", D(48), D(48), D("4.80"), D("52.80")),
    ]
    assert totals(memo) == (D(-2), D("4.80"), D("2.80"))


def test_rule_2_sign_test_is_on_amounts_including_tax(vat):
    """-2 before tax, +3 with tax: one invoice with both lines, not grouped. +2 before tax,
    -2.80 with tax: grouped, the +50 on an invoice and the 52.80 credit on a memo."""
    use_rule(GenerationRule.NET_NEGATIVE_GROUPED)
    positive = new_account()
    subscribe(positive, "50", tax=vat, name="Plan")
    subscribe(positive, "-52", name="Credit")
    negative = new_account()
    subscribe(negative, "50", name="Plan")
    subscribe(negative, "-48", tax=vat, name="Credit")

    run = bill()

    [invoice] = invoices_of(run, positive)
    assert totals(invoice) == (D(-2), D(5), D(3))
    assert len(lines(invoice)) == 2
    assert memos_of(run, positive) == []
    [invoice] = invoices_of(run, negative)
    [memo] = memos_of(run, negative)
    assert lines(invoice) == [("Plan", D(50), D(50), ZERO, D(50))]
    assert lines(memo) == [("Credit", D(48), D(48), D("4.80"), D("52.80"))]
    assert memo.coupled_invoice is None


@pytest.mark.parametrize("taxed", [False, True], ids=["untaxed", "taxed"])
def test_rule_2_net_negative_groups_by_subscription_charge(taxed, vat):
    """+50 x 2 periods, +20 and -80 x 2 periods: net -40, so each charge's group goes on the
    document its own sign says; the two documents are not coupled."""
    use_rule(GenerationRule.NET_NEGATIVE_GROUPED)
    account = new_account()
    tax = taxed_or_not(taxed, vat)
    subscribe(account, "50", tax=tax, name="Plan", start=OCT_1)
    subscribe(account, "20", tax=tax, name="Addon")
    subscribe(account, "-80", tax=tax, name="Credit", start=OCT_1)

    run = bill_account(account)

    [invoice] = invoices_of(run)
    [memo] = memos_of(run)
    assert_generated_invoice(invoice, run)
    assert_generated_memo(memo, run, coupled_invoice=None)
    t = D("0.1") if taxed else ZERO
    assert lines(invoice) == [
        ("Plan", D(50), D(50), 50 * t, 50 + 50 * t),
        ("Plan", D(50), D(50), 50 * t, 50 + 50 * t),
        ("Addon", D(20), D(20), 20 * t, 20 + 20 * t),
    ]
    assert totals(invoice) == (D(120), 120 * t, 120 + 120 * t)
    assert lines(memo) == [
        ("Credit", D(80), D(80), 80 * t, 80 + 80 * t),
        ("Credit", D(80), D(80), 80 * t, 80 + 80 * t),
    ]
    assert totals(memo) == (D(160), 160 * t, 160 + 160 * t)
    assert [i.service_start for i in invoice.items.order_by("sort_order")] == [OCT_1, DAY, DAY]


def test_rule_1_does_not_group_what_rule_2_groups():
    use_rule(GenerationRule.NET_NEGATIVE_UNGROUPED)
    account = new_account()
    subscribe(account, "50", name="Plan")
    subscribe(account, "-80", name="Credit")
    run = bill_account(account)
    assert invoices_of(run) == [] and len(memos_of(run)) == 1

    use_rule(GenerationRule.NET_NEGATIVE_GROUPED)
    other = new_account()
    subscribe(other, "50", name="Plan")
    subscribe(other, "-80", name="Credit")
    run = bill_account(other)
    [invoice], [memo] = invoices_of(run), memos_of(run)
    assert totals(invoice) == (D(50), ZERO, D(50))
    assert totals(memo) == (D(80), ZERO, D(80))
    assert memo.coupled_invoice is None


@pytest.mark.parametrize(
    "rule", [GenerationRule.NEGATIVE_CHARGES, GenerationRule.NEGATIVE_AND_ZERO_CHARGES]
)
@pytest.mark.parametrize("credit", ["-10", "-80"], ids=["net-positive", "net-negative"])
def test_rules_3_and_4_positives_on_an_invoice_negatives_on_a_coupled_memo(rule, credit, vat):
    use_rule(rule)
    account = new_account()
    subscribe(account, "50", tax=vat, name="Plan")
    subscribe(account, credit, tax=vat, name="Credit")

    run = bill_account(account)

    [invoice] = invoices_of(run)
    [memo] = memos_of(run)
    assert_generated_invoice(invoice, run)
    assert_generated_memo(memo, run, coupled_invoice=invoice)
    assert lines(invoice) == [("Plan", D(50), D(50), D(5), D(55))]
    assert totals(invoice) == (D(50), D(5), D(55))
    credit_net = -D(credit)
    assert lines(memo) == [
        ("Credit", credit_net, credit_net, credit_net / 10, credit_net * D("1.1"))
    ]
    assert totals(memo) == (credit_net, credit_net / 10, credit_net * D("1.1"))
    assert (run.invoices_generated, run.credit_memos_generated) == (1, 1)


def test_rule_3_only_negative_charges_make_an_uncoupled_memo():
    use_rule(GenerationRule.NEGATIVE_CHARGES)
    account = new_account()
    subscribe(account, "-10", name="Credit")
    run = bill_account(account)
    assert invoices_of(run) == []
    [memo] = memos_of(run)
    assert_generated_memo(memo, run, coupled_invoice=None)
    assert totals(memo) == (D(10), ZERO, D(10))


def _zero_credit_account():
    """+50, -10, a -0.004 credit that rounds to 0.00, a discount at 0 and a free (0) charge."""
    account = new_account()
    subscribe(account, "50", name="Plan")
    subscribe(account, "-10", name="Credit")
    subscribe(account, "-0.004", name="Tiny credit")
    subscribe(account, "0", name="Discount", charge_model=ChargeModel.DISCOUNT)
    subscribe(account, "0", name="Free")
    return account


def test_rule_3_leaves_zero_credit_lines_on_the_invoice():
    use_rule(GenerationRule.NEGATIVE_CHARGES)
    account = _zero_credit_account()

    run = bill_account(account)

    [invoice] = invoices_of(run)
    [memo] = memos_of(run)
    assert lines(invoice) == [
        ("Plan", D(50), D(50), ZERO, D(50)),
        ("Tiny credit", D("-0.004"), ZERO, ZERO, ZERO),
        ("Discount", ZERO, ZERO, ZERO, ZERO),
        ("Free", ZERO, ZERO, ZERO, ZERO),
    ]
    assert totals(invoice) == (D(50), ZERO, D(50))
    assert lines(memo) == [("Credit", D(10), D(10), ZERO, D(10))]
    assert memo.coupled_invoice == invoice


def test_rule_4_moves_zero_credit_lines_to_the_credit_memo():
    use_rule(GenerationRule.NEGATIVE_AND_ZERO_CHARGES)
    account = _zero_credit_account()

    run = bill_account(account)

    [invoice] = invoices_of(run)
    [memo] = memos_of(run)
    assert lines(invoice) == [
        ("Plan", D(50), D(50), ZERO, D(50)),
        ("Free", ZERO, ZERO, ZERO, ZERO),  # a zero charge that is not a credit stays
    ]
    assert lines(memo) == [
        ("Credit", D(10), D(10), ZERO, D(10)),
        ("Tiny credit", D("0.004"), ZERO, ZERO, ZERO),
        ("Discount", ZERO, ZERO, ZERO, ZERO),
    ]
    assert totals(memo) == (D(10), ZERO, D(10))
    assert memo.coupled_invoice == invoice


def test_rule_4_a_lone_zero_credit_makes_a_zero_memo_coupled_with_the_invoice():
    use_rule(GenerationRule.NEGATIVE_AND_ZERO_CHARGES)
    account = new_account()
    subscribe(account, "50", name="Plan")
    subscribe(account, "-0.004", name="Tiny credit")

    run = bill_account(account)

    [invoice] = invoices_of(run)
    [memo] = memos_of(run)
    assert totals(invoice) == (D(50), ZERO, D(50))
    assert totals(memo) == (ZERO, ZERO, ZERO)
    assert memo.coupled_invoice == invoice
    assert (run.invoices_generated, run.credit_memos_generated, run.zero_total_invoices) == (
        1,
        1,
        0,
    )


def test_generated_items_record_the_billed_period_and_charge(vat):
    account = new_account()
    sc = subscribe(account, "50", tax=vat, name="Plan", quantity="3")
    run = bill_account(account)
    [invoice] = invoices_of(run)
    [item] = invoice.items.all()
    assert item.subscription_charge == sc
    assert item.charge == sc.charge
    assert (item.service_start, item.service_end) == (DAY, NOV_30)
    assert item.quantity == 3
    assert (item.unit_price, item.amount_excl_tax, item.tax_amount, item.amount) == (
        D(50),
        D(150),
        D(15),
        D(165),
    )
    assert item.tax_code == vat
    assert item.description == f"Subscription {sc.subscription.number}"
    period = item.billed_period
    assert (period.subscription_charge, period.period_start, period.period_end) == (
        sc,
        DAY,
        NOV_30,
    )
    assert period.bill_run == run


# --- 2. Coupled invoice and credit memo (rules 3 and 4) -------------------------------------------
@pytest.fixture(
    params=[GenerationRule.NEGATIVE_CHARGES, GenerationRule.NEGATIVE_AND_ZERO_CHARGES],
    ids=["rule-3", "rule-4"],
)
def coupled_pair(request, vat, operator):
    use_rule(request.param)
    account = new_account()
    plan = subscribe(account, "50", tax=vat, name="Plan")
    credit = subscribe(account, "-10", tax=vat, name="Credit")
    run = bill_account(account, actor=operator)
    [invoice], [memo] = invoices_of(run), memos_of(run)
    assert memo.coupled_invoice == invoice
    assert memo.created_by == operator
    return run, invoice, memo, plan, credit


def test_posting_the_coupled_memo_posts_the_invoice(coupled_pair, operator):
    run, invoice, memo, *_ = coupled_pair
    post_memo(memo=memo, actor=operator)
    invoice.refresh_from_db()
    memo.refresh_from_db()
    assert memo.status == MemoStatus.POSTED
    assert invoice.status == InvoiceStatus.POSTED
    assert invoice.balance == D(55)
    assert set(invoice.items.values_list("balance", flat=True)) == {D(55)}
    assert account_balance(invoice.account) == D(55) - D(11)


def test_posting_the_coupled_invoice_posts_the_memo(coupled_pair, operator):
    run, invoice, memo, *_ = coupled_pair
    posted = services.post_generated_invoice(invoice=invoice, actor=operator)
    memo.refresh_from_db()
    assert posted.status == InvoiceStatus.POSTED and posted.balance == D(55)
    assert memo.status == MemoStatus.POSTED
    assert memo.events.filter(kind=MemoEvent.Kind.POSTED, actor=operator).exists()


@pytest.mark.parametrize("side", ["memo", "invoice"])
def test_canceling_either_side_cancels_the_other_and_releases_both(coupled_pair, operator, side):
    run, invoice, memo, plan, credit = coupled_pair
    assert (ctd(plan), ctd(credit)) == (DEC_1, DEC_1)
    if side == "memo":
        cancel_memo(memo=memo, actor=operator)
    else:
        services.cancel_generated_invoice(invoice=invoice, actor=operator)
    invoice.refresh_from_db()
    memo.refresh_from_db()
    assert (invoice.status, memo.status) == (InvoiceStatus.CANCELED, MemoStatus.CANCELED)
    # Both charges' periods are released, so a new run bills them again.
    assert (ctd(plan), ctd(credit)) == (DAY, DAY)
    assert not BilledPeriod.objects.filter(subscription_charge__in=[plan, credit]).exists()
    again = bill_account(invoice.account)
    [invoice2], [memo2] = invoices_of(again), memos_of(again)
    assert totals(invoice2) == (D(50), D(5), D(55))
    assert totals(memo2) == (D(10), D(1), D(11))


def test_unposting_a_coupled_memo_whose_invoice_is_posted_is_refused(coupled_pair, operator):
    run, invoice, memo, *_ = coupled_pair
    post_memo(memo=memo, actor=operator)
    with pytest.raises(ValidationError) as exc:
        unpost_memo(memo=memo, actor=operator)
    assert exc.value.code == "coupled"
    assert invoice.number in exc.value.messages[0]
    memo.refresh_from_db()
    assert memo.status == MemoStatus.POSTED


@pytest.mark.parametrize("side", ["memo", "invoice"])
def test_canceling_a_coupled_pair_releases_a_charge_split_between_them(operator, side):
    """Rule 3 and a -0.01 monthly credit ending on November 1: October's -0.01 goes on the memo,
    November's prorated line rounds to 0.00 and stays on the invoice. Canceling the pair must
    release both periods, so the next run bills them both again."""
    use_rule(GenerationRule.NEGATIVE_CHARGES)
    account = new_account()
    subscribe(account, "50", name="Plan")
    tiny = subscribe(account, "-0.01", name="Tiny credit", start=OCT_1, end=DAY)
    run = bill_account(account)
    [invoice], [memo] = invoices_of(run), memos_of(run)
    assert lines(memo) == [("Tiny credit", D("0.01"), D("0.01"), ZERO, D("0.01"))]
    assert lines(invoice)[1] == ("Tiny credit", D("-0.01"), ZERO, ZERO, ZERO)
    assert ctd(tiny) == dt.date(2026, 11, 2)

    if side == "memo":
        cancel_memo(memo=memo, actor=operator)
    else:
        services.cancel_generated_invoice(invoice=invoice, actor=operator)

    assert ctd(tiny) == OCT_1
    assert not BilledPeriod.objects.filter(subscription_charge=tiny).exists()
    again = bill_account(account)
    [invoice], [memo] = invoices_of(again), memos_of(again)
    assert [(i.charge_name, i.service_start) for i in memo.items.all()] == [("Tiny credit", OCT_1)]
    assert [(i.charge_name, i.service_start) for i in invoice.items.all()] == [
        ("Plan", DAY),
        ("Tiny credit", DAY),
    ]


def test_posting_an_uncoupled_generated_invoice_posts_just_it(operator):
    use_rule(GenerationRule.NET_NEGATIVE_GROUPED)
    account = new_account()
    subscribe(account, "50", name="Plan")
    subscribe(account, "-80", name="Credit")
    run = bill_account(account)
    [invoice], [memo] = invoices_of(run), memos_of(run)
    services.post_generated_invoice(invoice=invoice, actor=operator)
    invoice.refresh_from_db()
    memo.refresh_from_db()
    assert invoice.status == InvoiceStatus.POSTED and invoice.balance == D(50)
    assert memo.status == MemoStatus.DRAFT


# --- 3. What a run bills --------------------------------------------------------------------------
@pytest.mark.parametrize(
    "period, start, expected_periods, expected_ctd",
    [
        (
            BillingPeriod.MONTH,
            dt.date(2026, 8, 1),
            [
                (dt.date(2026, 8, 1), dt.date(2026, 8, 31)),
                (dt.date(2026, 9, 1), dt.date(2026, 9, 30)),
                (dt.date(2026, 10, 1), dt.date(2026, 10, 31)),
                (dt.date(2026, 11, 1), dt.date(2026, 11, 30)),
            ],
            DEC_1,
        ),
        (
            BillingPeriod.QUARTER,
            dt.date(2026, 1, 15),
            [
                (dt.date(2026, 1, 15), dt.date(2026, 4, 14)),
                (dt.date(2026, 4, 15), dt.date(2026, 7, 14)),
                (dt.date(2026, 7, 15), dt.date(2026, 10, 14)),
                (dt.date(2026, 10, 15), dt.date(2027, 1, 14)),
            ],
            dt.date(2027, 1, 15),
        ),
        (
            BillingPeriod.YEAR,
            dt.date(2025, 3, 1),
            [
                (dt.date(2025, 3, 1), dt.date(2026, 2, 28)),
                (dt.date(2026, 3, 1), dt.date(2027, 2, 28)),
            ],
            dt.date(2027, 3, 1),
        ),
    ],
    ids=["monthly", "quarterly", "yearly"],
)
def test_recurring_charges_are_billed_in_advance_per_period_catching_up(
    period, start, expected_periods, expected_ctd
):
    account = new_account()
    sc = subscribe(account, "30", period=period, start=start, name="Plan")

    run = bill_account(account)

    [invoice] = invoices_of(run)
    items = list(invoice.items.order_by("sort_order"))
    assert [(i.service_start, i.service_end) for i in items] == expected_periods
    assert [i.amount for i in items] == [D(30)] * len(expected_periods)
    assert invoice.amount == 30 * len(expected_periods)
    assert ctd(sc) == expected_ctd
    assert (
        list(
            BilledPeriod.objects.filter(subscription_charge=sc)
            .order_by("period_start")
            .values_list("period_start", "period_end")
        )
        == expected_periods
    )


def test_recurring_charge_bills_from_its_charged_through_date():
    account = new_account()
    sc = subscribe(account, "30", start=dt.date(2026, 8, 1), charged_through=OCT_1, name="Plan")
    run = bill_account(account)
    [invoice] = invoices_of(run)
    assert [i.service_start for i in invoice.items.order_by("sort_order")] == [OCT_1, DAY]
    assert invoice.amount == D(60)
    assert ctd(sc) == DEC_1


def test_a_period_starting_after_the_target_date_is_not_billed():
    account = new_account()
    monthly = subscribe(account, "30", start=OCT_1, name="Plan")
    later = subscribe(account, "99", start=dt.date(2026, 11, 2), name="Later")

    run = bill_account(account, target_date=dt.date(2026, 10, 31))

    [invoice] = invoices_of(run)
    assert [(i.charge_name, i.service_start) for i in invoice.items.all()] == [("Plan", OCT_1)]
    assert ctd(monthly) == DAY
    assert ctd(later) is None
    # The next run bills November only once its start is on or before the target date.
    run = bill_account(account, target_date=DAY)
    [invoice] = invoices_of(run)
    assert [(i.charge_name, i.service_start) for i in invoice.items.all()] == [("Plan", DAY)]
    assert ctd(later) is None


def test_an_end_dated_charge_is_prorated_in_its_last_period_and_then_stops():
    account = new_account()
    sc = subscribe(account, "30", start=OCT_1, end=dt.date(2026, 11, 15), name="Plan")

    run = bill_account(account)

    [invoice] = invoices_of(run)
    items = list(invoice.items.order_by("sort_order"))
    assert [(i.service_start, i.service_end, i.amount) for i in items] == [
        (OCT_1, dt.date(2026, 10, 31), D(30)),
        (DAY, dt.date(2026, 11, 15), D(15)),  # 15 of November's 30 days
    ]
    assert items[1].description.endswith("prorated 2026-11-01 to 2026-11-15")
    assert ctd(sc) == dt.date(2026, 11, 16)

    # Fully billed: later runs bill nothing for it, and the account does not fail.
    later = bill_account(account, invoice_date=dt.date(2027, 1, 1), target_date=dt.date(2027, 1, 1))
    assert invoices_of(later) == [] and memos_of(later) == []
    assert (later.status, later.accounts_processed, later.accounts_failed) == (
        BillRunStatus.COMPLETED,
        1,
        0,
    )
    assert ctd(sc) == dt.date(2026, 11, 16)
    assert BilledPeriod.objects.filter(subscription_charge=sc).count() == 2


def test_a_charge_ending_with_its_subscription_is_prorated():
    account = new_account()
    sc = subscribe(account, "31", start=OCT_1, name="Plan")
    sc.subscription.end_date = dt.date(2026, 10, 10)
    sc.subscription.save()
    run = bill_account(account)
    [invoice] = invoices_of(run)
    assert [(i.service_end, i.amount) for i in invoice.items.all()] == [
        (dt.date(2026, 10, 10), D(10))
    ]
    assert ctd(sc) == dt.date(2026, 10, 11)
    assert invoices_of(bill_account(account, target_date=DEC_1)) == []


def test_a_cancelled_subscription_bills_only_up_to_its_end():
    account = new_account()
    open_ended = subscribe(account, "30", start=OCT_1, name="Open-ended")
    open_ended.subscription.status = SubscriptionStatus.CANCELLED
    open_ended.subscription.save()
    ended = subscribe(account, "30", start=OCT_1, name="Ended")
    ended.subscription.status = SubscriptionStatus.CANCELLED
    ended.subscription.end_date = dt.date(2026, 10, 31)
    ended.subscription.save()

    run = bill_account(account)

    [invoice] = invoices_of(run)
    assert [(i.charge_name, i.service_start, i.amount) for i in invoice.items.all()] == [
        ("Ended", OCT_1, D(30))
    ]
    assert ctd(open_ended) is None
    assert ctd(ended) == DAY


def test_a_one_time_charge_is_billed_once(vat):
    account = new_account()
    sc = subscribe(
        account, "100", charge_type=ChargeType.ONE_TIME, start=OCT_1, quantity="2", tax=vat
    )

    run = bill_account(account)

    [invoice] = invoices_of(run)
    [item] = invoice.items.all()
    assert (item.service_start, item.service_end, item.quantity) == (OCT_1, OCT_1, D(2))
    assert (item.amount_excl_tax, item.tax_amount, item.amount) == (D(200), D(20), D(220))
    assert ctd(sc) == dt.date(2026, 10, 2)
    again = bill_account(account, invoice_date=DEC_1, target_date=DEC_1)
    assert invoices_of(again) == []
    assert BilledPeriod.objects.filter(subscription_charge=sc).count() == 1


def test_a_one_time_charge_starting_after_the_target_date_waits():
    account = new_account()
    sc = subscribe(account, "100", charge_type=ChargeType.ONE_TIME, start=DEC_1)
    run = bill_account(account)
    assert invoices_of(run) == []
    assert ctd(sc) is None
    run = bill_account(account, invoice_date=DEC_1, target_date=DEC_1)
    assert invoices_of(run)[0].amount == D(100)


def test_usage_is_billed_from_unbilled_records_up_to_the_target_date():
    account = new_account()
    sc = subscribe(account, "2", charge_type=ChargeType.USAGE, start=OCT_1, name="Storage")
    r1 = usage(sc, dt.date(2026, 10, 15), "10")
    r2 = usage(sc, dt.date(2026, 10, 20), "5")
    r3 = usage(sc, DAY, "1")  # on the target date: billed
    late = usage(sc, dt.date(2026, 11, 5), "7")  # after it: not yet

    run = bill_account(account)

    [invoice] = invoices_of(run)
    [item] = invoice.items.all()
    assert (item.quantity, item.unit_price, item.amount) == (D(16), D(2), D(32))
    assert (item.service_start, item.service_end) == (dt.date(2026, 10, 15), DAY)
    assert item.unit_of_measure == "GB"
    assert item.description.endswith("3 usage records")
    period = item.billed_period
    assert (period.period_start, period.period_end) == (OCT_1, DAY)
    for record in (r1, r2, r3, late):
        record.refresh_from_db()
    assert {r1.billed_period, r2.billed_period, r3.billed_period} == {period}
    assert late.billed_period is None
    assert ctd(sc) == dt.date(2026, 11, 2)

    # Same target: nothing more. A later target: the late record, from the charged-through date.
    assert invoices_of(bill_account(account)) == []
    run = bill_account(account, invoice_date=DEC_1, target_date=NOV_30)
    [item] = invoices_of(run)[0].items.all()
    assert (item.quantity, item.amount) == (D(7), D(14))
    assert (item.billed_period.period_start, item.billed_period.period_end) == (
        dt.date(2026, 11, 2),
        NOV_30,
    )
    late.refresh_from_db()
    assert late.billed_period == item.billed_period


def test_a_usage_charge_without_unbilled_usage_bills_nothing():
    account = new_account()
    sc = subscribe(account, "2", charge_type=ChargeType.USAGE, start=OCT_1)
    run = bill_account(account)
    assert invoices_of(run) == []
    assert ctd(sc) is None
    assert run.accounts_processed == 1


@pytest.mark.parametrize(
    "flags, billed",
    [
        ({}, {"Plan", "Setup", "Storage"}),
        ({"include_usage": False}, {"Plan", "Setup"}),
        ({"include_recurring": False}, {"Setup", "Storage"}),
        ({"include_one_time": False}, {"Plan", "Storage"}),
        ({"include_one_time": False, "include_recurring": False}, {"Storage"}),
    ],
)
def test_charge_type_flags(flags, billed):
    account = new_account()
    plan = subscribe(account, "30", name="Plan")
    setup = subscribe(account, "100", charge_type=ChargeType.ONE_TIME, name="Setup")
    storage = subscribe(account, "2", charge_type=ChargeType.USAGE, start=OCT_1, name="Storage")
    record = usage(storage, dt.date(2026, 10, 15), "10")

    run = bill_account(account, **flags)

    [invoice] = invoices_of(run)
    assert {i.charge_name for i in invoice.items.all()} == billed
    amounts = {"Plan": D(30), "Setup": D(100), "Storage": D(20)}
    assert invoice.amount == sum(amounts[name] for name in billed)
    record.refresh_from_db()
    assert (record.billed_period is not None) == ("Storage" in billed)
    assert (ctd(plan) is not None) == ("Plan" in billed)
    assert (ctd(setup) is not None) == ("Setup" in billed)
    assert (ctd(storage) is not None) == ("Storage" in billed)


@pytest.fixture
def scoped_accounts():
    """a: Batch1 day 1; b: Batch2 day 1; c: Batch1 day 15; inactive: Batch1 day 1."""
    accounts = {
        "a": new_account(batch="Batch1", bill_cycle_day=1),
        "b": new_account(batch="Batch2", bill_cycle_day=1),
        "c": new_account(batch="Batch1", bill_cycle_day=15),
        "inactive": new_account(batch="Batch1", bill_cycle_day=1, status=AccountStatus.INACTIVE),
    }
    for account in accounts.values():
        subscribe(account, "10")
    return accounts


@pytest.mark.parametrize(
    "kwargs, billed",
    [
        ({}, {"a", "b", "c"}),
        ({"scope": BillRunScope.BATCH, "batch": "Batch1"}, {"a", "c"}),
        ({"scope": BillRunScope.BATCH, "bill_cycle_day": 1}, {"a", "b"}),
        ({"scope": BillRunScope.BATCH, "batch": "Batch1", "bill_cycle_day": 1}, {"a"}),
        ({"scope": BillRunScope.BATCH, "batch": "Batch3"}, set()),
        ({"scope": BillRunScope.ACCOUNT, "account": "b"}, {"b"}),
    ],
    ids=["all", "batch", "day", "batch-and-day", "empty-batch", "account"],
)
def test_scope(scoped_accounts, kwargs, billed):
    if "account" in kwargs:
        kwargs = {**kwargs, "account": scoped_accounts[kwargs["account"]]}

    run = bill(**kwargs)

    assert run.status == BillRunStatus.COMPLETED
    names = {account.pk: name for name, account in scoped_accounts.items()}
    assert {names[invoice.account_id] for invoice in invoices_of(run)} == billed
    assert run.accounts_in_scope == len(billed)
    assert run.accounts_processed == len(billed)
    assert run.invoices_generated == len(billed)
    assert run.progress_percent == 100


def test_many_accounts_are_billed_in_chunks():
    accounts = [new_account() for _ in range(23)]
    for account in accounts:
        subscribe(account, "10")
    run = bill()
    assert run.chunks.count() == 3
    assert set(run.chunks.values_list("status", flat=True)) == {ChunkStatus.DONE}
    assert sorted(len(c.account_ids) for c in run.chunks.all()) == [3, 10, 10]
    assert (run.accounts_in_scope, run.accounts_processed, run.invoices_generated) == (23, 23, 23)
    assert {i.account_id for i in invoices_of(run)} == {a.pk for a in accounts}
    numbers = sorted(Invoice.objects.filter(bill_run=run).values_list("number", flat=True))
    assert len(set(numbers)) == 23


# --- 4. Idempotence -------------------------------------------------------------------------------
def _billing_state():
    return {
        "invoices": Invoice.objects.count(),
        "memos": Memo.objects.count(),
        "periods": sorted(
            BilledPeriod.objects.values_list("subscription_charge_id", "period_start")
        ),
        "ctd": sorted(SubscriptionCharge.objects.values_list("pk", "charged_through_date")),
        "usage": sorted(UsageRecord.objects.values_list("pk", "billed_period_id")),
    }


def _three_billable_accounts():
    use_rule(GenerationRule.NEGATIVE_CHARGES)
    accounts = [new_account() for _ in range(3)]
    for account in accounts:
        subscribe(account, "50", start=OCT_1)
        subscribe(account, "-10")
        storage = subscribe(account, "2", charge_type=ChargeType.USAGE, start=OCT_1)
        usage(storage, dt.date(2026, 10, 15), "10")
    return accounts


def test_processing_the_same_chunk_twice_bills_nothing_twice():
    _three_billable_accounts()
    run = create_run()
    runner.plan_chunks(run.pk)
    chunk_id = runner.claim_chunk(run.pk, "worker-1")
    assert runner.process_chunk(chunk_id, "worker-1")
    billed = _billing_state()
    assert billed["invoices"] == 3 and billed["memos"] == 3
    assert len(billed["periods"]) == 3 * 4

    # As if the chunk's work had not been recorded: it is pending again and redone.
    BillRunChunk.objects.filter(pk=chunk_id).update(
        status=ChunkStatus.PENDING, lease_owner="", lease_expires_at=None
    )
    assert runner.claim_chunk(run.pk, "worker-2") == chunk_id
    assert runner.process_chunk(chunk_id, "worker-2")

    assert _billing_state() == billed
    assert not BillRunError.objects.filter(bill_run=run).exists()
    runner.finish_if_done(run.pk)
    run.refresh_from_db()
    assert run.status == BillRunStatus.COMPLETED
    assert (run.accounts_in_scope, run.accounts_processed, run.accounts_failed) == (3, 3, 0)
    assert (run.invoices_generated, run.credit_memos_generated) == (3, 3)


def test_a_chunk_taken_over_after_its_worker_died_mid_way_bills_nothing_twice(monkeypatch):
    """The worker bills the chunk account by account (one account fails) and dies before it
    records the chunk: the next worker redoes the chunk, and only the counts are recorded."""
    accounts = _three_billable_accounts()
    broken = new_account()
    subscribe(broken, "20", tax=tax_code(None, code="NORATE"))
    run = create_run()
    runner.plan_chunks(run.pk)
    chunk_id = runner.claim_chunk(run.pk, "dying")

    def die(*args, **kwargs):
        raise SystemExit("killed")

    with monkeypatch.context() as patch:
        patch.setattr(runner, "_finish_chunk", die)
        with pytest.raises(SystemExit):
            runner.process_chunk(chunk_id, "dying")
    billed = _billing_state()
    assert billed["invoices"] == 3  # the good accounts, one transaction each
    assert BillRunChunk.objects.get(pk=chunk_id).status == ChunkStatus.RUNNING

    BillRunChunk.objects.filter(pk=chunk_id).update(
        lease_expires_at=dt.datetime(2000, 1, 1, tzinfo=dt.UTC)
    )
    assert runner.work(run.pk, "next") == 1

    assert _billing_state() == billed
    run.refresh_from_db()
    assert run.status == BillRunStatus.COMPLETED
    assert (run.accounts_in_scope, run.accounts_processed, run.accounts_failed) == (4, 3, 1)
    assert (run.invoices_generated, run.credit_memos_generated) == (3, 3)
    assert [e.account for e in run.errors.all()] == [broken]
    assert {i.account_id for i in invoices_of(run)} == {a.pk for a in accounts}


def test_a_worker_that_lost_its_lease_bills_nothing():
    _three_billable_accounts()
    run = create_run()
    runner.plan_chunks(run.pk)
    chunk_id = runner.claim_chunk(run.pk, "slow")
    # Its lease runs out and another worker takes the chunk over.
    BillRunChunk.objects.filter(pk=chunk_id).update(
        lease_expires_at=dt.datetime(2000, 1, 1, tzinfo=dt.UTC)
    )
    assert runner.claim_chunk(run.pk, "fast") == chunk_id
    assert runner.process_chunk(chunk_id, "slow") is False
    assert Invoice.objects.count() == 0
    assert runner.process_chunk(chunk_id, "fast") is True
    assert Invoice.objects.count() == 3
    chunk = BillRunChunk.objects.get(pk=chunk_id)
    assert (chunk.status, chunk.attempts) == (ChunkStatus.DONE, 2)


def test_a_second_run_with_the_same_target_date_bills_nothing():
    _three_billable_accounts()
    first = bill()
    billed = _billing_state()
    second = bill()
    assert _billing_state() == billed
    assert second.status == BillRunStatus.COMPLETED
    assert (second.accounts_processed, second.invoices_generated) == (3, 0)
    assert second.credit_memos_generated == 0
    assert first.invoices_generated == 3


def test_billed_period_unique_constraint_refuses_a_duplicate_period():
    account = new_account()
    sc = subscribe(account, "50")
    BilledPeriod.objects.create(subscription_charge=sc, period_start=DAY, period_end=NOV_30)
    with pytest.raises(IntegrityError), transaction.atomic():
        BilledPeriod.objects.create(subscription_charge=sc, period_start=DAY, period_end=DAY)


def test_a_period_billed_elsewhere_fails_the_account_instead_of_billing_it_twice():
    """The charged-through date says November is due, but a billed period says otherwise (as if
    a concurrent run billed it): the constraint refuses it and the account is failed."""
    account = new_account()
    other = new_account()
    sc = subscribe(account, "50")
    subscribe(other, "20")
    BilledPeriod.objects.create(subscription_charge=sc, period_start=DAY, period_end=NOV_30)

    run = bill(failures=True)

    assert [i.account for i in invoices_of(run)] == [other]
    [error] = run.errors.all()
    assert error.account == account
    assert error.reason == (
        "A charge period was already billed by another run (nothing was billed twice)."
    )
    assert ctd(sc) is None
    assert (run.accounts_processed, run.accounts_failed) == (1, 1)


# --- 5. Failure isolation -------------------------------------------------------------------------
def test_a_failing_account_is_recorded_and_the_others_are_billed(vat):
    accounts = [new_account() for _ in range(12)]  # two chunks
    for account in accounts:
        subscribe(account, "50", tax=vat)
    broken_code = tax_code(None, code="NORATE")
    broken = accounts[4]
    broken_charge = subscribe(broken, "20", tax=broken_code)

    run = bill(failures=True)

    assert run.status == BillRunStatus.COMPLETED
    assert (run.accounts_in_scope, run.accounts_processed, run.accounts_failed) == (12, 11, 1)
    assert run.invoices_generated == 11
    assert {i.account_id for i in invoices_of(run)} == {a.pk for a in accounts} - {broken.pk}
    assert {i.amount for i in invoices_of(run)} == {D(55)}
    [error] = BillRunError.objects.filter(bill_run=run)
    assert error.account == broken
    assert error.reason == "Tax code NORATE has no rate in force on 2026-11-01."
    # Numbers stay gapless: the failed attempts' numbers were rolled back with them.
    assert sorted(i.number for i in invoices_of(run)) == [f"INV{n:08d}" for n in range(1, 12)]
    # Nothing of the failed account was billed, not even its good charge.
    assert ctd(broken_charge) is None
    assert not BilledPeriod.objects.filter(subscription_charge__subscription__account=broken)


def test_a_run_where_every_account_fails_ends_in_error():
    broken_code = tax_code(None, code="NORATE")
    accounts = [new_account() for _ in range(2)]
    for account in accounts:
        subscribe(account, "20", tax=broken_code)

    run = bill(failures=True)

    assert run.status == BillRunStatus.ERROR
    assert (run.accounts_processed, run.accounts_failed) == (0, 2)
    assert run.invoices_generated == 0
    assert set(run.errors.values_list("account_id", flat=True)) == {a.pk for a in accounts}
    assert run.finished_at is not None


def test_retry_failed_accounts_bills_just_those_once_the_cause_is_fixed(operator):
    good = new_account()
    subscribe(good, "50")
    broken = new_account()
    broken_code = tax_code(None, code="NORATE")
    subscribe(broken, "20", tax=broken_code)
    first = bill(failures=True)
    assert (first.status, first.accounts_failed) == (BillRunStatus.COMPLETED, 1)

    # Retried before the fix: it fails again, and that run ends Error.
    retry = process(services.retry_failed_accounts(bill_run=first, actor=operator))
    assert (retry.scope, retry.retry_of, retry.name) == (
        BillRunScope.RETRY,
        first,
        f"Retry of {first.number}",
    )
    assert (retry.invoice_date, retry.target_date) == (first.invoice_date, first.target_date)
    assert (retry.accounts_in_scope, retry.status) == (1, BillRunStatus.ERROR)

    TaxRateFactory(tax_code=broken_code, rate=D(20), effective_from=dt.date(2020, 1, 1))
    retry = process(services.retry_failed_accounts(bill_run=first, actor=operator))
    assert retry.status == BillRunStatus.COMPLETED
    assert (retry.accounts_in_scope, retry.accounts_processed, retry.accounts_failed) == (1, 1, 0)
    [invoice] = invoices_of(retry)
    assert invoice.account == broken
    assert totals(invoice) == (D(20), D(4), D(24))
    assert retry.created_by == operator
    # The good account was not billed again.
    assert Invoice.objects.filter(account=good).count() == 1


def test_retry_is_refused_while_the_run_is_under_way_or_without_failures(operator):
    account = new_account()
    subscribe(account, "50")
    run = create_run()
    with pytest.raises(ValidationError, match="once it has finished"):
        services.retry_failed_accounts(bill_run=run, actor=operator)
    run = process(run)
    with pytest.raises(ValidationError) as exc:
        services.retry_failed_accounts(bill_run=run, actor=operator)
    assert exc.value.message_dict == {"__all__": ["There are no failed accounts to retry."]}


# --- 6. Run state rules ---------------------------------------------------------------------------
@pytest.fixture
def completed_run(operator, vat):
    """Rule 1: one account invoiced 65 (50 + 10% tax, 10 of usage), one net negative (memo 33)."""
    use_rule(GenerationRule.NET_NEGATIVE_UNGROUPED)
    invoiced = new_account()
    plan = subscribe(invoiced, "50", tax=vat, name="Plan")
    credited = new_account()
    subscribe(credited, "50", tax=vat, name="Plan")
    credit = subscribe(credited, "-80", tax=vat, name="Credit")
    storage = subscribe(invoiced, "2", charge_type=ChargeType.USAGE, start=OCT_1, name="Storage")
    record = usage(storage, dt.date(2026, 10, 15), "5")
    run = bill(operator)
    assert run.status == BillRunStatus.COMPLETED
    return {
        "run": run,
        "invoiced": invoiced,
        "credited": credited,
        "plan": plan,
        "credit": credit,
        "storage": storage,
        "record": record,
    }


def test_finish_counts_and_totals(completed_run):
    run = completed_run["run"]
    assert (run.accounts_in_scope, run.accounts_processed, run.accounts_failed) == (2, 2, 0)
    assert (run.invoices_generated, run.credit_memos_generated, run.zero_total_invoices) == (
        1,
        1,
        0,
    )
    [invoice] = invoices_of(run)
    assert totals(invoice) == (D(60), D(5), D(65))  # 50 + 10% tax, and 5 GB at 2 untaxed
    assert runner.totals_by_currency(run) == [
        {
            "currency": "USD",
            "invoices": D(65),
            "invoices_count": 1,
            "credit_memos": D(33),
            "credit_memos_count": 1,
        }
    ]
    assert run.started_at is not None and run.finished_at >= run.started_at


def test_zero_total_invoices_and_totals_per_currency():
    use_rule(GenerationRule.NEGATIVE_CHARGES)
    usd = new_account()
    subscribe(usd, "40")
    free = new_account()
    subscribe(free, "0")
    eur = new_account(currency_id="EUR")
    subscribe(eur, "12.5")
    subscribe(eur, "-2.25")
    jpy = new_account(currency_id="JPY")
    subscribe(jpy, "1000.4")

    run = bill()

    assert (run.invoices_generated, run.credit_memos_generated, run.zero_total_invoices) == (
        4,
        1,
        1,
    )
    assert runner.totals_by_currency(run) == [
        {
            "currency": "EUR",
            "invoices": D("12.50"),
            "invoices_count": 1,
            "credit_memos": D("2.25"),
            "credit_memos_count": 1,
        },
        {"currency": "JPY", "invoices": D(1000), "invoices_count": 1},
        {"currency": "USD", "invoices": D(40), "invoices_count": 2},
    ]


def test_post_posts_every_draft_and_opens_balances(completed_run, operator):
    run = post(completed_run["run"], operator)

    assert run.status == BillRunStatus.POSTED
    assert run.message == ""
    [invoice] = invoices_of(run)
    [memo] = memos_of(run)
    assert invoice.status == InvoiceStatus.POSTED
    assert invoice.balance == invoice.amount == D(65)
    assert invoice.posted_at is not None
    assert sorted(invoice.items.values_list("balance", flat=True)) == [D(10), D(55)]
    assert memo.status == MemoStatus.POSTED
    assert memo.unapplied_amount == memo.amount == D(33)
    assert memo.events.filter(kind=MemoEvent.Kind.POSTED, actor=operator).count() == 1
    assert account_balance(completed_run["invoiced"]) == D(65)
    assert account_balance(completed_run["credited"]) == D(-33)


def test_post_leaves_documents_posted_one_by_one_as_they_are(completed_run, operator):
    run = completed_run["run"]
    [memo] = memos_of(run)
    post_memo(memo=memo, actor=operator)
    run = post(run, operator)
    assert run.status == BillRunStatus.POSTED
    assert memo.events.filter(kind=MemoEvent.Kind.POSTED).count() == 1
    assert invoices_of(run)[0].status == InvoiceStatus.POSTED


@pytest.mark.parametrize("status", [BillRunStatus.PENDING, BillRunStatus.PROCESSING])
def test_post_is_refused_unless_completed(status, operator):
    account = new_account()
    subscribe(account, "50")
    run = create_run()
    if status == BillRunStatus.PROCESSING:
        runner.plan_chunks(run.pk)
    with pytest.raises(ValidationError, match="only Completed runs can be posted"):
        services.request_post(bill_run=run, actor=operator)
    run.refresh_from_db()
    assert run.status == status


def test_post_is_refused_once_posted(completed_run, operator):
    run = post(completed_run["run"], operator)
    with pytest.raises(ValidationError, match="is Posted: only Completed runs can be posted"):
        services.request_post(bill_run=run, actor=operator)


def test_post_is_refused_when_the_invoice_date_is_in_a_closed_period(completed_run, operator):
    run = completed_run["run"]
    AccountingPeriodFactory(
        name="November 2026", start_date=DAY, end_date=NOV_30, status=PeriodStatus.CLOSED
    )

    run = post(run, operator)

    assert run.status == BillRunStatus.COMPLETED
    assert run.message == (
        "Not posted: Invoice date 2026-11-01 is in the closed accounting period November 2026 "
        "(2026-11-01 to 2026-11-30)."
    )
    assert {i.status for i in invoices_of(run)} == {InvoiceStatus.DRAFT}
    assert {m.status for m in memos_of(run)} == {MemoStatus.DRAFT}
    # Reopened, the run posts, and the message goes.
    from billing.models import AccountingPeriod

    AccountingPeriod.objects.update(status=PeriodStatus.OPEN)
    run = post(run, operator)
    assert (run.status, run.message) == (BillRunStatus.POSTED, "")


def test_cancel_a_pending_run_cancels_it_at_once(operator):
    account = new_account()
    sc = subscribe(account, "50")
    run = create_run()

    run = services.request_cancel(bill_run=run, actor=operator)

    run.refresh_from_db()
    assert run.status == BillRunStatus.CANCELED
    assert run.finished_at is not None
    # Its start task, when it comes, does nothing.
    assert runner.plan_chunks(run.pk) is False
    assert runner.work(run.pk) == 0
    run.refresh_from_db()
    assert run.status == BillRunStatus.CANCELED
    assert ctd(sc) is None and not Invoice.objects.exists()


def test_cancel_a_completed_run_cancels_its_drafts_and_releases_what_they_billed(
    completed_run, operator
):
    run = completed_run["run"]
    state_before = {
        "plan": ctd(completed_run["plan"]),
        "credit": ctd(completed_run["credit"]),
        "storage": ctd(completed_run["storage"]),
    }
    assert state_before == {"plan": DEC_1, "credit": DEC_1, "storage": dt.date(2026, 11, 2)}

    services.request_cancel(bill_run=run, actor=operator)
    run.refresh_from_db()
    assert run.status == BillRunStatus.CANCEL_IN_PROGRESS
    documents.cancel_documents(bill_run=run, actor=operator)
    run.refresh_from_db()

    assert run.status == BillRunStatus.CANCELED
    assert {i.status for i in invoices_of(run)} == {InvoiceStatus.CANCELED}
    assert {m.status for m in memos_of(run)} == {MemoStatus.CANCELED}
    assert memos_of(run)[0].events.filter(kind=MemoEvent.Kind.CANCELED).count() == 1
    assert ctd(completed_run["plan"]) == DAY
    assert ctd(completed_run["credit"]) == DAY
    assert ctd(completed_run["storage"]) == OCT_1
    completed_run["record"].refresh_from_db()
    assert completed_run["record"].billed_period is None
    assert not BilledPeriod.objects.exists()

    again = bill(operator)
    [invoice] = invoices_of(again)
    [memo] = memos_of(again)
    assert totals(invoice) == (D(60), D(5), D(65))
    assert totals(memo) == (D(30), D(3), D(33))
    completed_run["record"].refresh_from_db()
    assert completed_run["record"].billed_period.bill_run == again


def test_cancel_is_refused_when_a_document_is_posted(completed_run, operator):
    run = completed_run["run"]
    [memo] = memos_of(run)
    post_memo(memo=memo, actor=operator)
    with pytest.raises(ValidationError) as exc:
        services.request_cancel(bill_run=run, actor=operator)
    assert exc.value.code == "has_posted"
    run.refresh_from_db()
    assert run.status == BillRunStatus.COMPLETED
    assert invoices_of(run)[0].status == InvoiceStatus.DRAFT


def test_a_document_posted_while_the_cancel_waits_stops_the_cancel(completed_run, operator):
    run = completed_run["run"]
    services.request_cancel(bill_run=run, actor=operator)
    services.post_generated_invoice(invoice=invoices_of(run)[0], actor=operator)

    documents.cancel_documents(bill_run=run, actor=operator)

    run.refresh_from_db()
    assert run.status == BillRunStatus.COMPLETED
    assert run.message == "Not canceled: some of its documents have been posted."
    assert memos_of(run)[0].status == MemoStatus.DRAFT
    assert ctd(completed_run["credit"]) == DEC_1


@pytest.mark.parametrize("status", ["processing", "posted", "canceled"])
def test_cancel_is_refused_from_processing_posted_and_canceled(completed_run, operator, status):
    run = completed_run["run"]
    if status == "processing":
        account = new_account()
        subscribe(account, "10")
        run = create_run()
        runner.plan_chunks(run.pk)
        run.refresh_from_db()
    elif status == "posted":
        run = post(run, operator)
    else:
        run = cancel(run, operator)
    with pytest.raises(ValidationError) as exc:
        services.request_cancel(bill_run=run, actor=operator)
    assert exc.value.code == "invalid_transition"
    assert "only Pending or Completed runs can be canceled" in exc.value.messages[0]
    status_before = run.status
    run.refresh_from_db()
    assert run.status == status_before


def test_delete_a_canceled_run_removes_it_and_its_documents(completed_run, operator):
    run = cancel(completed_run["run"], operator)
    invoice_ids = [i.pk for i in invoices_of(run)]
    memo_ids = [m.pk for m in memos_of(run)]

    with pytest.raises(ValidationError, match="needs the permission to delete canceled memos"):
        services.delete_bill_run(bill_run=run, actor=operator)
    assert BillRun.objects.filter(pk=run.pk).exists()

    number = services.delete_bill_run(bill_run=run, actor=operator, may_delete_documents=True)

    assert number == run.number
    assert not BillRun.objects.filter(pk=run.pk).exists()
    assert not Invoice.objects.filter(pk__in=invoice_ids).exists()
    assert not Memo.objects.filter(pk__in=memo_ids).exists()


def test_delete_an_error_run():
    account = new_account()
    subscribe(account, "20", tax=tax_code(None, code="NORATE"))
    run = bill(failures=True)
    assert run.status == BillRunStatus.ERROR
    services.delete_bill_run(bill_run=run, actor=None)
    assert not BillRun.objects.exists()
    assert not BillRunError.objects.exists()


def test_delete_of_a_run_that_was_retried_keeps_the_retry():
    account = new_account()
    code = tax_code(None, code="NORATE")
    subscribe(account, "20", tax=code)
    run = bill(failures=True)
    TaxRateFactory(tax_code=code, rate=D(10), effective_from=dt.date(2020, 1, 1))
    retry = process(services.retry_failed_accounts(bill_run=run, actor=None))
    services.delete_bill_run(bill_run=run, actor=None)
    retry.refresh_from_db()
    assert retry.retry_of is None
    assert invoices_of(retry)[0].amount == D(22)


@pytest.mark.parametrize("status", ["pending", "completed", "posted"])
def test_delete_is_refused_unless_canceled_or_error(completed_run, operator, status):
    run = completed_run["run"]
    if status == "pending":
        run = create_run()
    elif status == "posted":
        run = post(run, operator)
    with pytest.raises(ValidationError, match="only Canceled or Error runs can be deleted"):
        services.delete_bill_run(bill_run=run, actor=operator)
    assert BillRun.objects.filter(pk=run.pk).exists()


def test_the_tasks_carry_a_run_from_creation_to_posted_and_canceled(
    django_capture_on_commit_callbacks, operator
):
    accounts = [new_account() for _ in range(12)]
    for account in accounts:
        subscribe(account, "10")
    with django_capture_on_commit_callbacks(execute=True):
        run = services.create_bill_run(actor=operator, invoice_date=DAY, target_date=DAY)
    run.refresh_from_db()
    assert run.status == BillRunStatus.COMPLETED
    assert (run.accounts_processed, run.invoices_generated) == (12, 12)

    with django_capture_on_commit_callbacks(execute=True):
        services.request_cancel(bill_run=run, actor=operator)
    run.refresh_from_db()
    assert run.status == BillRunStatus.CANCELED
    assert not Invoice.objects.exclude(status=InvoiceStatus.CANCELED).exists()

    with django_capture_on_commit_callbacks(execute=True):
        again = services.create_bill_run(actor=operator, invoice_date=DAY, target_date=DAY)
    with django_capture_on_commit_callbacks(execute=True):
        services.request_post(bill_run=again, actor=operator)
    again.refresh_from_db()
    assert again.status == BillRunStatus.POSTED
    assert Invoice.objects.filter(bill_run=again, status=InvoiceStatus.POSTED).count() == 12


def test_auto_post_ends_posted(django_capture_on_commit_callbacks, operator):
    use_rule(GenerationRule.NEGATIVE_CHARGES)
    account = new_account()
    subscribe(account, "50")
    subscribe(account, "-10")
    with django_capture_on_commit_callbacks(execute=True):
        run = services.create_bill_run(
            actor=operator, invoice_date=DAY, target_date=DAY, auto_post=True
        )
    run.refresh_from_db()
    assert run.status == BillRunStatus.POSTED
    [invoice], [memo] = invoices_of(run), memos_of(run)
    assert (invoice.status, invoice.balance) == (InvoiceStatus.POSTED, D(50))
    assert (memo.status, memo.unapplied_amount) == (MemoStatus.POSTED, D(10))


def test_a_run_with_nothing_in_scope_completes(django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        run = services.create_bill_run(actor=None, invoice_date=DAY, target_date=DAY)
    run.refresh_from_db()
    assert run.status == BillRunStatus.COMPLETED
    assert (run.accounts_in_scope, run.accounts_processed, run.invoices_generated) == (0, 0, 0)


# --- 7. create_bill_run validation ----------------------------------------------------------------
@pytest.mark.parametrize(
    "kwargs, field",
    [
        ({"invoice_date": None}, "invoice_date"),
        ({"target_date": None}, "target_date"),
        ({"invoice_date": dt.date(2026, 1, 15)}, "invoice_date"),  # closed period
        (
            {"include_one_time": False, "include_recurring": False, "include_usage": False},
            "include_recurring",
        ),
        ({"scope": BillRunScope.ACCOUNT}, "account"),
        ({"scope": BillRunScope.BATCH}, "batch"),
        ({"scope": BillRunScope.BATCH, "bill_cycle_day": 32}, "bill_cycle_day"),
        ({"scope": BillRunScope.RETRY}, "__all__"),
    ],
    ids=[
        "no-invoice-date",
        "no-target-date",
        "closed-period",
        "no-charge-type",
        "account-scope-without-account",
        "batch-scope-without-batch-or-day",
        "bad-bill-cycle-day",
        "retry-without-run",
    ],
)
def test_create_bill_run_validation(kwargs, field, operator):
    AccountingPeriodFactory(
        name="January 2026",
        start_date=dt.date(2026, 1, 1),
        end_date=dt.date(2026, 1, 31),
        status=PeriodStatus.CLOSED,
    )
    counter = NumberSeries.objects.get(key=NumberSeries.Key.BILL_RUN).last_number
    arguments = {"invoice_date": DAY, "target_date": DAY, **kwargs}

    with pytest.raises(ValidationError) as exc:
        services.create_bill_run(actor=operator, **arguments)

    assert list(exc.value.message_dict) == [field]
    assert not BillRun.objects.exists()
    assert NumberSeries.objects.get(key=NumberSeries.Key.BILL_RUN).last_number == counter


def test_create_bill_run_closed_period_message():
    AccountingPeriodFactory(
        name="January 2026",
        start_date=dt.date(2026, 1, 1),
        end_date=dt.date(2026, 1, 31),
        status=PeriodStatus.CLOSED,
    )
    with pytest.raises(ValidationError) as exc:
        create_run(invoice_date=dt.date(2026, 1, 15))
    assert exc.value.message_dict == {
        "invoice_date": [
            "Invoice date 2026-01-15 is in the closed accounting period January 2026 "
            "(2026-01-01 to 2026-01-31)."
        ]
    }


def test_create_bill_run_records_what_was_asked(operator):
    account = new_account()
    run = create_run(
        operator,
        scope=BillRunScope.ACCOUNT,
        account=account,
        batch="Batch2",  # ignored outside the batch scope
        include_usage=False,
        name="November",
    )
    assert run.status == BillRunStatus.PENDING
    assert run.number.startswith("BR-")
    assert (run.account, run.batch, run.bill_cycle_day) == (account, "", None)
    assert (run.include_usage, run.include_recurring, run.name) == (False, True, "November")
    assert run.created_by == operator
