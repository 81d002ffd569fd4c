"""Recording, applying, unapplying and canceling payments (DOMAIN.md 6) through the services,
with the invariants (tests/reliability/invariants.py, extended to payments) after each."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from billing.factories import AccountingPeriodFactory
from billing.models import PeriodStatus
from billing.selectors import account_balance
from memos.models import MemoEvent
from payments.models import (
    Payment,
    PaymentApplication,
    PaymentEvent,
    PaymentMethod,
    PaymentStatus,
    PaymentType,
)
from payments.services.methods import add_payment_method
from payments.services.settlement import (
    ApplicationTarget,
    apply_payment,
    cancel_payment,
    record_payment,
    unapply_payment,
)
from tests.payments.helpers import DAY, D, account, debit_memo, invoice
from tests.reliability.invariants import assert_invariants, read_state

pytestmark = pytest.mark.django_db


def test_a_recorded_payment_is_numbered_processed_and_lowers_the_balance():
    acct = account()
    inv = invoice(acct, ["100.00"])
    assert account_balance(acct) == D("100.00")
    payment = record_payment(
        account=acct, amount="30.00", payment_date=DAY, method=PaymentType.CHECK, actor=None,
        reference="Check 1001",
    )  # fmt: skip
    assert payment.number == "P-00000001"
    assert payment.status == PaymentStatus.PROCESSED
    assert payment.unapplied_amount == D("30.00")
    assert account_balance(acct) == D("70.00")
    inv.refresh_from_db()
    assert inv.balance == D("100.00")
    assert payment.events.get().kind == PaymentEvent.Kind.CREATED
    assert_invariants()


def test_record_and_apply_at_once_splits_over_items_by_the_rule():
    acct = account()
    inv = invoice(acct, ["60.00", "40.00"])
    dm = debit_memo(acct, ["25.00"])
    payment = record_payment(
        account=acct,
        amount="120.00",
        payment_date=DAY,
        method=PaymentType.WIRE_TRANSFER,
        actor=None,
        targets=[
            ApplicationTarget(invoice=inv, amount=D("50.00")),
            ApplicationTarget(debit_memo=dm, amount=D("25.00")),
        ],
    )
    inv.refresh_from_db()
    dm.refresh_from_db()
    assert (payment.applied_amount, payment.unapplied_amount) == (D("75.00"), D("45.00"))
    assert inv.balance == D("50.00")
    assert sorted(i.balance for i in inv.items.all()) == [D("20.00"), D("30.00")]  # prorated
    assert dm.balance == D("0.00")
    assert dm.events.filter(kind=MemoEvent.Kind.APPLIED, message__contains=payment.number)
    # 100 + 25 owed, 75 paid on them, 45 unapplied: 125 - 75 - 45.
    assert account_balance(acct) == D("5.00")
    assert_invariants()


def test_bad_input_changes_nothing():
    acct = account()
    other = account()
    inv = invoice(other, ["10.00"])
    AccountingPeriodFactory(
        start_date=DAY, end_date=DAY.replace(day=28), status=PeriodStatus.CLOSED
    )
    before = read_state().fingerprint()
    with pytest.raises(ValidationError) as refused:
        record_payment(account=acct, amount="1.001", payment_date=DAY, method="cash", actor=None)
    assert set(refused.value.message_dict) == {"amount", "payment_date"}
    with pytest.raises(ValidationError) as refused:
        record_payment(
            account=acct, amount="10", payment_date=DAY.replace(day=29), method="electronic",
            actor=None,
        )  # fmt: skip
    assert "method" in refused.value.message_dict
    with pytest.raises(ValidationError, match="belongs to another account"):
        record_payment(
            account=acct, amount="10", payment_date=DAY.replace(day=29), method="cash",
            actor=None, targets=[ApplicationTarget(invoice=inv, amount=D("5"))],
        )  # fmt: skip
    assert read_state().fingerprint() == before


def test_apply_refuses_more_than_unapplied_or_balance():
    acct = account()
    inv = invoice(acct, ["10.00"])
    payment = record_payment(
        account=acct, amount="50.00", payment_date=DAY, method="cash", actor=None
    )
    with pytest.raises(ValidationError, match="can be applied to"):
        apply_payment(
            payment=payment,
            targets=[ApplicationTarget(invoice=inv, amount=D("11.00"))],
            effective_date=DAY,
            actor=None,
        )
    big = invoice(acct, ["100.00"])
    with pytest.raises(ValidationError, match="more than the unapplied amount"):
        apply_payment(
            payment=payment,
            targets=[ApplicationTarget(invoice=big, amount=D("60.00"))],
            effective_date=DAY,
            actor=None,
        )
    with pytest.raises(ValidationError, match="before the payment date"):
        apply_payment(
            payment=payment,
            targets=[ApplicationTarget(invoice=big, amount=D("6.00"))],
            effective_date=DAY.replace(day=1).replace(month=10),
            actor=None,
        )
    assert_invariants()


def test_unapply_in_parts_then_cancel():
    acct = account()
    inv = invoice(acct, ["60.00", "40.00"])
    payment = record_payment(
        account=acct, amount="100.00", payment_date=DAY, method="check", actor=None,
        targets=[ApplicationTarget(invoice=inv, amount=D("100.00"))],
    )  # fmt: skip
    assert account_balance(acct) == D("0.00")
    with pytest.raises(ValidationError, match="unapply it first"):
        cancel_payment(payment=payment, actor=None)
    application = payment.applications.get()
    unapply_payment(application=application, effective_date=DAY, actor=None, amount="30.00")
    assert_invariants()
    with pytest.raises(ValidationError):
        unapply_payment(application=application, effective_date=DAY, actor=None, amount="70.01")
    unapply_payment(application=application, effective_date=DAY, actor=None)
    inv.refresh_from_db()
    payment.refresh_from_db()
    assert inv.balance == D("100.00") and payment.applied_amount == 0
    assert [i.balance for i in inv.items.order_by("sort_order")] == [D("60.00"), D("40.00")]
    assert account_balance(acct) == D("0.00")  # 100 owed, 100 unapplied
    assert_invariants()
    canceled = cancel_payment(payment=payment, actor=None)
    assert canceled.status == PaymentStatus.CANCELED
    assert account_balance(acct) == D("100.00")
    with pytest.raises(ValidationError, match="only processed"):
        cancel_payment(payment=payment, actor=None)
    with pytest.raises(ValidationError, match="only processed"):
        apply_payment(
            payment=payment,
            targets=[ApplicationTarget(invoice=inv, amount=D("1"))],
            effective_date=DAY,
            actor=None,
        )
    assert PaymentApplication.objects.filter(kind="unapply").count() == 2
    assert_invariants()


def test_payment_methods_keep_one_default():
    acct = account(token=None)
    first = add_payment_method(
        account=acct, method_type="credit_card", label="Visa ending 4242", gateway_token="tok_a"
    )
    second = add_payment_method(
        account=acct, method_type="ach", label="Checking ending 6789", gateway_token="tok_b"
    )
    assert first.is_default and not second.is_default
    add_payment_method(
        account=acct, method_type="bank_transfer", label="IBAN ending 0001",
        gateway_token="tok_c", make_default=True,
    )  # fmt: skip
    assert list(PaymentMethod.objects.filter(account=acct, is_default=True).values_list(
        "label", flat=True)) == ["IBAN ending 0001"]  # fmt: skip
    assert Payment.objects.count() == 0
