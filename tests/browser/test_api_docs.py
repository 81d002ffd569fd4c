"""The API docs page (Swagger UI from drf-spectacular-sidecar) works under the strict
Content-Security-Policy: the `page` fixture fails the test on any CSP violation."""

import re

from playwright.sync_api import expect


def test_the_docs_page_shows_the_memo_operations(page, sign_in, viewer, live_server):
    sign_in(viewer)
    page.get_by_role("link", name="API docs").click()
    expect(page).to_have_title("API docs · Memodesk")
    expect(page.get_by_text("Memodesk API").first).to_be_visible()
    expect(page.locator("#operations-memos-memos_list")).to_be_visible()
    expect(page.locator("#operations-memos-memos_from_invoice_create")).to_be_visible()


def test_the_tokens_page_creates_shows_once_and_revokes(page, sign_in, operator, live_server):
    sign_in(operator)
    page.get_by_role("link", name="API", exact=True).click()
    expect(page).to_have_title("API tokens · Memodesk")
    page.get_by_label("Name").fill("Ledger export")
    page.get_by_role("button", name="Create token").click()
    secret = page.get_by_role("textbox", name="Token", exact=True)
    expect(secret).to_have_value(re.compile(r"^mdk_"))
    page.get_by_role("button", name="Revoke").click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_be_visible()
    dialog.get_by_role("button", name="Revoke token").click()
    expect(page.get_by_text("was revoked")).to_be_visible()
    # The token is not shown again; the list says it is revoked.
    expect(page.get_by_role("textbox", name="Token", exact=True)).to_have_count(0)
    expect(page.get_by_text(re.compile(r"^Revoked "))).to_be_visible()
