"""Credit insight (DOMAIN.md 8): every figure equals the sum computed here, independently, from
the memos; each view's CSV equals its table; a bar's link opens a memo list whose total equals
the bar; the sums follow posts, unposts, reason code changes and bill runs."""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from collections import defaultdict
from decimal import Decimal
from html import unescape

import pytest
from django.urls import reverse

from billing import roles
from billing.factories import AccountFactory, UserFactory, currency
from memos.insight import VIEWS, InsightFilter, credit_insight, month_end
from memos.models import CreditInsight, Memo, MemoStatus, MemoType, ReasonCode
from memos.services.insight import rebuild_credit_insight
from memos.services.lifecycle import post_memo, unpost_memo, update_memo_header
from tests.memos.creation_helpers import from_invoice, items_of, posted_invoice, row

pytestmark = pytest.mark.django_db

START, END = dt.date(2025, 1, 1), dt.date(2025, 12, 31)


def code(name: str) -> ReasonCode:
    return ReasonCode.objects.get(code_type="credit_memo", name=name)


@pytest.fixture
def world(operator, billing_admin):
    """Posted credit memos over two months, two users, three reasons, two batches, USD and EUR,
    plus drafts and a debit memo that must not count."""
    other = UserFactory(username="operator3", roles=[roles.BILLING_OPERATOR])
    usd = [AccountFactory(currency=currency("USD"), batch=b) for b in ("Batch1", "Batch2")]
    eur = AccountFactory(currency=currency("EUR"), batch="Batch1")
    plan = [
        (usd[0], "120", "Ad hoc Credit", operator, dt.date(2025, 3, 20)),
        (usd[0], "80.50", "Charge Dispute", other, dt.date(2025, 3, 21)),
        (usd[1], "45", "Ad hoc Credit", other, dt.date(2025, 4, 2)),
        (usd[1], "300", "Write-off", operator, dt.date(2025, 4, 9)),
        (eur, "999", "Ad hoc Credit", operator, dt.date(2025, 4, 9)),
    ]
    memos = []
    for account, amount, reason, actor, day in plan:
        invoice = posted_invoice("1000", invoice_date=dt.date(2025, 3, 10), on_account=account)
        [item] = items_of(invoice)
        memo = from_invoice(
            invoice, [row(item, amount)], actor=actor, reason_code=code(reason), memo_date=day
        )
        memos.append(post_memo(memo=memo, actor=actor))
    # A draft and a debit memo: not credit issued.
    invoice = posted_invoice("1000", invoice_date=dt.date(2025, 3, 10), on_account=usd[0])
    [item] = items_of(invoice)
    from_invoice(invoice, [row(item, "10")], actor=operator)
    debit = from_invoice(invoice, [row(item, "10")], actor=operator, memo_type=MemoType.DEBIT)
    post_memo(memo=debit, actor=operator)
    return memos


def expected(key: str, where: InsightFilter) -> dict[str, Decimal]:
    """The view's label -> amount, summed here from the memos themselves."""
    memos = Memo.objects.filter(
        memo_type=MemoType.CREDIT,
        status=MemoStatus.POSTED,
        currency=where.currency,
        memo_date__range=(where.start, where.end),
    ).select_related("reason_code", "created_by", "account")
    if where.batch:
        memos = memos.filter(account__batch=where.batch)
    sums: dict[str, Decimal] = defaultdict(Decimal)
    for memo in memos:
        if key == "reason":
            sums[memo.reason_code.name] += memo.amount
        elif key == "user":
            sums[memo.created_by.get_full_name()] += memo.amount
        elif key == "month":
            sums[f"{memo.memo_date:%Y-%m}"] += memo.amount
        elif key == "source":
            label = "Bill runs" if memo.source == "bill_run" else "Invoices and charges"
            sums[label] += memo.amount
        elif key == "accounts":
            sums[f"{memo.account.number} {memo.account.name}"] += memo.amount
        elif key == "charge":
            for item in memo.items.select_related("charge__product"):
                sums[f"{item.charge.product.name} / {item.charge.name}"] += item.amount
    return dict(sums)


@pytest.mark.parametrize("batch", ["", "Batch2"])
@pytest.mark.parametrize("key", list(VIEWS))
def test_every_figure_equals_the_sum_of_the_memos(world, key, batch):
    where = InsightFilter(start=START, end=END, currency=currency("USD"), batch=batch)
    view = credit_insight(key, where)
    assert {row.label: row.amount for row in view.rows} == expected(key, where)
    assert view.rows, key


