"""Running a bill run in the background: plan chunks, lease them to workers, bill them, finish.

The chunks, leases, takeovers and failure isolation are billing.runs.engine's, shared with
payment runs; this module is the bill runs' RunKind (which accounts, billing them, the counts) and
the functions the tasks, views and tests call, under the names they had.

Whoever bills a chunk re-checks, under the chunk's row lock, that the lease is still its own, and
the billed-period unique constraint refuses any period billed before, so a chunk's work is done
exactly once.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from django.db import IntegrityError
from django.db.models import Count, F, Q, Sum
from django.db.models.functions import Least

from billing.bill_runs.chunk import ChunkResult, bill_accounts
from billing.models import (
    Account,
    AccountStatus,
    BillRun,
    BillRunChunk,
    BillRunError,
    BillRunScope,
    BillRunStatus,
    Invoice,
)
from billing.runs import engine
from billing.runs.engine import (  # noqa: F401 (the names tests and commands use)
    MAX_CHUNK_ATTEMPTS,
    LeaseLost,
    chunk_size,
    lease_duration,
    new_worker_id,
)
from memos.models import Memo
from memos.services.bill_runs import bill_run_reason_code

logger = logging.getLogger(__name__)


# --- Planning -------------------------------------------------------------------------------------
def accounts_in_scope(bill_run: BillRun):
    """The ids of the accounts the run bills, in id order."""
    if bill_run.scope == BillRunScope.RETRY:
        ids = BillRunError.objects.filter(bill_run_id=bill_run.retry_of_id).values("account_id")
        return Account.objects.filter(pk__in=ids).order_by("pk").values_list("pk", flat=True)
    if bill_run.scope == BillRunScope.ACCOUNT:
        return Account.objects.filter(pk=bill_run.account_id).values_list("pk", flat=True)
    accounts = Account.objects.filter(status=AccountStatus.ACTIVE)
    if bill_run.scope == BillRunScope.BATCH:
        if bill_run.batch:
            accounts = accounts.filter(batch=bill_run.batch)
        if bill_run.bill_cycle_day:
            accounts = accounts.filter(bill_cycle_day=bill_run.bill_cycle_day)
    return accounts.order_by("pk").values_list("pk", flat=True)


class BillRunKind(engine.RunKind):
    """Bill runs for the shared run engine (billing.runs.engine)."""

    run_model = BillRun
    chunk_model = BillRunChunk
    run_field = "bill_run"
    pending = BillRunStatus.PENDING
    processing = BillRunStatus.PROCESSING
    name = "Bill run"

    def accounts_in_scope(self, run):
        return accounts_in_scope(run)

    def worker_context(self, run):
        return bill_run_reason_code()

    def empty_result(self):
        return ChunkResult()

    def process_accounts(self, run, chunk, account_ids, context):
        return bill_accounts(
            bill_run=run, account_ids=account_ids, rule=run.generation_rule, reason_code=context
        )

    def finish_chunk(self, chunk, result, failures):
        # Through the module's name, so a test can stand in for it.
        _finish_chunk(chunk, result, failures=failures)

    def accounts_done_before(self, chunk):
        # Accounts billed one by one before the workers died keep their documents.
        mine = {"bill_run_id": chunk.bill_run_id, "account_id__in": chunk.account_ids}
        return set(Invoice.objects.filter(**mine).values_list("account_id", flat=True)) | set(
            Memo.objects.filter(**mine).values_list("account_id", flat=True)
        )

    def failure_reason(self, exc):
        return failure_reason(exc)

    def complete(self, run):
        counts = document_counts(run)
        run.invoices_generated = counts["invoices"]
        run.zero_total_invoices = counts["zero_total_invoices"]
        run.credit_memos_generated = counts["credit_memos"]
        run.accounts_failed = run.errors.count()
        run.accounts_processed = run.accounts_in_scope - run.accounts_failed
        # Error only when nothing could be billed: a run with documents can be posted or canceled.
        generated = run.invoices_generated + run.credit_memos_generated
        failed_all = run.accounts_failed and not run.accounts_processed and not generated
        run.status = BillRunStatus.ERROR if failed_all else BillRunStatus.COMPLETED


BILL_RUNS = BillRunKind()


def plan_chunks(bill_run_id: int) -> bool:
    """Pending -> Processing: freeze the accounts in scope into chunks. False if the run was
    not Pending (already started, or canceled before it started)."""
    return engine.plan_chunks(BILL_RUNS, bill_run_id)


# --- Leases ---------------------------------------------------------------------------------------
def claim_chunk(bill_run_id: int, worker_id: str) -> int | None:
    """Lease the run's next pending (or stalled) chunk to `worker_id`; None when there is none."""
    return engine.claim_chunk(BILL_RUNS, bill_run_id, worker_id)


