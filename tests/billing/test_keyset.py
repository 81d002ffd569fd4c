"""Keyset pages (billing.keyset, DESIGN.md rule 8): "after the cursor" is one row-value comparison
`(sort key..., id) < (...)`, which PostgreSQL can use as an index condition, and it pages over
ties in the sort key exactly like the ORDER BY it walks, on both databases. The amount sorts group
by currency (issue 10: sorting by amount never interleaves currencies)."""

from __future__ import annotations

import datetime as dt
import itertools
import re
from decimal import Decimal

import pytest
from django.db import connection
from django.db.models import F, Value
from django.test.utils import CaptureQueriesContext

from billing.factories import AccountFactory, InvoiceFactory, currency
from billing.keyset import InvalidCursor, RowCompare, decode_cursor, encode_cursor, paginate
from billing.models import Invoice
from memos.factories import MemoFactory
from memos.models import Memo

pytestmark = pytest.mark.django_db

D1 = dt.date(2026, 9, 1)
CURRENCIES = ("USD", "JPY", "KWD")


@pytest.fixture
def client(client, viewer):
    client.force_login(viewer)
    return client


@pytest.fixture
def memos_with_ties():
    """18 memos: three currencies, dates and amounts that tie across and within currencies."""
    accounts = {code: AccountFactory(currency=currency(code)) for code in CURRENCIES}
    made = []
    for n in range(18):
        made.append(
            MemoFactory(
                account=accounts[CURRENCIES[n * 5 % 3]],
                memo_date=D1 + dt.timedelta(days=n % 3),
                amount_excl_tax=Decimal((n * 7) % 4),
                tax_amount=Decimal("0"),
            )
        )
    return made


def walk(queryset, sort, descending, size):
    """Every page forward from the start, then backward from the last page: (forward, backward)."""
    pages, cursor = [], None
    while True:
        page = paginate(queryset, sort=sort, descending=descending, page_size=size, after=cursor)
        pages.append([row.pk for row in page.rows])
        if not page.next_cursor:
            break
        cursor = page.next_cursor
    back, page = [pages[-1]], page
    while page.previous_cursor:
        page = paginate(
            queryset, sort=sort, descending=descending, page_size=size, before=page.previous_cursor
        )
        back.append([row.pk for row in page.rows])
    return pages, back


@pytest.mark.parametrize(
    ("sort", "key"),
    [
        ("memo_date", lambda m: (m.memo_date, m.pk)),
        ("amount", lambda m: (m.amount, m.pk)),
        ("number", lambda m: (m.number, m.pk)),
        (("currency", "amount"), lambda m: (m.currency_id, m.amount, m.pk)),
        (("currency", "memo_date"), lambda m: (m.currency_id, m.memo_date, m.pk)),
    ],
    ids=["date", "amount", "number", "currency-amount", "currency-date"],
)
@pytest.mark.parametrize("descending", [False, True], ids=["asc", "desc"])
@pytest.mark.parametrize("size", [1, 4, 5])
def test_pages_walk_ties_in_order_both_ways(memos_with_ties, sort, key, descending, size):
    expected = [m.pk for m in sorted(memos_with_ties, key=key, reverse=descending)]
    forward, backward = walk(Memo.objects.all(), sort, descending, size)
    assert [pk for page in forward for pk in page] == expected
    assert all(len(page) == size for page in forward[:-1])
    assert backward == list(reversed(forward))


def test_after_any_row_is_exactly_the_rows_after_it(memos_with_ties):
    """From every row as the cursor, both ways: the rows the ORDER BY puts after (before) it."""
    ordered = sorted(memos_with_ties, key=lambda m: (m.currency_id, m.amount, m.pk))
    sort = ("currency", "amount")
    for index, memo in enumerate(ordered):
        cursor = encode_cursor((memo.currency_id, memo.amount), memo.pk)
        after = paginate(
            Memo.objects.all(), sort=sort, descending=False, page_size=99, after=cursor
        )
        assert [m.pk for m in after.rows] == [m.pk for m in ordered[index + 1 :]]
        before = paginate(
            Memo.objects.all(), sort=sort, descending=False, page_size=99, before=cursor
        )
        assert [m.pk for m in before.rows] == [m.pk for m in ordered[:index]]


def test_the_page_filter_is_one_row_comparison(client, settings):
    settings.PAGE_SIZE = 2
    for n in range(3):
        MemoFactory(memo_date=D1 + dt.timedelta(days=n))
    cursor = client.get("/memos/").context["page"].next_cursor
    with CaptureQueriesContext(connection) as captured:
        response = client.get("/memos/", {"after": cursor})
    assert len(response.context["rows"]) == 1
    [page_sql] = [
        q["sql"]
        for q in captured.captured_queries
        if q["sql"].startswith('SELECT "memos_memo"."id"') and "ORDER BY" in q["sql"]
    ]
    where = page_sql.split(" WHERE ", 1)[1].split(" ORDER BY ", 1)[0]
    assert re.fullmatch(r'\("memos_memo"\."memo_date", "memos_memo"\."id"\) < \(.+, .+\)', where)
    assert " OR " not in where


def test_row_compare_compares_column_by_column():
    a, b, c = (
        MemoFactory(memo_date=D1, amount_excl_tax=Decimal(n), tax_amount=0) for n in (1, 2, 2)
    )
    key = [F("memo_date"), F("amount"), F("id")]

    def matching(op, date, amount, pk):
        values = [Value(date), Value(Decimal(amount), output_field=Memo._meta.get_field("amount"))]
        row = RowCompare(key, op, [*values, Value(pk)])
        return set(Memo.objects.filter(row).values_list("pk", flat=True))

    assert matching("<", D1, "2.00", b.pk) == {a.pk}
    assert matching(">", D1, "2.00", b.pk) == {c.pk}
    assert matching(">", D1 - dt.timedelta(days=1), "99", 0) == {a.pk, b.pk, c.pk}
    assert matching("<", D1, "1.5", 10**9) == {a.pk}
    with pytest.raises(ValueError):
        RowCompare(key, "<=", key)
    with pytest.raises(ValueError):
        RowCompare(key, "<", key[:2])


