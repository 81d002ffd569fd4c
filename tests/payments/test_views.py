"""The payments pages through the views: the list with filters and CSV, one payment, "Record
payment" from an account and from an invoice, the payment-run pages, and what the account,
invoice and debit memo pages show of payments."""

from __future__ import annotations

import csv
import io

import pytest
from django.urls import reverse

from payments.models import Payment, PaymentRun, PaymentRunStatus, PaymentStatus
from payments.runs import kind
from payments.services.settlement import record_payment
from tests.payments.helpers import DAY, TARGET, D, account, debit_memo, invoice

pytestmark = pytest.mark.django_db


def test_the_list_filters_and_exports_what_it_shows(operator_client):
    first, second = account(), account()
    record_payment(account=first, amount="10.00", payment_date=DAY, method="cash", actor=None)
    record_payment(account=second, amount="20.00", payment_date=DAY, method="check", actor=None)
    page = operator_client.get(reverse("payments:payment_list"), {"method": "check"})
    assert page.status_code == 200
    html = page.content.decode()
    assert "P-00000002" in html and "P-00000001" not in html
    export = operator_client.get(reverse("payments:payment_export"), {"method": "check"})
    rows = list(csv.reader(io.StringIO(b"".join(export.streaming_content).decode())))
    assert rows[0][0] == "Number" and [r[0] for r in rows[1:]] == ["P-00000002"]
    assert rows[1][7] == "20.00"
    bad = operator_client.get(reverse("payments:payment_list"), {"payment_date_after": "x"})
    assert bad.status_code == 200 and "P-00000001" not in bad.content.decode()


def test_record_from_an_invoice_applies_to_it(operator_client):
    acct = account()
    inv = invoice(acct, ["60.00", "40.00"])
    form = operator_client.get(reverse("payments:payment_new"), {"invoice": inv.number})
    assert form.context["form"].initial["apply_to"] == inv.number
    assert form.context["form"].initial["amount"] == "100.00"
    response = operator_client.post(
        reverse("payments:payment_new"),
        {"account": acct.number, "amount": "120.00", "payment_date": "2026-11-01",
         "method": "wire_transfer", "reference": "W-1", "apply_to": inv.number},
    )  # fmt: skip
    payment = Payment.objects.get()
    assert response.status_code == 302 and response["Location"] == payment.get_absolute_url()
    inv.refresh_from_db()
    assert inv.balance == 0 and payment.unapplied_amount == D("20.00")
    detail = operator_client.get(payment.get_absolute_url()).content.decode()
    assert inv.number in detail and "Unapply" in detail
    invoice_page = operator_client.get(inv.get_absolute_url()).content.decode()
    assert 'data-testid="payments-applied"' in invoice_page and payment.number in invoice_page


def test_record_from_an_account_with_errors_beside_the_fields(operator_client):
    acct = account()
    page = operator_client.get(reverse("payments:payment_new"), {"account": acct.number})
    assert page.context["form"].initial["account"] == acct.number
    response = operator_client.post(
        reverse("payments:payment_new"),
        {"account": acct.number, "amount": "1.005", "payment_date": "2026-11-01",
         "method": "cash"},
    )  # fmt: skip
    assert response.status_code == 200
    assert "too many decimals" in str(response.context["form"].errors["amount"])
    assert not Payment.objects.exists()


def test_cancel_and_unapply_from_the_payment_page(operator_client, viewer):
    acct = account()
    inv = invoice(acct, ["50.00"])
    payment = record_payment(
        account=acct, amount="50.00", payment_date=DAY, method="cash", actor=None
    )
    operator_client.post(reverse("payments:payment_cancel", args=[payment.number]))
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.CANCELED
    from memos.services.settlement import ApplicationTarget

    applied = record_payment(
        account=acct, amount="50.00", payment_date=DAY, method="cash", actor=None,
        targets=[ApplicationTarget(invoice=inv, amount=D("50.00"))],
    )  # fmt: skip
    application = applied.applications.get()
    url = reverse("payments:payment_unapply", args=[applied.number, application.pk])
    from django.test import Client

    viewer_client = Client()
    viewer_client.force_login(viewer)
    assert viewer_client.post(url).status_code == 403
    operator_client.post(url)
    inv.refresh_from_db()
    assert inv.balance == D("50.00")


def test_account_and_debit_memo_pages_show_payments(operator_client):
    acct = account(auto_pay=True)
    dm = debit_memo(acct, ["25.00"])
    record_payment(account=acct, amount="5.00", payment_date=DAY, method="cash", actor=None)
    page = operator_client.get(acct.get_absolute_url()).content.decode()
    assert 'data-testid="account-auto-pay">On' in page
    assert "Visa ending 4242" in page and "tok_visa" not in page  # the token is never shown
    assert "P-00000001" in page
    memo_page = operator_client.get(dm.get_absolute_url()).content.decode()
    assert 'data-testid="payments-applied"' in memo_page


