"""The memo-from-charges page in a real browser (issue 10, "Memo from charges"): the list price
filled in without a reload, Amount = Unit price x Quantity, the service period on the account's
bill cycle day, the account picker by keyboard, rows labelled by their charge, and no WCAG AA
violation with errors shown."""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal

from django.utils import timezone
from playwright.sync_api import expect

from billing.factories import AccountFactory, ChargeFactory, ChargePriceFactory, currency
from billing.models import ChargeModel, ChargeType
from billing.periods import add_months
from memos.models import Memo
from tests.browser.test_accessibility import violations

D = Decimal


def catalog():
    platform = ChargeFactory(name="Platform Subscription", charge_type=ChargeType.RECURRING)
    api = ChargeFactory(
        name="API Calls", charge_type=ChargeType.USAGE, charge_model=ChargeModel.PER_UNIT
    )
    ChargePriceFactory(charge=platform, currency=currency("USD"), list_price=D("1500"))
    ChargePriceFactory(charge=api, currency=currency("USD"), list_price=D("0.0125"))
    return platform, api


def open_form(page, account, memo_type="credit"):
    page.goto(f"/memos/new/?type={memo_type}&account={account.number}")
    expect(page.get_by_role("heading", level=1)).to_be_visible()
    # Set on the page once: a full reload would lose it.
    page.evaluate("window.sameDocument = true")


def test_choosing_a_charge_fills_its_list_price_and_the_amount_is_unit_price_times_quantity(
    page, sign_in, operator
):
    account = AccountFactory(name="Globex", bill_cycle_day=5)
    platform, api = catalog()
    sign_in(operator)
    open_form(page, account)

    page.get_by_label("Charge, line 1").select_option(label=str(platform))
    unit_price = page.get_by_label("Unit price, Platform Subscription")
    expect(unit_price).to_have_value("1500")
    # The service period: the account's current month from its bill cycle day (the 5th).
    today = timezone.localdate()
    start = today.replace(day=5) if today.day >= 5 else add_months(today.replace(day=5), -1)
    end = add_months(start, 1) - dt.timedelta(days=1)
    expect(page.get_by_label("Service start, Platform Subscription")).to_have_value(
        start.isoformat()
    )
    expect(page.get_by_label("Service end, Platform Subscription")).to_have_value(end.isoformat())
    amounts = page.get_by_test_id("row-amount")
    expect(amounts.nth(0)).to_have_text("1,500.00")
    page.get_by_label("Quantity, Platform Subscription").fill("3")
    expect(amounts.nth(0)).to_have_text("4,500.00")
    expect(page.get_by_test_id("total-amount")).to_have_text("USD 4,950.00")  # 10% tax

    # A per-unit charge: its unit price, times the quantity, in the currency's places.
    page.get_by_role("button", name="Add charge").click()
    page.get_by_label("Charge, line 2").select_option(label=str(api))
    expect(page.get_by_label("Unit price, API Calls")).to_have_value("0.0125")
    page.get_by_label("Quantity, API Calls").fill("1003")
    expect(amounts.nth(1)).to_have_text("12.54")  # 12.5375, half up

    # A typed figure is the operator's: choosing another charge does not replace it.
    unit_price.fill("1200")
    expect(amounts.nth(0)).to_have_text("3,600.00")
    page.get_by_label("Charge, Platform Subscription").select_option(label=str(api))
    expect(page.get_by_label("Unit price, API Calls")).to_have_count(2)
    expect(page.locator("[name$=-unit_price]").nth(0)).to_have_value("1200")
    expect(amounts.nth(0)).to_have_text("3,600.00")
    assert page.evaluate("window.sameDocument") is True

    page.get_by_role("button", name="Save as draft").click()
    expect(page).to_have_title(re.compile(r"^CM\d{8} · Memodesk$"))
    items = list(Memo.objects.get().items.order_by("sort_order"))
    assert [(i.unit_price, i.quantity, i.amount_excl_tax) for i in items] == [
        (D("1200"), D("3"), D("3600.00")),
        (D("0.0125"), D("1003"), D("12.54")),
    ]


def test_the_account_picker_searches_and_picks_by_keyboard(page, sign_in, operator):
    AccountFactory(number="A10000001", name="Globex East", currency=currency("USD"))
    second = AccountFactory(number="A10000002", name="Globex West", currency=currency("JPY"))
    AccountFactory(number="A10000003", name="Initech", currency=currency("EUR"))
    sign_in(operator)
    page.goto("/memos/new/?type=debit")
    picker = page.get_by_role("combobox", name="Customer Account")
    picker.focus()
    page.keyboard.type("globex")
    options = page.get_by_role("listbox", name="Matching accounts").get_by_role("option")
    expect(options).to_have_count(2)
    # Each match shows its number, name and currency.
    expect(options.nth(1)).to_contain_text("A10000002")
    expect(options.nth(1)).to_contain_text("Globex West")
    expect(options.nth(1)).to_contain_text("JPY")
    expect(picker).to_have_attribute("aria-expanded", "true")
    page.keyboard.press("ArrowDown")
    page.keyboard.press("ArrowDown")
    expect(options.nth(1)).to_have_attribute("aria-selected", "true")
    expect(picker).to_have_attribute("aria-activedescendant", "account-option-A10000002")
    page.keyboard.press("Enter")
    expect(picker).to_have_value(second.number)
    expect(picker).to_be_focused()
    expect(picker).to_have_attribute("aria-expanded", "false")
    expect(page.get_by_role("listbox", name="Matching accounts")).to_be_hidden()
    # Enter picked the account; it did not submit the form.
    expect(page.get_by_test_id("account-chosen")).to_contain_text("Globex West · JPY")
    assert Memo.objects.count() == 0
    # The totals are in the picked account's currency.
    expect(page.get_by_test_id("total-amount")).to_contain_text("JPY")
    # Escape closes the list without changing the field.
    page.keyboard.type("x")
    picker.fill("initech")
    expect(options).to_have_count(1)
    page.keyboard.press("Escape")
    expect(page.get_by_role("listbox", name="Matching accounts")).to_be_hidden()
    expect(picker).to_have_value("initech")