@pytest.mark.parametrize(
    "cursor",
    [
        encode_cursor("2026-01-01", 1),  # a one-column cursor for a two-column key
        encode_cursor(("USD", "1", "x"), 1),
        encode_cursor(("USD", "not a number"), 1),
        encode_cursor(("USD", "1e999"), 1),
        encode_cursor(("USD\x00", "1"), 1),
    ],
)
def test_a_cursor_of_another_shape_is_invalid(cursor):
    fields = [Memo._meta.get_field("currency"), Memo._meta.get_field("amount")]
    with pytest.raises(InvalidCursor):
        decode_cursor(cursor, fields)


def test_a_cursor_round_trips_its_values():
    fields = [Memo._meta.get_field("currency"), Memo._meta.get_field("amount")]
    assert decode_cursor(encode_cursor(("KWD", Decimal("1.250")), 7), fields) == (
        ("KWD", Decimal("1.250")),
        7,
    )
    # A one-column key keeps the cursor a (value, id) pair.
    date_field = Memo._meta.get_field("memo_date")
    assert decode_cursor(encode_cursor(D1, 3), date_field) == (D1, 3)


# --- the amount sorts never interleave currencies (issue 10) ------------------------------------


def currency_runs(codes: list[str]) -> list[str]:
    return [code for code, _ in itertools.groupby(codes)]


@pytest.mark.parametrize("sort", ["amount", "-amount"])
def test_memo_amount_sort_groups_currencies_on_every_page(client, settings, memos_with_ties, sort):
    settings.PAGE_SIZE = 4
    descending = sort.startswith("-")
    listed, after = [], None
    while True:
        response = client.get("/memos/", {"sort": sort} | ({"after": after} if after else {}))
        listed += response.context["rows"]
        after = response.context["page"].next_cursor
        if not after:
            break
    codes = [memo.currency_id for memo in listed]
    # Each currency once, in code order (reversed with the sort), its amounts in order inside it.
    assert currency_runs(codes) == sorted(set(codes), reverse=descending)
    assert len(currency_runs(codes)) == len(CURRENCIES)
    expected = sorted(
        memos_with_ties, key=lambda m: (m.currency_id, m.amount, m.pk), reverse=descending
    )
    assert [m.pk for m in listed] == [m.pk for m in expected]
    # The export writes them in the same order.
    body = b"".join(client.get("/memos/export.csv", {"sort": sort}).streaming_content).decode()
    assert [line.split(",", 1)[0] for line in body.splitlines()[1:]] == [m.number for m in expected]


@pytest.mark.parametrize("sort", ["amount", "-amount", "balance", "-balance"])
def test_invoice_amount_sorts_group_currencies(client, settings, sort):
    settings.PAGE_SIZE = 3
    made = [
        InvoiceFactory(
            account=AccountFactory(currency=currency(CURRENCIES[n % 3])),
            amount_excl_tax=Decimal(n * 7 % 5),
            tax_amount=Decimal("0"),
            balance=Decimal(n * 7 % 5),
        )
        for n in range(10)
    ]
    field = sort.removeprefix("-")
    expected = sorted(
        made,
        key=lambda i: (i.currency_id, getattr(i, field), i.pk),
        reverse=sort.startswith("-"),
    )
    listed, after = [], None
    while True:
        response = client.get("/invoices/", {"sort": sort} | ({"after": after} if after else {}))
        listed += [invoice.pk for invoice in response.context["rows"]]
        after = response.context["page"].next_cursor
        if not after:
            break
    assert listed == [i.pk for i in expected]
    assert len(currency_runs([Invoice.objects.get(pk=pk).currency_id for pk in listed])) == 3


# --- the approximate total rides in the page's query ----------------------------------------


def test_the_total_is_counted_in_the_page_query_up_to_the_cap(client, settings, memos_with_ties):
    settings.PAGE_SIZE, settings.APPROXIMATE_COUNT_LIMIT = 4, 10
    first = client.get("/memos/")
    assert (first.context["total"], first.context["total_capped"]) == (10, True)
    assert "More than 10 memos" in first.content.decode()
    # Every page says the same total: it counts the filters' rows, not the page's.
    second = client.get("/memos/", {"after": first.context["page"].next_cursor})
    assert (second.context["total"], second.context["total_capped"]) == (10, True)
    usd = client.get("/memos/", {"account": memos_with_ties[0].account.number})
    expected = sum(m.account_id == memos_with_ties[0].account_id for m in memos_with_ties)
    assert (usd.context["total"], usd.context["total_capped"]) == (expected, False)
    assert expected < 10


def test_an_empty_page_still_has_its_total(client, settings, memos_with_ties):
    settings.APPROXIMATE_COUNT_LIMIT = 100
    newest = max(memos_with_ties, key=lambda m: (m.memo_date, m.pk))
    # Before the newest memo, walking backwards: nothing; the total is asked for on its own.
    response = client.get("/memos/", {"before": encode_cursor(newest.memo_date, newest.pk)})
    assert response.context["rows"] == []
    assert (response.context["total"], response.context["total_capped"]) == (18, False)
    nothing = client.get("/memos/", {"number": "no such number"})
    assert (nothing.context["total"], nothing.context["total_capped"]) == (0, False)
