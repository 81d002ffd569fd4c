"""The payment-run engine (DOMAIN.md 6), run in-process on the shared run engine, against the real
local stand-in gateway; the invariants of DOMAIN.md 3, extended to payments, are checked after
every test (the autouse fixture)."""

from __future__ import annotations

import datetime as dt

import pytest

from billing.factories import UserFactory
from billing.models import ApplicationRule, BillingSettings, Invoice
from billing.selectors import account_balance
from memos.models import Memo, MemoApplication, MemoEvent
from payments.models import (
    Payment,
    PaymentRun,
    PaymentRunError,
    PaymentRunErrorKind,
    PaymentRunScope,
    PaymentRunStatus,
    PaymentStatus,
    PaymentType,
)
from payments.runs import kind
from payments.runs.services import create_payment_run, retry_failed
from tests.payments.helpers import DAY, TARGET, D, account, credit_memo, debit_memo, invoice
from tests.reliability.invariants import assert_invariants

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def invariants_after_each_test(payment_gateway):
    yield
    assert_invariants()


def run(**kwargs) -> PaymentRun:
    """Create a run and work it to the end (the in-process task backend starts it at commit)."""
    created = create_payment_run(
        actor=None, target_date=kwargs.pop("target_date", TARGET), **kwargs
    )
    created.refresh_from_db()
    if created.status == PaymentRunStatus.PENDING:  # no commit inside a test's transaction
        kind.plan_chunks(created.pk)
        kind.work(created.pk)
    created.refresh_from_db()
    return created


def refreshed(*docs):
    for doc in docs:
        doc.refresh_from_db()
    return docs


def test_a_memo_excluded_from_auto_apply_is_never_applied(payment_gateway):
    acct = account(auto_pay=False)
    excluded = credit_memo(acct, ["50.00"], exclude_from_auto_apply=True)
    inv = invoice(acct, ["80.00"])
    done = run()
    refreshed(excluded, inv)
    assert excluded.applied_amount == 0
    assert inv.balance == D("80.00")
    assert not MemoApplication.objects.exists()
    assert done.credit_applications == 0 and done.status == PaymentRunStatus.COMPLETED


def test_the_oldest_memo_goes_to_the_oldest_due_document_then_lowest_number(payment_gateway):
    acct = account(auto_pay=False)
    newer = credit_memo(acct, ["30.00"], memo_date=DAY)
    older = credit_memo(acct, ["50.00"], memo_date=DAY - dt.timedelta(days=20))
    late = invoice(acct, ["40.00"], due=DAY + dt.timedelta(days=10))
    first_number = invoice(acct, ["20.00"], due=DAY)
    second_number = invoice(acct, ["20.00"], due=DAY)
    not_due = invoice(acct, ["99.00"], due=TARGET + dt.timedelta(days=1))
    done = run()
    refreshed(newer, older, late, first_number, second_number, not_due)
    applied = [
        (a.credit_memo.number, a.target.number, a.amount)
        for a in MemoApplication.objects.order_by("pk")
    ]
    assert applied == [
        (older.number, first_number.number, D("20.00")),
        (older.number, second_number.number, D("20.00")),
        (older.number, late.number, D("10.00")),
        (newer.number, late.number, D("30.00")),
    ]
    assert (first_number.balance, second_number.balance, late.balance) == (0, 0, 0)
    assert not_due.balance == D("99.00")
    assert done.credit_applications == 4
    event = MemoEvent.objects.filter(memo=older, kind=MemoEvent.Kind.APPLIED).first()
    assert f"by payment run {done.number}" in event.message
    assert event.after["payment_run"] == done.number and event.actor is None
    assert list(done.credit_applications_made.values_list("application_id", flat=True)) == list(
        MemoApplication.objects.order_by("pk").values_list("pk", flat=True)
    )


def test_debit_memos_with_auto_pay_off_are_never_charged(payment_gateway):
    acct = account(auto_pay=False)
    off = debit_memo(acct, ["25.00"], auto_pay=False)
    on = debit_memo(acct, ["15.00"], auto_pay=True)
    done = run()
    refreshed(off, on)
    assert off.balance == D("25.00")
    assert on.balance == 0
    assert [c["document"] for c in payment_gateway.charge_log] == [on.number]
    assert done.documents_collected == 1


