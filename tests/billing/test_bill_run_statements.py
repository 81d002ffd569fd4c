"""A bill-run chunk runs a fixed number of SQL statements, whatever the number of accounts in it
(billing/bill_runs/chunk.py): a chunk of 10 accounts and one of 200 of the same shape (recurring,
one-time and usage charges, and on every other account a credit charge that outweighs them, so
every generation rule makes invoices and credit memos) run the same statements.

On PostgreSQL the counts are equal. SQLite splits a bulk insert or bulk update into batches of at
most 999 parameters (Django's SQLITE_MAX_VARIABLE_NUMBER), so there the 200-account chunk runs
more INSERT and UPDATE statements; the sequence of statements, with a batch's repeats counted
once, is still the same.
"""

from __future__ import annotations

import datetime as dt
import re
import threading

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext, override_settings

from billing.bill_runs import runner
from billing.bill_runs.chunk import bill_accounts
from billing.factories import BillRunFactory
from billing.management.commands.benchmark_bill_run import build_accounts
from billing.models import (
    BillingSettings,
    BillRun,
    BillRunChunk,
    BillRunScope,
    BillRunStatus,
    GenerationRule,
    Invoice,
)
from memos.models import Memo
from memos.services.bill_runs import bill_run_reason_code

DAY = dt.date(2026, 11, 1)
SMALL, LARGE = 10, 200
# What a chunk may run at most: reads, one bulk insert per table, the two counters, the updates.
MAX_STATEMENTS = 40


def use_rule(rule: str) -> None:
    BillingSettings.objects.filter(pk=BillingSettings.load().pk).update(generation_rule=rule)


def statements(captured: CaptureQueriesContext) -> list[str]:
    return [query["sql"] for query in captured.captured_queries]


def shape(sql: str) -> str:
    """A statement's verb and table, without its values (and savepoints without their names;
    an executemany, one statement, without Django's "N times: " prefix)."""
    sql = re.sub(r"^\d+ times: ", "", sql)
    sql = re.sub(r" AS \(.*?\) UPDATE", " AS (...) UPDATE", sql)  # an update's values
    return re.sub(r'"s\d+_x\d+"', '"savepoint"', re.sub(r"\s+", " ", sql))[:60]


def sequence(sqls: list[str]) -> list[str]:
    """The statements' shapes, consecutive repeats (a bulk write's batches) counted once."""
    shapes: list[str] = []
    for sql in sqls:
        if not shapes or shapes[-1] != shape(sql):
            shapes.append(shape(sql))
    return shapes


def bill(run, account_ids: list[int]) -> tuple[list[str], object]:
    """bill_accounts for `account_ids` in a transaction of its own, as a chunk runs it."""
    rule = BillingSettings.load().generation_rule
    reason_code = bill_run_reason_code()
    with transaction.atomic(), CaptureQueriesContext(connection) as captured:
        result = bill_accounts(
            bill_run=run, account_ids=account_ids, rule=rule, reason_code=reason_code
        )
    return statements(captured), result


def expected_documents(rule: str, accounts: int) -> tuple[int, int]:
    """(invoices, credit memos) for `accounts` accounts, half of them with the big credit."""
    with_credit = accounts // 2
    if rule in (GenerationRule.NET_NEGATIVE_UNGROUPED, GenerationRule.NET_NEGATIVE_GROUPED):
        # Rule 1: the credit accounts get one credit memo; rule 2: their credit charge goes on a
        # credit memo and the rest on an invoice.
        invoices = (
            accounts - with_credit if rule == GenerationRule.NET_NEGATIVE_UNGROUPED else accounts
        )
        return invoices, with_credit
    return accounts, with_credit  # rules 3 and 4: an invoice each, a credit memo for the credits


def assert_same_statements(small: list[str], large: list[str]) -> None:
    assert sequence(small) == sequence(large)
    assert len(small) < MAX_STATEMENTS, small
    if connection.vendor == "postgresql":
        assert len(small) == len(large), (len(small), len(large))
    else:
        # SQLite batches of at most 999 parameters: the large chunk's extra statements are
        # only more batches of the same bulk writes.
        assert len(large) >= len(small)
        extra = {shape(sql) for sql in large} - {shape(sql) for sql in small}
        assert not extra, extra


@pytest.mark.django_db
@pytest.mark.parametrize("rule", GenerationRule.values)
def test_bill_accounts_runs_as_many_statements_for_200_accounts_as_for_10(rule):
    use_rule(rule)
    small_ids = build_accounts(SMALL, day=DAY, credit_every=2, name="Small")
    large_ids = build_accounts(LARGE, day=DAY, credit_every=2, name="Large")
    run = BillRunFactory(status=BillRunStatus.PROCESSING, invoice_date=DAY, target_date=DAY)

    small, small_result = bill(run, small_ids)
    large, large_result = bill(run, large_ids)

    print(
        f"\n{rule} on {connection.vendor}: {len(small)} statements for {SMALL} accounts, "
        f"{len(large)} for {LARGE}"
    )
    assert (small_result.invoices, small_result.credit_memos) == expected_documents(rule, SMALL)
    assert (large_result.invoices, large_result.credit_memos) == expected_documents(rule, LARGE)
    assert Invoice.objects.filter(bill_run=run).count() == small_result.invoices + (
        large_result.invoices
    )
    assert Memo.objects.filter(bill_run=run).count() == small_result.credit_memos + (
        large_result.credit_memos
    )
    assert_same_statements(small, large)


