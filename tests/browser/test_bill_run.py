"""The operator bills every demo account, watches the run progress, opens a generated credit memo
and posts the run.

The test plays the background worker itself, one chunk at a time, so it can check the progress
bar moving between chunks (the task that would start the run in the background is held back).
Every request of the page is routed through Playwright, which serves it only while this thread
waits on the browser, so the ORM work of a chunk never overlaps a request the server handles
(the live server shares this thread's database connection on SQLite).
"""

import re

from django.core.management import call_command
from playwright.sync_api import expect

from billing import tasks
from billing.bill_runs import runner
from billing.models import BillRun, BillRunStatus, Invoice, InvoiceStatus
from memos.models import MemoStatus

DEMO_PASSWORD = "memodesk-demo"


def test_operator_runs_bills_for_all_demo_accounts_and_posts_the_run(
    page, sign_in, monkeypatch, django_user_model
):
    call_command("seed_demo", "--demo-users", verbosity=0)
    operator = django_user_model.objects.get(username="operator")
    enqueue = tasks.enqueue_on_commit

    def hold_the_start(task, *args):
        if task is not tasks.start_bill_run:
            enqueue(task, *args)

    monkeypatch.setattr(tasks, "enqueue_on_commit", hold_the_start)
    page.route("**/*", lambda route: route.continue_())

    sign_in(operator, DEMO_PASSWORD)
    page.goto("/bill-runs/")
    page.locator("#new-bill-run").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("New bill run")
    page.get_by_label("Invoice Date").fill("2026-11-01")
    page.get_by_label("Target Date").fill("2026-11-30")
    expect(page.get_by_label("All accounts")).to_be_checked()
    page.get_by_role("button", name="Create bill run").click()

    expect(page).to_have_url(re.compile(r"/bill-runs/BR-\d{8}/$"))
    run = BillRun.objects.get()
    expect(page.locator("#bill-run-status")).to_have_attribute("data-status", "pending")
    expect(page.locator("#bill-run-progress-text")).to_have_text("Waiting to start")

    # The worker takes the run: the page, polling, shows it processing from 0.
    runner.plan_chunks(run.pk)
    run.refresh_from_db()
    in_scope = run.accounts_in_scope
    progress = page.locator("#bill-run-progress")
    expect(progress).to_have_attribute("aria-valuemax", str(in_scope))
    expect(page.locator("#bill-run-progress-text")).to_have_text(f"0 of {in_scope} accounts")

    seen = []
    while run.status == BillRunStatus.PROCESSING:
        assert runner.work(run.pk, max_chunks=1) == 1  # the last chunk also finishes the run
        run.refresh_from_db()
        # The bar moves to each chunk's count.
        expect(progress).to_have_attribute("aria-valuenow", str(run.accounts_done))
        # Its width is set from data-progress by our script (the CSP forbids an inline style).
        bar = progress.locator(".progress-bar")
        expect(bar).to_have_attribute("style", f"width: {run.progress_percent}%;")
        seen.append(run.accounts_done)
    assert len(seen) >= 3
    assert seen == sorted(set(seen))
    assert seen[-1] == in_scope

    # The last poll finds the run Completed; the page shows the final counts.
    run.refresh_from_db()
    assert run.status == BillRunStatus.COMPLETED
    assert run.invoices_generated > 0
    assert run.credit_memos_generated > 0
    expect(page.locator("#bill-run-status")).to_have_attribute("data-status", "completed")
    expect(page.locator("#count-invoices")).to_have_text(str(run.invoices_generated))
    expect(page.locator("#count-credit-memos")).to_have_text(str(run.credit_memos_generated))
    expect(page.locator("#count-accounts-processed")).to_have_text(str(in_scope))
    expect(page.locator("#bill-run-live")).to_have_attribute("data-running", "false")

    # A generated credit memo: its Source links back to the run.
    page.locator("#tab-credit_memos").click()
    expect(page.locator("#bill-run-tab-panel")).to_have_attribute("data-tab", "credit_memos")
    memo = run.credit_memos.order_by("number").first()
    page.locator("#bill-run-tab-panel").get_by_role("link", name=memo.number).click()
    expect(page.get_by_role("heading", level=1)).to_contain_text(memo.number)
    source = page.locator("dt", has_text=re.compile("^Source$")).locator(
        "xpath=following-sibling::dd[1]"
    )
    expect(source).to_have_text(run.number)
    source.get_by_role("link", name=run.number).click()
    expect(page).to_have_url(re.compile(rf"/bill-runs/{run.number}/$"))

    # Post the run, after confirming.
    page.locator("#bill-run-post").click()
    dialog = page.locator("#confirm-post")
    expect(dialog).to_be_visible()
    expect(dialog).to_contain_text(f"{run.invoices_generated} invoices")
    dialog.get_by_role("button", name="Post", exact=True).click()
    expect(page.locator("#bill-run-status")).to_have_attribute("data-status", "posted")
    run.refresh_from_db()
    assert run.status == BillRunStatus.POSTED
    assert not Invoice.objects.filter(bill_run=run).exclude(status=InvoiceStatus.POSTED).exists()
    assert not run.credit_memos.exclude(status=MemoStatus.POSTED).exists()
