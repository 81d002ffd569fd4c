"""Where the keyboard focus lands after each action (issue: the operator's day, accessibility):
never on the page body."""

from playwright.sync_api import expect

from memos.factories import MemoFactory
from memos.models import MemoStatus, TransferStatus


def focused_id(page) -> str:
    return page.evaluate("document.activeElement.id || document.activeElement.tagName")


def test_closing_a_dialog_opened_from_more_returns_focus_to_more(page, sign_in, operator):
    memo = MemoFactory()
    sign_in(operator)
    page.goto(memo.get_absolute_url())
    more = page.get_by_role("button", name="More")
    more.click()
    page.get_by_role("button", name="Cancel memo").click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_be_visible()
    # The dialog opens on its safe choice; Escape closes it.
    expect(dialog.get_by_role("button", name="Keep memo")).to_be_focused()
    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()
    expect(more).to_be_focused()


def test_after_a_full_page_action_the_heading_has_the_focus(page, sign_in, operator):
    memo = MemoFactory()
    sign_in(operator)
    page.goto(memo.get_absolute_url())
    page.get_by_role("button", name="Post", exact=True).click()
    expect(page.locator("#messages")).to_contain_text("posted")
    expect(page.get_by_role("heading", level=1)).to_be_focused()


def test_after_mark_selected_the_focus_stays_on_the_button_used(page, sign_in, reviewer):
    memos = [MemoFactory(status=MemoStatus.POSTED) for _ in range(2)]
    sign_in(reviewer)
    page.goto("/memos/?status=posted&transferred_to_accounting=no")
    page.get_by_label(f"Select {memos[0].number}", exact=True).check()
    bar = page.get_by_test_id("bulk-transfer")
    bar.get_by_role("button", name="Processing").click()
    expect(page.locator("#messages")).to_contain_text("1 memo marked")
    expect(bar.get_by_role("button", name="Processing")).to_be_focused()
    memos[0].refresh_from_db()
    assert memos[0].transferred_to_accounting == TransferStatus.PROCESSING


def test_invalid_fields_are_announced_invalid(page, sign_in, operator):
    sign_in(operator)
    page.goto("/bill-runs/new/")
    page.get_by_label("Invoice Date").fill("")
    page.get_by_role("button", name="Create bill run").click()
    invalid = page.locator(".is-invalid").first
    expect(invalid).to_have_attribute("aria-invalid", "true")
    # The failed save puts the focus on the first field in error.
    expect(invalid).to_be_focused()