def test_the_sums_follow_unpost_and_a_reason_code_change(world, billing_admin, operator):
    where = InsightFilter(start=START, end=END, currency=currency("USD"))
    first, second = world[0], world[1]
    unpost_memo(memo=first, actor=operator)
    update_memo_header(
        memo=second,
        actor=billing_admin,
        reason_code=code("Write-off"),
        may_change_reason_code=True,
    )
    for key in VIEWS:
        view = credit_insight(key, where)
        assert {row.label: row.amount for row in view.rows} == expected(key, where), key
    # And a rebuild from the memos finds the same sums.
    before = {key: [(r.label, r.amount) for r in credit_insight(key, where).rows] for key in VIEWS}
    rebuild_credit_insight()
    after = {key: [(r.label, r.amount) for r in credit_insight(key, where).rows] for key in VIEWS}
    assert before == after


def query(where: InsightFilter) -> str:
    return where.query_string()


def test_each_csv_equals_its_table(world, operator_client):
    where = InsightFilter(start=START, end=END, currency=currency("USD"))
    html = operator_client.get(reverse("memos:credit_insight") + "?" + query(where)).content
    html = html.decode()
    for key in VIEWS:
        table = re.search(rf'<table[^>]*data-testid="table-{key}">(.*?)</table>', html, re.S)
        body = re.search(r"<tbody>(.*?)</tbody>", table.group(1), re.S).group(1)
        shown = [
            [
                re.sub(r"<[^>]+>", "", unescape(cell)).strip()
                for cell in re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", tr, re.S)
            ]
            for tr in re.findall(r"<tr>(.*?)</tr>", body, re.S)
        ]
        response = operator_client.get(
            reverse("memos:credit_insight_csv", args=[key]) + "?" + query(where)
        )
        assert response.status_code == 200
        rows = list(csv.reader(io.StringIO(response.content.decode())))
        assert len(rows) == len(shown) + 1, key
        for csv_row, cells in zip(rows[1:], shown, strict=True):
            assert csv_row[0] == cells[0], key
            assert csv_row[1] == cells[1].replace(",", ""), key
            assert csv_row[2] == cells[2].replace(",", ""), key
            assert csv_row[3] == cells[3].replace(",", ""), key


def memo_list_total(client, url: str) -> Decimal:
    response = client.get(url)
    assert response.status_code == 200
    assert not response.context["filterset"].errors
    return sum((memo.amount for memo in response.context["rows"]), Decimal(0))


@pytest.mark.parametrize("key", list(VIEWS))
def test_a_bars_link_opens_a_memo_list_whose_total_equals_the_bar(world, operator_client, key):
    where = InsightFilter(start=START, end=END, currency=currency("USD"))
    html = operator_client.get(reverse("memos:credit_insight") + "?" + query(where)).content
    chart = re.search(rf'data-testid="chart-{key}">(.*?)</figure>', html.decode(), re.S).group(1)
    links = [unescape(href) for href in re.findall(r'xlink:href="([^"]+)"', chart)]
    view = credit_insight(key, where)
    assert len(links) == len(view.rows)
    for link, bar in zip(links, view.rows, strict=True):
        assert link == bar.url
        # (By charge: a memo counts whole in the list; here every memo has one item.)
        assert memo_list_total(operator_client, link) == bar.amount, (key, bar.label)


def test_the_page_passes_the_csp_rules(world, operator_client):
    where = InsightFilter(start=START, end=END, currency=currency("USD"))
    url = reverse("memos:credit_insight") + "?" + query(where)
    html = operator_client.get(url).content.decode()
    assert html.count("<svg") == len(VIEWS)
    assert "<svg" in html
    assert "<script" not in html.split("<main", 1)[-1].split("</main>", 1)[0]
    assert "<style" not in html
    assert ' style="' not in html


def test_bad_filters_are_errors_not_everything(operator_client):
    response = operator_client.get(
        reverse("memos:credit_insight"), {"start": "2025-05", "end": "2025-01"}
    )
    assert response.status_code == 200
    assert "The last month is before the first one." in response.content.decode()
    response = operator_client.get(
        reverse("memos:credit_insight_csv", args=["reason"]), {"currency": "XXX"}
    )
    assert response.status_code == 400


def test_insight_needs_the_view_permission(client, no_role_user):
    client.force_login(no_role_user)
    assert client.get(reverse("memos:credit_insight")).status_code == 403


def test_month_end():
    assert month_end(dt.date(2024, 2, 1)) == dt.date(2024, 2, 29)
    assert CreditInsight.Kind.MEMO == "memo"
