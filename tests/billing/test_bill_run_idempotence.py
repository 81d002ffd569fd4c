"""Bill runs bill nothing twice (DOMAIN.md section 4: "Re-running or resuming never bills the same
charge period twice"): a chunk processed again, a second run with the same target date, two runs
at once over the same accounts, four workers on one run, and a real `db_worker` process killed
with SIGKILL in the middle of a chunk, then resumed by another.

Every account is the same: a subscription from START with a monthly +50 charge, a one-time +20
charge and a usage charge (two records up to the target date, one after it), all taxed 10%; every
third account also has a monthly -80 credit charge, which makes its total negative, so under the
default rule (1) it gets a credit memo instead of an invoice. `assert_billed_exactly_once` checks
the whole outcome: every due charge period billed once (its BilledPeriod row and exactly one
document line pointing at it), one document per account with the right total, the charged-through
dates, the usage records, and gapless invoice and credit memo numbers.

The concurrent tests need PostgreSQL (row locks, SKIP LOCKED) and a transactional database, so
the threads and the worker process see the committed data.
"""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone

from billing import tasks
from billing.bill_runs import runner
from billing.factories import (
    AccountFactory,
    BillRunFactory,
    ChargeFactory,
    ProductFactory,
    SubscriptionChargeFactory,
    SubscriptionFactory,
    UsageRecordFactory,
    standard_tax_code,
)
from billing.models import (
    Account,
    BilledPeriod,
    BillRun,
    BillRunChunk,
    BillRunError,
    BillRunStatus,
    ChargeModel,
    ChargeType,
    ChunkStatus,
    Invoice,
    InvoiceItem,
    NumberSeries,
    SubscriptionCharge,
    UsageRecord,
)
from billing.numbering import format_number
from memos.models import Memo, MemoItem

START = dt.date(2026, 9, 1)
TARGET = dt.date(2026, 11, 1)
# Billed in advance: the periods starting on or before the target date.
MONTHS = [dt.date(2026, 9, 1), dt.date(2026, 10, 1), dt.date(2026, 11, 1)]
ONE_DAY = dt.timedelta(days=1)
CREDIT_EVERY = 3
# 3 x 50 + 20 + 10 units x 2 = 190, + 10% tax; with the credit: 190 - 3 x 80 = -50, + 10% tax.
INVOICE_TOTAL = Decimal("209.00")
CREDIT_MEMO_TOTAL = Decimal("55.00")
ALREADY_BILLED = "already billed"


def D(value) -> Decimal:
    return Decimal(str(value))


# --- The accounts ---------------------------------------------------------------------------------
@dataclass
class Book:
    accounts: list[Account]
    credit_accounts: set[int]  # ids of the accounts with the credit charge
    late_usage: list[int]  # ids of the usage records dated after the target date

    @property
    def account_ids(self) -> list[int]:
        return [account.pk for account in self.accounts]


def build_book(count: int) -> Book:
    tax_code = standard_tax_code()
    product = ProductFactory(name="Idempotence plan")

    def charge(name, charge_type, model=ChargeModel.FLAT_FEE):
        return ChargeFactory(
            product=product,
            name=name,
            charge_type=charge_type,
            charge_model=model,
            tax_code=tax_code,
        )

    recurring = charge("Platform fee", ChargeType.RECURRING)
    one_time = charge("Setup fee", ChargeType.ONE_TIME)
    usage = charge("Storage", ChargeType.USAGE, ChargeModel.PER_UNIT)
    credit = charge("Loyalty credit", ChargeType.RECURRING)

    accounts, credit_accounts, late_usage = [], set(), []
    for index in range(count):
        account = AccountFactory()
        subscription = SubscriptionFactory(account=account, start_date=START)

        def subscribe(charge, price, subscription=subscription):
            return SubscriptionChargeFactory(
                subscription=subscription, charge=charge, price=D(price), start_date=START
            )

        subscribe(recurring, "50")
        subscribe(one_time, "20")
        storage = subscribe(usage, "2")
        for day in (dt.date(2026, 10, 5), dt.date(2026, 10, 20)):
            UsageRecordFactory(subscription_charge=storage, usage_date=day, quantity=D("5"))
        late = UsageRecordFactory(
            subscription_charge=storage, usage_date=dt.date(2026, 11, 15), quantity=D("7")
        )
        late_usage.append(late.pk)
        if index % CREDIT_EVERY == 0:
            subscribe(credit, "-80")
            credit_accounts.add(account.pk)
        accounts.append(account)
    return Book(accounts, credit_accounts, late_usage)


