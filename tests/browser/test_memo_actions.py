"""Actions the memo's state refuses are not offered as if they would work (a probe clicked "Cancel
Post" on a memo Transferred to Accounting: Yes, and only then learned it was refused)."""

from playwright.sync_api import expect

from memos.factories import MemoFactory


def test_cancel_post_says_why_it_is_not_available(page, sign_in, operator):
    memo = MemoFactory(status="posted", unapplied_amount="44", transferred_to_accounting="yes")
    sign_in(operator)
    page.goto(memo.get_absolute_url())
    page.get_by_role("button", name="More").click()
    reason = page.get_by_test_id("unpost-refused")
    expect(reason).to_be_visible()
    expect(reason).to_contain_text("is Transferred to Accounting: Yes")
    expect(page.get_by_role("button", name="Cancel Post")).to_have_count(0)


def test_cancel_post_is_offered_where_it_works(page, sign_in, operator):
    memo = MemoFactory(status="posted", unapplied_amount="44")
    sign_in(operator)
    page.goto(memo.get_absolute_url())
    page.get_by_role("button", name="More").click()
    page.get_by_role("button", name="Cancel Post").click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_be_visible()
    dialog.get_by_role("button", name="Cancel Post").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Draft")
    expect(page.get_by_role("button", name="Post", exact=True)).to_be_visible()
