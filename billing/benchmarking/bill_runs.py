"""Bill runs with N worker processes, and the COPY of the rows a run wrote.

The accounts come from benchmark_bill_run.build_accounts (a monthly, a one-time and a usage
charge each, a credit charge on every 10th), in a batch of their own so the run (scope: that
batch) bills exactly them. The run is created as an operator would (services.create_bill_run,
with a task backend that runs nothing); the timing covers planning, the workers' billing and
finishing, as in benchmark_bill_run, with the workers started and connected beforehand.
"""

from __future__ import annotations

import datetime as dt
import multiprocessing
import queue as queue_module
import time
from dataclasses import dataclass, field

from django.db import connection, transaction
from django.test.utils import override_settings

from billing.benchmarking.workers import worker_main
from billing.bill_runs import runner, services
from billing.management.commands.benchmark_bill_run import analyze, build_accounts
from billing.models import (
    BilledPeriod,
    BillRun,
    BillRunScope,
    BillRunStatus,
    Invoice,
    InvoiceItem,
)
from memos.models import Memo, MemoEvent, MemoItem

# Tasks the run's creation enqueues (start, watchdog) must not run: the benchmark's workers bill.
NO_TASKS = {"default": {"BACKEND": "django_tasks.backends.dummy.DummyBackend"}}
WORKER_TIMEOUT = 3600  # seconds; a run this slow is a failure, not a figure


class WorkerFailed(Exception):
    pass


# The tables a run inserts its documents into, and how to find the rows of run %(run)s.
WRITTEN = {
    BilledPeriod: "bill_run_id = %(run)s",
    Invoice: "bill_run_id = %(run)s",
    InvoiceItem: "invoice_id IN (SELECT id FROM billing_invoice WHERE bill_run_id = %(run)s)",
    Memo: "bill_run_id = %(run)s",
    MemoItem: "memo_id IN (SELECT id FROM memos_memo WHERE bill_run_id = %(run)s)",
    MemoEvent: "memo_id IN (SELECT id FROM memos_memo WHERE bill_run_id = %(run)s)",
}


@dataclass
class RunResult:
    run_id: int
    accounts: int
    workers: int
    seconds: float
    statements: int
    chunks: int
    rows: dict[str, int]
    worker_outcomes: list[dict] = field(default_factory=list)
    build_seconds: float = 0.0

    @property
    def accounts_per_s(self) -> float:
        return self.accounts / self.seconds

    @property
    def inserted_rows(self) -> int:
        return sum(self.rows.values())

    def figure(self) -> dict:
        return {
            "accounts_per_s": round(self.accounts_per_s),
            "accounts": self.accounts,
            "workers": self.workers,
            "seconds": round(self.seconds, 2),
            "statements": self.statements,
            "statements_per_chunk": round(self.statements / max(self.chunks, 1), 1),
            "chunks": self.chunks,
            "inserted_rows": self.inserted_rows,
            "inserted_rows_per_s": round(self.inserted_rows / self.seconds),
            "rows": self.rows,
            "worker_peak_rss_mb": [w["peak_rss_mb"] for w in self.worker_outcomes],
            # The workers' time in the database (statements from send to result), and where.
            "db_seconds": round(sum(w["db_seconds"] for w in self.worker_outcomes), 2),
            "worker_seconds": round(sum(w["seconds"] for w in self.worker_outcomes), 2),
            "top_statements": merged_top(self.worker_outcomes),
        }


def bill_run(
    *, accounts: int, workers: int, batch: str, day: dt.date, chunk_size: int
) -> RunResult:
    """Build `accounts` due accounts in `batch`, bill them with `workers` spawned processes."""
    began = time.perf_counter()
    build_accounts(accounts, day=day, batch=batch, name=f"Benchmark {batch}")
    analyze()
    build_seconds = time.perf_counter() - began
    with override_settings(TASKS=NO_TASKS):
        run = services.create_bill_run(
            actor=None,
            invoice_date=day,
            target_date=day,
            scope=BillRunScope.BATCH,
            batch=batch,
            name=f"Benchmark, {workers} worker(s)",
        )
    context = multiprocessing.get_context("spawn")
    messages, go = context.Queue(), context.Event()
    processes = [
        context.Process(
            target=worker_main,
            args=(connection.settings_dict["NAME"], run.pk, messages, go),
            daemon=True,
        )
        for _ in range(workers)
    ]
    for process in processes:
        process.start()
    try:
        _collect(messages, "ready", workers)
        began = time.perf_counter()
        with override_settings(BILL_RUN_CHUNK_SIZE=chunk_size):
            runner.plan_chunks(run.pk)
        go.set()
        outcomes = _collect(messages, "done", workers)
        runner.finish_if_done(run.pk)
        seconds = time.perf_counter() - began
    finally:
        go.set()
        for process in processes:
            process.join(timeout=30)
            if process.is_alive():
                process.kill()
    run = BillRun.objects.get(pk=run.pk)
    if run.status != BillRunStatus.COMPLETED or run.accounts_processed != accounts:
        raise WorkerFailed(
            f"{run.number} ended {run.get_status_display()} with {run.accounts_processed} of "
            f"{accounts} accounts billed ({run.accounts_failed} failed)."
        )
    return RunResult(
        run_id=run.pk,
        accounts=accounts,
        workers=workers,
        seconds=seconds,
        statements=sum(o["statements"] for o in outcomes),
        chunks=sum(o["chunks"] for o in outcomes),
        rows=written_rows(run.pk),
        worker_outcomes=outcomes,
        build_seconds=build_seconds,
    )