def pending_run(**kwargs) -> BillRun:
    """A Pending run, as create_bill_run makes it, without its start task (the tests start it)."""
    return BillRunFactory(
        status=BillRunStatus.PENDING, invoice_date=TARGET, target_date=TARGET, **kwargs
    )


# --- What was billed ------------------------------------------------------------------------------
def expected_periods(book: Book) -> Counter:
    """(subscription charge id, period start) of every period due by the target date, once."""
    expected = Counter()
    charges = SubscriptionCharge.objects.filter(subscription__account__in=book.account_ids)
    for sc_id, charge_type in charges.values_list("pk", "charge__charge_type"):
        starts = MONTHS if charge_type == ChargeType.RECURRING else [START]
        expected.update((sc_id, start) for start in starts)
    return expected


def snapshot(book: Book) -> dict:
    """Everything billing wrote for the book's accounts, as plain values."""
    accounts = book.account_ids
    return {
        "invoices": sorted(
            Invoice.objects.filter(account__in=accounts).values_list(
                "number", "account_id", "bill_run_id", "amount", "status"
            )
        ),
        "invoice_items": sorted(
            InvoiceItem.objects.filter(invoice__account__in=accounts).values_list(
                "invoice__number", "billed_period_id", "amount"
            )
        ),
        "memos": sorted(
            Memo.objects.filter(account__in=accounts).values_list(
                "number", "account_id", "bill_run_id", "amount", "status"
            )
        ),
        "memo_items": sorted(
            MemoItem.objects.filter(memo__account__in=accounts).values_list(
                "memo__number", "billed_period_id", "amount"
            )
        ),
        "periods": sorted(
            BilledPeriod.objects.filter(
                subscription_charge__subscription__account__in=accounts
            ).values_list("pk", "subscription_charge_id", "period_start", "period_end")
        ),
        "charged_through": sorted(
            SubscriptionCharge.objects.filter(subscription__account__in=accounts).values_list(
                "pk", "charged_through_date"
            )
        ),
        "usage": sorted(
            UsageRecord.objects.filter(
                subscription_charge__subscription__account__in=accounts
            ).values_list("pk", "billed_period_id")
        ),
    }


def assert_gapless(key: str, numbers: list[str]) -> None:
    series = NumberSeries.objects.get(key=key)
    assert sorted(numbers) == [
        format_number(series.prefix, n) for n in range(1, len(numbers) + 1)
    ], f"{key} numbers have gaps or repeats"
    assert series.last_number == len(numbers), f"{key} counter moved past its documents"


