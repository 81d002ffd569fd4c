"""axe-core (WCAG 2.1 A and AA rules) on every page of the product as each role, with a dialog
open and a form showing its errors: no violation.

axe runs through Playwright's evaluate (the DevTools protocol), which the Content-Security-Policy
does not apply to, so the pages are tested exactly as served.
"""

from __future__ import annotations

import pytest
from axe_playwright_python.sync_playwright import Axe
from django.core.management import call_command
from playwright.sync_api import expect

from billing.models import Account, BillRun, Invoice, InvoiceStatus
from memos.models import Memo, MemoStatus, MemoType

DEMO_PASSWORD = "memodesk-demo"
WCAG_AA = {"runOnly": {"type": "tag", "values": ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]}}
axe = Axe()


def violations(page) -> list[str]:
    # Bootstrap drops its transitions under reduced motion: axe then measures the colours a
    # control settles on, not a frame of its fade (a half-way colour fails contrast).
    page.emulate_media(reduced_motion="reduce")
    results = axe.run(page, options=WCAG_AA)
    return [
        f"{page.url}: {v['id']} ({v['impact']}): {v['help']} -> "
        + "; ".join(node["target"][0] for node in v["nodes"][:3])
        for v in results.response["violations"]
    ]


def pages_for(role: str) -> list[str]:
    account = Account.objects.order_by("number").first()
    posted = Invoice.objects.filter(status=InvoiceStatus.POSTED).order_by("number").first()
    draft = Invoice.objects.filter(status=InvoiceStatus.DRAFT).order_by("number").first()
    credit = Memo.objects.filter(memo_type=MemoType.CREDIT, status=MemoStatus.POSTED).first()
    debit = Memo.objects.filter(memo_type=MemoType.DEBIT).first()
    draft_memo = Memo.objects.filter(status=MemoStatus.DRAFT).first()
    common = [
        "/",
        "/accounts/",
        account.get_absolute_url(),
        "/invoices/",
        posted.get_absolute_url(),
        draft.get_absolute_url(),
        "/memos/",
        "/memos/?status=posted&transferred_to_accounting=no",
        credit.get_absolute_url(),
        debit.get_absolute_url(),
        draft_memo.get_absolute_url(),
        "/bill-runs/",
        "/api-tokens/",
    ]
    if role in ("operator", "admin"):
        common += [
            f"/invoices/{posted.number}/memos/new/?type=credit",
            f"/invoices/{posted.number}/memos/new/?type=debit",
            "/memos/new/?type=credit",
            f"{credit.get_absolute_url()}apply/",
            f"{credit.get_absolute_url()}refund/",
            f"{draft_memo.get_absolute_url()}edit/",
            "/bill-runs/new/",
        ]
    run = BillRun.objects.first()
    if run:
        common.append(run.get_absolute_url())
    return common


def test_every_page_has_no_wcag_aa_violation_as_each_role(page):
    call_command("seed_demo", "--demo-users", verbosity=0)
    page.goto("/login/")
    found = violations(page)
    checked = 0
    for role in ("operator", "reviewer", "viewer", "admin"):
        page.goto("/login/")
        page.get_by_label("Username").fill(role)
        page.get_by_label("Password").fill(DEMO_PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_url("**/")
        for path in pages_for(role):
            response = page.goto(path)
            assert response.status == 200, path
            found += violations(page)
            checked += 1
        page.get_by_role("button", name="Sign out").click()
        page.wait_for_url("**/login/")
    assert checked > 60
    assert not found, "\n".join(found)


def test_the_check_can_fail(page):
    """The rules run: a field without a label and an image without text are found."""
    page.goto("/login/")
    page.evaluate(
        "document.querySelector('main').insertAdjacentHTML('beforeend', "
        '\'<img src="data:,"><input type="text" name="x">\')'
    )
    ids = {line.split(": ")[1].split(" ")[0] for line in violations(page)}
    assert {"image-alt", "label"} <= ids


def test_dialogs_and_forms_with_errors_have_no_violation(page, sign_in):
    call_command("seed_demo", "--demo-users", verbosity=0)
    from django.contrib.auth import get_user_model

    operator = get_user_model().objects.get(username="operator")
    sign_in(operator, DEMO_PASSWORD)
    found = []
    draft_memo = Memo.objects.filter(status=MemoStatus.DRAFT).first()
    page.goto(draft_memo.get_absolute_url())
    page.get_by_role("button", name="More").click()
    found += violations(page)
    page.get_by_role("button", name="Cancel memo").click()
    # Checked once the dialog has finished fading in (its safe button then has the focus): mid
    # animation, axe measures the contrast of half-transparent colours.
    expect(page.get_by_role("dialog").get_by_role("button", name="Keep memo")).to_be_focused()
    found += violations(page)
    page.goto("/bill-runs/new/")
    page.get_by_label("Invoice Date").fill("")
    page.get_by_role("button", name="Create bill run").click()
    page.locator(".is-invalid").first.wait_for()
    found += violations(page)
    page.goto("/memos/?amount_min=abc")
    found += violations(page)
    assert not found, "\n".join(found)


@pytest.mark.parametrize("role", ["operator", "billing_admin"])
def test_the_apply_page_has_no_violation_with_its_errors_as_each_role_that_opens_it(
    page, sign_in, request, role
):
    """The apply page as it is used: typed over a balance and over the unapplied amount (errors
    beside the row and the total, live), after the failed save, searched and filled by Apply max."""
    from tests.memos.creation_helpers import account
    from tests.memos.test_settlement import credit_on, debit_on, invoice_on

    acct = account("USD")
    credit = credit_on(acct, "100")
    first, second, debit = invoice_on(acct, "50"), invoice_on(acct, "80"), debit_on(acct, "20")
    sign_in(request.getfixturevalue(role))
    page.goto(f"{credit.get_absolute_url()}apply/")
    found = violations(page)
    page.get_by_label(f"Amount, {first.number}", exact=True).fill("50.01")
    page.get_by_label(f"Amount, {second.number}", exact=True).fill("80")
    expect(page.get_by_test_id("total-errors")).to_contain_text("more than the unapplied amount")
    expect(page.locator(f"#invoice-{first.pk}-errors")).to_contain_text("At most USD 50.00")
    found += violations(page)
    page.get_by_role("button", name="Apply", exact=True).click()
    expect(page.get_by_label(f"Amount, {first.number}", exact=True)).to_be_focused()
    found += violations(page)
    page.get_by_label("Search open documents").fill(debit.number)
    expect(page.locator("#apply-shown")).to_have_text("Showing 3 of 3 open documents.")
    page.get_by_label(f"Amount, {first.number}", exact=True).fill("")
    page.get_by_label(f"Amount, {second.number}", exact=True).fill("")
    page.get_by_label("Search open documents").fill(debit.number + " ")
    expect(page.locator("#apply-shown")).to_have_text("Showing 1 of 3 open documents.")
    page.get_by_role("button", name=f"Apply max, {debit.number}").click()
    expect(page.get_by_label(f"Amount, {debit.number}", exact=True)).to_have_value("20.00")
    found += violations(page)
    assert not found, "\n".join(found)