def merged_top(outcomes: list[dict]) -> list[dict]:
    totals: dict[str, dict] = {}
    for outcome in outcomes:
        for entry in outcome["top_statements"]:
            total = totals.setdefault(
                entry["shape"], {"shape": entry["shape"], "count": 0, "ms": 0}
            )
            total["count"] += entry["count"]
            total["ms"] = round(total["ms"] + entry["ms"], 1)
    return sorted(totals.values(), key=lambda entry: -entry["ms"])


def _collect(messages, kind: str, count: int) -> list:
    """`count` messages of `kind` from the workers; a worker's error ends the wait."""
    got = []
    deadline = time.monotonic() + WORKER_TIMEOUT
    while len(got) < count:
        try:
            what, pid, payload = messages.get(timeout=max(deadline - time.monotonic(), 0.1))
        except queue_module.Empty:
            raise WorkerFailed(f"Workers did not report {kind!r} in time.") from None
        if what == "error":
            raise WorkerFailed(f"Worker {pid} failed:\n{payload}")
        if what == kind:
            got.append(payload)
    return got


def written_rows(run_id: int) -> dict[str, int]:
    counts = {}
    with connection.cursor() as cursor:
        for model, where in WRITTEN.items():
            table = model._meta.db_table
            cursor.execute(f'SELECT count(*) FROM "{table}" WHERE {where}', {"run": run_id})
            counts[table] = cursor.fetchone()[0]
    return counts


def worker_rss(results: list[RunResult]) -> dict:
    """The workers' peak RSS over both runs; flat when the second half of each worker's run
    needed no more than the first half (plus a little noise)."""
    outcomes = [o for result in results for o in result.worker_outcomes]
    growth = max(o["rss_peak_second_half_mb"] - o["rss_peak_first_half_mb"] for o in outcomes)
    return {
        "value": max(o["peak_rss_mb"] for o in outcomes),
        "growth_second_half_mb": round(growth, 1),
        "workers": [
            {key: o[key] for key in o if key.endswith("_mb") or key == "seconds"} for o in outcomes
        ],
    }


# --- COPY ----------------------------------------------------------------------------------------
COPY_PREFIX = "benchmark_copy_"


def _columns(cursor, table: str) -> list[str]:
    """The table's stored columns (generated ones cannot be copied into)."""
    cursor.execute(
        """
        SELECT attname FROM pg_attribute
        WHERE attrelid = %s::regclass AND attnum > 0 AND NOT attisdropped AND attgenerated = ''
        ORDER BY attnum
        """,
        [f'"{table}"'],
    )
    return [row[0] for row in cursor.fetchall()]


def _foreign_keys(cursor, table: str) -> list[str]:
    cursor.execute(
        "SELECT pg_get_constraintdef(oid) FROM pg_constraint "
        "WHERE conrelid = %s::regclass AND contype = 'f' ORDER BY conname",
        [f'"{table}"'],
    )
    return [row[0] for row in cursor.fetchall()]


def copy_ratio(result: RunResult) -> dict:
    """COPY the rows `result`'s run inserted into empty copies of the same tables (LIKE ...
    INCLUDING ALL: indexes, checks, defaults, identity; plus the same foreign keys, checked at
    commit as Django's are), and compare: the run's inserted rows per second / COPY's."""
    tables = [model._meta.db_table for model in WRITTEN]
    data: dict[str, tuple[list[str], list[bytes]]] = {}
    with connection.cursor() as cursor:
        raw = cursor.cursor  # psycopg's own cursor, for COPY
        for model, where in WRITTEN.items():
            table = model._meta.db_table
            copy = f"{COPY_PREFIX}{table}"
            columns = _columns(cursor, table)
            cursor.execute(f'DROP TABLE IF EXISTS "{copy}"')
            cursor.execute(f'CREATE TABLE "{copy}" (LIKE "{table}" INCLUDING ALL)')
            for n, definition in enumerate(_foreign_keys(cursor, table)):
                cursor.execute(f'ALTER TABLE "{copy}" ADD CONSTRAINT "{copy}_fk{n}" {definition}')
            names = ", ".join(f'"{c}"' for c in columns)
            blocks = []
            query = f'COPY (SELECT {names} FROM "{table}" WHERE {where}) TO STDOUT'
            with raw.copy(query.replace("%(run)s", str(int(result.run_id)))) as out:
                blocks.extend(bytes(block) for block in out)
            data[table] = (columns, blocks)
        began = time.perf_counter()
        with transaction.atomic():
            for table in tables:
                columns, blocks = data[table]
                names = ", ".join(f'"{c}"' for c in columns)
                with raw.copy(f'COPY "{COPY_PREFIX}{table}" ({names}) FROM STDIN') as into:
                    for block in blocks:
                        into.write(block)
        seconds = time.perf_counter() - began  # the commit, with its foreign-key checks, included
        for table in tables:
            cursor.execute(f'DROP TABLE "{COPY_PREFIX}{table}"')
    rows = result.inserted_rows
    copy_rows_per_s = rows / seconds
    return {
        "value": round((rows / result.seconds) / copy_rows_per_s, 3),
        "run_rows_per_s": round(rows / result.seconds),
        "copy_rows_per_s": round(copy_rows_per_s),
        "copy_seconds": round(seconds, 3),
        "rows": rows,
    }