def assert_billed_exactly_once(book: Book) -> None:
    accounts = book.account_ids
    periods = BilledPeriod.objects.filter(subscription_charge__subscription__account__in=accounts)

    # Every due period billed, and billed once.
    billed = Counter(periods.values_list("subscription_charge_id", "period_start"))
    assert billed == expected_periods(book)

    # Each billed period is on exactly one document line, and every line is a billed period.
    lines = Counter(
        InvoiceItem.objects.filter(invoice__account__in=accounts).values_list(
            "billed_period_id", flat=True
        )
    ) + Counter(
        MemoItem.objects.filter(memo__account__in=accounts).values_list(
            "billed_period_id", flat=True
        )
    )
    assert lines == Counter(periods.values_list("pk", flat=True))

    # One document per account, the right one with the right total.
    invoices = dict(
        Invoice.objects.filter(account__in=accounts).values_list("account_id", "amount")
    )
    memos = dict(Memo.objects.filter(account__in=accounts).values_list("account_id", "amount"))
    assert Invoice.objects.filter(account__in=accounts).count() == len(invoices)
    assert Memo.objects.filter(account__in=accounts).count() == len(memos)
    assert set(memos) == book.credit_accounts
    assert set(invoices) == set(accounts) - book.credit_accounts
    assert set(invoices.values()) == {INVOICE_TOTAL}
    assert set(memos.values()) == {CREDIT_MEMO_TOTAL}

    # Charged-through dates: the day after the last billed period.
    expected_through = {
        ChargeType.RECURRING: dt.date(2026, 12, 1),
        ChargeType.ONE_TIME: START + ONE_DAY,
        ChargeType.USAGE: TARGET + ONE_DAY,
    }
    for charge_type, through in SubscriptionCharge.objects.filter(
        subscription__account__in=accounts
    ).values_list("charge__charge_type", "charged_through_date"):
        assert through == expected_through[charge_type], charge_type

    # Usage up to the target date billed, by the usage charge's one period; later usage not.
    usage = UsageRecord.objects.filter(subscription_charge__subscription__account__in=accounts)
    assert not usage.filter(pk__in=book.late_usage, billed_period__isnull=False).exists()
    assert not usage.exclude(pk__in=book.late_usage).filter(billed_period__isnull=True).exists()
    assert (
        not usage.exclude(billed_period__subscription_charge=F("subscription_charge"))
        .exclude(billed_period__isnull=True)
        .exists()
    )

    assert_gapless(NumberSeries.Key.INVOICE, list(Invoice.objects.values_list("number", flat=True)))
    assert_gapless(
        NumberSeries.Key.CREDIT_MEMO,
        list(Memo.objects.filter(memo_type="credit").values_list("number", flat=True)),
    )


def assert_completed(run: BillRun, *, accounts: int, invoices: int, memos: int) -> None:
    run.refresh_from_db()
    assert run.status == BillRunStatus.COMPLETED, run.status
    assert run.accounts_in_scope == accounts
    assert run.accounts_processed == accounts
    assert run.accounts_failed == 0
    assert run.invoices_generated == invoices
    assert run.credit_memos_generated == memos
    assert Invoice.objects.filter(bill_run=run).count() == invoices
    assert Memo.objects.filter(bill_run=run).count() == memos
    assert not run.chunks.exclude(status=ChunkStatus.DONE).exists()


def documents(book: Book) -> tuple[int, int]:
    """(invoices, credit memos) the book's accounts get."""
    return len(book.accounts) - len(book.credit_accounts), len(book.credit_accounts)


# --- Threads --------------------------------------------------------------------------------------
def run_at_once(calls: list[Callable[[], object]], *, timeout: float = 60) -> list[object]:
    """Run the calls in threads released together, each on its own connection; their results.
    Whatever a thread raises fails the test."""
    barrier = threading.Barrier(len(calls))
    results: list[object] = []
    crashes: list[BaseException] = []
    lock = threading.Lock()

    def run(call):
        try:
            barrier.wait(timeout=30)
            result = call()
            with lock:
                results.append(result)
        except BaseException as exc:  # reported by the main thread
            with lock:
                crashes.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(call,), daemon=True) for call in calls]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=timeout)
    assert not any(thread.is_alive() for thread in threads), "a thread hung: deadlock?"
    assert not crashes, crashes
    return results