@pytest.mark.django_db
def test_a_whole_chunk_claimed_billed_and_finished_runs_as_many_statements_for_200_as_for_10():
    """The runner's part too: the lease, the chunk's transaction and the run's counters."""
    build_accounts(SMALL, day=DAY, credit_every=2, name="Small", batch="Batch2")
    build_accounts(LARGE, day=DAY, credit_every=2, name="Large", batch="Batch3")
    counts = {}
    with override_settings(BILL_RUN_CHUNK_SIZE=LARGE):
        for batch, size in (("Batch2", SMALL), ("Batch3", LARGE)):
            run = BillRunFactory(
                status=BillRunStatus.PENDING,
                invoice_date=DAY,
                target_date=DAY,
                scope=BillRunScope.BATCH,
                batch=batch,
            )
            assert runner.plan_chunks(run.pk)
            assert BillRunChunk.objects.get(bill_run=run).account_ids.__len__() == size
            with CaptureQueriesContext(connection) as captured:
                chunk_id = runner.claim_chunk(run.pk, "worker")
                assert runner.process_chunk(chunk_id, "worker")
            counts[size] = statements(captured)
            run.refresh_from_db()
            assert run.accounts_processed == size
            assert run.invoices_generated == size // 2
            assert run.credit_memos_generated == size // 2

    print(
        f"\nA whole chunk on {connection.vendor}: {len(counts[SMALL])} statements for "
        f"{SMALL} accounts, {len(counts[LARGE])} for {LARGE}"
    )
    assert_same_statements(counts[SMALL], counts[LARGE])


# --- The lease locks the chunk's row, never the run's ---------------------------------------------
def lease_statements(captured: CaptureQueriesContext) -> list[str]:
    return [
        sql
        for sql in statements(captured)
        if sql.startswith(("SELECT", "UPDATE"))
        and '"billing_billrunchunk"."lease_owner" = ' in sql.partition(" WHERE ")[2]
    ]


@pytest.mark.django_db
def test_the_lease_statement_locks_only_the_chunk_row():
    """The lease is checked and renewed by one UPDATE of the chunk's row (which locks that row
    only). A SELECT ... FOR UPDATE with the chunk model's default ordering (by bill run) would
    join billing_billrun and lock the run's row for the whole chunk transaction: every other
    worker of the run would wait for it."""
    build_accounts(SMALL, day=DAY, credit_every=2, batch="Batch2")
    run = BillRunFactory(
        status=BillRunStatus.PENDING,
        invoice_date=DAY,
        target_date=DAY,
        scope=BillRunScope.BATCH,
        batch="Batch2",
    )
    assert runner.plan_chunks(run.pk)
    chunk_id = runner.claim_chunk(run.pk, "worker")
    with CaptureQueriesContext(connection) as captured:
        assert runner.process_chunk(chunk_id, "worker")

    [lease] = lease_statements(captured)
    assert lease.startswith('UPDATE "billing_billrunchunk" SET "lease_expires_at"'), lease
    assert '"billing_billrun"' not in lease.replace('"billing_billrunchunk"', ""), lease
    assert "JOIN" not in lease and "FOR UPDATE" not in lease, lease


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_worker_billing_a_chunk_leaves_the_run_row_and_other_chunks_free():
    """While one worker holds its chunk's lease (its transaction open), another worker claims
    and holds the next chunk, and the run's row can be locked without waiting."""
    build_accounts(2 * SMALL, day=DAY, credit_every=2, batch="Batch2")
    run = BillRunFactory(
        status=BillRunStatus.PENDING,
        invoice_date=DAY,
        target_date=DAY,
        scope=BillRunScope.BATCH,
        batch="Batch2",
    )
    with override_settings(BILL_RUN_CHUNK_SIZE=SMALL):
        assert runner.plan_chunks(run.pk)
    first = runner.claim_chunk(run.pk, "first")
    held, done = threading.Event(), threading.Event()
    errors = []

    def first_worker():
        try:
            with transaction.atomic():
                runner._hold_lease(first, "first")
                held.set()
                done.wait(10)
        except BaseException as exc:  # reported by the test's thread
            errors.append(exc)
        finally:
            held.set()
            connection.close()

    thread = threading.Thread(target=first_worker, daemon=True)
    thread.start()
    try:
        assert held.wait(10)
        second = runner.claim_chunk(run.pk, "second")
        assert second not in (None, first)
        with transaction.atomic():
            with connection.cursor() as cursor:  # waiting for a lock fails the test
                cursor.execute("SET LOCAL lock_timeout = '2s'")
            runner._hold_lease(second, "second")
            BillRun.objects.select_for_update(nowait=True).get(pk=run.pk)  # not locked
    finally:
        done.set()
        thread.join(10)
    assert not errors, errors
