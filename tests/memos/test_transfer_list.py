"""Transferred to Accounting from the memo list (DOMAIN.md 2.5, UI.md Lists): the in-place control
per row, reviewers' bulk "Mark selected as", and the export of posted memos not yet transferred."""

from __future__ import annotations

import csv
import io
import re
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from billing.factories import AccountFactory, BillRunFactory, InvoiceFactory, currency
from memos.factories import MemoFactory, ReasonCodeFactory
from memos.models import (
    Memo,
    MemoEvent,
    MemoSource,
    MemoStatus,
    MemoType,
    ReasonCodeType,
    TransferStatus,
)
from memos.views import transfer as transfer_views

pytestmark = pytest.mark.django_db

LIST, EXPORT, BULK = "/memos/", "/memos/export.csv", "/memos/transfer/"
HTMX = {"HX-Request": "true"}
NOT_TRANSFERRED = "?status=posted&transferred_to_accounting=no"


def posted(**kwargs) -> Memo:
    return MemoFactory(status=MemoStatus.POSTED, **kwargs)


def values(*memos: Memo) -> list[str]:
    return [Memo.objects.get(pk=memo.pk).transferred_to_accounting for memo in memos]


def transfer_events(*memos: Memo) -> int:
    return MemoEvent.objects.filter(memo__in=memos, kind=MemoEvent.Kind.TRANSFER_CHANGED).count()


def row_html(content: str, number: str) -> str:
    match = re.search(
        rf"<tr>(?:(?!</tr>).)*?/memos/{number}/\">{number}</a>.*?</tr>", content, re.S
    )
    assert match, number
    return match.group(0)


def page_messages(response) -> list[str]:
    return [str(message) for message in response.context["messages"]]


@pytest.fixture
def rows():
    return {
        "no": posted(),
        "processing": posted(
            memo_type=MemoType.DEBIT, transferred_to_accounting=TransferStatus.PROCESSING
        ),
        "yes": posted(transferred_to_accounting=TransferStatus.YES),
        "draft": MemoFactory(),
        "canceled": MemoFactory(status=MemoStatus.CANCELED),
    }


# --- the list: the control and the checkboxes -----------------------------------------------------


def test_a_reviewer_gets_the_control_and_a_checkbox_on_posted_rows(client, reviewer, rows):
    client.force_login(reviewer)
    content = client.get(LIST).content.decode()
    for key in ("no", "processing"):
        row = row_html(content, rows[key].number)
        assert 'data-testid="transfer-select"' in row, key
        assert f'hx-post="/memos/{rows[key].number}/transfer/"' in row
        assert f'hx-target="#transfer-{rows[key].number}"' in row
        assert f'name="number" value="{rows[key].number}" form="bulk-transfer"' in row
    # At Yes a reviewer cannot change it (no override), so it is text, but still selectable:
    # the bulk action reports it as skipped.
    yes = row_html(content, rows["yes"].number)
    assert "transfer-select" not in yes and "<td>Yes</td>" in yes
    assert f'value="{rows["yes"].number}" form="bulk-transfer"' in yes
    for key in ("draft", "canceled"):
        row = row_html(content, rows[key].number)
        assert "transfer-select" not in row and 'name="number"' not in row, key
        assert "<td>No</td>" in row
    assert 'data-testid="bulk-transfer"' in content and 'data-testid="select-all"' in content
    bar = content.split('data-testid="bulk-transfer"', 1)[1].split("</form>", 1)[0]
    assert 'name="transferred_to_accounting" value="processing"' in bar
    assert 'name="transferred_to_accounting" value="yes"' in bar
    assert '<input type="hidden" name="next" value="/memos/">' in bar


def test_an_admin_may_change_a_yes_from_the_list(client, billing_admin, rows):
    client.force_login(billing_admin)
    content = client.get(LIST).content.decode()
    assert 'data-testid="transfer-select"' in row_html(content, rows["yes"].number)


@pytest.mark.parametrize("role", ["viewer", "operator"])
def test_others_see_plain_text_and_no_selection(client, request, role, rows):
    client.force_login(request.getfixturevalue(role))
    for headers in ({}, HTMX):
        content = client.get(LIST, headers=headers).content.decode()
        assert "transfer-select" not in content and 'id="transfer-' not in content
        # (The filter bar's search box is called "number" too; the checkboxes are not there.)
        assert 'type="checkbox"' not in content and "bulk-transfer" not in content
        assert "select-all" not in content and "/memos/transfer/" not in content
        assert "<td>No</td>" in row_html(content, rows["no"].number)
        assert "<td>Processing</td>" in row_html(content, rows["processing"].number)