# --- Sequential: any database ---------------------------------------------------------------------
@pytest.mark.django_db
def test_a_chunk_processed_again_bills_nothing_more():
    """Its task delivered twice: the chunk is set back to Pending after it was billed, and a
    worker bills it again from scratch. Nothing changes; the rest of the run completes exactly."""
    book = build_book(30)
    run = pending_run()
    assert runner.plan_chunks(run.pk)
    assert run.chunks.count() == 3

    chunk_id = runner.claim_chunk(run.pk, "first")
    assert chunk_id == run.chunks.get(sequence=1).pk
    assert runner.process_chunk(chunk_id, "first")
    once = snapshot(book)
    assert len(once["invoices"]) + len(once["memos"]) == 10
    assert len(once["periods"]) > 0

    BillRunChunk.objects.filter(pk=chunk_id).update(
        status=ChunkStatus.PENDING, lease_owner="", lease_expires_at=None, finished_at=None
    )
    assert runner.claim_chunk(run.pk, "second") == chunk_id
    assert runner.process_chunk(chunk_id, "second")
    assert snapshot(book) == once

    # The same worker processing its chunk again (it never heard its commit went through) is
    # fenced off by the lease: the chunk is Done, not its.
    assert runner.process_chunk(chunk_id, "second") is False
    assert snapshot(book) == once
    chunk = BillRunChunk.objects.get(pk=chunk_id)
    assert (chunk.status, chunk.attempts) == (ChunkStatus.DONE, 2)

    assert runner.work(run.pk) == 2
    invoices, memos = documents(book)
    assert_completed(run, accounts=30, invoices=invoices, memos=memos)
    assert_billed_exactly_once(book)

    # A work task delivered again after the end does nothing.
    done = snapshot(book)
    assert runner.work(run.pk) == 0
    assert snapshot(book) == done


@pytest.mark.django_db
def test_a_second_run_with_the_same_target_date_bills_nothing(django_capture_on_commit_callbacks):
    """Both runs go through their tasks (created, started and worked by the task backend)."""
    from billing.bill_runs import services

    book = build_book(25)

    def bill_run() -> BillRun:
        with django_capture_on_commit_callbacks(execute=True):
            run = services.create_bill_run(actor=None, invoice_date=TARGET, target_date=TARGET)
        return run

    first = bill_run()
    invoices, memos = documents(book)
    assert_completed(first, accounts=25, invoices=invoices, memos=memos)
    billed = snapshot(book)

    second = bill_run()
    assert_completed(second, accounts=25, invoices=0, memos=0)
    assert not BillRunError.objects.filter(bill_run=second).exists()
    assert not BilledPeriod.objects.filter(bill_run=second).exists()
    assert snapshot(book) == billed
    assert_billed_exactly_once(book)


# --- Concurrent: PostgreSQL -----------------------------------------------------------------------
@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("workers_per_run", [1, 3])
def test_two_runs_started_at_once_over_the_same_accounts_bill_each_period_once(workers_per_run):
    """Each worker starts its run (only one of a run's workers plans it) and bills its chunks.
    With one worker each, the runs go in step, the first to lock a chunk's charges billing it;
    with three each, the chunks are shared out among the two runs more or less at random."""
    book = build_book(30)
    runs = [pending_run(), pending_run()]

    def start_and_work(run: BillRun) -> Callable[[], tuple[int, bool, int]]:
        def call() -> tuple[int, bool, int]:
            planned = runner.plan_chunks(run.pk)
            return run.pk, planned, runner.work(run.pk)

        return call

    outcomes = run_at_once([start_and_work(run) for run in runs for _ in range(workers_per_run)])

    for run in runs:
        mine = [(planned, chunks) for pk, planned, chunks in outcomes if pk == run.pk]
        assert sorted(planned for planned, _ in mine) == [False] * (workers_per_run - 1) + [True]
        assert sum(chunks for _, chunks in mine) == 3
    for run in runs:
        run.refresh_from_db()
        assert run.status == BillRunStatus.COMPLETED
        assert run.accounts_in_scope == 30
        # The only failure allowed: a period the other run billed first (none is expected, as
        # the charges are locked and re-read, but it would still bill nothing twice).
        for reason in BillRunError.objects.filter(bill_run=run).values_list("reason", flat=True):
            assert ALREADY_BILLED in reason, reason
    assert_billed_exactly_once(book)
    invoices, memos = documents(book)
    assert sum(run.invoices_generated for run in runs) == invoices
    assert sum(run.credit_memos_generated for run in runs) == memos
    # Each run's counts are its own documents, recounted.
    for run in runs:
        assert run.invoices_generated == Invoice.objects.filter(bill_run=run).count()
        assert run.credit_memos_generated == Memo.objects.filter(bill_run=run).count()
        assert run.accounts_processed + run.accounts_failed == 30


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_four_workers_on_one_run_bill_every_chunk_once():
    book = build_book(60)
    run = pending_run()
    assert runner.plan_chunks(run.pk)
    assert run.chunks.count() == 6

    chunks = run_at_once([lambda: runner.work(run.pk)] * 4)

    assert sum(chunks) == 6
    assert list(run.chunks.values_list("status", "attempts").order_by().distinct()) == [
        (ChunkStatus.DONE, 1)
    ]
    invoices, memos = documents(book)
    assert_completed(run, accounts=60, invoices=invoices, memos=memos)
    assert_billed_exactly_once(book)


