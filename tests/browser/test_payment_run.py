"""Issue 13 must-show 5: the operator starts a payment run for all demo accounts, watches it
finish, opens a declined account's error, and opens an invoice the run paid.

As in test_bill_run.py, the test plays the background worker itself, one chunk at a time (the
task that would start the run is held back), and every request of the page goes through
Playwright's router, so a chunk's ORM work never overlaps a request the live server handles.
The demo's gateway is the built-in simulated one (PAYMENT_GATEWAY_URL=simulated), which
declines the demo's "tok_decline_..." cards with their reasons.
"""

import re

from django.core.management import call_command
from playwright.sync_api import expect

from payments import tasks
from payments.models import PaymentRun, PaymentRunErrorKind, PaymentRunStatus, PaymentStatus
from payments.runs import kind

DEMO_PASSWORD = "memodesk-demo"


def test_operator_runs_payments_for_all_demo_accounts(
    page, sign_in, monkeypatch, django_user_model, settings
):
    settings.PAYMENT_GATEWAY_URL = "simulated"
    call_command("seed_demo", "--demo-users", verbosity=0)
    operator = django_user_model.objects.get(username="operator")
    monkeypatch.setattr(tasks, "start_on_commit", lambda run_id: None)
    page.route("**/*", lambda route: route.continue_())

    sign_in(operator, DEMO_PASSWORD)
    page.goto("/payment-runs/")
    page.locator("#new-payment-run").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("New payment run")
    expect(page.get_by_label("All accounts")).to_be_checked()
    expect(page.get_by_label("Apply unapplied credit memos")).to_be_checked()
    expect(page.get_by_label("Collect payments")).to_be_checked()
    expect(page.get_by_test_id("scope-count")).to_contain_text("accounts in scope")
    page.get_by_role("button", name="Start payment run").click()

    expect(page).to_have_url(re.compile(r"/payment-runs/PR-\d{8}/$"))
    run = PaymentRun.objects.get()
    expect(page.locator("#payment-run-status")).to_have_attribute("data-status", "pending")

    kind.plan_chunks(run.pk)
    run.refresh_from_db()
    in_scope = run.accounts_in_scope
    assert in_scope > 20
    while run.status == PaymentRunStatus.PROCESSING:
        assert kind.work(run.pk, max_chunks=1) == 1
        run.refresh_from_db()
        expect(page.locator("#payment-run-progress-text")).to_have_text(
            f"{run.accounts_done} of {in_scope} accounts"
        )
    assert run.status == PaymentRunStatus.COMPLETED
    assert run.documents_collected > 0 and run.declines > 0
    expect(page.locator("#payment-run-status")).to_have_attribute("data-status", "completed")
    expect(page.locator("#count-collected")).to_have_text(f"{run.documents_collected:,}")
    expect(page.locator("#count-declines")).to_have_text(f"{run.declines:,}")

    # A declined account's error: the document, the account and the gateway's reason.
    decline = run.errors.filter(kind=PaymentRunErrorKind.DECLINED).order_by("id").first()
    page.locator("#tab-errors").click()
    expect(page).to_have_url(re.compile(r"\?tab=errors$"))
    row = page.get_by_test_id("run-error").filter(has_text=decline.invoice.number)
    expect(row).to_contain_text(decline.reason)
    row.get_by_role("link", name=decline.account.number).click()
    expect(page.get_by_role("heading", level=1)).to_contain_text(decline.account.number)
    method = decline.account.payment_methods.get()
    expect(page.get_by_test_id("payment-methods")).to_contain_text(method.label)

    # An invoice the run paid: from the run's payments, through the payment, to the invoice.
    payment = run.payments.filter(status=PaymentStatus.PROCESSED, reference__startswith="INV")
    payment = payment.order_by("number").first()
    page.go_back()
    page.locator("#tab-payments").click()
    page.get_by_role("link", name=payment.number, exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_contain_text(payment.number)
    page.get_by_test_id("payment-applications").get_by_role("link", name=payment.reference).click()
    expect(page.get_by_role("heading", level=1)).to_contain_text(payment.reference)
    expect(page.get_by_test_id("invoice-balance")).to_contain_text("0.00")
    expect(page.get_by_test_id("payments-applied")).to_contain_text(payment.number)
