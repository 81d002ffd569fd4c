"""The memo page's history follows an in-place change of Transferred to Accounting."""

from playwright.sync_api import expect

from memos.factories import MemoFactory
from memos.models import MemoStatus


def test_history_shows_the_transfer_change_without_a_reload(page, sign_in, reviewer):
    memo = MemoFactory(status=MemoStatus.POSTED)
    sign_in(reviewer)
    page.goto(memo.get_absolute_url())
    page.evaluate("window.noReload = true")
    page.get_by_test_id("transfer-select").select_option(label="Processing")
    page.get_by_role("button", name=f"Save Transferred to Accounting for {memo.number}").click()
    expect(page.get_by_test_id("memo-history")).to_contain_text(
        "Transferred to Accounting: No → Processing"
    )
    assert page.evaluate("window.noReload") is True
    # Processing needs no confirmation, and the focus stays on the control just saved.
    expect(page.get_by_test_id("transfer-select")).to_be_focused()
