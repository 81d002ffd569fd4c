"""Reviewers mark memos Transferred to Accounting from the memo list, in place (DOMAIN.md 2.5)."""

import re

from playwright.sync_api import expect

from billing.factories import AccountFactory
from memos.factories import MemoFactory
from memos.models import Memo, MemoStatus, MemoType, TransferStatus

MARKER = "window.__memodeskNoReload"


def test_reviewer_marks_a_memo_yes_in_place_and_the_operator_cannot_cancel_its_post(
    page, sign_in, reviewer, operator
):
    memo = MemoFactory(status=MemoStatus.POSTED, account=AccountFactory(name="Globex"))
    other = MemoFactory(status=MemoStatus.POSTED, memo_type=MemoType.DEBIT)

    sign_in(reviewer)
    page.get_by_role("link", name="Memos", exact=True).click()
    expect(page).to_have_title("Memos · Memodesk")
    page.evaluate(f"{MARKER} = 'still here'")
    select = page.get_by_label(f"Transferred to Accounting for {memo.number}", exact=True)
    # An arrow key on the focused select changes the choice but saves nothing.
    select.focus()
    page.keyboard.press("ArrowDown")
    page.keyboard.press("ArrowDown")
    page.wait_for_timeout(300)
    memo.refresh_from_db()
    assert memo.transferred_to_accounting == TransferStatus.NO

    select.select_option("yes")
    control = page.locator(f"#transfer-{memo.number}")
    # Yes is confirmed first; dismissing the question saves nothing.
    questions = []
    page.once("dialog", lambda dialog: (questions.append(dialog.message), dialog.dismiss()))
    control.get_by_role("button", name="Save").click()
    page.wait_for_timeout(300)
    memo.refresh_from_db()
    assert memo.transferred_to_accounting == TransferStatus.NO
    assert questions == [
        f"Mark {memo.number} Transferred to Accounting: Yes? Only an admin can change it back."
    ]
    page.once("dialog", lambda dialog: dialog.accept())
    control.get_by_role("button", name="Save").press("Enter")
    expect(control).to_contain_text("Saved")
    # The control was swapped for itself and keeps the focus (no select is left: Yes is final).
    expect(control).to_be_focused()
    expect(control.get_by_test_id("transfer-value")).to_have_text("Yes")
    # The control was swapped in place: the page (and its window) is the same one.
    assert page.evaluate(MARKER) == "still here"
    expect(
        page.get_by_label(f"Transferred to Accounting for {other.number}", exact=True)
    ).to_have_value("no")
    memo.refresh_from_db()
    assert memo.transferred_to_accounting == TransferStatus.YES
    other.refresh_from_db()
    assert other.transferred_to_accounting == TransferStatus.NO

    page.get_by_role("button", name="Sign out").click()
    sign_in(operator)
    page.goto(memo.get_absolute_url())
    page.get_by_role("button", name="More").click()
    # Cancel Post is not offered: the menu says why before anyone clicks.
    expect(page.get_by_role("button", name="Cancel Post")).to_have_count(0)
    expect(page.get_by_test_id("unpost-refused")).to_contain_text(
        f"{memo.number} is Transferred to Accounting: Yes, so its post cannot be canceled."
    )
    expect(page.get_by_role("heading", level=1)).to_contain_text("Posted")
    memo.refresh_from_db()
    assert memo.status == MemoStatus.POSTED


def test_reviewer_marks_the_selected_memos_yes_in_bulk(page, sign_in, reviewer):
    waiting = [
        MemoFactory(status=MemoStatus.POSTED),
        MemoFactory(status=MemoStatus.POSTED, memo_type=MemoType.DEBIT),
        MemoFactory(status=MemoStatus.POSTED),
    ]
    draft = MemoFactory()
    done = MemoFactory(status=MemoStatus.POSTED, transferred_to_accounting=TransferStatus.YES)

    sign_in(reviewer)
    page.get_by_role("link", name="Review transfers").click()
    expect(page).to_have_url(re.compile(r"/memos/\?status=posted&transferred_to_accounting=no$"))
    for memo in waiting:
        expect(page.get_by_role("link", name=memo.number)).to_be_visible()
    expect(page.get_by_role("link", name=draft.number)).to_have_count(0)
    expect(page.get_by_role("link", name=done.number)).to_have_count(0)
    page.evaluate(f"{MARKER} = 'still here'")

    # Nothing selected: refused, and said so.
    page.on("dialog", lambda dialog: dialog.accept())
    page.get_by_test_id("bulk-transfer").get_by_role("button", name="Yes").click()
    expect(page.locator("#messages")).to_contain_text("select at least one posted memo first")

    page.get_by_label("Select all posted memos on this page").check()
    for memo in waiting:
        expect(page.get_by_label(f"Select {memo.number}", exact=True)).to_be_checked()
    page.get_by_label(f"Select {waiting[2].number}", exact=True).uncheck()
    page.get_by_test_id("bulk-transfer").get_by_role("button", name="Yes").click()

    expect(page.locator("#messages")).to_contain_text(
        f"2 memos marked Transferred to Accounting: Yes: {waiting[0].number}, {waiting[1].number}."
    )
    # One message per event: the earlier refusal is gone, not left above the success.
    expect(page.locator("#messages .alert")).to_have_count(1)
    expect(page.locator("#messages")).not_to_contain_text("Nothing was changed")
    # The filtered table was refreshed in place: the two marked memos have left it.
    expect(page.get_by_role("link", name=waiting[0].number)).to_have_count(0)
    expect(page.get_by_role("link", name=waiting[2].number)).to_be_visible()
    assert page.evaluate(MARKER) == "still here"
    assert [Memo.objects.get(pk=m.pk).transferred_to_accounting for m in waiting] == [
        TransferStatus.YES,
        TransferStatus.YES,
        TransferStatus.NO,
    ]


def test_bulk_yes_is_confirmed_first(page, sign_in, reviewer):
    memo = MemoFactory(status=MemoStatus.POSTED)
    sign_in(reviewer)
    page.goto("/memos/?status=posted")
    page.get_by_label(f"Select {memo.number}", exact=True).check()
    questions = []
    page.once("dialog", lambda dialog: (questions.append(dialog.message), dialog.dismiss()))
    page.get_by_test_id("bulk-transfer").get_by_role("button", name="Yes").click()
    page.wait_for_timeout(300)
    assert questions == [
        "Mark the selected memos Transferred to Accounting: Yes? "
        "Only an admin can change them back."
    ]
    memo.refresh_from_db()
    assert memo.transferred_to_accounting == TransferStatus.NO
    # Processing is not final: no question.
    page.get_by_test_id("bulk-transfer").get_by_role("button", name="Processing").click()
    expect(page.locator("#messages")).to_contain_text("1 memo marked")
    memo.refresh_from_db()
    assert memo.transferred_to_accounting == TransferStatus.PROCESSING