def test_no_bar_when_the_page_has_no_posted_memo(client, reviewer):
    MemoFactory()
    client.force_login(reviewer)
    content = client.get(LIST).content.decode()
    assert "bulk-transfer" not in content and "select-all" not in content


def posted_row(index: int) -> Memo:
    """A posted row with every relation, at varied transfer values (control and text cells)."""
    account = AccountFactory(currency=currency(("USD", "JPY", "KWD")[index % 3]))
    credit = index % 2 == 0
    return posted(
        memo_type=MemoType.CREDIT if credit else MemoType.DEBIT,
        account=account,
        source=MemoSource.BILL_RUN if credit else MemoSource.INVOICE,
        invoice=InvoiceFactory(account=account),
        bill_run=BillRunFactory(),
        reason_code=ReasonCodeFactory(
            code_type=ReasonCodeType.CREDIT_MEMO if credit else ReasonCodeType.DEBIT_MEMO
        ),
        transferred_to_accounting=TransferStatus.values[index % len(TransferStatus.values)],
        amount_excl_tax=Decimal("40"),
    )


def count_queries(client, url: str, headers) -> tuple[int, int, str]:
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url, headers=headers)
    assert response.status_code == 200
    sql = "\n".join(q["sql"] for q in captured.captured_queries)
    return len(captured), len(response.context["rows"]), sql


@pytest.mark.parametrize("role", ["reviewer", "billing_admin"])
@pytest.mark.parametrize("url", [LIST, LIST + NOT_TRANSFERRED + "&sort=amount"])
@pytest.mark.parametrize("headers", [{}, HTMX], ids=["page", "htmx"])
def test_queries_are_the_same_for_1_and_50_rows(client, request, role, url, headers):
    client.force_login(request.getfixturevalue(role))
    posted_row(0)
    client.get(url, headers=headers)  # warm up: session, content types
    one, shown, _ = count_queries(client, url, headers)
    assert shown == 1
    for index in range(1, 250):
        posted_row(index)
    fifty, shown, sql = count_queries(client, url, headers)
    assert shown == 50
    content = client.get(url, headers=headers).content.decode()
    assert content.count('data-testid="transfer-select"') >= 10
    assert fifty == one, sql


# --- the bulk endpoint ----------------------------------------------------------------------------


def bulk(client, numbers, value="yes", htmx=False, next_url=LIST, **extra):
    data = {"number": numbers, "transferred_to_accounting": value, "next": next_url, **extra}
    return client.post(BULK, data, headers=HTMX if htmx else {})


def test_a_reviewer_marks_three_posted_memos_yes(client, reviewer):
    memos = [posted(), posted(memo_type=MemoType.DEBIT), posted()]
    client.force_login(reviewer)
    response = bulk(client, [m.number for m in memos], next_url=LIST + "?status=posted")
    assert response.status_code == 302 and response.url == LIST + "?status=posted"
    assert values(*memos) == [TransferStatus.YES] * 3
    events = MemoEvent.objects.filter(memo__in=memos, kind=MemoEvent.Kind.TRANSFER_CHANGED)
    assert events.count() == 3
    assert {event.actor for event in events} == {reviewer}
    assert {event.message for event in events} == {"Transferred to Accounting: No → Yes"}
    followed = client.get(response.url)
    text = " ".join(page_messages(followed))
    assert "3 memos marked Transferred to Accounting: Yes" in text
    assert all(m.number in text for m in memos)


def test_htmx_gets_the_refreshed_results_and_the_messages_out_of_band(client, reviewer, rows):
    client.force_login(reviewer)
    next_url = LIST + NOT_TRANSFERRED
    response = bulk(client, [rows["no"].number], value="processing", htmx=True, next_url=next_url)
    assert response.status_code == 200
    assert "HX-Request" in response["Vary"]
    content = response.content.decode()
    assert "<html" not in content and "<nav" not in content
    assert content.lstrip().startswith('<div id="results">')
    assert '<div id="messages" aria-live="polite" role="status" hx-swap-oob="innerHTML">' in content
    assert f"1 memo marked Transferred to Accounting: Processing: {rows['no'].number}." in content
    assert values(rows["no"]) == [TransferStatus.PROCESSING]
    # The results are the list's for next's filters: the memo marked Processing has left them.
    assert list(response.context["rows"]) == []
    assert response.context["filterset"].data["transferred_to_accounting"] == "no"
    # Its links and forms are the list's, not this endpoint's.
    assert 'href="/memos/">Clear the filters</a>' in content
    assert "/memos/transfer/?" not in content
    assert 'href="/memos/export.csv?status=posted&amp;transferred_to_accounting=no"' in content