def test_new_run_counts_the_accounts_in_scope_and_starts(operator_client, payment_gateway):
    account(batch="Batch2")
    account(batch="Batch3")
    url = reverse("payments:payment_run_new")
    preview = operator_client.get(
        url,
        {"preview": "scope", "scope": "batch", "batch": "Batch2", "apply_credit_memos": "on"},
        headers={"HX-Request": "true"},
    )
    assert "<strong>1</strong> account in scope" in preview.content.decode()
    assert "<strong>2</strong> accounts in scope" in operator_client.get(url).content.decode()
    response = operator_client.post(
        url,
        {"scope": "all", "target_date": TARGET.isoformat(), "apply_credit_memos": "on",
         "collect_payments": "on"},
    )  # fmt: skip
    run = PaymentRun.objects.get()
    assert response["Location"] == run.get_absolute_url()
    refused = operator_client.post(url, {"scope": "all", "target_date": TARGET.isoformat()})
    assert "Apply credit memos, collect payments, or both." in refused.content.decode()


def test_the_run_page_shows_counts_tabs_and_retry(operator_client, payment_gateway):
    good = account()
    bad = account(token="tok_decline_insufficient_funds")
    paid = invoice(good, ["30.00"])
    declined = invoice(bad, ["40.00"])
    from payments.runs.services import create_payment_run

    run = create_payment_run(actor=None, target_date=TARGET)
    run.refresh_from_db()
    if run.status == PaymentRunStatus.PENDING:
        kind.plan_chunks(run.pk)
        kind.work(run.pk)
    page = operator_client.get(run.get_absolute_url())
    html = page.content.decode()
    assert 'id="count-collected">1<' in html and 'id="count-declines">1<' in html
    errors = operator_client.get(run.get_absolute_url(), {"tab": "errors"}).content.decode()
    assert declined.number in errors and "Declined: Insufficient funds" in errors
    payments = operator_client.get(run.get_absolute_url(), {"tab": "payments"}).content.decode()
    assert paid.number in payments
    assert 'id="retry-failed"' in html
    retried = operator_client.post(reverse("payments:payment_run_retry", args=[run.number]))
    assert retried.status_code == 302
    assert PaymentRun.objects.filter(retry_of=run).exists()
    live = operator_client.get(
        run.get_absolute_url(), headers={"HX-Request": "true", "HX-Target": "payment-run-live"}
    )
    assert 'id="payment-run-live"' in live.content.decode()
    listed = operator_client.get(reverse("payments:payment_run_list")).content.decode()
    assert run.number in listed


def test_apply_from_the_payment_page(operator_client):
    acct = account()
    inv = invoice(acct, ["60.00", "40.00"])
    payment = record_payment(
        account=acct, amount="80.00", payment_date=DAY, method="cash", actor=None
    )
    url = reverse("payments:payment_apply", args=[payment.number])
    too_much = operator_client.post(
        url, {"document": inv.number, "amount": "90.00", "effective_date": "2026-11-02"}
    )
    assert too_much.status_code == 200
    assert "more than the unapplied amount" in too_much.content.decode()
    done = operator_client.post(
        url, {"document": inv.number, "amount": "50.00", "effective_date": "2026-11-02"}
    )
    assert done.status_code == 302
    inv.refresh_from_db()
    payment.refresh_from_db()
    assert inv.balance == D("50.00") and payment.unapplied_amount == D("30.00")


@pytest.mark.parametrize("name", ["payments:payment_list", "payments:payment_run_list"])
def test_list_queries_do_not_grow_with_rows(operator_client, name):
    """DESIGN.md rule 8: the same queries for 1 row as for 30."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from billing.numbering import next_number

    def add(count: int) -> None:
        for _ in range(count):
            acct = account()
            record_payment(account=acct, amount="5.00", payment_date=DAY, method="cash", actor=None)
            PaymentRun.objects.create(
                number=next_number("payment_run"), target_date=DAY, account=acct, scope="account"
            )

    url = reverse(name)
    add(1)
    operator_client.get(url)  # the session's and permissions' first reads
    with CaptureQueriesContext(connection) as one:
        assert operator_client.get(url).status_code == 200
    add(29)
    with CaptureQueriesContext(connection) as thirty:
        assert operator_client.get(url).status_code == 200
    assert len(thirty) == len(one), [q["sql"][:80] for q in thirty.captured_queries]


def test_a_pending_run_can_be_canceled_and_a_started_one_cannot(operator_client, monkeypatch):
    from payments import tasks
    from payments.runs.services import create_payment_run

    monkeypatch.setattr(tasks, "start_on_commit", lambda run_id: None)
    run = create_payment_run(actor=None, target_date=TARGET)
    page = operator_client.get(run.get_absolute_url()).content.decode()
    assert 'id="cancel-run"' in page
    operator_client.post(reverse("payments:payment_run_cancel", args=[run.number]))
    run.refresh_from_db()
    assert run.status == PaymentRunStatus.CANCELED
    started = create_payment_run(actor=None, target_date=TARGET)
    kind.plan_chunks(started.pk)
    operator_client.post(reverse("payments:payment_run_cancel", args=[started.number]))
    started.refresh_from_db()
    assert started.status == PaymentRunStatus.PROCESSING
