"""The credit memo from an invoice, in Chromium: issue 10's fixes 1-3, Save and post, the live
totals region and the 768 px reflow."""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal

from playwright.sync_api import expect

from billing.factories import AccountFactory, ChargeFactory, TaxCodeFactory, TaxRateFactory
from billing.factories import currency as currency_of
from billing.services import InvoiceLine, create_invoice
from memos.models import Memo, MemoStatus, MemoType
from memos.services import InvoiceItemLine, create_memo_from_invoice
from memos.services.lifecycle import post_memo
from tests.browser.test_accessibility import violations

D = Decimal
INVOICE_DATE = dt.date(2026, 10, 1)


def invoice_of(*lines: tuple[str, str], code: str = "USD", tax_code=None):
    """A posted invoice with one line per (charge name, unit price)."""
    return create_invoice(
        account=AccountFactory(name="Globex", currency=currency_of(code)),
        invoice_date=INVOICE_DATE,
        lines=[
            InvoiceLine(
                charge=ChargeFactory(name=name, **({"tax_code": tax_code} if tax_code else {})),
                quantity=D(1),
                unit_price=D(price),
            )
            for name, price in lines
        ],
        post=True,
    )


def credit_in_full(invoice, item):
    memo = create_memo_from_invoice(
        invoice=invoice,
        memo_type=MemoType.CREDIT,
        lines=[InvoiceItemLine(invoice_item=item, amount=item.amount_excl_tax)],
        actor=None,
        memo_date=INVOICE_DATE,
    )
    post_memo(memo=memo, actor=None)


def open_credit_form(page, invoice):
    page.goto(f"/invoices/{invoice.number}/memos/new/?type=credit")
    expect(page.get_by_role("heading", level=1)).to_have_text(
        f"New credit memo from {invoice.number}"
    )


def expect_no_errors(page):
    expect(page.locator(".is-invalid")).to_have_count(0)
    expect(page.get_by_test_id("page-errors")).to_have_count(0)
    for errors in page.locator("[id^=row-][id$=-errors]").all():
        expect(errors).to_be_empty()
    expect(page.locator("#memo-totals .text-danger")).to_have_count(0)


def test_fix_1_a_partly_credited_invoice_with_a_negative_line_opens_without_an_error(
    page, sign_in, operator
):
    invoice = invoice_of(("Platform", "100"), ("Support", "50"), ("Loyalty Credit", "-10"))
    platform, support, _ = invoice.items.order_by("sort_order")
    credit_in_full(invoice, support)
    sign_in(operator)
    open_credit_form(page, invoice)

    expect_no_errors(page)
    # The credited row is unselected and disabled, and says why.
    expect(page.get_by_label("Include, Support")).to_be_disabled()
    expect(page.get_by_label("Include, Support")).not_to_be_checked()
    expect(page.get_by_test_id("nothing-left")).to_have_text("Nothing left to credit")
    # The negative line mirrors as a negative credit line: the default is what is available.
    expect(page.get_by_label("Credit memo amount, Loyalty Credit")).to_have_value("-10.00")
    expect(page.get_by_test_id("total-amount")).to_have_text("USD 99.00")  # 110.00 - 11.00

    page.get_by_role("button", name="Save as draft").click()
    expect(page).to_have_title(re.compile(r"^CM\d{8} · Memodesk$"))
    memo = Memo.objects.get(status=MemoStatus.DRAFT)
    assert memo.amount == D("99.00")


def test_fix_2_the_tax_per_item_is_capped_beside_its_row(page, sign_in, operator):
    code = TaxCodeFactory()
    TaxRateFactory(tax_code=code, rate=D("5.85"))
    invoice = invoice_of(("Platform", "100"), tax_code=code)
    sign_in(operator)
    open_credit_form(page, invoice)

    page.get_by_label("Calculate tax automatically").uncheck()
    page.get_by_label("Credit memo amount, Platform").fill("0")
    page.get_by_label("Tax, Platform").fill("5.86")
    row_errors = page.locator(f"#row-item-{invoice.items.get().pk}-errors")
    expect(row_errors).to_have_text("At most 5.85 of tax available to credit on this item.")

    page.get_by_label("Tax, Platform").fill("5.85")
    expect(row_errors).to_be_empty()
    expect(page.get_by_test_id("total-amount")).to_have_text("USD 5.85")