def test_drafts_and_canceled_memos_are_refused_and_reported(client, reviewer, rows):
    client.force_login(reviewer)
    selected = [rows[key].number for key in ("no", "draft", "processing", "canceled")]
    response = bulk(client, selected, htmx=True)
    assert values(rows["no"], rows["processing"]) == [TransferStatus.YES] * 2
    assert values(rows["draft"], rows["canceled"]) == [TransferStatus.NO] * 2
    assert transfer_events(rows["draft"], rows["canceled"]) == 0
    text = " ".join(page_messages(response))
    assert f"2 memos marked Transferred to Accounting: Yes: {rows['no'].number}" in text
    skipped = next(m for m in page_messages(response) if "not posted" in m)
    assert skipped.startswith("Skipped 2 memos that are not posted")
    assert f"{rows['draft'].number} (Draft)" in skipped
    assert f"{rows['canceled'].number} (Canceled)" in skipped
    assert rows["no"].number not in skipped


def test_leaving_yes_is_skipped_without_the_override(client, reviewer, rows):
    client.force_login(reviewer)
    response = bulk(client, [rows["yes"].number, rows["no"].number], value="processing")
    assert values(rows["yes"], rows["no"]) == [TransferStatus.YES, TransferStatus.PROCESSING]
    assert transfer_events(rows["yes"]) == 0
    text = " ".join(page_messages(client.get(response.url)))
    assert (
        "Skipped 1 memo already Transferred to Accounting: Yes (changing it from Yes needs the "
        f"override permission): {rows['yes'].number}." in text
    )
    assert f"1 memo marked Transferred to Accounting: Processing: {rows['no'].number}." in text


def test_an_admin_with_the_override_may_leave_yes(client, billing_admin, rows):
    client.force_login(billing_admin)
    response = bulk(client, [rows["yes"].number], value="processing", htmx=True)
    assert values(rows["yes"]) == [TransferStatus.PROCESSING]
    assert transfer_events(rows["yes"]) == 1
    assert "Skipped" not in " ".join(page_messages(response))


def test_memos_already_at_the_value_are_left_and_said_so(client, reviewer, rows):
    client.force_login(reviewer)
    response = bulk(client, [rows["yes"].number, rows["no"].number], htmx=True)
    assert values(rows["yes"], rows["no"]) == [TransferStatus.YES] * 2
    assert transfer_events(rows["yes"]) == 0 and transfer_events(rows["no"]) == 1
    text = " ".join(page_messages(response))
    assert f"1 memo already at Yes, left as they were: {rows['yes'].number}." in text


def test_unknown_numbers_are_reported(client, reviewer, rows):
    client.force_login(reviewer)
    response = bulk(client, ["CM99999999", rows["no"].number, rows["no"].number], htmx=True)
    assert values(rows["no"]) == [TransferStatus.YES]
    assert transfer_events(rows["no"]) == 1  # listed twice, changed once
    assert "No memo with the number CM99999999." in page_messages(response)


@pytest.mark.parametrize("role", ["operator", "viewer", "no_role_user"])
def test_operators_and_viewers_get_403_and_nothing_changes(client, request, role, rows):
    client.force_login(request.getfixturevalue(role))
    for htmx in (False, True):
        response = bulk(client, [rows["no"].number, rows["processing"].number], htmx=htmx)
        assert response.status_code == 403
    assert values(rows["no"], rows["processing"]) == [TransferStatus.NO, TransferStatus.PROCESSING]
    assert transfer_events(*rows.values()) == 0


def test_get_is_405(client, reviewer, rows):
    client.force_login(reviewer)
    assert client.get(BULK, {"number": rows["no"].number}).status_code == 405
    assert client.get(BULK, headers=HTMX).status_code == 405
    assert values(rows["no"]) == [TransferStatus.NO]


