"""The Django admin works under the Content-Security-Policy: an admin opens the lists and forms
they use, and the page fixture fails the test on any violation Chromium reports."""

from playwright.sync_api import expect

from billing.factories import AccountFactory, BillRunFactory
from memos.factories import MemoFactory


def test_admin_pages_open_without_policy_violations(page, sign_in, superuser):
    memo = MemoFactory()
    AccountFactory()
    BillRunFactory()
    sign_in(superuser)
    for path, heading in [
        ("/admin/", None),
        ("/admin/memos/memo/", "Select memo to change"),
        (f"/admin/memos/memo/{memo.pk}/change/", None),
        ("/admin/billing/account/", "Select account to change"),
        ("/admin/billing/account/add/", "Add account"),
        ("/admin/billing/billrun/", "Select bill run to change"),
        ("/admin/billing/accountingperiod/", "Select accounting period to change"),
        ("/admin/axes/accessattempt/", "Select access attempt to change"),
    ]:
        response = page.goto(path)
        assert response.status == 200, path
        if heading:
            expect(page.locator("#content h1")).to_have_text(heading)
    # The admin's own scripts run (they would not if the policy blocked them): the changelist's
    # "select all" checkbox selects every row.
    page.goto("/admin/billing/account/")
    page.locator("#action-toggle").check()
    expect(page.locator("input.action-select").first).to_be_checked()
