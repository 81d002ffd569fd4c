"""Operators create memos in a real browser: from an invoice, and standalone from charges."""

import datetime as dt
import re
from decimal import Decimal

from playwright.sync_api import expect

from billing.factories import AccountFactory, ChargeFactory, ChargePriceFactory
from billing.models import ChargeModel, ChargeType
from billing.services import InvoiceLine, create_invoice
from memos.models import Memo


def test_operator_creates_a_partial_credit_memo_from_an_invoice(page, sign_in, operator):
    account = AccountFactory(name="Globex")
    invoice = create_invoice(
        account=account,
        invoice_date=dt.date(2026, 10, 1),
        lines=[
            InvoiceLine(
                charge=ChargeFactory(name="Platform"), quantity=Decimal(1), unit_price=Decimal(200)
            ),
            InvoiceLine(
                charge=ChargeFactory(name="Support"), quantity=Decimal(1), unit_price=Decimal(50)
            ),
        ],
        post=True,
    )
    sign_in(operator)
    page.goto(invoice.get_absolute_url())
    page.get_by_role("link", name="Create credit memo").click()
    expect(page.get_by_role("heading", level=1)).to_have_text(
        f"New credit memo from {invoice.number}"
    )
    # All rows are selected with their full amounts: 200 + 50 plus 10% tax.
    expect(page.get_by_test_id("total-amount")).to_have_text("USD 275.00")

    page.get_by_label("Include, Support").uncheck()
    expect(page.get_by_test_id("total-amount")).to_have_text("USD 220.00")
    amount = page.get_by_label("Credit memo amount, Platform")
    amount.fill("40")
    # The total changes as the operator types, before anything is submitted.
    expect(page.get_by_test_id("total-amount")).to_have_text("USD 44.00")
    expect(page.get_by_test_id("total-tax")).to_have_text("USD 4.00")
    assert Memo.objects.count() == 0

    page.get_by_role("button", name="Save as draft").click()
    expect(page).to_have_title(re.compile(r"^CM\d{8} · Memodesk$"))
    memo = Memo.objects.get()
    expect(page.get_by_role("heading", level=1)).to_contain_text(memo.number)
    expect(page.get_by_role("status")).to_contain_text(f"Credit memo {memo.number} was created")
    summary = page.get_by_test_id("memo-summary")
    expect(page.get_by_test_id("memo-amount")).to_have_text("USD 44.00")
    expect(page.get_by_test_id("memo-unapplied")).to_have_text("USD 44.00")
    expect(summary.get_by_role("link", name=invoice.number)).to_be_visible()
    assert [item.charge_name for item in memo.items.all()] == ["Platform"]


def test_operator_creates_a_debit_memo_from_two_charges_one_usage_without_quantity(
    page, sign_in, operator
):
    account = AccountFactory(name="Initech")
    setup = ChargeFactory(name="Setup Fee", charge_type=ChargeType.ONE_TIME)
    usage = ChargeFactory(
        name="Data Transfer", charge_type=ChargeType.USAGE, charge_model=ChargeModel.PER_UNIT
    )
    ChargePriceFactory(charge=setup)
    ChargePriceFactory(charge=usage)

    sign_in(operator)
    page.goto(account.get_absolute_url())
    page.get_by_role("link", name="New debit memo").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("New debit memo from charges")
    expect(page.get_by_role("combobox", name="Customer Account")).to_have_value(account.number)

    page.get_by_label("Charge, line 1").select_option(label=str(setup))
    # The list price (ChargePriceFactory: 50) is filled in; the operator types over it.
    expect(page.get_by_label("Unit price, Setup Fee")).to_have_value("50")
    page.get_by_label("Unit price, Setup Fee").fill("100")
    page.get_by_role("button", name="Add charge").click()
    page.get_by_label("Charge, line 2").select_option(label=str(usage))
    expect(page.get_by_label("Unit price, Data Transfer")).to_have_value("50")
    page.get_by_label("Unit price, Data Transfer").fill("12.50")
    # The usage line's quantity stays empty.
    expect(page.get_by_label("Quantity, Data Transfer")).to_have_value("")
    expect(page.get_by_test_id("total-amount")).to_have_text("USD 123.75")

    page.get_by_role("button", name="Save as draft").click()
    expect(page).to_have_title(re.compile(r"^DM\d{8} · Memodesk$"))
    memo = Memo.objects.get()
    assert memo.memo_type == "debit" and memo.account == account
    usage_item = memo.items.get(charge=usage)
    assert usage_item.quantity == 1
    expect(page.get_by_test_id("memo-amount")).to_have_text("USD 123.75")
    expect(page.get_by_test_id("memo-balance")).to_have_text("USD 123.75")
    expect(page.get_by_role("row", name=re.compile("Data Transfer"))).to_contain_text("1 GB")