def has_claimable_chunks(bill_run_id: int) -> bool:
    return engine.has_claimable_chunks(BILL_RUNS, bill_run_id)


def _hold_lease(chunk_id: int, worker_id: str) -> None:
    engine.hold_lease(BILL_RUNS, chunk_id, worker_id)


# --- Billing a chunk ------------------------------------------------------------------------------
def process_chunk(chunk_id: int, worker_id: str, *, reason_code=None) -> bool:
    """Bill a chunk this worker has leased (engine.process_chunk: one transaction, redone
    account by account when it fails). Returns False if the lease was lost on the way.
    `reason_code`: the credit memos' (a worker reads it once for all its chunks)."""
    return engine.process_chunk(
        BILL_RUNS,
        chunk_id,
        worker_id,
        context=reason_code,
        hold=_hold_lease,
        finish=_finish_chunk,
        max_attempts=MAX_CHUNK_ATTEMPTS,
    )


def failure_reason(exc: Exception) -> str:
    # PostgreSQL names the constraint; SQLite names its columns.
    duplicate = ("billed_period_once", "billing_billedperiod.period_start")
    if isinstance(exc, IntegrityError) and any(text in str(exc) for text in duplicate):
        return "A charge period was already billed by another run (nothing was billed twice)."
    return engine.RunKind.failure_reason(BILL_RUNS, exc)


def _finish_chunk(chunk: BillRunChunk, result: ChunkResult, *, failures) -> None:
    """Mark the chunk done and add its counts to the run, in the chunk's last transaction."""
    if failures:
        BillRunError.objects.bulk_create(
            [
                BillRunError(bill_run_id=chunk.bill_run_id, account_id=a, reason=r)
                for a, r in failures
            ],
            ignore_conflicts=True,
        )
    engine.mark_chunk_done(BILL_RUNS, chunk)
    # Live progress only (finish_if_done recounts): capped at the scope, so a chunk redone after
    # it was recorded cannot break bill_run_processed_lte_scope and wedge its worker.
    processed = F("accounts_processed") + len(chunk.account_ids) - len(failures)
    BillRun.objects.filter(pk=chunk.bill_run_id).update(
        accounts_processed=Least(processed, F("accounts_in_scope")),
        accounts_failed=F("accounts_failed") + len(failures),
        invoices_generated=F("invoices_generated") + result.invoices,
        credit_memos_generated=F("credit_memos_generated") + result.credit_memos,
        zero_total_invoices=F("zero_total_invoices") + result.zero_total_invoices,
    )


# --- Working and finishing ------------------------------------------------------------------------
def work(
    bill_run_id: int,
    worker_id: str | None = None,
    *,
    max_chunks: int | None = None,
    on_completed: Callable[[BillRun], None] | None = None,
) -> int:
    """Claim and bill chunks of the run until none is left (or `max_chunks` are done); finish
    the run when every chunk is done (finish_if_done, with `on_completed`). Returns the number
    of chunks billed."""

    def process(chunk_id, worker, *, context):
        return process_chunk(chunk_id, worker, reason_code=context)

    return engine.work(
        BILL_RUNS,
        bill_run_id,
        worker_id,
        max_chunks=max_chunks,
        on_completed=on_completed,
        process=process,
    )


def finish_if_done(
    bill_run_id: int, *, on_completed: Callable[[BillRun], None] | None = None
) -> BillRun | None:
    """Processing -> Completed (or Error when no account could be billed) once every chunk is
    done. The counts are recounted from the documents, so they are exact whatever retries
    happened. `on_completed(run)` runs in the same transaction, the run locked: billing.tasks
    passes the hook that moves an auto-post run on to PostInProgress (the engine knows nothing
    of tasks)."""
    return engine.finish_if_done(BILL_RUNS, bill_run_id, on_completed=on_completed)


def document_counts(run: BillRun) -> dict[str, int]:
    invoices = Invoice.objects.filter(bill_run=run).aggregate(
        invoices=Count("pk"), zero_total_invoices=Count("pk", filter=Q(amount=0))
    )
    return {**invoices, "credit_memos": run.credit_memos.count()}


def totals_by_currency(run: BillRun) -> list[dict]:
    """Invoice and credit memo totals per currency (a run bills accounts in many currencies)."""
    totals: dict[str, dict] = {}
    for model, key in ((Invoice, "invoices"), (None, "credit_memos")):
        qs = Invoice.objects.filter(bill_run=run) if model else run.credit_memos.all()
        for row in qs.values("currency_id").annotate(total=Sum("amount"), count=Count("pk")):
            entry = totals.setdefault(row["currency_id"], {"currency": row["currency_id"]})
            entry[key] = row["total"]
            entry[f"{key}_count"] = row["count"]
    return [totals[code] for code in sorted(totals)]