def test_fix_3_amounts_show_the_currency_places_and_the_available_figure_can_be_typed(
    page, sign_in, operator
):
    yen = invoice_of(("Platform", "432000"), code="JPY")
    sign_in(operator)
    open_credit_form(page, yen)
    expect(page.get_by_label("Credit memo amount, Platform")).to_have_value("432000")
    expect_no_errors(page)

    invoice = invoice_of(("Platform", "1500"))
    open_credit_form(page, invoice)
    amount = page.get_by_label("Credit memo amount, Platform")
    expect(amount).to_have_value("1500.00")
    shown = page.get_by_test_id("available").inner_text()
    assert shown == "1,500.00"
    amount.fill("")
    amount.fill(shown)  # typed as shown, thousands separator included
    expect(page.get_by_test_id("total-amount")).to_have_text("USD 1,650.00")
    expect_no_errors(page)


def test_save_and_post(page, sign_in, operator):
    invoice = invoice_of(("Platform", "200"))
    sign_in(operator)
    open_credit_form(page, invoice)
    page.get_by_role("button", name="Save and post").click()
    expect(page.get_by_role("status")).to_contain_text("was created and posted")
    memo = Memo.objects.get()
    assert memo.status == MemoStatus.POSTED
    expect(page.get_by_role("heading", level=1)).to_contain_text(memo.number)


def test_the_live_totals_update_inside_a_region_that_stays(page, sign_in, operator):
    invoice = invoice_of(("Platform", "200"))
    sign_in(operator)
    open_credit_form(page, invoice)
    region = page.locator("#memo-totals")
    expect(region).to_have_attribute("aria-live", "polite")
    region.evaluate("node => { node.dataset.kept = 'yes'; }")
    page.get_by_label("Credit memo amount, Platform").fill("40")
    expect(page.get_by_test_id("total-amount")).to_have_text("USD 44.00")
    # The same element, not a replacement: screen readers hear the change.
    expect(region).to_have_attribute("data-kept", "yes")


def test_at_768_px_the_amount_inputs_stay_on_screen(page, sign_in, operator):
    invoice = invoice_of(*[(f"Charge line {n}", "100") for n in range(1, 6)])
    page.set_viewport_size({"width": 768, "height": 900})
    sign_in(operator)
    expect(page.get_by_role("button", name="Toggle navigation")).to_be_visible()
    open_credit_form(page, invoice)
    inputs = page.locator("input[name$='-amount']")
    expect(inputs).to_have_count(5)
    for index in range(5):
        box = inputs.nth(index).bounding_box()
        assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= 768, box
    assert page.evaluate("document.documentElement.scrollWidth") <= 768
    # The reflowed rows are usable: typing updates the total.
    inputs.nth(0).fill("50")
    expect(page.get_by_test_id("total-amount")).to_have_text("USD 495.00")
    assert violations(page) == []


def test_after_a_failed_save_the_focus_is_on_the_first_field_in_error(page, sign_in, operator):
    invoice = invoice_of(("Platform", "200"), ("Support", "50"))
    sign_in(operator)
    open_credit_form(page, invoice)
    page.get_by_label("Credit memo amount, Support").fill("999")
    # Sent at once, before the live preview marks the row: the server's answer does.
    page.get_by_label("Credit memo amount, Support").press("Enter")
    expect(page.get_by_label("Credit memo amount, Support")).to_be_focused()
    expect(page.get_by_label("Credit memo amount, Support")).to_have_attribute(
        "aria-invalid", "true"
    )
    assert not Memo.objects.exists()