def test_invoices_of_an_account_with_auto_pay_off_are_never_charged(payment_gateway):
    off = account(auto_pay=False)
    on = account(auto_pay=True)
    kept = invoice(off, ["70.00"])
    paid = invoice(on, ["70.00"])
    done = run()
    refreshed(kept, paid)
    assert kept.balance == D("70.00") and paid.balance == 0
    assert [c["document"] for c in payment_gateway.charge_log] == [paid.number]
    payment = Payment.objects.get()
    assert (payment.status, payment.method, payment.amount) == (
        PaymentStatus.PROCESSED,
        PaymentType.ELECTRONIC,
        D("70.00"),
    )
    assert payment.applied_amount == D("70.00") and payment.payment_run == done
    assert payment.idempotency_key == f"{done.number}:{paid.number}"
    assert account_balance(on) == 0


def test_a_decline_leaves_the_balance_and_records_the_reason(payment_gateway):
    acct = account(token="tok_decline_insufficient_funds")
    inv = invoice(acct, ["45.00"])
    before = account_balance(acct)
    done = run()
    refreshed(inv)
    assert inv.balance == D("45.00") and account_balance(acct) == before
    error = PaymentRunError.objects.get()
    assert (error.kind, error.invoice, error.account) == (
        PaymentRunErrorKind.DECLINED,
        inv,
        acct,
    )
    assert error.reason == "Declined: Insufficient funds"
    declined = Payment.objects.get()
    assert declined.status == PaymentStatus.ERROR and declined.applied_amount == 0
    assert declined.gateway_message == "Insufficient funds"
    assert (done.declines, done.documents_collected, done.accounts_failed) == (1, 0, 0)
    assert done.status == PaymentRunStatus.COMPLETED


def test_an_account_with_nothing_electronic_to_charge_is_an_error(payment_gateway):
    acct = account(token=None)
    inv = invoice(acct, ["45.00"])
    nothing_due = account(token=None)
    done = run()
    error = PaymentRunError.objects.get()
    assert (error.account, error.kind, error.invoice) == (acct, PaymentRunErrorKind.ERROR, None)
    assert "No electronic payment method" in error.reason
    refreshed(inv)
    assert inv.balance == D("45.00")
    assert (done.accounts_in_scope, done.accounts_processed, done.accounts_failed) == (2, 1, 1)
    assert nothing_due.pk not in PaymentRunError.objects.values_list("account_id", flat=True)
    assert payment_gateway.charge_log == []


def test_credit_first_then_collect_the_rest_with_both_options(payment_gateway):
    acct = account(auto_pay=True)
    memo = credit_memo(acct, ["30.00"])
    inv = invoice(acct, ["60.00", "40.00"])
    done = run()
    refreshed(memo, inv)
    assert memo.unapplied_amount == 0 and inv.balance == 0
    assert payment_gateway.charge_log == [
        {"key": f"{done.number}:{inv.number}", "document": inv.number, "amount": "70.00"}
    ]
    assert (done.credit_applications, done.documents_collected) == (1, 1)


def test_options_off_do_nothing_of_their_kind(payment_gateway):
    acct = account(auto_pay=True)
    memo = credit_memo(acct, ["30.00"])
    inv = invoice(acct, ["100.00"])
    run(apply_credit_memos=False)
    refreshed(memo, inv)
    assert memo.applied_amount == 0 and inv.balance == 0
    second = invoice(acct, ["10.00"])
    run(collect_payments=False)
    refreshed(memo, second)
    assert second.balance == 0 and memo.unapplied_amount == D("20.00")
    assert len(payment_gateway.charge_log) == 1


