"""The apply page in the browser (issue 10, Apply): Apply max from the keyboard, the search that
keeps what was typed, the over-application beside the total, the live region that stays, and
where the focus lands."""

from __future__ import annotations

import datetime as dt

import pytest
from playwright.sync_api import expect

from billing.models import Invoice
from tests.memos.creation_helpers import account
from tests.memos.test_settlement import credit_on, debit_on, fresh, invoice_on


def focused(page) -> str:
    return page.evaluate("document.activeElement.id || document.activeElement.tagName")


@pytest.fixture
def world():
    """A USD credit memo of 100.00; invoices of 50.00 (due first) and 80.00, a debit memo of
    20.00 due last."""
    acct = account("USD")
    credit = credit_on(acct, "100")
    first, second = invoice_on(acct, "50"), invoice_on(acct, "80")
    Invoice.objects.filter(pk=first.pk).update(due_date=dt.date(2025, 4, 1))
    Invoice.objects.filter(pk=second.pk).update(due_date=dt.date(2025, 4, 15))
    debit = debit_on(acct, "20", memo_date=dt.date(2025, 5, 1))
    return credit, first, second, debit


def open_apply(page, sign_in, user, credit):
    sign_in(user)
    page.goto(f"{credit.get_absolute_url()}apply/")
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Apply {credit.number}")


def test_apply_max_from_the_keyboard_fills_the_row_and_keeps_the_focus(
    page, sign_in, operator, world
):
    credit, first, second, debit = world
    open_apply(page, sign_in, operator, credit)
    page.get_by_label(f"Amount, {first.number}", exact=True).fill("30")
    expect(page.get_by_test_id("apply-remaining")).to_have_text("USD 70.00")
    # Tab from the amount to its row's Apply max, then Enter.
    page.get_by_label(f"Amount, {first.number}", exact=True).focus()
    page.keyboard.press("Tab")
    button = page.get_by_role("button", name=f"Apply max, {first.number}")
    expect(button).to_be_focused()
    # The second invoice's balance is 80.00; 70.00 is left: the lesser.
    page.get_by_role("button", name=f"Apply max, {second.number}").focus()
    page.keyboard.press("Enter")
    amount = page.get_by_label(f"Amount, {second.number}", exact=True)
    expect(amount).to_have_value("70.00")
    expect(page.get_by_test_id("apply-remaining")).to_have_text("USD 0.00")
    expect(page.get_by_test_id("apply-total")).to_have_text("USD 100.00")
    # The focus stays on the row's button (the row was swapped, not the page).
    expect(page.get_by_role("button", name=f"Apply max, {second.number}")).to_be_focused()
    assert focused(page) == f"invoice-{second.pk}-max"
    # Nothing is left for the debit memo: its Apply max fills 0.00.
    page.get_by_role("button", name=f"Apply max, {debit.number}").press("Space")
    expect(page.get_by_label(f"Amount, {debit.number}", exact=True)).to_have_value("0.00")
    page.get_by_label(f"Amount, {debit.number}", exact=True).fill("")
    page.get_by_role("button", name="Apply", exact=True).click()
    expect(page.get_by_role("status").first).to_contain_text(
        f"Applied USD 100.00 of {credit.number}"
    )
    assert fresh(second).balance == 10


def test_search_narrows_the_rows_and_keeps_what_was_typed(page, sign_in, operator, world):
    credit, first, second, debit = world
    open_apply(page, sign_in, operator, credit)
    rows = page.locator("#apply-table tbody[id$=-row]")
    expect(rows).to_have_count(3)
    # Oldest due first.
    expect(rows.nth(0)).to_contain_text(first.number)
    expect(rows.nth(2)).to_contain_text(debit.number)
    page.get_by_label(f"Amount, {first.number}", exact=True).fill("12.5")
    search = page.get_by_label("Search open documents")
    search.fill("80.00")
    expect(page.locator(f"#debit-{debit.pk}-row")).to_be_hidden()
    # The second matches; the first has an amount typed, so it stays, with its amount.
    expect(page.locator(f"#invoice-{second.pk}-row")).to_be_visible()
    expect(page.get_by_label(f"Amount, {first.number}", exact=True)).to_have_value("12.5")
    expect(page.locator("#apply-shown")).to_have_text("Showing 2 of 3 open documents.")
    expect(search).to_be_focused()
    search.fill(debit.number)
    expect(page.locator(f"#invoice-{second.pk}-row")).to_be_hidden()
    expect(page.locator(f"#debit-{debit.pk}-row")).to_be_visible()
    page.get_by_label(f"Amount, {debit.number}", exact=True).fill("20")
    expect(page.get_by_test_id("apply-total")).to_have_text("USD 32.50")
    search.fill("")
    expect(rows.nth(1)).to_be_visible()
    expect(page.get_by_label(f"Amount, {first.number}", exact=True)).to_have_value("12.5")
    page.get_by_role("button", name="Apply", exact=True).click()
    expect(page.get_by_role("status").first).to_contain_text(
        f"Applied USD 32.50 of {credit.number}"
    )


def test_over_application_is_beside_the_total_and_the_failed_save_focuses_it(
    page, sign_in, operator, world
):
    credit, first, second, _ = world
    open_apply(page, sign_in, operator, credit)
    region = page.locator("#apply-remaining")
    page.evaluate("window.liveRegion = document.getElementById('apply-remaining')")
    page.get_by_label(f"Amount, {first.number}", exact=True).fill("50")
    page.get_by_label(f"Amount, {second.number}", exact=True).fill("60")
    expect(region.get_by_test_id("total-errors")).to_have_text(
        f"USD 110.00 is more than the unapplied amount USD 100.00 of {credit.number}."
    )
    expect(page.get_by_test_id("apply-remaining")).to_have_text("USD 0.00")
    # The live region was updated inside, never replaced (a replaced region is not announced).
    assert page.evaluate("document.getElementById('apply-remaining') === window.liveRegion")
    assert region.get_attribute("aria-live") == "polite"
    page.get_by_role("button", name="Apply", exact=True).click()
    expect(page.get_by_test_id("total-errors")).to_be_focused()
    assert fresh(credit).applied_amount == 0


def test_a_row_over_its_balance_is_invalid_as_one_types_and_focused_after_save(
    page, sign_in, operator, world
):
    credit, first, second, _ = world
    open_apply(page, sign_in, operator, credit)
    amount = page.get_by_label(f"Amount, {first.number}", exact=True)
    amount.fill("50.01")
    expect(page.locator(f"#invoice-{first.pk}-errors")).to_contain_text(
        f"At most USD 50.00 can be applied to {first.number}"
    )
    expect(amount).to_have_attribute("aria-invalid", "true")
    amount.fill("50")
    expect(page.locator(f"#invoice-{first.pk}-errors")).to_have_text("")
    expect(amount).not_to_have_attribute("aria-invalid", "true")
    page.get_by_label(f"Amount, {second.number}", exact=True).fill("abc")
    page.get_by_role("button", name="Apply", exact=True).click()
    invalid = page.get_by_label(f"Amount, {second.number}", exact=True)
    expect(invalid).to_be_focused()
    expect(invalid).to_have_attribute("aria-invalid", "true")
    assert fresh(credit).applied_amount == 0
