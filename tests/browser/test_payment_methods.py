"""The operator adds a payment method to an account, makes it the default and switches Auto-Pay
on after the dialog that says what it means; the account page shows it all."""

from playwright.sync_api import expect

from billing.models import Account
from tests.payments.helpers import account


def test_operator_adds_a_method_makes_it_default_and_turns_auto_pay_on(page, sign_in, operator):
    acct = account(auto_pay=False)  # Visa ending 4242, the default
    sign_in(operator)
    page.goto(acct.get_absolute_url())
    payments = page.get_by_test_id("account-payments")
    expect(page.get_by_test_id("account-auto-pay")).to_have_text("Off")

    page.get_by_role("link", name="Add payment method").click()
    page.get_by_label("Type").select_option(label="ACH")
    page.get_by_label("Display label").fill("Checking ending 6789")
    page.get_by_label("Gateway token").fill("tok_ach_6789")
    page.get_by_role("button", name="Add payment method").click()
    expect(page.get_by_role("alert").or_(page.get_by_role("status")).first).to_contain_text(
        "Checking ending 6789 was added"
    )
    methods = page.get_by_test_id("payment-methods")
    expect(methods).to_contain_text("Checking ending 6789")
    expect(page.locator("body")).not_to_contain_text("tok_ach_6789")

    page.get_by_role("button", name="Make Checking ending 6789 the default").click()
    ach_row = methods.locator("li", has_text="Checking ending 6789")
    expect(ach_row).to_contain_text("Default")
    expect(methods.locator("li", has_text="Visa ending 4242")).not_to_contain_text("Default")

    page.get_by_role("switch", name="Auto-Pay").check()
    page.get_by_role("button", name="Save Auto-Pay").click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_contain_text(
        "payment runs will charge this account's invoices to its default electronic method "
        "(Checking ending 6789)"
    )
    dialog.get_by_role("button", name="Save Auto-Pay").click()
    expect(page.get_by_test_id("account-auto-pay")).to_have_text("On")
    expect(payments.get_by_role("switch", name="Auto-Pay")).to_be_checked()
    assert Account.objects.get(pk=acct.pk).auto_pay is True
