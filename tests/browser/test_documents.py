"""Customer documents in the browser (issue 14, DOMAIN.md 7): the operator downloads a memo's PDF
and emails a posted memo to the customer; the History shows the send, with the address."""

from __future__ import annotations

from pathlib import Path

from django.core import mail
from playwright.sync_api import expect

from tests.documents.helpers import account_in, make_document, pdf_pages


def test_operator_downloads_the_pdf_and_emails_the_memo(page, sign_in, operator):
    account = account_in("USD", bill_to_email="payables@customer.example")
    memo = make_document("credit_memo", "USD", 3, account=account)
    sign_in(operator)
    page.goto(memo.get_absolute_url())

    with page.expect_download() as download_info:
        page.get_by_role("link", name="Download PDF").click()
    download = download_info.value
    assert download.suggested_filename == f"{memo.number}.pdf"
    text = "\n".join(pdf_pages(Path(download.path()).read_bytes()))
    assert memo.number in text and account.name in text

    page.get_by_role("button", name="Email to customer").click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_be_visible()
    expect(dialog).to_contain_text("payables@customer.example")
    expect(dialog).to_contain_text(memo.number)
    dialog.get_by_role("button", name="Send email").click()

    expect(page.locator("#messages")).to_contain_text(
        "is being emailed to payables@customer.example"
    )
    history = page.get_by_test_id("memo-history")
    expect(history).to_contain_text("Emailed to customer")
    expect(history).to_contain_text("payables@customer.example")
    expect(page.get_by_test_id("document-emails")).to_contain_text("Sent")
    [message] = mail.outbox
    assert message.to == ["payables@customer.example"]
    assert message.attachments[0][0] == f"{memo.number}.pdf"


def test_no_bill_to_email_is_said_before_the_click(page, sign_in, operator):
    account = account_in("USD", bill_to_email="")
    memo = make_document("credit_memo", "USD", 1, account=account)
    sign_in(operator)
    page.goto(memo.get_absolute_url())
    expect(page.get_by_role("button", name="Email to customer")).to_be_disabled()
    expect(page.get_by_test_id("email-refusal-text")).to_contain_text("has no bill-to email")
