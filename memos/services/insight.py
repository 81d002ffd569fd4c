"""Keeping the credit insight's sums (memos.models.CreditInsight) up to date (DOMAIN.md 8).

The services that change what counts as credit issued call `record_credit` in their own
transaction: post_memo and the bill run's post (+1), unpost_memo (-1), a reason code changed on a
posted credit memo (-1 under the old code, +1 under the new). Each call is one INSERT ... SELECT
... ON CONFLICT DO UPDATE per kind, adding the memos' sums to their rows, on PostgreSQL and SQLite
alike. `rebuild_credit_insight` recomputes everything from the memos (for data loaded without
the services: the demo data, the benchmark's million memos).
"""

from __future__ import annotations

from django.db import connection, transaction
from django.db.models import QuerySet

from memos.models import CreditInsight, Memo, MemoItem, MemoStatus, MemoType

KEY = (
    "kind, month, currency_id, batch, reason_code_id, created_by_id, from_bill_run, charge_id, "
    "account_id"
)
TABLE = CreditInsight._meta.db_table


def _month(column: str) -> str:
    if connection.vendor == "postgresql":
        return f"CAST(date_trunc('month', {column}) AS date)"
    return f"date({column}, 'start of month')"


def _selects(sign: int) -> dict[str, str]:
    """Per kind, the SELECT list after the key columns' values (count, net, total)."""
    memo, account = Memo._meta.db_table, "billing_account"
    item = MemoItem._meta.db_table
    sums = f"{sign} * COUNT(*), {sign} * SUM({{t}}.amount_excl_tax), {sign} * SUM({{t}}.amount)"
    month = _month("m.memo_date")
    return {
        CreditInsight.Kind.MEMO: (
            f"SELECT 'memo', {month}, m.currency_id, a.batch, m.reason_code_id, "
            "COALESCE(m.created_by_id, 0), m.source = 'bill_run', 0, 0, "
            + sums.format(t="m")
            + f" FROM {memo} m JOIN {account} a ON a.id = m.account_id"
            " WHERE m.id IN ({ids}) GROUP BY 2, 3, 4, 5, 6, 7 ORDER BY 2, 3, 4, 5, 6, 7"
        ),
        CreditInsight.Kind.CHARGE: (
            f"SELECT 'charge', {month}, m.currency_id, a.batch, 0, 0, FALSE, "
            "COALESCE(i.charge_id, 0), 0, "
            + sums.format(t="i")
            + f" FROM {item} i JOIN {memo} m ON m.id = i.memo_id"
            f" JOIN {account} a ON a.id = m.account_id"
            " WHERE m.id IN ({ids}) GROUP BY 2, 3, 4, 8 ORDER BY 2, 3, 4, 8"
        ),
        CreditInsight.Kind.ACCOUNT: (
            f"SELECT 'account', {month}, m.currency_id, a.batch, 0, 0, FALSE, 0, m.account_id, "
            + sums.format(t="m")
            + f" FROM {memo} m JOIN {account} a ON a.id = m.account_id"
            " WHERE m.id IN ({ids}) GROUP BY 2, 3, 4, 9 ORDER BY 2, 3, 4, 9"
        ),
    }


def record_credit(memos: QuerySet[Memo], *, sign: int) -> None:
    """Add (sign=1) or take away (sign=-1) the credit memos of `memos` to or from the sums.

    Call inside the transaction that posts or unposts them, with the memos as they count (a
    reason code change: before with -1, after with +1). Debit memos in `memos` are ignored.
    The summary rows are written in key order (ORDER BY), after the memo rows the caller has
    locked, so two posts touching the same rows wait for each other rather than deadlock (and
    the services retry a deadlock anyway: billing.busy).
    """
    ids_sql, params = (
        memos.filter(memo_type=MemoType.CREDIT).order_by().values("pk").query.sql_with_params()
    )
    with connection.cursor() as cursor:
        for select in _selects(sign).values():
            cursor.execute(
                f"INSERT INTO {TABLE} ({KEY}, memo_count, amount_excl_tax, amount) "
                + select.format(ids=ids_sql)
                + f" ON CONFLICT ({KEY}) DO UPDATE SET"
                f" memo_count = {TABLE}.memo_count + excluded.memo_count,"
                f" amount_excl_tax = {TABLE}.amount_excl_tax + excluded.amount_excl_tax,"
                f" amount = {TABLE}.amount + excluded.amount",
                params,
            )
    # Rows left summing to nothing (everything in them unposted) stay; the pages skip them.


@transaction.atomic
def rebuild_credit_insight() -> int:
    """Recompute every sum from the posted credit memos; returns the number of rows."""
    CreditInsight.objects.all().delete()
    record_credit(Memo.objects.filter(memo_type=MemoType.CREDIT, status=MemoStatus.POSTED), sign=1)
    return CreditInsight.objects.count()