def test_rows_are_labelled_and_removing_one_moves_the_focus_to_the_nearest(page, sign_in, operator):
    account = AccountFactory()
    platform, _ = catalog()
    sign_in(operator)
    open_form(page, account)
    page.get_by_role("button", name="Add charge").click()
    page.get_by_role("button", name="Add charge").click()
    expect(page.get_by_label("Charge, line 3")).to_be_visible()
    page.get_by_label("Charge, line 2").select_option(label=str(platform))
    expect(page.get_by_label("Unit price, Platform Subscription")).to_be_visible()
    expect(page.get_by_role("button", name="Remove, Platform Subscription")).to_be_visible()
    page.get_by_role("button", name="Remove, line 1").click()
    # The focus goes to the row that took its place, never to the page body.
    expect(page.get_by_label("Charge, Platform Subscription")).to_be_focused()
    # The rows after it are numbered again.
    expect(page.get_by_label("Charge, line 2")).to_be_visible()
    page.get_by_role("button", name="Remove, line 2").click()
    expect(page.get_by_label("Charge, Platform Subscription")).to_be_focused()


def test_fields_in_error_are_marked_invalid_live_and_after_a_failed_save(page, sign_in, operator):
    account = AccountFactory()
    platform, _ = catalog()
    sign_in(operator)
    open_form(page, account)
    page.get_by_label("Charge, line 1").select_option(label=str(platform))
    quantity = page.get_by_label("Quantity, Platform Subscription")
    quantity.fill("-2")
    expect(quantity).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#charge-rows [role=alert]").first).to_contain_text(
        "Quantity must be positive."
    )
    quantity.fill("2")
    expect(quantity).not_to_have_attribute("aria-invalid", "true")
    page.get_by_label("Unit price, Platform Subscription").fill("12.345678901")
    page.get_by_role("button", name="Save as draft").click()
    unit_price = page.get_by_label("Unit price, Platform Subscription")
    expect(unit_price).to_have_attribute("aria-invalid", "true")
    expect(unit_price).to_be_focused()
    assert Memo.objects.count() == 0


def test_the_page_has_no_violation_as_each_role_that_opens_it_with_errors_shown(
    page, sign_in, operator, billing_admin
):
    account = AccountFactory(name="Globex")
    platform, _ = catalog()
    # The roles with the permission (DOMAIN.md 5); the others get 403 (test_url_permissions).
    for user in (operator, billing_admin):
        sign_in(user)
        open_form(page, account, memo_type="debit")
        page.get_by_label("Charge, line 1").select_option(label=str(platform))
        expect(page.get_by_label("Unit price, Platform Subscription")).to_have_value("1500")
        page.get_by_role("button", name="Add charge").click()
        found = violations(page)
        # With errors shown: a failed save (a line without a charge, a bad quantity).
        page.get_by_label("Quantity, Platform Subscription").fill("0")
        page.get_by_role("button", name="Save as draft").click()
        expect(page.locator(".is-invalid").first).to_be_visible()
        found += violations(page)
        # The account picker with its matches open.
        picker = page.get_by_role("combobox", name="Customer Account")
        picker.fill("Glob")
        expect(page.get_by_role("listbox", name="Matching accounts")).to_be_visible()
        page.keyboard.press("ArrowDown")
        found += violations(page)
        assert not found, "\n".join(found)
        page.get_by_role("button", name="Sign out").click()
        page.wait_for_url("**/login/")


def test_save_and_post_a_memo_from_charges(page, sign_in, operator):
    account = AccountFactory(name="Globex", bill_cycle_day=1)
    platform, _ = catalog()
    sign_in(operator)
    open_form(page, account)
    page.get_by_label("Charge, line 1").select_option(label=str(platform))
    expect(page.get_by_label("Unit price, Platform Subscription")).to_have_value("1500")
    page.get_by_role("button", name="Save and post").click()
    expect(page.get_by_role("status")).to_contain_text("was created and posted")
    assert Memo.objects.get().status == "posted"


def test_at_768_px_the_charge_inputs_stay_on_screen(page, sign_in, operator):
    account = AccountFactory(name="Globex", bill_cycle_day=1)
    platform, api = catalog()
    page.set_viewport_size({"width": 768, "height": 900})
    sign_in(operator)
    open_form(page, account)
    page.get_by_label("Charge, line 1").select_option(label=str(platform))
    page.get_by_role("button", name="Add charge").click()
    page.get_by_label("Charge, line 2").select_option(label=str(api))
    expect(page.get_by_label("Unit price, API Calls")).to_have_value("0.0125")
    for field in page.locator("[name$=-unit_price], [name$=-quantity]").all():
        box = field.bounding_box()
        assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= 768, box
    assert page.evaluate("document.documentElement.scrollWidth") <= 768
    page.get_by_label("Quantity, API Calls").fill("1003")
    expect(page.get_by_test_id("row-amount").nth(1)).to_have_text("12.54")
    assert violations(page) == []
