"""axe-core (WCAG 2.1 A and AA rules) on every page of the product as each role, with a dialog
open and a form showing its errors: no violation.

axe runs through Playwright's evaluate (the DevTools protocol), which the Content-Security-Policy
does not apply to, so the pages are tested exactly as served.
"""

from __future__ import annotations

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
