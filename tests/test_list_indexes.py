"""The statements the list pages and the home page send use the indexes made for them
(PostgreSQL): each page's SQL, captured from the real view over a few thousand rows, is
EXPLAINed, and the plan must name the index. A filter rewritten in a form the index no longer
matches (a different UPPER(), an OR instead of the row comparison, a join instead of the account
subquery) fails here, not at a million rows."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from billing.factories import AccountFactory, currency
from billing.keyset import encode_cursor
from billing.models import Account
from memos.factories import MemoFactory, reason_code
from memos.models import Memo, MemoSource, MemoStatus, MemoType, ReasonCodeType, TaxStatus

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]


@pytest.fixture
def client(client, viewer):
    client.force_login(viewer)
    return client


def plan(sql: str, *, bitmap_only: bool = False, seqscan: bool = False) -> str:
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE memos_memo, billing_account, billing_invoice")
        if not seqscan:
            # A few thousand rows still fit in a few pages, where a scan of the whole table may
            # cost less than any index: price it out, so the plan says whether the index fits.
            cursor.execute("SET LOCAL enable_seqscan = off")
        if bitmap_only:
            # GIN (trigram) indexes are read by bitmap scans only; without this, a full scan of
            # some btree still undercuts them on a table this small.
            cursor.execute("SET LOCAL enable_indexscan = off")
            cursor.execute("SET LOCAL enable_indexonlyscan = off")
        cursor.execute(f"EXPLAIN {sql}")
        return "\n".join(row[0] for row in cursor.fetchall())


def captured(client, url: str, table: str) -> list[str]:
    with CaptureQueriesContext(connection) as queries:
        assert client.get(url).status_code == 200
    return [q["sql"] for q in queries.captured_queries if f'FROM "{table}"' in q["sql"]]


ROWS = 3000


@pytest.fixture
def memos():
    """ROWS memos over ROWS accounts (enough rows for the planner to prefer an index where one
    fits), one in ten a draft; and six drafts, two with a tax error, on an account named Acme."""
    usd, code = currency("USD"), reason_code(ReasonCodeType.CREDIT_MEMO)
    accounts = Account.objects.bulk_create(
        Account(number=f"T{n:08d}", name=f"Customer {n}", currency=usd, bill_cycle_day=1)
        for n in range(ROWS)
    )
    day = dt.date(2025, 1, 1)
    Memo.objects.bulk_create(
        Memo(
            memo_type=MemoType.CREDIT,
            number=f"XM{n:08d}",
            account=accounts[n % len(accounts)],
            currency=usd,
            status=MemoStatus.DRAFT if n % 10 == 0 else MemoStatus.POSTED,
            source=MemoSource.CHARGES,
            memo_date=day + dt.timedelta(days=n % 400),
            amount_excl_tax=Decimal(n % 97),
            tax_amount=Decimal(0),
            amount=Decimal(n % 97),
            reason_code=code,
        )
        for n in range(ROWS)
    )
    acme = AccountFactory(name="Acme Corporation")
    return [
        MemoFactory(
            account=acme,
            memo_date=dt.date(2026, 9, 1) + dt.timedelta(days=n % 4),
            status=MemoStatus.DRAFT,
            tax_status=TaxStatus.ERROR if n % 3 == 0 else "",
        )
        for n in range(6)
    ]


@pytest.mark.parametrize(
    ("url", "index"),
    [
        ("/memos/", "memo_date_keyset"),
        ("/memos/?sort=-amount", "memo_amount_keyset"),
        ("/memos/?sort=amount", "memo_amount_keyset"),
        ("/memos/?number=m00002999", "memo_number_trgm"),
        ("/memos/?account=acme", "account_name_trgm"),
        ("/memos/?account=t00000042", "account_number_upper"),
        ("/invoices/?account=acme", "account_name_trgm"),
        ("/accounts/?q=acme", "account_name_trgm"),
        ("/memos/?status=draft&tax_status=error", "memo_tax_error_keyset"),
        ("/memos/?status=draft&memo_date_before=2026-09-02", "memo_draft_keyset"),
    ],
)
def test_each_list_query_can_use_its_index(client, memos, url, index):
    table = "billing_account" if url.startswith("/accounts/") else url.split("/")[1]
    table = {"memos": "memos_memo", "invoices": "billing_invoice"}.get(table, table)
    [page] = [sql for sql in captured(client, url, table) if "ORDER BY" in sql]
    explained = plan(page, bitmap_only=index.endswith("_trgm"))
    assert index in explained, explained


def test_a_deep_page_starts_in_the_index(client, memos):
    deep = Memo.objects.order_by("-memo_date", "-id")[ROWS * 9 // 10]
    url = f"/memos/?after={encode_cursor(deep.memo_date, deep.pk)}"
    [page] = [sql for sql in captured(client, url, "memos_memo") if "ORDER BY" in sql]
    explained = plan(page)
    assert "Index Cond: (ROW(memo_date, id) < ROW(" in explained, explained


def test_the_tax_error_count_reads_its_partial_index(operator_client, memos):
    [counts] = [sql for sql in captured(operator_client, "/", "memos_memo") if "COUNT(*)" in sql]
    # As the planner has it: the rare tax errors from their own partial index, not from a walk
    # over the drafts (the common ones stop at the cap wherever they are read from).
    explained = plan(counts, seqscan=True)
    assert "Index Only Scan using memo_tax_error_keyset" in explained, explained