# --- A worker process killed mid-chunk ------------------------------------------------------------
WORKER_COMMAND = [
    sys.executable,
    "manage.py",
    "db_worker",
    "--backend",
    "database",
    "--interval",
    "0.1",
    "--no-startup-delay",
    "--no-reload",
]


def worker_environment() -> dict[str, str]:
    """The test settings, on the test database (not the one DATABASE_URL names)."""
    db = connection.settings_dict
    credentials = db["USER"] + (f":{db['PASSWORD']}" if db["PASSWORD"] else "")
    port = f":{db['PORT']}" if db["PORT"] else ""
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "billing.test_settings",
        "DATABASE_URL": f"postgres://{credentials}@{db['HOST']}{port}/{db['NAME']}",
        "PYTHONUNBUFFERED": "1",
    }


def start_worker(log: Path) -> subprocess.Popen:
    with log.open("ab") as out:
        return subprocess.Popen(
            WORKER_COMMAND,
            cwd=settings.BASE_DIR,
            env=worker_environment(),
            stdout=out,
            stderr=subprocess.STDOUT,
        )


def stop(worker: subprocess.Popen | None) -> None:
    if worker is None or worker.poll() is not None:
        return
    worker.terminate()  # db_worker stops between tasks
    try:
        worker.wait(timeout=10)
    except subprocess.TimeoutExpired:
        worker.kill()
        worker.wait(timeout=10)


class RowLock(threading.Thread):
    """Holds `SELECT ... FOR UPDATE` on one row, in a transaction of its own connection, until
    released."""

    def __init__(self, sql: str, params: list):
        super().__init__(daemon=True)
        self.sql, self.params = sql, params
        self.locked, self.release = threading.Event(), threading.Event()
        self.backend_pid: int | None = None
        self.error: BaseException | None = None

    def run(self):
        try:
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute(self.sql, self.params)
                cursor.execute("SELECT pg_backend_pid()")
                self.backend_pid = cursor.fetchone()[0]
                self.locked.set()
                self.release.wait(timeout=60)
        except BaseException as exc:
            self.error = exc
        finally:
            self.locked.set()
            connection.close()

    def __enter__(self) -> RowLock:
        self.start()
        assert self.locked.wait(timeout=10) and self.error is None, self.error
        return self

    def __exit__(self, *exc_info) -> None:
        self.release.set()
        self.join(timeout=10)
        assert not self.is_alive()


def backends_blocked_by(pid: int) -> list[tuple[int, str]]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pid, query FROM pg_stat_activity WHERE %s = ANY(pg_blocking_pids(pid))",
            [pid],
        )
        return cursor.fetchall()


def tables_locked(pid: int, modes: list[str]) -> set[str]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT relation::regclass::text FROM pg_locks "
            "WHERE pid = %s AND locktype = 'relation' AND mode = ANY(%s)",
            [pid, modes],
        )
        return {row[0] for row in cursor.fetchall()}


def locked_by(pid: int) -> set[str]:
    """The tables a backend has SELECTed rows FOR UPDATE from (or written to)."""
    return tables_locked(pid, ["RowShareLock", "RowExclusiveLock"])


def written_by(pid: int) -> set[str]:
    return tables_locked(pid, ["RowExclusiveLock"])


def backend_alive(pid: int) -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_stat_activity WHERE pid = %s", [pid])
        return cursor.fetchone() is not None


