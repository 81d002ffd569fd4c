"""The operator signs in and finds an invoice."""

import datetime as dt
import re
from decimal import Decimal

from playwright.sync_api import expect

from billing.factories import AccountFactory, ChargeFactory
from billing.services import InvoiceLine, create_invoice


def test_operator_signs_in_and_opens_an_invoice(page, sign_in, operator):
    account = AccountFactory(name="Acme Rockets")
    invoice = create_invoice(
        account=account,
        invoice_date=dt.date(2026, 10, 1),
        lines=[
            InvoiceLine(
                charge=ChargeFactory(name="Platform"),
                quantity=Decimal(1),
                unit_price=Decimal("100"),
            ),
            InvoiceLine(
                charge=ChargeFactory(name="Support"),
                quantity=Decimal(2),
                unit_price=Decimal("25.50"),
            ),
        ],
        post=True,
    )

    sign_in(operator)
    expect(page).to_have_title("Home · Memodesk")
    expect(page.get_by_test_id("user-name")).to_contain_text(operator.get_full_name())

    page.get_by_role("link", name="Invoices", exact=True).click()
    expect(page).to_have_title("Invoices · Memodesk")
    page.get_by_role("link", name=invoice.number).click()

    expect(page).to_have_title(f"{invoice.number} · Memodesk")
    expect(page.get_by_role("heading", level=1)).to_contain_text(invoice.number)
    expect(page.get_by_test_id("invoice-amount")).to_have_text("USD 166.10")
    expect(page.get_by_test_id("invoice-balance")).to_have_text("USD 166.10")
    expect(page.get_by_role("cell", name="Support")).to_be_visible()
    page.get_by_role("link", name=account.number).first.click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Acme Rockets")


def test_wrong_password_shows_an_error_and_stays_signed_out(page, operator):
    page.goto("/invoices/")
    expect(page).to_have_url(re.compile(r"/login/\?next=/invoices/$"))
    page.get_by_label("Username").fill(operator.username)
    page.get_by_label("Password").fill("not-the-password")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_contain_text("correct username and password")
