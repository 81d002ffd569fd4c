"""Running a bill run in the background: plan chunks, lease them to workers, bill them, finish.

Any number of worker processes on any number of machines can work on one run: each claims the
next chunk with SELECT ... FOR UPDATE SKIP LOCKED and holds a lease on it. A worker that dies
leaves its chunk's transaction rolled back and its lease running out; the next worker that looks
(or the run's watchdog task) takes the chunk over. Whoever bills a chunk re-checks, under the
chunk's row lock, that the lease is still its own, and the billed-period unique constraint
refuses any period billed before, so a chunk's work is done exactly once.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from datetime import timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Count, F, Q, Sum
from django.db.models.functions import Least
from django.utils import timezone

from billing.bill_runs.chunk import ChunkResult, bill_accounts
from billing.models import (
    Account,
    AccountStatus,
    BillRun,
    BillRunChunk,
    BillRunError,
    BillRunScope,
    BillRunStatus,
    ChunkStatus,
    Invoice,
)
from memos.models import Memo
from memos.services.bill_runs import bill_run_reason_code

logger = logging.getLogger(__name__)


def chunk_size() -> int:
    return settings.BILL_RUN_CHUNK_SIZE


def lease_duration() -> timedelta:
    return timedelta(seconds=settings.BILL_RUN_LEASE_SECONDS)


# A chunk taken over this many times (its workers died or it failed beyond the per-account
# fallback) is given up, so that one poisoned chunk cannot keep a run Processing forever.
MAX_CHUNK_ATTEMPTS = 5


def new_worker_id() -> str:
    return uuid.uuid4().hex


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


def plan_chunks(bill_run_id: int) -> bool:
    """Pending -> Processing: freeze the accounts in scope into chunks. False if the run was
    not Pending (already started, or canceled before it started)."""
    with transaction.atomic():
        run = BillRun.objects.select_for_update().get(pk=bill_run_id)
        if run.status != BillRunStatus.PENDING:
            return False
        ids = list(accounts_in_scope(run))
        size = chunk_size()
        BillRunChunk.objects.bulk_create(
            (
                BillRunChunk(bill_run=run, sequence=n, account_ids=ids[start : start + size])
                for n, start in enumerate(range(0, len(ids), size), start=1)
            ),
            batch_size=1000,
        )
        run.status = BillRunStatus.PROCESSING
        run.accounts_in_scope = len(ids)
        run.started_at = timezone.now()
        run.save(update_fields=["status", "accounts_in_scope", "started_at"])
    return True


# --- Leases ---------------------------------------------------------------------------------------
def _claimable(now) -> Q:
    return Q(status=ChunkStatus.PENDING) | Q(status=ChunkStatus.RUNNING, lease_expires_at__lt=now)


def claim_chunk(bill_run_id: int, worker_id: str) -> int | None:
    """Lease the run's next pending (or stalled) chunk to `worker_id`; None when there is none."""
    now = timezone.now()
    with transaction.atomic():
        chunk = (
            BillRunChunk.objects.select_for_update(skip_locked=True)
            .filter(bill_run_id=bill_run_id)
            .filter(_claimable(now))
            .order_by("sequence")
            .first()
        )
        if chunk is None:
            return None
        if chunk.status == ChunkStatus.RUNNING:
            logger.warning("Taking over %s from worker %s", chunk, chunk.lease_owner)
        BillRunChunk.objects.filter(pk=chunk.pk).update(
            status=ChunkStatus.RUNNING,
            lease_owner=worker_id,
            lease_expires_at=now + lease_duration(),
            attempts=F("attempts") + 1,
        )
    return chunk.pk


def has_claimable_chunks(bill_run_id: int) -> bool:
    return (
        BillRunChunk.objects.filter(bill_run_id=bill_run_id)
        .filter(_claimable(timezone.now()))
        .exists()
    )


class LeaseLost(Exception):
    """Another worker took the chunk over, or it is done: stop working on it."""


def _hold_lease(chunk_id: int, worker_id: str) -> None:
    """Check the chunk is still ours and renew its lease, locking its row: one UPDATE, inside
    the chunk's transaction (a worker that took the chunk over, or finished it, makes it match
    nothing: LeaseLost).

    Only the chunk's row: locking the run's row for the whole chunk transaction would make the
    run's workers take turns instead of billing side by side."""
    renewed = BillRunChunk.objects.filter(
        pk=chunk_id, status=ChunkStatus.RUNNING, lease_owner=worker_id
    ).update(lease_expires_at=timezone.now() + lease_duration())
    if not renewed:
        raise LeaseLost(chunk_id)