def test_fifo_rule_and_a_run_again_applies_and_charges_nothing_twice(payment_gateway):
    BillingSettings.objects.update(application_rule=ApplicationRule.FIFO)
    acct = account(auto_pay=True)
    credit_memo(acct, ["70.00"])
    inv = invoice(acct, ["60.00", "40.00"])
    run()
    assert [i.balance for i in inv.items.order_by("sort_order")] == [0, 0]
    applications, charges = MemoApplication.objects.count(), len(payment_gateway.charge_log)
    again = run()
    assert MemoApplication.objects.count() == applications
    assert len(payment_gateway.charge_log) == charges
    assert (again.credit_applications, again.documents_collected) == (0, 0)


def test_retry_failed_charges_the_declined_documents_only(payment_gateway):
    acct = account(token="tok_decline_card_expired")
    declined = invoice(acct, ["45.00"])
    first = run()
    method = acct.payment_methods.get()
    method.gateway_token = "tok_visa_new"
    method.save()
    other = invoice(acct, ["5.00"])
    retry = retry_failed(payment_run=first, actor=UserFactory())
    retry.refresh_from_db()
    if retry.status == PaymentRunStatus.PENDING:
        kind.plan_chunks(retry.pk)
        kind.work(retry.pk)
    retry.refresh_from_db()
    assert retry.scope == PaymentRunScope.RETRY and retry.retry_of == first
    refreshed(declined, other)
    assert declined.balance == 0 and other.balance == D("5.00")
    assert retry.documents_collected == 1


def test_an_unknown_outcome_is_asked_about_before_a_retry_charges(payment_gateway):
    acct = account(token="tok_late")
    inv = invoice(acct, ["45.00"])
    payment_gateway.lookup_fails = True
    first = run()
    error = PaymentRunError.objects.get()
    assert error.kind == PaymentRunErrorKind.UNKNOWN
    assert error.idempotency_key == f"{first.number}:{inv.number}"
    refreshed(inv)
    assert inv.balance == D("45.00")  # charged at the gateway, but not known here yet
    payment_gateway.lookup_fails = False
    retry = retry_failed(payment_run=first, actor=None)
    retry.refresh_from_db()
    if retry.status == PaymentRunStatus.PENDING:
        kind.plan_chunks(retry.pk)
        kind.work(retry.pk)
    refreshed(inv)
    assert inv.balance == 0
    assert len(payment_gateway.charge_log) == 1  # learnt by key, not charged again
    assert Payment.objects.get().idempotency_key == error.idempotency_key


def test_a_chunk_redone_after_its_worker_died_charges_nothing_twice(payment_gateway, monkeypatch):
    accounts = [account(auto_pay=True) for _ in range(3)]
    invoices = [invoice(a, ["10.00"]) for a in accounts]
    for a in accounts:
        credit_memo(a, ["4.00"])
    created = create_payment_run(actor=None, target_date=TARGET)
    kind.plan_chunks(created.pk)
    chunk_id = kind.claim_chunk(created.pk, "dying")

    def die(*args, **kwargs):
        raise SystemExit("killed")

    from billing.runs import engine

    with monkeypatch.context() as patch:
        patch.setattr(kind.PAYMENT_RUNS, "finish_chunk", die)
        with pytest.raises(SystemExit):
            engine.process_chunk(kind.PAYMENT_RUNS, chunk_id, "dying")
    assert len(payment_gateway.charge_log) == 3  # charged, but the transaction rolled back
    assert not Payment.objects.exists() and not MemoApplication.objects.exists()
    kind.PAYMENT_RUNS.chunk_model.objects.filter(pk=chunk_id).update(
        lease_expires_at=dt.datetime(2000, 1, 1, tzinfo=dt.UTC)
    )
    assert kind.work(created.pk, "next") == 1
    created.refresh_from_db()
    assert created.status == PaymentRunStatus.COMPLETED
    assert len(payment_gateway.charge_log) == 3
    assert Payment.objects.filter(status=PaymentStatus.PROCESSED).count() == 3
    assert MemoApplication.objects.count() == 3
    assert all(i.balance == 0 for i in refreshed(*invoices))
    assert Memo.objects.filter(applied_amount=D("4.00")).count() == 3
    assert Invoice.objects.filter(balance=0).count() == 3
