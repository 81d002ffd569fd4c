"""Approvals and the credit insight in a real browser (DOMAIN.md 8): an operator submits a large
memo, a different approver approves it from the home page; the insight page shows its charts
and clicking a reason opens the memo list filtered to it. The page fixture fails any test that
breaks the Content-Security-Policy (the charts' SVG included)."""

from __future__ import annotations

import datetime as dt
import re

from playwright.sync_api import expect

from billing.factories import currency
from billing.models import ApprovalRule
from memos.models import Memo, MemoStatus, ReasonCode
from memos.services.lifecycle import post_memo
from tests.memos.creation_helpers import D, from_invoice, items_of, posted_invoice, row


def test_an_operator_submits_and_another_user_approves_from_home(page, sign_in, operator, approver):
    ApprovalRule.objects.create(memo_type="credit", currency=currency("USD"), threshold=D(1000))
    invoice = posted_invoice("5000", taxable=False)
    [item] = items_of(invoice)
    memo = from_invoice(invoice, [row(item, "1500")], actor=operator)

    sign_in(operator)
    page.goto(memo.get_absolute_url())
    expect(page.get_by_role("button", name="Post", exact=True)).to_have_count(0)
    page.get_by_role("button", name="Submit for approval").click()
    banner = page.get_by_test_id("approval-banner")
    expect(banner).to_contain_text("Awaiting approval")
    expect(banner).to_contain_text(operator.get_full_name())
    page.get_by_role("button", name="Sign out").click()

    sign_in(approver)
    expect(page.get_by_test_id("attention-awaiting_your_approval")).to_have_text("1")
    page.get_by_role("link", name="Review approvals").click()
    page.wait_for_url(re.compile(r"/memos/\?approval=yours"))
    expect(page.locator("table tbody tr")).to_have_count(1)
    page.get_by_role("link", name=memo.number).click()
    page.get_by_role("button", name="Approve", exact=True).click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_be_visible()
    dialog.get_by_label("Comment (optional)").fill("Checked with the account manager")
    dialog.get_by_role("button", name="Approve and post").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Posted")
    expect(page.get_by_text(f"{memo.number} was approved and posted.")).to_be_visible()
    assert Memo.objects.get(pk=memo.pk).status == MemoStatus.POSTED


def test_reject_asks_for_a_reason_in_a_dialog(page, sign_in, operator, approver):
    ApprovalRule.objects.create(memo_type="credit", currency=currency("USD"), threshold=D(100))
    invoice = posted_invoice("500", taxable=False)
    [item] = items_of(invoice)
    memo = from_invoice(invoice, [row(item, "300")], actor=operator)
    from memos.services.approvals import submit_memo_for_approval

    submit_memo_for_approval(memo=memo, actor=operator)
    sign_in(approver)
    page.goto(memo.get_absolute_url())
    page.get_by_role("button", name="Reject").click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_label("Reason").fill("Duplicate credit")
    dialog.get_by_role("button", name="Reject").click()
    expect(page.get_by_text("was rejected")).to_be_visible()
    expect(page.get_by_text("Rejected: Duplicate credit")).to_be_visible()


def test_the_insight_shows_charts_and_a_reason_opens_the_filtered_list(page, sign_in, operator):
    reasons = ["Ad hoc Credit", "Charge Dispute"]
    for index, name in enumerate(reasons):
        invoice = posted_invoice("1000", invoice_date=dt.date(2025, 3, 1), taxable=False)
        [item] = items_of(invoice)
        memo = from_invoice(
            invoice,
            [row(item, str(100 * (index + 1)))],
            actor=operator,
            memo_date=dt.date(2025, 3, 5),
            reason_code=ReasonCode.objects.get(code_type="credit_memo", name=name),
        )
        post_memo(memo=memo, actor=operator)
    sign_in(operator)
    page.goto("/insights/credit/?start=2025-01&end=2025-12&currency=USD")
    expect(page.get_by_role("heading", name="Credit insight")).to_be_visible()
    charts = page.locator("figure.insight-chart svg")
    expect(charts).to_have_count(6)
    # Bars are drawn (the stylesheet, not an inline style, gives them their colour).
    bars = page.get_by_test_id("chart-reason").locator("a rect")
    expect(bars).to_have_count(2)
    assert bars.first.evaluate("e => getComputedStyle(e).fill") != "none"
    # The chart's bar for "Charge Dispute" (200) opens the memo list filtered to it.
    bar = page.get_by_test_id("chart-reason").locator("a").first
    bar.click()
    page.wait_for_url(re.compile(r"/memos/\?.*reason_code="))
    expect(page.locator("table tbody tr")).to_have_count(1)
    expect(page.locator("table tbody")).to_contain_text("200.00")
    # And the table's row link does the same for the other reason.
    page.go_back()
    page.get_by_test_id("table-reason").get_by_role("link", name="Ad hoc Credit").click()
    page.wait_for_url(re.compile(r"/memos/\?.*reason_code="))
    expect(page.locator("table tbody tr")).to_have_count(1)
    expect(page.locator("table tbody")).to_contain_text("100.00")
