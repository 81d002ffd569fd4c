"""The filter bar always says what the URL and the table say (a probe found the dropdowns showing
"Any" after Back or after removing a chip, while the table kept the filter, and the next change then
silently dropped or restored one)."""

import re

import pytest
from playwright.sync_api import expect

from billing.factories import AccountFactory, InvoiceFactory
from billing.models import InvoiceStatus
from memos.factories import MemoFactory
from memos.models import MemoStatus, MemoType


def rows(page):
    return page.locator("#results tbody tr")


def test_memo_filters_follow_chip_removal_back_and_forward(page, sign_in, operator):
    MemoFactory(status=MemoStatus.POSTED, memo_type=MemoType.CREDIT)
    MemoFactory(status=MemoStatus.POSTED, memo_type=MemoType.DEBIT)
    MemoFactory(status=MemoStatus.DRAFT, memo_type=MemoType.CREDIT)
    sign_in(operator)
    page.goto("/memos/")
    status = page.get_by_label("Status", exact=True)
    memo_type = page.get_by_label("Memo Type", exact=True)

    status.select_option("posted")
    expect(page).to_have_url(re.compile(r"status=posted"))
    memo_type.select_option("credit")
    expect(page).to_have_url(
        re.compile(r"status=posted.*memo_type=credit|memo_type=credit.*status=posted")
    )
    expect(rows(page)).to_have_count(1)

    # Only the filters that are set travel in the address.
    assert "number=" not in page.url and "account=" not in page.url

    # Removing the Status chip: the dropdown follows.
    page.get_by_role("link", name=re.compile(r"Remove filter Status")).click()
    expect(page).not_to_have_url(re.compile(r"[?&]status="))
    expect(status).to_have_value("")
    expect(memo_type).to_have_value("credit")
    expect(rows(page)).to_have_count(2)

    # Back: the table and the dropdown both show Status Posted again.
    page.go_back()
    expect(page).to_have_url(re.compile(r"status=posted"))
    expect(status).to_have_value("posted")
    expect(memo_type).to_have_value("credit")
    expect(rows(page)).to_have_count(1)

    # The next change keeps every filter the table shows.
    memo_type.select_option("debit")
    expect(page).to_have_url(re.compile(r"memo_type=debit"))
    expect(page).to_have_url(re.compile(r"status=posted"))
    expect(rows(page)).to_have_count(1)

    page.go_back()
    expect(memo_type).to_have_value("credit")
    page.go_forward()
    expect(page).to_have_url(re.compile(r"memo_type=debit"))
    expect(status).to_have_value("posted")
    expect(memo_type).to_have_value("debit")


@pytest.mark.parametrize(
    "path, field, value, make",
    [
        ("/accounts/", "Status", "inactive", lambda: AccountFactory(status="inactive")),
        ("/invoices/", "Status", "posted", lambda: InvoiceFactory(status=InvoiceStatus.POSTED)),
        ("/bill-runs/", "Status", "completed", lambda: None),
    ],
)
def test_other_lists_keep_the_form_equal_to_the_url_after_back(
    page, sign_in, operator, path, field, value, make
):
    make()
    sign_in(operator)
    page.goto(path)
    select = page.get_by_label(field, exact=True)
    select.select_option(value)
    expect(page).to_have_url(re.compile(rf"[?&]status={value}"))
    page.go_back()
    expect(page).not_to_have_url(re.compile(r"[?&]status="))
    expect(select).to_have_value("")
    page.go_forward()
    expect(page).to_have_url(re.compile(rf"[?&]status={value}"))
    expect(select).to_have_value(value)
