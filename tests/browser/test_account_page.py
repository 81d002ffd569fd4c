"""The operator opens an account from the list and reads its overview."""

import datetime as dt
from decimal import Decimal

from playwright.sync_api import expect

from billing.factories import AccountFactory, ChargeFactory, SubscriptionChargeFactory
from billing.services import InvoiceLine, create_invoice


def test_operator_reads_the_account_overview(page, sign_in, operator):
    account = AccountFactory(name="Initech")
    invoice = create_invoice(
        account=account,
        invoice_date=dt.date(2026, 10, 1),
        lines=[
            InvoiceLine(
                charge=ChargeFactory(name="Platform"), quantity=Decimal(1), unit_price=Decimal(250)
            )
        ],
        post=True,
    )
    SubscriptionChargeFactory(
        subscription__account=account,
        charge=ChargeFactory(name="Seats"),
        quantity=Decimal(12),
        charged_through_date=dt.date(2026, 12, 1),
    )
    sign_in(operator)
    page.get_by_role("link", name="Accounts", exact=True).click()
    page.get_by_role("link", name=account.number).click()
    summary = page.get_by_test_id("account-summary")
    expect(summary).to_contain_text("Invoice Balance")
    expect(page.get_by_test_id("account-balance")).to_have_text(f"USD {invoice.amount:,.2f}")
    expect(page.get_by_test_id("account-last-invoice")).to_contain_text(invoice.number)
    subscriptions = page.get_by_role("region", name="Subscriptions")
    expect(subscriptions).to_contain_text("Seats")
    expect(subscriptions).to_contain_text("2026-12-01")
    expect(subscriptions.get_by_role("cell", name="12", exact=True)).to_be_visible()