# --- Billing a chunk ------------------------------------------------------------------------------
def process_chunk(chunk_id: int, worker_id: str, *, reason_code=None) -> bool:
    """Bill a chunk this worker has leased. The whole chunk is one transaction; if it fails it
    is redone account by account, so the failing accounts are recorded and the rest billed.
    Returns False if the lease was lost on the way. `reason_code`: the credit memos' (a worker
    reads it once for all its chunks)."""
    chunk = BillRunChunk.objects.select_related("bill_run").get(pk=chunk_id)
    run = chunk.bill_run
    if chunk.attempts > MAX_CHUNK_ATTEMPTS:
        return _give_up(chunk, worker_id)
    rule = run.generation_rule
    reason_code = reason_code or bill_run_reason_code()
    try:
        with transaction.atomic():
            _hold_lease(chunk_id, worker_id)
            result = bill_accounts(
                bill_run=run, account_ids=chunk.account_ids, rule=rule, reason_code=reason_code
            )
            _finish_chunk(chunk, result, failures=[])
        return True
    except LeaseLost:
        return False
    except Exception:
        logger.warning(
            "%s failed as a whole; billing its accounts one by one", chunk, exc_info=True
        )

    result, failures = ChunkResult(), []
    for account_id in chunk.account_ids:
        try:
            with transaction.atomic():
                _hold_lease(chunk_id, worker_id)
                result += bill_accounts(
                    bill_run=run, account_ids=[account_id], rule=rule, reason_code=reason_code
                )
        except LeaseLost:
            return False
        except Exception as exc:
            failures.append((account_id, failure_reason(exc)))
            if not isinstance(exc, ValidationError):
                logger.exception("Bill run %s could not bill account %s", run, account_id)
    try:
        with transaction.atomic():
            _hold_lease(chunk_id, worker_id)
            _finish_chunk(chunk, result, failures=failures)
    except LeaseLost:
        return False
    return True


def _give_up(chunk: BillRunChunk, worker_id: str) -> bool:
    """A chunk whose workers kept dying: its accounts are recorded as failed, so the run can
    finish and "Retry failed accounts" can bill them (what was billed is not billed again)."""
    reason = (
        f"Its chunk was started {chunk.attempts - 1} times without finishing; "
        "retry the failed accounts."
    )
    try:
        with transaction.atomic():
            _hold_lease(chunk.pk, worker_id)
            # Accounts billed one by one before the workers died keep their documents.
            mine = {"bill_run_id": chunk.bill_run_id, "account_id__in": chunk.account_ids}
            billed = set(Invoice.objects.filter(**mine).values_list("account_id", flat=True)) | set(
                Memo.objects.filter(**mine).values_list("account_id", flat=True)
            )
            failures = [(a, reason) for a in chunk.account_ids if a not in billed]
            _finish_chunk(chunk, ChunkResult(), failures=failures)
    except LeaseLost:
        return False
    logger.error("Gave up %s after %s attempts", chunk, chunk.attempts)
    return True


def failure_reason(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        return " ".join(exc.messages)
    from django.db import IntegrityError

    # PostgreSQL names the constraint; SQLite names its columns.
    duplicate = ("billed_period_once", "billing_billedperiod.period_start")
    if isinstance(exc, IntegrityError) and any(text in str(exc) for text in duplicate):
        return "A charge period was already billed by another run (nothing was billed twice)."
    return f"{type(exc).__name__}: {exc}"[:1000]


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
    BillRunChunk.objects.filter(pk=chunk.pk).update(
        status=ChunkStatus.DONE, finished_at=timezone.now()
    )
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
    worker_id = worker_id or new_worker_id()
    done = 0
    reason_code = None
    while max_chunks is None or done < max_chunks:
        status = BillRun.objects.filter(pk=bill_run_id).values_list("status", flat=True).first()
        if status != BillRunStatus.PROCESSING:
            return done
        chunk_id = claim_chunk(bill_run_id, worker_id)
        if chunk_id is None:
            break
        reason_code = reason_code or bill_run_reason_code()
        if process_chunk(chunk_id, worker_id, reason_code=reason_code):
            done += 1
    finish_if_done(bill_run_id, on_completed=on_completed)
    return done


def finish_if_done(
    bill_run_id: int, *, on_completed: Callable[[BillRun], None] | None = None
) -> BillRun | None:
    """Processing -> Completed (or Error when no account could be billed) once every chunk is
    done. The counts are recounted from the documents, so they are exact whatever retries
    happened. `on_completed(run)` runs in the same transaction, the run locked: billing.tasks
    passes the hook that moves an auto-post run on to PostInProgress (the engine knows nothing
    of tasks)."""
    with transaction.atomic():
        run = BillRun.objects.select_for_update().get(pk=bill_run_id)
        if run.status != BillRunStatus.PROCESSING:
            return None
        if run.chunks.exclude(status=ChunkStatus.DONE).exists():
            return None
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
        run.finished_at = timezone.now()
        run.save()
        if run.status == BillRunStatus.COMPLETED and on_completed is not None:
            on_completed(run)
    return run


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