def wait_for(condition: Callable[[], object], *, timeout: float, what: str, log: Path):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    output = log.read_text(errors="replace") if log.exists() else ""
    raise AssertionError(f"timed out waiting for {what}; worker output:\n{output[-4000:]}")


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_worker_killed_mid_chunk_is_taken_over_and_nothing_is_billed_twice(tmp_path):
    """A real `db_worker` process bills the first chunk until it waits for the invoice counter
    (held here), after it has locked the chunk's charges and inserted their billed periods; it is
    killed with SIGKILL there. Its transaction rolls back; once the chunk's lease runs out a
    second worker process takes the chunk over and finishes the run."""
    book = build_book(30)
    run = pending_run()
    assert runner.plan_chunks(run.pk)
    log = tmp_path / "workers.log"
    first = second = None
    invoice_counter = (
        "SELECT id FROM billing_numberseries WHERE key = %s FOR UPDATE",
        [NumberSeries.Key.INVOICE],
    )
    try:
        with RowLock(*invoice_counter) as counter:
            first = start_worker(log)
            tasks.work_on_bill_run.using(backend="database").enqueue(run.pk)

            # The worker waits for the invoice counter, inside the first chunk's transaction.
            [(orphan, query)] = wait_for(
                lambda: backends_blocked_by(counter.backend_pid),
                timeout=20,
                what="the worker to wait for the invoice counter",
                log=log,
            )
            assert "billing_numberseries" in query
            # By then it holds the chunk's row, the charges' rows and its billed periods.
            assert {"billing_billrunchunk", "billing_subscriptioncharge"} <= locked_by(orphan)
            assert "billing_billedperiod" in written_by(orphan)
            chunk = run.chunks.get(sequence=1)
            assert chunk.status == ChunkStatus.RUNNING and chunk.lease_owner
            assert chunk.attempts == 1
            killed_owner = chunk.lease_owner
            assert not run.chunks.exclude(sequence=1).exclude(status=ChunkStatus.PENDING).exists()

            os.kill(first.pid, signal.SIGKILL)
            assert first.wait(timeout=10) == -signal.SIGKILL
        # Released: the dead worker's backend gets the row, finds its client gone and rolls back.
        wait_for(
            lambda: not backend_alive(orphan),
            timeout=10,
            what="the killed worker's database session to end",
            log=log,
        )
        assert not BilledPeriod.objects.exists()
        assert not Invoice.objects.exists() and not Memo.objects.exists()
        assert NumberSeries.objects.get(key=NumberSeries.Key.INVOICE).last_number == 0
        chunk.refresh_from_db()
        assert chunk.status == ChunkStatus.RUNNING  # still leased to the dead worker

        # The lease runs out (BILL_RUN_LEASE_SECONDS); a new worker resumes the run.
        wait_for(
            lambda: run.chunks.get(sequence=1).lease_expires_at < timezone.now(),
            timeout=settings.BILL_RUN_LEASE_SECONDS + 5,
            what="the lease to run out",
            log=log,
        )
        second = start_worker(log)
        tasks.work_on_bill_run.using(backend="database").enqueue(run.pk)
        wait_for(
            lambda: BillRun.objects.get(pk=run.pk).status == BillRunStatus.COMPLETED,
            timeout=20,
            what="the run to complete",
            log=log,
        )
    finally:
        if first is not None and first.poll() is None:
            first.kill()
            first.wait(timeout=10)
        stop(second)

    assert second.returncode is not None
    chunk = run.chunks.get(sequence=1)
    assert chunk.status == ChunkStatus.DONE
    assert chunk.attempts == 2
    assert chunk.lease_owner not in ("", killed_owner)
    assert list(
        run.chunks.exclude(sequence=1).values_list("status", "attempts").order_by().distinct()
    ) == [(ChunkStatus.DONE, 1)]
    invoices, memos = documents(book)
    assert_completed(run, accounts=30, invoices=invoices, memos=memos)
    assert_billed_exactly_once(book)
    assert "Taking over" in log.read_text(errors="replace")
