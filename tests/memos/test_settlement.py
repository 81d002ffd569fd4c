"""Settling credit memos (DOMAIN.md section 3): apply, unapply, refund, reverse, write off, and
auto-apply upon posting; the application rule (Proration/FIFO) in USD, JPY and KWD; every refusal
leaving the database as it was; and concurrent operators on PostgreSQL.

Every operation is followed by `assert_invariants`, which re-reads the documents and checks the
section 3 invariants plus the item-level and application-level bookkeeping behind them.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import re
import threading
from collections.abc import Callable
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.utils import timezone

from billing.factories import (
    AccountingPeriodFactory,
    ChargeFactory,
    InvoiceFactory,
    InvoiceItemFactory,
    currency,
)
from billing.models import (
    Account,
    ApplicationRule,
    BillingSettings,
    Invoice,
    InvoiceItem,
    InvoiceStatus,
    NumberSeries,
    PeriodStatus,
)
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
from memos.services import ChargeLine, create_memo_from_charges
from memos.services.lifecycle import cancel_memo, post_memo
from memos.services.settlement import (
    ApplicationTarget,
    apply_credit_memo,
    refund_credit_memo,
    remaining_on,
    reverse_credit_memo,
    unapply_credit_memo,
    write_off_credit_memo,
)
from tests.memos.creation_helpers import (
    MEMO_DATE,
    D,
    account,
    from_invoice,
    items_of,
    one_error,
    posted_invoice,
    row,
)

pytestmark = pytest.mark.django_db

CREDIT, DEBIT = MemoType.CREDIT, MemoType.DEBIT
APPLY, UNAPPLY = MemoApplication.Kind.APPLY, MemoApplication.Kind.UNAPPLY
Kind = MemoEvent.Kind
ON = dt.date(2025, 3, 25)  # the default effective date: after MEMO_DATE
ZERO = Decimal("0")


# --- invariants ----------------------------------------------------------------------------------


def _net(rows) -> Decimal:
    """Applies minus unapplies of MemoApplication or MemoApplicationItem rows."""
    total = ZERO
    for kind, amount in rows:
        total += amount if kind == APPLY else -amount
    return total


def _net_applied_to(**target) -> Decimal:
    return _net(MemoApplication.objects.filter(**target).values_list("kind", "amount"))


def _net_item_moves(**target_item) -> Decimal:
    return _net(
        MemoApplicationItem.objects.filter(**target_item).values_list("application__kind", "amount")
    )


def _credit_memo_invariants(memo: Memo) -> None:
    label = memo.number
    assert memo.amount >= 0, label
    assert memo.applied_amount >= 0 and memo.refund_amount >= 0, label
    assert memo.applied_amount + memo.refund_amount <= memo.amount, label
    assert memo.unapplied_amount == memo.amount - memo.applied_amount - memo.refund_amount, label
    items = list(MemoItem.objects.filter(memo=memo))
    assert sum((i.amount for i in items), ZERO) == memo.amount, label
    assert sum((i.applied_amount for i in items), ZERO) == memo.applied_amount, label
    assert sum((i.refund_amount for i in items), ZERO) == memo.refund_amount, label
    assert sum((i.unapplied_amount for i in items), ZERO) == memo.unapplied_amount, label
    for item in items:
        assert item.applied_amount >= 0 and item.refund_amount >= 0, label
        assert item.unapplied_amount == item.amount - item.applied_amount - item.refund_amount
        if item.amount >= 0:
            assert item.unapplied_amount >= 0, label
        # What the application rows say went out of this item is what the item says.
        assert _net_item_moves(credit_memo_item=item) == item.applied_amount, label
    # The applied amount is the applications minus the unapplications.
    assert _net_applied_to(credit_memo=memo) == memo.applied_amount, label
    refunds = Refund.objects.filter(credit_memo=memo).values_list("amount", flat=True)
    assert sum(refunds, ZERO) == memo.refund_amount, label
    for application in MemoApplication.objects.filter(credit_memo=memo):
        moved = sum(application.items.values_list("amount", flat=True), ZERO)
        assert moved == application.amount, f"{label}: application {application.pk}"
        if application.kind == APPLY:
            assert 0 <= remaining_on(application) <= application.amount, label
        else:
            undone = application.undoes
            assert undone.kind == APPLY and undone.credit_memo_id == memo.pk, label
            assert (undone.invoice_id, undone.debit_memo_id) == (
                application.invoice_id,
                application.debit_memo_id,
            )
            assert application.effective_date >= undone.effective_date, label


def _debit_memo_invariants(memo: Memo) -> None:
    label = memo.number
    assert memo.amount >= 0, label
    assert 0 <= memo.balance <= memo.amount, label
    assert memo.applied_amount == 0 and memo.refund_amount == 0, label
    items = list(MemoItem.objects.filter(memo=memo))
    assert sum((i.amount for i in items), ZERO) == memo.amount, label
    assert sum((i.balance for i in items), ZERO) == memo.balance, label
    for item in items:
        if item.amount >= 0:
            assert 0 <= item.balance <= item.amount, label
        if memo.status == MemoStatus.POSTED:
            assert item.balance == item.amount - _net_item_moves(debit_memo_item=item), label
    if memo.status == MemoStatus.POSTED:
        assert memo.balance == memo.amount - _net_applied_to(debit_memo=memo), label
    else:
        assert not MemoApplication.objects.filter(debit_memo=memo).exists(), label


def _invoice_invariants(invoice: Invoice) -> None:
    label = invoice.number
    assert invoice.balance >= 0, label
    assert invoice.balance <= invoice.amount, label
    items = list(InvoiceItem.objects.filter(invoice=invoice))
    assert sum((i.balance for i in items), ZERO) == invoice.balance, label
    if invoice.status == InvoiceStatus.POSTED:
        # Only credit memos move invoice balances in this product.
        assert invoice.balance == invoice.amount - _net_applied_to(invoice=invoice), label
        for item in items:
            assert item.balance == item.amount - _net_item_moves(invoice_item=item), label
    else:
        assert invoice.balance == 0, label
        assert not MemoApplication.objects.filter(invoice=invoice).exists(), label


def assert_invariants(*docs) -> None:
    """Check DOMAIN.md section 3's invariants on the given documents (re-read from the
    database), then on every other memo and invoice too: an operation must not break any."""
    for doc in docs:
        assert isinstance(doc, Memo | Invoice), doc
        assert type(doc).objects.filter(pk=doc.pk).exists(), f"{doc} is gone"
    for memo in Memo.objects.all():
        if memo.memo_type == CREDIT:
            _credit_memo_invariants(memo)
        else:
            _debit_memo_invariants(memo)
    for invoice in Invoice.objects.all():
        _invoice_invariants(invoice)


# --- refusals leave everything as it was ---------------------------------------------------------

SNAPSHOT_MODELS = (
    Memo,
    MemoItem,
    MemoApplication,
    MemoApplicationItem,
    Refund,
    MemoEvent,
    Invoice,
    InvoiceItem,
    NumberSeries,
)


def snapshot() -> dict[str, list[dict]]:
    """Every row (every field) a settlement operation could write."""
    return {
        model.__name__: list(model.objects.order_by("pk").values()) for model in SNAPSHOT_MODELS
    }


@contextlib.contextmanager
def refused():
    """`with refused() as info:` expects a ValidationError, then checks that no row of the
    memos, items, applications, refunds, events, invoices or number series changed, and that the
    invariants still hold."""
    before = snapshot()
    with pytest.raises(ValidationError) as info:
        yield info
    assert snapshot() == before
    assert_invariants()


# --- builders ------------------------------------------------------------------------------------


def invoice_on(acct: Account, *amounts: str, post: bool = True, taxable: bool = False) -> Invoice:
    """An invoice of the account with one untaxed item per amount (so amount = the sum)."""
    return posted_invoice(*amounts, on_account=acct, post=post, taxable=taxable)


def memo_on(
    acct: Account,
    memo_type: str,
    *amounts: str,
    post: bool = True,
    taxable: bool = False,
    memo_date: dt.date = MEMO_DATE,
) -> Memo:
    """A standalone memo from one one-time charge per amount, untaxed unless `taxable`."""
    memo = create_memo_from_charges(
        account=acct,
        memo_type=memo_type,
        lines=[
            ChargeLine(
                charge=ChargeFactory(charge_type="one_time", taxable=taxable),
                amount=D(amount),
                description=f"line {index}",
            )
            for index, amount in enumerate(amounts, start=1)
        ],
        memo_date=memo_date,
        actor=None,
    )
    if post:
        post_memo(memo=memo, actor=None)
    return fresh(memo)


def credit_on(acct: Account, *amounts: str, **kwargs) -> Memo:
    return memo_on(acct, CREDIT, *amounts, **kwargs)


def debit_on(acct: Account, *amounts: str, **kwargs) -> Memo:
    return memo_on(acct, DEBIT, *amounts, **kwargs)


def fresh(doc):
    return type(doc).objects.get(pk=doc.pk)


def to_invoice(invoice: Invoice, amount: str | None = None, **kwargs) -> ApplicationTarget:
    return ApplicationTarget(
        invoice=invoice, amount=None if amount is None else D(amount), **kwargs
    )


def to_debit(memo: Memo, amount: str | None = None, **kwargs) -> ApplicationTarget:
    return ApplicationTarget(
        debit_memo=memo, amount=None if amount is None else D(amount), **kwargs
    )


def apply(credit: Memo, *targets: ApplicationTarget, on: dt.date = ON, actor=None):
    return apply_credit_memo(
        credit_memo=credit, targets=list(targets), effective_date=on, actor=actor
    )


def refund(credit: Memo, amount: str, *, on: dt.date = ON, method=RefundMethod.CHECK, **kwargs):
    kwargs.setdefault("actor", None)
    return refund_credit_memo(
        credit_memo=credit, amount=D(amount), method=method, refund_date=on, **kwargs
    )


def balances(doc) -> list[Decimal]:
    """The item balances (invoice or debit memo) in item order."""
    return [item.balance for item in doc.items.order_by("sort_order", "id")]


def credit_items(memo: Memo) -> list[MemoItem]:
    return list(memo.items.order_by("sort_order", "id"))


def decimals(*values: str) -> list[Decimal]:
    return [D(v) for v in values]


def set_rule(rule: str) -> None:
    settings = BillingSettings.load()
    settings.application_rule = rule
    settings.save()


def events(memo: Memo, kind: str) -> list[MemoEvent]:
    return list(MemoEvent.objects.filter(memo_id=memo.pk, kind=kind).order_by("id"))


def reason(code_type: str, name: str) -> ReasonCode:
    return ReasonCode.objects.get(code_type=code_type, name=name)


def close_period(start: dt.date, end: dt.date) -> None:
    AccountingPeriodFactory(
        name=f"Closed {start}", start_date=start, end_date=end, status=PeriodStatus.CLOSED
    )


@pytest.fixture
def acct():
    return account("USD")


# --- apply: where the credit goes ----------------------------------------------------------------


def test_apply_a_header_amount_to_one_invoice(acct, operator):
    credit = credit_on(acct, "100")
    invoice = invoice_on(acct, "30", "50")
    assert_invariants(credit, invoice)

    [application] = apply(credit, to_invoice(invoice, "50"), actor=operator)

    assert_invariants(credit, invoice)
    application.refresh_from_db()
    assert application.kind == APPLY
    assert (application.credit_memo_id, application.invoice_id) == (credit.pk, invoice.pk)
    assert application.debit_memo_id is None
    assert application.amount == D("50")
    assert application.effective_date == ON
    assert application.created_by == operator
    invoice, credit = fresh(invoice), fresh(credit)
    assert invoice.balance == D("30")
    # Prorated over the item balances 30 and 50: 18.75 and 31.25 applied.
    assert balances(invoice) == decimals("11.25", "18.75")
    assert credit.applied_amount == D("50")
    assert credit.unapplied_amount == D("50")
    assert credit.refund_amount == 0
    assert credit.status == MemoStatus.POSTED
    assert [i.applied_amount for i in credit_items(credit)] == [D("50")]
    moves = application.items.order_by("invoice_item__sort_order")
    assert [(m.invoice_item_id, m.amount) for m in moves] == [
        (item.pk, amount)
        for item, amount in zip(items_of(invoice), decimals("18.75", "31.25"), strict=True)
    ]


def test_apply_to_two_invoices_at_once(acct, operator):
    credit = credit_on(acct, "100")
    first, second = invoice_on(acct, "40"), invoice_on(acct, "70")

    applications = apply(credit, to_invoice(first, "40"), to_invoice(second, "35"), actor=operator)

    assert_invariants(credit, first, second)
    assert [(a.invoice_id, a.amount) for a in applications] == [
        (first.pk, D("40")),
        (second.pk, D("35")),
    ]
    assert (fresh(first).balance, fresh(second).balance) == (D("0"), D("35"))
    credit = fresh(credit)
    assert (credit.applied_amount, credit.unapplied_amount) == (D("75"), D("25"))
    assert [e.after for e in events(credit, Kind.APPLIED)] == [
        {"target": first.number, "amount": "40.00", "effective_date": "2025-03-25"},
        {"target": second.number, "amount": "35.00", "effective_date": "2025-03-25"},
    ]


def test_apply_to_a_debit_memo(acct, operator):
    credit = credit_on(acct, "100")
    debit = debit_on(acct, "20", "40")
    assert fresh(debit).balance == D("60")

    [application] = apply(credit, to_debit(debit, "30"), actor=operator)

    assert_invariants(credit, debit)
    assert (application.debit_memo_id, application.invoice_id) == (debit.pk, None)
    debit, credit = fresh(debit), fresh(credit)
    assert debit.balance == D("30")
    assert balances(debit) == decimals("10", "20")
    assert credit.unapplied_amount == D("70")
    # The debit memo itself is untouched otherwise: still Posted, nothing "applied" on it.
    assert debit.status == MemoStatus.POSTED
    assert (debit.applied_amount, debit.refund_amount) == (0, 0)


def test_apply_to_a_mix_of_invoices_and_debit_memos(acct, operator):
    credit = credit_on(acct, "100")
    invoice = invoice_on(acct, "25", "25")
    debit = debit_on(acct, "30")

    applications = apply(
        credit,
        to_debit(debit, "30"),
        to_invoice(invoice, "50"),
        to_invoice(invoice_on(acct, "10"), "10"),
        actor=operator,
    )

    assert_invariants(credit, invoice, debit)
    assert [a.amount for a in applications] == decimals("30", "50", "10")
    assert (fresh(debit).balance, fresh(invoice).balance) == (0, 0)
    assert balances(invoice) == decimals("0", "0")
    credit = fresh(credit)
    assert (credit.applied_amount, credit.unapplied_amount) == (D("90"), D("10"))


def test_per_item_amounts_go_exactly_where_they_are_typed(acct, operator):
    credit = credit_on(acct, "100")
    invoice = invoice_on(acct, "30", "50", "20")
    first, second, third = items_of(invoice)

    [application] = apply(
        credit,
        ApplicationTarget(
            invoice=invoice,
            item_amounts={first.pk: D("30"), second.pk: D("5.50"), third.pk: D("0")},
        ),
        actor=operator,
    )

    assert_invariants(credit, invoice)
    assert application.amount == D("35.50")
    assert balances(invoice) == decimals("0", "44.50", "20")
    assert fresh(invoice).balance == D("64.50")
    # A zero row is no move at all.
    assert sorted(application.items.values_list("invoice_item_id", "amount")) == [
        (first.pk, D("30")),
        (second.pk, D("5.50")),
    ]


def test_per_item_amounts_on_a_debit_memo(acct, operator):
    credit = credit_on(acct, "100")
    debit = debit_on(acct, "20", "40")
    first, second = credit_items(debit)

    apply(credit, to_debit(debit, item_amounts={second.pk: D("40")}), actor=operator)

    assert_invariants(credit, debit)
    assert balances(debit) == decimals("20", "0")


def test_the_credit_memos_items_are_drawn_first_in_first_out(acct, operator):
    credit = credit_on(acct, "30", "70")
    first, second = invoice_on(acct, "50"), invoice_on(acct, "45")

    apply(credit, to_invoice(first, "50"), actor=operator)
    assert_invariants(credit, first)
    assert [i.applied_amount for i in credit_items(credit)] == decimals("30", "20")
    assert [i.unapplied_amount for i in credit_items(credit)] == decimals("0", "50")

    apply(credit, to_invoice(second, "45"), actor=operator)
    assert_invariants(credit, first, second)
    assert [i.applied_amount for i in credit_items(credit)] == decimals("30", "65")
    assert fresh(credit).unapplied_amount == D("5")


def test_a_header_amount_goes_over_the_open_item_balances(acct, operator):
    """Proration weighs the item balances, not the item amounts: a paid item takes nothing."""
    credit = credit_on(acct, "200")
    invoice = invoice_on(acct, "30", "30", "60")
    first = items_of(invoice)[0]
    apply(credit, to_invoice(invoice, item_amounts={first.pk: D("30")}), actor=operator)
    assert_invariants(credit, invoice)

    apply(credit, to_invoice(invoice, "45"), actor=operator)

    assert_invariants(credit, invoice)
    assert balances(invoice) == decimals("0", "15", "30")


def test_the_whole_unapplied_amount_can_go_to_the_whole_balance(acct, operator):
    credit = credit_on(acct, "100")
    invoice = invoice_on(acct, "60", "40")

    apply(credit, to_invoice(invoice, "100"), actor=operator)

    assert_invariants(credit, invoice)
    assert fresh(credit).unapplied_amount == 0
    assert fresh(invoice).balance == 0
    assert balances(invoice) == decimals("0", "0")


def test_the_effective_date_may_be_the_memo_date(acct, operator):
    credit = credit_on(acct, "100")
    [application] = apply(credit, to_invoice(invoice_on(acct, "10"), "10"), on=MEMO_DATE)
    assert_invariants(credit)
    assert application.effective_date == MEMO_DATE


def test_applied_events_are_written_on_the_credit_memo_and_the_debit_memo(acct, operator):
    credit = credit_on(acct, "100")
    debit = debit_on(acct, "60")
    invoice = invoice_on(acct, "25")

    apply(credit, to_invoice(invoice, "25"), to_debit(debit, "12.50"), actor=operator)

    assert_invariants(credit, debit, invoice)
    on_credit = events(credit, Kind.APPLIED)
    assert [e.message for e in on_credit] == [
        f"Applied USD 25.00 to {invoice.number}",
        f"Applied USD 12.50 to {debit.number}",
    ]
    assert all(e.actor == operator for e in on_credit)
    [on_debit] = events(debit, Kind.APPLIED)
    assert on_debit.message == f"{credit.number} applied USD 12.50"
    assert on_debit.after == {"credit_memo": credit.number, "amount": "12.50"}
    assert on_debit.actor == operator


# --- apply: the application rule -----------------------------------------------------------------

RULE_CASES = [
    # code, item amount (three equal items), amount applied, Proration, FIFO
    ("USD", "50", "100", ("33.34", "33.33", "33.33"), ("50", "50", "0")),
    ("JPY", "50", "100", ("34", "33", "33"), ("50", "50", "0")),
    ("KWD", "0.500", "1.000", ("0.334", "0.333", "0.333"), ("0.5", "0.5", "0")),
    ("USD", "0.01", "0.02", ("0.01", "0.01", "0"), ("0.01", "0.01", "0")),
]


@pytest.mark.parametrize(("code", "item", "amount", "prorated", "first_in"), RULE_CASES)
@pytest.mark.parametrize("rule", [ApplicationRule.PRORATION, ApplicationRule.FIFO])
def test_the_application_rule_splits_a_header_amount_over_invoice_items(
    rule, code, item, amount, prorated, first_in, operator
):
    set_rule(rule)
    acct = account(code)
    credit = credit_on(acct, amount)
    invoice = invoice_on(acct, item, item, item)

    [application] = apply(credit, to_invoice(invoice, amount), actor=operator)

    assert_invariants(credit, invoice)
    expected = decimals(*(prorated if rule == ApplicationRule.PRORATION else first_in))
    moved = {m.invoice_item_id: m.amount for m in application.items.all()}
    shares = [moved.get(i.pk, ZERO) for i in items_of(invoice)]
    assert shares == expected
    assert sum(shares) == D(amount) == application.amount
    assert balances(invoice) == [D(item) - share for share in expected]
    assert fresh(credit).unapplied_amount == 0


@pytest.mark.parametrize("code", ["USD", "JPY", "KWD"])
def test_proration_and_fifo_differ_on_the_same_invoice(code, operator):
    unit = {"USD": "0.01", "JPY": "1", "KWD": "0.001"}[code]
    results = {}
    for rule in (ApplicationRule.PRORATION, ApplicationRule.FIFO):
        set_rule(rule)
        acct = account(code)
        credit = credit_on(acct, "100")
        invoice = invoice_on(acct, "100", "100", "100")
        apply(credit, to_invoice(invoice, "100"), actor=operator)
        assert_invariants(credit, invoice)
        results[rule] = [D(100) - b for b in balances(invoice)]
    prorated, first_in = results[ApplicationRule.PRORATION], results[ApplicationRule.FIFO]
    assert prorated != first_in
    assert first_in == decimals("100", "0", "0")
    assert sum(prorated) == sum(first_in) == D("100")
    assert max(prorated) - min(prorated) == D(unit)


@pytest.mark.parametrize("rule", [ApplicationRule.PRORATION, ApplicationRule.FIFO])
def test_the_application_rule_applies_to_debit_memo_items_too(rule, operator):
    set_rule(rule)
    acct = account("USD")
    credit = credit_on(acct, "100")
    debit = debit_on(acct, "50", "50", "50")

    apply(credit, to_debit(debit, "100"), actor=operator)

    assert_invariants(credit, debit)
    expected = (
        decimals("16.66", "16.67", "16.67")
        if rule == ApplicationRule.PRORATION
        else decimals("0", "0", "50")
    )
    assert balances(debit) == expected


def test_the_default_application_rule_is_proration():
    assert BillingSettings.load().application_rule == ApplicationRule.PRORATION


# --- apply: refusals -----------------------------------------------------------------------------


@pytest.mark.parametrize("rule", [ApplicationRule.PRORATION, ApplicationRule.FIFO])
def test_more_than_the_target_balance_is_refused(rule, acct, operator):
    set_rule(rule)
    credit = credit_on(acct, "500")
    invoice = invoice_on(acct, "30", "50")
    with refused() as info:
        apply(credit, to_invoice(invoice, "80.01", key="inv"), actor=operator)
    assert (
        one_error(info, "inv")
        == f"At most USD 80.00 can be applied to {invoice.number} (its balance)."
    )


@pytest.mark.parametrize("rule", [ApplicationRule.PRORATION, ApplicationRule.FIFO])
def test_more_than_a_debit_memo_balance_is_refused(rule, acct, operator):
    set_rule(rule)
    credit = credit_on(acct, "500")
    debit = debit_on(acct, "60")
    apply(credit, to_debit(debit, "20"), actor=operator)
    assert_invariants(credit, debit)
    with refused() as info:
        apply(credit, to_debit(debit, "40.01", key="dm"), actor=operator)
    assert (
        one_error(info, "dm")
        == f"At most USD 40.00 can be applied to {debit.number} (its balance)."
    )


def test_more_than_an_item_balance_is_refused(acct, operator):
    credit = credit_on(acct, "500")
    invoice = invoice_on(acct, "30", "50")
    first, second = items_of(invoice)
    with refused() as info:
        apply(
            credit,
            to_invoice(invoice, item_amounts={first.pk: D("30.01"), second.pk: D("1")}, key="i"),
            actor=operator,
        )
    assert (
        one_error(info, "i")
        == f"{first.charge_name} on {invoice.number}: at most 30.00 can be applied."
    )


@pytest.mark.parametrize("value", ["-1", "-0.01"])
def test_a_negative_item_amount_is_refused(value, acct, operator):
    credit = credit_on(acct, "100")
    invoice = invoice_on(acct, "30", "50")
    first, second = items_of(invoice)
    with refused() as info:
        apply(
            credit,
            to_invoice(invoice, item_amounts={first.pk: D(value), second.pk: D("10")}, key="i"),
        )
    assert "at most 30.00 can be applied" in one_error(info, "i")


def test_an_item_of_another_document_is_refused(acct, operator):
    credit = credit_on(acct, "100")
    invoice, other = invoice_on(acct, "30"), invoice_on(acct, "30")
    with refused() as info:
        apply(credit, to_invoice(invoice, item_amounts={items_of(other)[0].pk: D("5")}, key="i"))
    assert one_error(info, "i") == f"An item of another document was given for {invoice.number}."


def test_per_item_amounts_that_are_all_zero_are_refused(acct):
    credit = credit_on(acct, "100")
    invoice = invoice_on(acct, "30")
    with refused() as info:
        apply(credit, to_invoice(invoice, item_amounts={items_of(invoice)[0].pk: D("0")}, key="i"))
    assert one_error(info, "i") == "Enter an amount greater than zero."


def test_more_than_the_unapplied_amount_in_total_is_refused(acct, operator):
    credit = credit_on(acct, "100")
    first, second = invoice_on(acct, "60"), invoice_on(acct, "60")
    apply(credit, to_invoice(first, "10"), actor=operator)
    assert_invariants(credit, first)
    with refused() as info:
        # Each fits its invoice, and each alone fits the 90.00 left; together they do not.
        apply(credit, to_invoice(first, "40"), to_invoice(second, "50.01"), actor=operator)
    assert one_error(info, "__all__") == (
        f"USD 90.01 is more than the unapplied amount USD 90.00 of {credit.number}."
    )


def test_a_refunded_part_cannot_be_applied(acct, operator):
    credit = credit_on(acct, "100")
    refund(credit, "70", actor=operator)
    assert_invariants(credit)
    invoice = invoice_on(acct, "50")
    with refused() as info:
        apply(credit, to_invoice(invoice, "30.01"))
    assert "more than the unapplied amount USD 30.00" in one_error(info, "__all__")


def test_an_effective_date_before_the_memo_date_is_refused(acct):
    credit = credit_on(acct, "100")
    invoice = invoice_on(acct, "50")
    with refused() as info:
        apply(credit, to_invoice(invoice, "10"), on=MEMO_DATE - dt.timedelta(days=1))
    assert one_error(info, "effective_date") == (
        "The effective date cannot be before the memo date 2025-03-20."
    )


@pytest.mark.parametrize("status", [MemoStatus.DRAFT, MemoStatus.CANCELED])
def test_a_draft_or_canceled_credit_memo_is_refused(status, acct):
    credit = credit_on(acct, "100", post=False)
    if status == MemoStatus.CANCELED:
        cancel_memo(memo=credit, actor=None)
    invoice = invoice_on(acct, "50")
    with refused() as info:
        apply(credit, to_invoice(invoice, "10"))
    label = MemoStatus(status).label
    assert one_error(info) == (
        f"{credit.number} is {label}: only posted credit memos can be settled."
    )


def test_a_debit_memo_cannot_be_the_source(acct):
    debit = debit_on(acct, "100")
    invoice = invoice_on(acct, "50")
    with refused() as info:
        apply(debit, to_invoice(invoice, "10"))
    assert one_error(info) == (
        f"{debit.number} is a debit memo: only credit memos are applied or refunded."
    )


def test_no_target_is_refused(acct):
    credit = credit_on(acct, "100")
    with refused() as info:
        apply(credit)
    assert one_error(info) == "Choose at least one invoice or debit memo to apply the credit to."


def _draft_invoice(acct):
    return invoice_on(acct, "50", post=False)


def _canceled_invoice(acct):
    invoice = InvoiceFactory(account=acct, status=InvoiceStatus.CANCELED)
    return invoice


def _other_account_invoice(acct):
    return invoice_on(account("USD"), "50")


def _other_currency_invoice(acct):
    invoice = InvoiceFactory(account=acct, currency=currency("EUR"), tax_amount=D("0"))
    InvoiceItemFactory(invoice=invoice, amount_excl_tax=D("100"), tax_amount=D("0"))
    return invoice


def _paid_invoice(acct):
    invoice = invoice_on(acct, "50")
    apply(credit_on(acct, "50"), to_invoice(invoice, "50"))
    return invoice


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (_draft_invoice, "{n} is Draft: credit goes to posted invoices only."),
        (_canceled_invoice, "{n} is Canceled: credit goes to posted invoices only."),
        (_other_account_invoice, "{n} belongs to another account."),
        (_other_currency_invoice, "{n} is in EUR, the credit memo in USD."),
        (_paid_invoice, "{n} has no balance left."),
    ],
)
def test_invoice_targets_that_cannot_take_credit_are_refused(make, message, acct, operator):
    credit = credit_on(acct, "100")
    invoice = make(acct)
    assert_invariants(credit, invoice)
    with refused() as info:
        apply(credit, to_invoice(invoice, "10", key="t"), actor=operator)
    assert one_error(info, "t") == message.format(n=invoice.number)


def _draft_debit(acct):
    return debit_on(acct, "50", post=False)


def _other_account_debit(acct):
    return debit_on(account("USD"), "50")


def _paid_debit(acct):
    debit = debit_on(acct, "50")
    apply(credit_on(acct, "50"), to_debit(debit, "50"))
    return debit


def _another_credit(acct):
    return credit_on(acct, "50")


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (_draft_debit, "{n} is not a posted debit memo."),
        (_another_credit, "{n} is not a posted debit memo."),
        (_other_account_debit, "{n} belongs to another account."),
        (_paid_debit, "{n} has no balance left."),
    ],
)
def test_debit_memo_targets_that_cannot_take_credit_are_refused(make, message, acct, operator):
    credit = credit_on(acct, "100")
    debit = make(acct)
    with refused() as info:
        apply(credit, to_debit(debit, "10", key="t"), actor=operator)
    assert one_error(info, "t") == message.format(n=debit.number)


def test_a_credit_memo_cannot_be_applied_to_itself(acct):
    credit = credit_on(acct, "100")
    with refused() as info:
        apply(credit, to_debit(credit, "10", key="t"))
    assert one_error(info, "t") == f"{credit.number} is not a posted debit memo."


def test_the_same_invoice_twice_is_refused(acct, operator):
    credit = credit_on(acct, "100")
    invoice = invoice_on(acct, "50")
    with refused() as info:
        apply(
            credit,
            to_invoice(invoice, "10", key="a"),
            to_invoice(invoice, "10", key="b"),
            actor=operator,
        )
    assert one_error(info, "b") == f"{invoice.number} is listed twice."


def test_the_same_debit_memo_twice_is_refused(acct, operator):
    credit = credit_on(acct, "100")
    debit = debit_on(acct, "50")
    with refused() as info:
        apply(
            credit,
            to_debit(debit, "10", key="a"),
            to_debit(debit, item_amounts={credit_items(debit)[0].pk: D("5")}, key="b"),
            actor=operator,
        )
    assert one_error(info, "b") == f"{debit.number} is listed twice."


@pytest.mark.parametrize(
    ("code", "typed", "allowed"),
    [
        ("USD", "10.001", "at most 2 decimal places"),
        ("JPY", "10.5", "no decimals"),
        ("KWD", "1.0001", "at most 3 decimal places"),
    ],
)
def test_amounts_with_too_many_decimals_are_refused(code, typed, allowed):
    acct = account(code)
    credit = credit_on(acct, "100")
    invoice = invoice_on(acct, "50", "50")
    message = f"Amount {typed} has too many decimals: {code} amounts allow {allowed}."
    with refused() as info:
        apply(credit, to_invoice(invoice, typed, key="t"))
    assert one_error(info, "t") == message
    with refused() as info:
        apply(
            credit, to_invoice(invoice, item_amounts={items_of(invoice)[1].pk: D(typed)}, key="t")
        )
    assert one_error(info, "t") == message


@pytest.mark.parametrize("typed", ["0", "-5", "abc"])
def test_a_zero_negative_or_unreadable_amount_is_refused(typed, acct):
    credit = credit_on(acct, "100")
    invoice = invoice_on(acct, "50")
    with refused() as info:
        apply(credit, ApplicationTarget(invoice=invoice, amount=typed, key="t"))
    assert one_error(info, "t") in ("Enter an amount greater than zero.", "Enter a number.")


def test_every_bad_target_is_reported_at_once(acct):
    credit = credit_on(acct, "100")
    good = invoice_on(acct, "50")
    draft = invoice_on(acct, "50", post=False)
    with refused() as info:
        apply(
            credit,
            to_invoice(good, "10", key="good"),
            to_invoice(draft, "10", key="draft"),
            to_invoice(good, "20", key="again"),
            on=MEMO_DATE - dt.timedelta(days=1),
        )
    assert set(info.value.message_dict) == {"draft", "again", "effective_date"}


def test_one_bad_target_refuses_the_whole_application(acct, operator):
    """All or nothing: the good targets are not applied either."""
    credit = credit_on(acct, "100")
    good, small = invoice_on(acct, "50"), invoice_on(acct, "5")
    with refused():
        apply(credit, to_invoice(good, "10"), to_invoice(small, "6"), actor=operator)
    assert fresh(good).balance == D("50")


# --- unapply -------------------------------------------------------------------------------------


def test_unapply_a_whole_application(acct, operator):
    credit = credit_on(acct, "100")
    invoice = invoice_on(acct, "30", "50")
    [application] = apply(credit, to_invoice(invoice, "50"), actor=operator)
    assert_invariants(credit, invoice)

    undo = unapply_credit_memo(application=application, effective_date=ON, actor=operator)

    assert_invariants(credit, invoice)
    undo.refresh_from_db()
    assert undo.kind == UNAPPLY
    assert undo.undoes_id == application.pk
    assert (undo.credit_memo_id, undo.invoice_id, undo.debit_memo_id) == (
        credit.pk,
        invoice.pk,
        None,
    )
    assert undo.amount == D("50")
    assert undo.effective_date == ON
    assert undo.created_by == operator
    assert remaining_on(application) == 0
    assert fresh(invoice).balance == D("80")
    assert balances(invoice) == decimals("30", "50")
    credit = fresh(credit)
    assert (credit.applied_amount, credit.unapplied_amount) == (0, D("100"))
    assert [i.applied_amount for i in credit_items(credit)] == [0]
    [event] = events(credit, Kind.UNAPPLIED)
    assert event.message == f"Unapplied USD 50.00 from {invoice.number}"
    assert event.after == {"target": invoice.number, "amount": "50.00"}
    assert event.actor == operator


def test_unapply_in_parts(acct, operator):
    credit = credit_on(acct, "100")
    invoice = invoice_on(acct, "60")
    [application] = apply(credit, to_invoice(invoice, "60"), actor=operator)

    unapply_credit_memo(application=application, effective_date=ON, actor=operator, amount=D("20"))
    assert_invariants(credit, invoice)
    assert remaining_on(application) == D("40")
    assert fresh(invoice).balance == D("20")
    assert fresh(credit).unapplied_amount == D("60")

    last = unapply_credit_memo(application=application, effective_date=ON, actor=operator)
    assert_invariants(credit, invoice)
    assert last.amount == D("40")
    assert remaining_on(application) == 0
    assert fresh(invoice).balance == D("60")
    assert fresh(credit).unapplied_amount == D("100")
    assert len(events(credit, Kind.UNAPPLIED)) == 2

    with refused() as info:
        unapply_credit_memo(application=application, effective_date=ON, actor=operator)
    assert one_error(info, "amount") == "This application has been unapplied in full already."


def test_a_partial_unapply_moves_item_balances_back_in_proportion(acct, operator):
    credit = credit_on(acct, "100")
    invoice = invoice_on(acct, "50", "50", "50")
    [application] = apply(credit, to_invoice(invoice, "100"), actor=operator)
    assert balances(invoice) == decimals("16.66", "16.67", "16.67")

    unapply_credit_memo(application=application, effective_date=ON, actor=operator, amount=D("50"))

    assert_invariants(credit, invoice)
    assert sum(balances(invoice)) == D("100") == fresh(invoice).balance
    # 50 back over what each item still holds (33.34, 33.33, 33.33).
    assert balances(invoice) == decimals("33.33", "33.34", "33.33")


def test_unapply_gives_back_to_each_credit_memo_item(acct, operator):
    credit = credit_on(acct, "30", "70")
    invoice = invoice_on(acct, "40", "40")
    [application] = apply(credit, to_invoice(invoice, "80"), actor=operator)
    assert [i.applied_amount for i in credit_items(credit)] == decimals("30", "50")

    unapply_credit_memo(application=application, effective_date=ON, actor=operator)

    assert_invariants(credit, invoice)
    assert [i.applied_amount for i in credit_items(credit)] == decimals("0", "0")
    assert balances(invoice) == decimals("40", "40")


def test_unapplied_credit_can_be_applied_again(acct, operator):
    credit = credit_on(acct, "100")
    first, second = invoice_on(acct, "100"), invoice_on(acct, "100")
    [application] = apply(credit, to_invoice(first, "100"), actor=operator)
    unapply_credit_memo(application=application, effective_date=ON, actor=operator, amount=D("30"))
    assert_invariants(credit, first)

    apply(credit, to_invoice(second, "30"), actor=operator)

    assert_invariants(credit, first, second)
    assert fresh(credit).unapplied_amount == 0
    assert (fresh(first).balance, fresh(second).balance) == (D("30"), D("70"))


def test_unapply_from_a_debit_memo(acct, operator):
    credit = credit_on(acct, "100")
    debit = debit_on(acct, "20", "40")
    [application] = apply(credit, to_debit(debit, "60"), actor=operator)
    assert fresh(debit).balance == 0

    unapply_credit_memo(application=application, effective_date=ON, actor=operator, amount=D("15"))

    assert_invariants(credit, debit)
    assert fresh(debit).balance == D("15")
    assert balances(debit) == decimals("5", "10")
    [event] = events(debit, Kind.UNAPPLIED)
    assert event.message == f"{credit.number} unapplied USD 15.00"
    [on_credit] = events(credit, Kind.UNAPPLIED)
    assert on_credit.after == {"target": debit.number, "amount": "15.00"}


@pytest.mark.parametrize(
    ("amount", "message"),
    [
        ("60.01", "Enter an amount from 0.01 to 60.00."),
        ("0", "Enter an amount from 0.01 to 60.00."),
        ("-1", "Enter an amount from 0.01 to 60.00."),
    ],
)
def test_unapply_more_than_remains_or_nothing_is_refused(amount, message, acct, operator):
    credit = credit_on(acct, "100")
    invoice = invoice_on(acct, "60")
    [application] = apply(credit, to_invoice(invoice, "60"), actor=operator)
    with refused() as info:
        unapply_credit_memo(
            application=application, effective_date=ON, actor=operator, amount=D(amount)
        )
    assert one_error(info, "amount") == message


def test_unapply_more_than_remains_after_a_partial_unapply_is_refused(acct, operator):
    credit = credit_on(acct, "100")
    invoice = invoice_on(acct, "60")
    [application] = apply(credit, to_invoice(invoice, "60"), actor=operator)
    unapply_credit_memo(application=application, effective_date=ON, actor=operator, amount=D("45"))
    assert_invariants(credit, invoice)
    with refused() as info:
        unapply_credit_memo(
            application=application, effective_date=ON, actor=operator, amount=D("15.01")
        )
    assert one_error(info, "amount") == "Enter an amount from 0.01 to 15.00."


def test_unapply_with_too_many_decimals_is_refused(operator):
    acct = account("JPY")
    credit = credit_on(acct, "100")
    [application] = apply(credit, to_invoice(invoice_on(acct, "60"), "60"), actor=operator)
    with refused() as info:
        unapply_credit_memo(
            application=application, effective_date=ON, actor=operator, amount=D("1.5")
        )
    assert "too many decimals" in one_error(info)


def test_unapply_before_the_application_is_refused(acct, operator):
    credit = credit_on(acct, "100")
    [application] = apply(credit, to_invoice(invoice_on(acct, "60"), "60"), actor=operator)
    with refused() as info:
        unapply_credit_memo(
            application=application, effective_date=ON - dt.timedelta(days=1), actor=operator
        )
    assert one_error(info, "effective_date") == (
        "The effective date cannot be before 2025-03-25, the date of the application it undoes."
    )
    # On the application's own date it is fine.
    unapply_credit_memo(application=application, effective_date=ON, actor=operator, amount=D("1"))
    assert_invariants(credit)


def test_unapply_before_an_earlier_unapply_of_it_is_refused(acct, operator):
    credit = credit_on(acct, "100")
    [application] = apply(credit, to_invoice(invoice_on(acct, "60"), "60"), actor=operator)
    later = ON + dt.timedelta(days=10)
    unapply_credit_memo(
        application=application, effective_date=later, actor=operator, amount=D("1")
    )
    assert_invariants(credit)
    with refused():
        unapply_credit_memo(
            application=application, effective_date=later - dt.timedelta(days=1), actor=operator
        )


def test_an_unapplication_cannot_be_unapplied(acct, operator):
    credit = credit_on(acct, "100")
    [application] = apply(credit, to_invoice(invoice_on(acct, "60"), "60"), actor=operator)
    undo = unapply_credit_memo(
        application=application, effective_date=ON, actor=operator, amount=D("10")
    )
    assert_invariants(credit)
    with refused() as info:
        unapply_credit_memo(application=undo, effective_date=ON, actor=operator)
    assert one_error(info) == "Only an application can be unapplied."


def test_a_stale_application_object_cannot_unapply_twice(acct, operator):
    """Two operators on the same page: what remains is read from the database under the lock."""
    credit = credit_on(acct, "100")
    [application] = apply(credit, to_invoice(invoice_on(acct, "60"), "60"), actor=operator)
    copy = MemoApplication.objects.get(pk=application.pk)
    unapply_credit_memo(application=application, effective_date=ON, actor=operator)
    assert_invariants(credit)
    with refused():
        unapply_credit_memo(application=copy, effective_date=ON, actor=operator)


# --- refund --------------------------------------------------------------------------------------


def test_refund_part_of_the_unapplied_amount(acct, operator):
    credit = credit_on(acct, "30", "70")
    last = NumberSeries.objects.get(key=NumberSeries.Key.REFUND).last_number

    made = refund(credit, "40", actor=operator, comment="Closing the account")

    assert_invariants(credit)
    made.refresh_from_db()
    assert re.fullmatch(r"RF\d{8}", made.number)
    assert made.number == f"RF{last + 1:08d}"
    assert made.credit_memo_id == credit.pk
    assert made.amount == D("40")
    assert made.method == RefundMethod.CHECK
    assert made.refund_date == ON
    assert made.reason_code.name == "Standard Refund"
    assert made.reason_code.code_type == ReasonCodeType.REFUND
    assert made.comment == "Closing the account"
    assert made.created_by == operator
    credit = fresh(credit)
    assert credit.refund_amount == D("40")
    assert credit.unapplied_amount == D("60")
    assert credit.applied_amount == 0
    # Refunded from the credit memo's items first in, first out.
    assert [i.refund_amount for i in credit_items(credit)] == decimals("30", "10")
    assert [i.unapplied_amount for i in credit_items(credit)] == decimals("0", "60")
    [event] = events(credit, Kind.REFUNDED)
    assert event.message == f"Refunded USD 40.00 by Check ({made.number})"
    assert event.after == {"refund": made.number, "amount": "40.00", "method": "Check"}
    assert event.actor == operator


def test_refunds_are_numbered_consecutively(acct, operator):
    credit = credit_on(acct, "100")
    first = refund(credit, "10", actor=operator)
    second = refund(credit, "10", actor=operator)
    assert_invariants(credit)
    assert int(second.number[2:]) == int(first.number[2:]) + 1


def test_refund_what_is_left_after_an_application(acct, operator):
    credit = credit_on(acct, "30", "70")
    apply(credit, to_invoice(invoice_on(acct, "50"), "50"), actor=operator)
    assert_invariants(credit)

    refund(credit, "50", actor=operator)

    assert_invariants(credit)
    credit = fresh(credit)
    assert (credit.applied_amount, credit.refund_amount, credit.unapplied_amount) == (
        D("50"),
        D("50"),
        0,
    )
    assert [i.refund_amount for i in credit_items(credit)] == decimals("0", "50")
    with refused() as info:
        refund(credit, "0.01", actor=operator)
    assert one_error(info, "amount") == "At most USD 0.00 (the unapplied amount) can be refunded."
    # Nor can anything more be applied.
    invoice = invoice_on(acct, "50")
    with refused():
        apply(credit, to_invoice(invoice, "0.01"), actor=operator)


@pytest.mark.parametrize(
    ("amount", "message"),
    [
        ("100.01", "At most USD 100.00 (the unapplied amount) can be refunded."),
        ("0", "Enter an amount greater than zero."),
        ("-5", "Enter an amount greater than zero."),
        (
            "1.234",
            "Amount 1.234 has too many decimals: USD amounts allow at most 2 decimal places.",
        ),
    ],
)
def test_refund_amounts_out_of_range_are_refused(amount, message, acct, operator):
    credit = credit_on(acct, "100")
    with refused() as info:
        refund(credit, amount, actor=operator)
    assert one_error(info, "amount") == message


def test_a_refund_date_before_the_memo_date_is_refused(acct, operator):
    credit = credit_on(acct, "100")
    with refused() as info:
        refund(credit, "10", on=MEMO_DATE - dt.timedelta(days=1), actor=operator)
    assert one_error(info, "refund_date") == (
        "The refund date cannot be before the memo date 2025-03-20."
    )
    refund(credit, "10", on=MEMO_DATE, actor=operator)
    assert_invariants(credit)


def test_a_refund_date_in_a_closed_period_is_refused(acct, operator):
    credit = credit_on(acct, "100")
    close_period(dt.date(2025, 4, 1), dt.date(2025, 4, 30))
    with refused() as info:
        refund(credit, "10", on=dt.date(2025, 4, 10), actor=operator)
    assert one_error(info, "refund_date").startswith("Refund date 2025-04-10 is in the closed")
    refund(credit, "10", on=dt.date(2025, 5, 1), actor=operator)
    assert_invariants(credit)


@pytest.mark.parametrize("method", RefundMethod.values)
def test_every_refund_method_is_accepted(method, acct, operator):
    credit = credit_on(acct, "100")
    made = refund(credit, "1", method=method, actor=operator)
    assert_invariants(credit)
    assert made.method == method


def test_the_refund_methods_are_the_domains():
    assert RefundMethod.labels == [
        "ACH",
        "Cash",
        "Check",
        "Credit Card",
        "PayPal",
        "Wire Transfer",
        "Debit Card",
        "Bank Transfer",
        "Other",
    ]


@pytest.mark.parametrize("method", ["bitcoin", "Check", "", None])
def test_an_unknown_refund_method_is_refused(method, acct, operator):
    credit = credit_on(acct, "100")
    with refused() as info:
        refund(credit, "10", method=method, actor=operator)
    assert one_error(info, "method") == "Choose a refund method."


@pytest.mark.parametrize("name", ["Account Closure", "Customer Request", "Other"])
def test_a_chosen_refund_reason_code_is_kept(name, acct, operator):
    credit = credit_on(acct, "100")
    made = refund(credit, "10", reason_code=reason(ReasonCodeType.REFUND, name), actor=operator)
    assert_invariants(credit)
    assert made.reason_code.name == name


@pytest.mark.parametrize(
    ("code_type", "name", "label"),
    [
        (ReasonCodeType.CREDIT_MEMO, "Ad hoc Credit", "Credit memo refund"),
        (ReasonCodeType.DEBIT_MEMO, "Ad hoc Debit", "Credit memo refund"),
        (ReasonCodeType.CREDIT_MEMO, "Write-off", "Credit memo refund"),
    ],
)
def test_memo_reason_codes_are_refused_for_a_refund(code_type, name, label, acct, operator):
    credit = credit_on(acct, "100")
    with refused() as info:
        refund(credit, "10", reason_code=reason(code_type, name), actor=operator)
    assert one_error(info, "reason_code") == f"{name} is not a {label} reason code."


def test_a_deactivated_refund_reason_code_is_refused(acct, operator):
    credit = credit_on(acct, "100")
    code = reason(ReasonCodeType.REFUND, "Other")
    code.active = False
    code.save()
    with refused() as info:
        refund(credit, "10", reason_code=code, actor=operator)
    assert one_error(info, "reason_code") == "The reason code Other is deactivated."


def test_every_refund_error_is_reported_at_once(acct, operator):
    credit = credit_on(acct, "100")
    with refused() as info:
        refund(
            credit,
            "500",
            method="bitcoin",
            on=MEMO_DATE - dt.timedelta(days=1),
            reason_code=reason(ReasonCodeType.CREDIT_MEMO, "Ad hoc Credit"),
            actor=operator,
        )
    assert set(info.value.message_dict) == {"amount", "method", "refund_date", "reason_code"}


@pytest.mark.parametrize("status", [MemoStatus.DRAFT, MemoStatus.CANCELED])
def test_only_a_posted_credit_memo_is_refunded(status, acct, operator):
    credit = credit_on(acct, "100", post=False)
    if status == MemoStatus.CANCELED:
        cancel_memo(memo=credit, actor=None)
    with refused() as info:
        refund(credit, "10", actor=operator)
    assert "only posted credit memos can be settled" in one_error(info)


def test_a_debit_memo_is_not_refunded(acct, operator):
    debit = debit_on(acct, "100")
    with refused() as info:
        refund(debit, "10", actor=operator)
    assert "is a debit memo" in one_error(info)


# --- reverse and write off -----------------------------------------------------------------------

MIRRORED_FIELDS = (
    "sort_order",
    "charge_id",
    "charge_name",
    "description",
    "service_start",
    "service_end",
    "quantity",
    "unit_of_measure",
    "unit_price",
    "amount_excl_tax",
    "tax_code_id",
    "tax_mode",
    "tax_amount",
    "amount",
)


def _mirror_checks(credit: Memo, debit: Memo, reason_name: str) -> None:
    debit = fresh(debit)
    credit = fresh(credit)
    assert re.fullmatch(r"DM\d{8}", debit.number)
    assert debit.memo_type == DEBIT
    assert debit.status == MemoStatus.POSTED
    assert debit.posted_at is not None
    assert debit.source == MemoSource.REVERSAL
    assert debit.reversed_memo_id == credit.pk
    assert debit.reason_code == reason(ReasonCodeType.DEBIT_MEMO, reason_name)
    assert debit.memo_date >= credit.memo_date
    assert (debit.account_id, debit.currency_id) == (credit.account_id, credit.currency_id)
    assert (debit.amount_excl_tax, debit.tax_amount, debit.amount) == (
        credit.amount_excl_tax,
        credit.tax_amount,
        credit.amount,
    )
    assert debit.balance == 0
    assert [{f: getattr(i, f) for f in MIRRORED_FIELDS} for i in credit_items(debit)] == [
        {f: getattr(i, f) for f in MIRRORED_FIELDS} for i in credit_items(credit)
    ]
    assert balances(debit) == [ZERO] * len(credit_items(credit))
    # The credit memo is applied to it in full and stays Posted.
    assert credit.status == MemoStatus.POSTED
    assert credit.applied_amount == credit.amount
    assert credit.unapplied_amount == 0
    assert credit.refund_amount == 0
    [application] = MemoApplication.objects.filter(credit_memo=credit)
    assert (application.kind, application.debit_memo_id, application.amount) == (
        APPLY,
        debit.pk,
        credit.amount,
    )
    assert application.effective_date == debit.memo_date
    assert [i.applied_amount for i in credit_items(credit)] == [
        i.amount for i in credit_items(credit)
    ]
    [created] = events(debit, Kind.CREATED)
    assert created.after["status"] == "Posted"
    assert D(created.after["amount"]) == debit.amount
    assert len(events(debit, Kind.APPLIED)) == 1
    assert len(events(credit, Kind.APPLIED)) == 1


def test_reverse_a_credit_memo(acct, billing_admin):
    credit = credit_on(acct, "100", "50", taxable=True)
    assert fresh(credit).amount == D("165")

    debit = reverse_credit_memo(credit_memo=credit, actor=billing_admin)

    assert_invariants(credit, debit)
    _mirror_checks(credit, debit, "Credit memo reversal")
    assert fresh(credit).reversed is True
    debit = fresh(debit)
    # Today, since the credit memo's date is in the past.
    assert debit.memo_date == max(timezone.localdate(), MEMO_DATE)
    assert debit.created_by == billing_admin
    [event] = events(credit, Kind.REVERSED)
    assert event.message == f"Reversed by {debit.number}"
    assert event.after == {"debit_memo": debit.number, "reversed": True}
    assert event.actor == billing_admin
    assert not events(credit, Kind.WRITTEN_OFF)


def test_write_off_a_credit_memo(acct, billing_admin):
    credit = credit_on(acct, "100", "50", taxable=True)

    debit = write_off_credit_memo(credit_memo=credit, actor=billing_admin)

    assert_invariants(credit, debit)
    _mirror_checks(credit, debit, "Write-off")
    assert fresh(credit).reversed is False
    [event] = events(credit, Kind.WRITTEN_OFF)
    assert event.message == f"Written off by {debit.number}"
    assert event.after == {"debit_memo": debit.number, "reversed": False}
    assert not events(credit, Kind.REVERSED)


@pytest.mark.parametrize("service", [reverse_credit_memo, write_off_credit_memo])
@pytest.mark.parametrize("code", ["JPY", "KWD"])
def test_reverse_and_write_off_in_other_currencies(service, code, billing_admin):
    acct = account(code)
    amounts = ("1000", "333") if code == "JPY" else ("1.250", "0.333")
    credit = credit_on(acct, *amounts)
    debit = service(credit_memo=credit, actor=billing_admin)
    assert_invariants(credit, debit)
    assert fresh(debit).currency_id == code
    assert balances(debit) == [ZERO, ZERO]


@pytest.mark.parametrize("service", [reverse_credit_memo, write_off_credit_memo])
def test_an_explicit_memo_date_is_used(service, acct, billing_admin):
    credit = credit_on(acct, "100")
    debit = service(credit_memo=credit, actor=billing_admin, memo_date=MEMO_DATE)
    assert_invariants(credit, debit)
    assert fresh(debit).memo_date == MEMO_DATE


@pytest.mark.parametrize("service", [reverse_credit_memo, write_off_credit_memo])
def test_a_memo_date_before_the_credit_memos_is_refused(service, acct, billing_admin):
    credit = credit_on(acct, "100")
    with refused() as info:
        service(credit_memo=credit, actor=billing_admin, memo_date=MEMO_DATE - dt.timedelta(1))
    assert one_error(info, "memo_date") == "The debit memo's date cannot be before 2025-03-20."


@pytest.mark.parametrize("service", [reverse_credit_memo, write_off_credit_memo])
def test_a_memo_date_in_a_closed_period_is_refused(service, acct, billing_admin):
    credit = credit_on(acct, "100")
    close_period(dt.date(2025, 4, 1), dt.date(2025, 4, 30))
    with refused() as info:
        service(credit_memo=credit, actor=billing_admin, memo_date=dt.date(2025, 4, 2))
    assert "closed accounting period" in one_error(info)


@pytest.mark.parametrize("first", [reverse_credit_memo, write_off_credit_memo])
@pytest.mark.parametrize("second", [reverse_credit_memo, write_off_credit_memo])
def test_a_credit_memo_is_reversed_or_written_off_once(first, second, acct, billing_admin):
    credit = credit_on(acct, "100")
    first(credit_memo=credit, actor=billing_admin)
    assert_invariants(credit)
    with refused() as info:
        second(credit_memo=credit, actor=billing_admin)
    assert one_error(info) == f"{credit.number} has already been reversed or written off."


def _partly_applied(acct, credit):
    apply(credit, to_invoice(invoice_on(acct, "10"), "10"))


def _partly_refunded(acct, credit):
    refund(credit, "10")


@pytest.mark.parametrize("settle", [_partly_applied, _partly_refunded])
@pytest.mark.parametrize(
    ("service", "verb"),
    [(reverse_credit_memo, "reversed"), (write_off_credit_memo, "written off")],
)
def test_a_settled_credit_memo_cannot_be_reversed_or_written_off(
    settle, service, verb, acct, billing_admin
):
    credit = credit_on(acct, "100")
    settle(acct, credit)
    assert_invariants(credit)
    with refused() as info:
        service(credit_memo=credit, actor=billing_admin)
    assert one_error(info) == (
        f"{credit.number} has been applied or refunded: "
        f"only a fully unapplied credit memo can be {verb}."
    )


@pytest.mark.parametrize("service", [reverse_credit_memo, write_off_credit_memo])
def test_an_application_undone_in_full_no_longer_blocks_a_reversal(service, acct, billing_admin):
    credit = credit_on(acct, "100")
    [application] = apply(credit, to_invoice(invoice_on(acct, "10"), "10"))
    unapply_credit_memo(application=application, effective_date=ON, actor=None)
    assert_invariants(credit)
    debit = service(credit_memo=credit, actor=billing_admin)
    assert_invariants(credit, debit)
    assert fresh(credit).unapplied_amount == 0


@pytest.mark.parametrize("service", [reverse_credit_memo, write_off_credit_memo])
@pytest.mark.parametrize("status", [MemoStatus.DRAFT, MemoStatus.CANCELED])
def test_only_a_posted_credit_memo_is_reversed_or_written_off(service, status, acct, billing_admin):
    credit = credit_on(acct, "100", post=False)
    if status == MemoStatus.CANCELED:
        cancel_memo(memo=credit, actor=None)
    with refused() as info:
        service(credit_memo=credit, actor=billing_admin)
    assert "only posted credit memos can be settled" in one_error(info)


@pytest.mark.parametrize("service", [reverse_credit_memo, write_off_credit_memo])
def test_a_debit_memo_is_not_reversed_or_written_off(service, acct, billing_admin):
    debit = debit_on(acct, "100")
    with refused() as info:
        service(credit_memo=debit, actor=billing_admin)
    assert "is a debit memo" in one_error(info)


# --- auto-apply upon posting ---------------------------------------------------------------------


def test_auto_apply_applies_the_whole_memo_when_the_balance_is_larger(operator):
    invoice = posted_invoice("100", "50", taxable=True)  # 110.00 + 55.00
    first = items_of(invoice)[0]
    credit = from_invoice(invoice, [row(first, "40")], apply_to_invoice_on_post=True)
    assert credit.apply_to_invoice_on_post is True
    assert_invariants(credit, invoice)

    post_memo(memo=credit, actor=operator)

    assert_invariants(credit, invoice)
    credit = fresh(credit)
    assert credit.status == MemoStatus.POSTED
    assert credit.amount == D("44")
    assert (credit.applied_amount, credit.unapplied_amount) == (D("44"), 0)
    invoice = fresh(invoice)
    assert invoice.balance == D("165") - D("44")
    [application] = MemoApplication.objects.filter(credit_memo=credit)
    assert (application.kind, application.invoice_id, application.amount) == (
        APPLY,
        invoice.pk,
        D("44"),
    )
    assert application.effective_date == credit.memo_date
    assert application.created_by == operator
    [event] = events(credit, Kind.APPLIED)
    assert event.message == f"Applied USD 44.00 to {invoice.number}"
    assert [e.kind for e in MemoEvent.objects.filter(memo=credit).order_by("id")] == [
        Kind.CREATED,
        Kind.POSTED,
        Kind.APPLIED,
    ]


def test_auto_apply_applies_only_the_balance_when_the_memo_is_larger(acct, operator):
    invoice = posted_invoice("100", on_account=acct, taxable=True)  # 110.00
    other = credit_on(acct, "88")
    apply(other, to_invoice(invoice, "88"), actor=operator)
    assert_invariants(other, invoice)
    assert fresh(invoice).balance == D("22")
    # Available to credit only counts credit memos made from the invoice: the whole 110.00.
    credit = from_invoice(invoice, apply_to_invoice_on_post=True)
    assert credit.amount == D("110")

    post_memo(memo=credit, actor=operator)

    assert_invariants(credit, other, invoice)
    credit = fresh(credit)
    assert credit.status == MemoStatus.POSTED
    assert (credit.applied_amount, credit.unapplied_amount) == (D("22"), D("88"))
    assert fresh(invoice).balance == 0
    assert balances(invoice) == [ZERO]
    [application] = MemoApplication.objects.filter(credit_memo=credit)
    assert application.amount == D("22")


def test_auto_apply_with_nothing_left_on_the_invoice_just_posts(acct, operator):
    invoice = posted_invoice("100", on_account=acct, taxable=False)
    apply(credit_on(acct, "100"), to_invoice(invoice, "100"), actor=operator)
    credit = from_invoice(invoice, apply_to_invoice_on_post=True)

    post_memo(memo=credit, actor=operator)

    assert_invariants(credit, invoice)
    credit = fresh(credit)
    assert credit.status == MemoStatus.POSTED
    assert credit.unapplied_amount == D("100")
    assert not MemoApplication.objects.filter(credit_memo=credit).exists()


def test_without_the_flag_posting_applies_nothing(operator):
    invoice = posted_invoice("100")
    credit = from_invoice(invoice, apply_to_invoice_on_post=False)
    post_memo(memo=credit, actor=operator)
    assert_invariants(credit, invoice)
    assert fresh(credit).unapplied_amount == D("110")
    assert fresh(invoice).balance == D("110")
    assert not events(credit, Kind.APPLIED)


def test_a_debit_memo_from_an_invoice_is_never_auto_applied(operator):
    invoice = posted_invoice("100")
    debit = from_invoice(invoice, memo_type=DEBIT, apply_to_invoice_on_post=True)
    assert debit.apply_to_invoice_on_post is False
    post_memo(memo=debit, actor=operator)
    assert_invariants(debit, invoice)
    assert fresh(debit).balance == D("110")
    assert fresh(invoice).balance == D("110")


def test_auto_apply_is_in_the_posting_transaction(monkeypatch, operator):
    """If the application fails after writing, the post is rolled back with it."""
    from memos.services import settlement

    invoice = posted_invoice("100")
    credit = from_invoice(invoice, apply_to_invoice_on_post=True)
    real = settlement.apply_locked

    def apply_then_fail(*args, **kwargs):
        real(*args, **kwargs)
        assert MemoApplication.objects.filter(credit_memo=credit).exists()
        raise ValidationError("The ledger went away.")

    monkeypatch.setattr(settlement, "apply_locked", apply_then_fail)
    with refused() as info:
        post_memo(memo=credit, actor=operator)
    assert one_error(info) == "The ledger went away."
    assert fresh(credit).status == MemoStatus.DRAFT
    assert fresh(invoice).balance == D("110")


def test_auto_applied_credit_can_be_unapplied(operator):
    invoice = posted_invoice("100")
    credit = from_invoice(invoice, apply_to_invoice_on_post=True)
    post_memo(memo=credit, actor=operator)
    [application] = MemoApplication.objects.filter(credit_memo=credit)
    unapply_credit_memo(application=application, effective_date=MEMO_DATE, actor=operator)
    assert_invariants(credit, invoice)
    assert fresh(invoice).balance == D("110")
    assert fresh(credit).unapplied_amount == D("110")


# --- a longer story: every operation keeps the invariants ----------------------------------------


def test_a_sequence_of_operations_keeps_every_invariant(operator, billing_admin):
    acct = account("KWD")
    credit = credit_on(acct, "1.000", "2.500", "0.335")
    invoices = [invoice_on(acct, "0.100", "0.200", "0.300"), invoice_on(acct, "1.111")]
    debit = debit_on(acct, "0.777", "0.223")
    docs = (credit, debit, *invoices)
    assert_invariants(*docs)

    applications = apply(
        credit, to_invoice(invoices[0], "0.599"), to_debit(debit, "0.5"), actor=operator
    )
    assert_invariants(*docs)
    set_rule(ApplicationRule.FIFO)
    applications += apply(credit, to_invoice(invoices[1], "1.000"), actor=operator)
    assert_invariants(*docs)
    refund(credit, "0.333", actor=operator)
    assert_invariants(*docs)
    unapply_credit_memo(
        application=applications[0], effective_date=ON, actor=operator, amount=D("0.301")
    )
    assert_invariants(*docs)
    unapply_credit_memo(application=applications[1], effective_date=ON, actor=operator)
    assert_invariants(*docs)
    set_rule(ApplicationRule.PRORATION)
    apply(credit, to_debit(debit, "1.000"), to_invoice(invoices[0], "0.302"), actor=operator)
    assert_invariants(*docs)
    credit = fresh(credit)
    assert credit.applied_amount == D("0.599") - D("0.301") + D("1.000") + D("1.302")
    assert credit.unapplied_amount == D("3.835") - credit.applied_amount - D("0.333")
    assert fresh(debit).balance == 0
    assert fresh(invoices[0]).balance == 0
    assert fresh(invoices[1]).balance == D("0.111")
    other = credit_on(acct, "0.050")
    write_off_credit_memo(credit_memo=other, actor=billing_admin)
    assert_invariants(*docs, other)


# --- PostgreSQL: concurrent operators ------------------------------------------------------------

THREADS = 20


def run_at_once(calls: list[Callable[[], object]], *, timeout: float = 60) -> list[object]:
    """Run the calls in threads released together; return each one's result or ValidationError.
    Anything else a thread raises (a deadlock, an IntegrityError) fails the test."""
    barrier = threading.Barrier(len(calls))
    outcomes: list[object] = []
    crashes: list[BaseException] = []
    lock = threading.Lock()

    def run(call):
        try:
            barrier.wait(timeout=30)
            try:
                outcome = call()
            except ValidationError as exc:
                outcome = exc
            with lock:
                outcomes.append(outcome)
        except BaseException as exc:  # reported by the main thread
            with lock:
                crashes.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(call,), daemon=True) for call in calls]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=timeout)
    assert not any(thread.is_alive() for thread in threads), "a thread hung: deadlock?"
    assert not crashes, crashes
    assert len(outcomes) == len(calls)
    return outcomes


def succeeded(outcomes) -> list:
    return [o for o in outcomes if not isinstance(o, ValidationError)]


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_applications_to_different_invoices_never_overdraw_the_credit():
    acct = account("USD")
    credit = credit_on(acct, "100.00")
    invoices = [invoice_on(acct, "10.00") for _ in range(THREADS)]
    assert_invariants(credit, *invoices)

    outcomes = run_at_once(
        [
            lambda invoice=invoice: apply(credit, to_invoice(invoice, "10.00"))
            for invoice in invoices
        ]
    )

    assert len(succeeded(outcomes)) == 10
    for failure in outcomes:
        if isinstance(failure, ValidationError):
            assert "more than the unapplied amount" in failure.messages[0]
    assert_invariants(credit, *invoices)
    credit = fresh(credit)
    assert credit.applied_amount == D("100.00")
    assert credit.unapplied_amount == 0
    assert MemoApplication.objects.filter(credit_memo=credit).count() == 10
    assert sorted(fresh(i).balance for i in invoices) == [ZERO] * 10 + [D("10")] * 10
    assert len(events(credit, Kind.APPLIED)) == 10


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_applications_to_one_invoice_never_overdraw_its_balance():
    acct = account("USD")
    credit = credit_on(acct, "100.00")
    invoice = invoice_on(acct, "20.00", "30.00")

    outcomes = run_at_once([lambda: apply(credit, to_invoice(invoice, "10.00"))] * THREADS)

    assert len(succeeded(outcomes)) == 5
    assert_invariants(credit, invoice)
    invoice = fresh(invoice)
    assert invoice.balance == 0
    assert balances(invoice) == [ZERO, ZERO]
    credit = fresh(credit)
    assert credit.applied_amount == D("50.00")
    assert credit.unapplied_amount == D("50.00")
    applied = sum(
        MemoApplication.objects.filter(invoice=invoice).values_list("amount", flat=True), ZERO
    )
    assert applied == D("50.00")


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_applies_refunds_and_unapplies_keep_the_invariants():
    acct = account("USD")
    credit = credit_on(acct, "100.00")
    invoice = invoice_on(acct, "50.00")
    debit = debit_on(acct, "50.00")
    [held] = apply(credit, to_invoice(invoice, "30.00"))
    others = [invoice_on(acct, "10.00") for _ in range(5)]
    assert_invariants(credit, invoice, debit, *others)

    calls = []
    for index in range(THREADS):
        match index % 4:
            case 0:
                calls.append(lambda: refund(credit, "10.00"))
            case 1:
                calls.append(lambda: apply(credit, to_debit(debit, "10.00")))
            case 2:
                calls.append(
                    lambda: unapply_credit_memo(
                        application=held, effective_date=ON, actor=None, amount=D("10.00")
                    )
                )
            case _:
                calls.append(lambda n=index: apply(credit, to_invoice(others[n % 5], "10.00")))
    run_at_once(calls)

    assert_invariants(credit, invoice, debit, *others)
    credit = fresh(credit)
    # At most the 30.00 held comes back, three unapplies of 10.00 at most.
    assert remaining_on(held) >= 0
    assert credit.applied_amount + credit.refund_amount <= credit.amount


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_targets_listed_in_opposite_orders_do_not_deadlock():
    """Locks are taken in one order (memos, then invoices, by id), whatever the order the
    targets are listed in: half the operators list them one way, half the other way."""
    acct = account("USD")
    first, second = invoice_on(acct, "100.00"), invoice_on(acct, "100.00")
    debits = [debit_on(acct, "100.00"), debit_on(acct, "100.00")]
    # Newer than the debit memos: each operator's own credit memo is locked after them.
    credits = [credit_on(acct, "4.00") for _ in range(THREADS)]

    def call(index: int):
        targets = [
            to_invoice(first, "1.00"),
            to_debit(debits[0], "1.00"),
            to_invoice(second, "1.00"),
            to_debit(debits[1], "1.00"),
        ]
        if index % 2:
            targets.reverse()
        return lambda: apply(credits[index], *targets)

    outcomes = run_at_once([call(i) for i in range(THREADS)])

    assert len(succeeded(outcomes)) == THREADS
    assert_invariants(first, second, *debits, *credits)
    for doc in (first, second, *debits):
        assert fresh(doc).balance == D("80.00")
    assert sum(fresh(c).unapplied_amount for c in credits) == 0


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_reversals_of_one_credit_memo_make_one_debit_memo():
    acct = account("USD")
    credit = credit_on(acct, "100.00")

    outcomes = run_at_once(
        [
            lambda n=n: (reverse_credit_memo if n % 2 else write_off_credit_memo)(
                credit_memo=credit, actor=None
            )
            for n in range(10)
        ]
    )

    assert len(succeeded(outcomes)) == 1
    assert Memo.objects.filter(reversed_memo=credit).count() == 1
    assert_invariants(credit)
    assert fresh(credit).unapplied_amount == 0


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_auto_apply_on_posting_never_overdraws_the_invoice():
    invoice = posted_invoice("100.00", taxable=False)
    credits = [
        from_invoice(invoice, [row(items_of(invoice)[0], "30")], apply_to_invoice_on_post=True)
        for _ in range(3)
    ]
    other = credit_on(invoice.account, "50.00")
    apply(other, to_invoice(invoice, "50.00"))

    outcomes = run_at_once([lambda c=c: post_memo(memo=c, actor=None) for c in credits])

    # Three drafts of 30.00 each fit the 100.00 available to credit: all three post.
    assert len(succeeded(outcomes)) == 3
    assert_invariants(invoice, other, *credits)
    assert fresh(invoice).balance == 0
    assert sorted(fresh(c).applied_amount for c in credits) == decimals("0", "20", "30")


def test_the_reversal_application_cannot_be_unapplied(acct, billing_admin):
    """Unapplying it would give the credit back while the memo still says Reversed."""
    credit = credit_on(acct, "100")
    debit = reverse_credit_memo(credit_memo=credit, actor=billing_admin)
    application = credit.applications.get(debit_memo=debit)
    with refused():
        unapply_credit_memo(
            application=application, effective_date=fresh(debit).memo_date, actor=billing_admin
        )


def test_unapplying_cents_after_whole_amounts_is_exact_on_every_database():
    """Found by the stateful suite on SQLite (binary floats): an item applied 10.01, then 10.00
    unapplied, held 0.00999999999999979; unapplying the last 0.01 went below zero and the
    database refused it (a 500). Amounts moved in place are rounded to the stored places."""
    acct = account()
    credit = credit_on(acct, "80")
    first, second = invoice_on(acct, "50"), invoice_on(acct, "50")
    cents, whole = apply(credit, to_invoice(first, "10.01"), to_invoice(second, "10.00"))
    unapply_credit_memo(application=whole, effective_date=ON, actor=None)
    unapply_credit_memo(application=cents, effective_date=ON, actor=None)
    credit = fresh(credit)
    assert (credit.applied_amount, credit.unapplied_amount) == (D(0), D(80))
    assert MemoItem.objects.filter(memo=credit, applied_amount=0).count() == 1
    assert_invariants(credit, first, second)
