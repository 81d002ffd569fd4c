"""The operator posts a credit memo, applies part of it to two invoices and refunds the rest."""

import datetime as dt
import re
from decimal import Decimal

from playwright.sync_api import expect

from billing.factories import AccountFactory, ChargeFactory
from billing.services import InvoiceLine, create_invoice
from memos.models import Memo
from memos.services import ChargeLine, create_memo_from_charges


def invoice_of(account, amount):
    return create_invoice(
        account=account,
        invoice_date=dt.date(2026, 10, 1),
        lines=[
            InvoiceLine(
                charge=ChargeFactory(taxable=False), quantity=Decimal(1), unit_price=Decimal(amount)
            )
        ],
        post=True,
    )


def test_operator_posts_applies_to_two_invoices_and_refunds_the_rest(page, sign_in, operator):
    account = AccountFactory(name="Hooli")
    first, second = invoice_of(account, "60"), invoice_of(account, "80")
    memo = create_memo_from_charges(
        account=account,
        memo_type="credit",
        lines=[ChargeLine(charge=ChargeFactory(taxable=False), amount=Decimal("100"))],
        memo_date=dt.date(2026, 10, 2),
        actor=operator,
    )

    sign_in(operator)
    page.goto(memo.get_absolute_url())
    page.get_by_role("button", name="Post", exact=True).click()
    expect(page.get_by_role("status")).to_contain_text(f"{memo.number} was posted.")

    page.get_by_role("link", name="Apply", exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Apply {memo.number}")
    page.get_by_label(f"Amount, {first.number}", exact=True).fill("25")
    page.get_by_label(f"Amount, {second.number}", exact=True).fill("40")
    # The unapplied amount left updates as the operator types.
    expect(page.get_by_test_id("apply-remaining")).to_have_text("USD 35.00")
    page.get_by_role("button", name="Apply", exact=True).click()
    expect(page.get_by_role("status")).to_contain_text(f"Applied USD 65.00 of {memo.number}")
    expect(page.get_by_test_id("memo-unapplied")).to_have_text("USD 35.00")

    page.get_by_role("button", name="More").click()
    page.get_by_role("link", name="Refund").click()
    expect(page.get_by_label("Refund amount")).to_have_value("35.00")
    page.get_by_label("Method").select_option(label="Check")
    page.get_by_role("button", name="Refund", exact=True).click()
    expect(page.get_by_role("status")).to_contain_text("Refunded USD 35.00")
    expect(page.get_by_test_id("memo-unapplied")).to_have_text("USD 0.00")
    expect(page.get_by_test_id("memo-refund")).to_have_text("USD 35.00")
    expect(page.get_by_role("row", name=re.compile(first.number))).to_contain_text("25.00")

    page.get_by_role("link", name=first.number).first.click()
    expect(page.get_by_test_id("invoice-balance")).to_have_text("USD 35.00")
    page.goto(second.get_absolute_url())
    expect(page.get_by_test_id("invoice-balance")).to_have_text("USD 40.00")
    memo.refresh_from_db()
    assert (memo.applied_amount, memo.refund_amount, memo.unapplied_amount) == (65, 35, 0)
    assert Memo.objects.count() == 1