def test_anonymous_htmx_gets_a_client_redirect_to_the_login_page(client, rows):
    response = client.post(
        BULK,
        {"number": rows["no"].number, "transferred_to_accounting": "yes"},
        headers={**HTMX, "HX-Current-URL": "http://testserver/memos/?status=posted"},
    )
    assert response.status_code == 200
    assert response["HX-Redirect"].startswith("/login/?next=")
    assert b"<form" not in response.content
    plain = bulk(client, [rows["no"].number])
    assert plain.status_code == 302 and plain.url.startswith("/login/")
    assert values(rows["no"]) == [TransferStatus.NO]


def test_over_the_cap_is_an_error_and_nothing_changes(client, reviewer, rows):
    assert transfer_views.BULK_TRANSFER_LIMIT == 500
    client.force_login(reviewer)
    numbers = [rows["no"].number, rows["processing"].number]
    numbers += [f"CM{n:08d}" for n in range(90_000_000, 90_000_499)]
    assert len(numbers) == 501
    response = bulk(client, numbers, htmx=True)
    assert response.status_code == 200
    assert page_messages(response) == [
        "Nothing was changed: at most 500 memos can be marked at once, and 501 were selected."
    ]
    assert values(rows["no"], rows["processing"]) == [TransferStatus.NO, TransferStatus.PROCESSING]
    assert transfer_events(*rows.values()) == 0
    # Exactly the cap is fine.
    response = bulk(client, numbers[:500], htmx=True)
    assert values(rows["no"], rows["processing"]) == [TransferStatus.YES] * 2


@pytest.mark.parametrize(
    ("numbers", "value", "message"),
    [
        (["no"], "no", "Nothing was changed: mark the memos Processing or Yes."),
        (["no"], "ignore", "Nothing was changed: mark the memos Processing or Yes."),
        (["no"], "", "Nothing was changed: mark the memos Processing or Yes."),
        ([], "yes", "Nothing was changed: select at least one posted memo first."),
    ],
)
def test_a_bad_request_says_why_and_changes_nothing(
    client, reviewer, rows, numbers, value, message
):
    client.force_login(reviewer)
    response = bulk(client, [rows[key].number for key in numbers], value=value)
    assert response.status_code == 302
    assert page_messages(client.get(response.url)) == [message]
    assert values(rows["no"]) == [TransferStatus.NO]


@pytest.mark.parametrize("next_url", ["https://evil.example/", "//evil.example/memos/", ""])
def test_next_must_be_this_site(client, reviewer, rows, next_url):
    client.force_login(reviewer)
    response = bulk(client, [rows["no"].number], next_url=next_url)
    assert response.status_code == 302 and response.url == LIST


# --- the export of posted memos not yet transferred -----------------------------------------------


def exported_numbers(response) -> list[str]:
    assert response.status_code == 200 and response.streaming
    body = b"".join(response.streaming_content).decode()
    return [row[0] for row in list(csv.reader(io.StringIO(body)))[1:]]


@pytest.mark.parametrize("role", ["reviewer", "viewer"])
def test_the_not_transferred_export_has_exactly_the_posted_memos_at_no(client, request, role):
    at_no = [posted(), posted(memo_type=MemoType.DEBIT), posted()]
    for status in (TransferStatus.PROCESSING, TransferStatus.YES, TransferStatus.ERROR):
        posted(transferred_to_accounting=status)
    MemoFactory()
    MemoFactory(status=MemoStatus.CANCELED)
    client.force_login(request.getfixturevalue(role))
    # Whatever the list is filtered by, the link exports the same thing.
    content = client.get(LIST, {"memo_type": "debit"}).content.decode()
    link = re.search(r'href="([^"]+)" data-testid="export-not-transferred"', content).group(1)
    link = link.replace("&amp;", "&")
    assert link == EXPORT + NOT_TRANSFERRED
    assert "Export not yet transferred (CSV)" in content
    assert sorted(exported_numbers(client.get(link))) == sorted(m.number for m in at_no)


def test_review_transfers_on_the_home_page_lands_on_the_filtered_list(client, reviewer):
    waiting = posted()
    posted(transferred_to_accounting=TransferStatus.YES)
    MemoFactory()
    client.force_login(reviewer)
    home = client.get("/").content.decode()
    link = (
        re.search(r'href="([^"]+)"[^>]*>Review transfers</a>', home).group(1).replace("&amp;", "&")
    )
    assert link == LIST + NOT_TRANSFERRED
    response = client.get(link)
    assert [memo.number for memo in response.context["rows"]] == [waiting.number]
    assert 'data-testid="bulk-transfer"' in response.content.decode()
