"""The home page's attention figures and their links agree: each count is the number of rows the
memo list shows behind its link (a probe saw "Draft memos older than a day: 0" beside a draft dated
2026-09-13, and a link that opened every draft)."""

from __future__ import annotations

import datetime as dt
import re
from html import unescape

import pytest
from django.utils import timezone

from memos.factories import MemoFactory
from memos.models import MemoStatus, TaxStatus, TransferStatus

KEYS = ("old_drafts", "tax_errors", "awaiting_transfer")


def figures(html: str) -> dict[str, tuple[int, str]]:
    found = {}
    for key in KEYS:
        count = re.search(rf'data-testid="attention-{key}">([\d,]+)<', html).group(1)
        link = re.search(rf'<a href="([^"]+)" aria-describedby="attention-{key}"', html).group(1)
        found[key] = (int(count.replace(",", "")), unescape(link))
    return found


@pytest.fixture
def memos(db):
    today = timezone.localdate()
    return [
        MemoFactory(status=MemoStatus.DRAFT, memo_date=dt.date(2026, 9, 13)),
        MemoFactory(status=MemoStatus.DRAFT, memo_date=today - dt.timedelta(days=3)),
        MemoFactory(status=MemoStatus.DRAFT, memo_date=today),  # not a day old
        MemoFactory(status=MemoStatus.DRAFT, memo_date=today, tax_status=TaxStatus.ERROR),
        MemoFactory(
            status=MemoStatus.CANCELED, memo_date=dt.date(2026, 9, 1), tax_status=TaxStatus.ERROR
        ),
        MemoFactory(status=MemoStatus.POSTED, transferred_to_accounting=TransferStatus.NO),
        MemoFactory(status=MemoStatus.POSTED, transferred_to_accounting=TransferStatus.YES),
    ]


def test_each_count_equals_the_rows_behind_its_link(operator_client, memos):
    found = figures(operator_client.get("/").content.decode())
    assert {key: count for key, (count, _) in found.items()} == {
        "old_drafts": 2,
        "tax_errors": 1,
        "awaiting_transfer": 1,
    }
    for key, (count, link) in found.items():
        response = operator_client.get(link)
        assert response.status_code == 200, key
        assert len(response.context["rows"]) == count, key
        assert not response.context["filterset"].errors, key


def test_the_old_drafts_link_does_not_open_every_draft(operator_client, memos):
    _, link = figures(operator_client.get("/").content.decode())["old_drafts"]
    listed = operator_client.get(link).context["rows"]
    assert {m.memo_date for m in listed} == {
        dt.date(2026, 9, 13),
        timezone.localdate() - dt.timedelta(days=3),
    }


def count_home_queries(client) -> int:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as captured:
        assert client.get("/").status_code == 200
    return len(captured)


@pytest.mark.parametrize("who", ["operator", "reviewer", "viewer"])
def test_the_home_page_costs_the_same_queries_for_none_or_many(db, client, request, who):
    """Session, user, roles and permissions, the three attention counts in one statement, the
    running bill runs: 5, with no memo or with many waiting."""
    client.force_login(request.getfixturevalue(who))
    client.get("/")  # warm up
    empty = count_home_queries(client)
    for _ in range(3):
        MemoFactory(status=MemoStatus.DRAFT, memo_date=dt.date(2026, 9, 13))
        MemoFactory(status=MemoStatus.DRAFT, tax_status=TaxStatus.ERROR)
        MemoFactory(status=MemoStatus.POSTED, transferred_to_accounting=TransferStatus.NO)
    assert count_home_queries(client) == empty
    assert empty <= 5


def test_counts_past_the_cap_say_more_than_like_the_list(operator_client, settings, memos):
    settings.APPROXIMATE_COUNT_LIMIT = 1
    html = operator_client.get("/").content.decode()
    assert re.search(r'data-testid="attention-old_drafts">More than 1<', html)
    assert re.search(r'data-testid="attention-tax_errors">1<', html)
    _, link = figures(html.replace(">More than ", ">"))["old_drafts"]
    listed = operator_client.get(link).content.decode()
    assert re.search(r'data-testid="list-total">\s*More than 1 memo', listed)
