"""The machinery every background run over accounts shares (bill runs, payment runs): plan the
accounts in scope into chunks, lease chunks to workers, work each chunk in one transaction (redone
account by account when it fails, so the failing accounts are recorded and the others go on),
add its counts to the run, and finish the run once every chunk is done.

Any number of worker processes on any number of machines can work on one run: each claims the
next chunk with SELECT ... FOR UPDATE SKIP LOCKED and holds a lease on it. A worker that dies
leaves its chunk's transaction rolled back and its lease running out; the next worker that looks
(or the run's watchdog task) takes the chunk over. Whoever works a chunk re-checks, under the
chunk's row lock, that the lease is still its own, so a chunk's work commits exactly once.

What differs between kinds of run (which accounts, what is done to them, what is counted) is a
RunKind: bill runs' is billing.bill_runs.runner.BILL_RUNS, payment runs' is in the payments app.
This module imports neither.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from billing.models import ChunkStatus

logger = logging.getLogger(__name__)

# A chunk taken over this many times (its workers died or it failed beyond the per-account
# fallback) is given up, so that one poisoned chunk cannot keep a run Processing forever.
MAX_CHUNK_ATTEMPTS = 5


def chunk_size() -> int:
    return settings.BILL_RUN_CHUNK_SIZE


def lease_duration() -> timedelta:
    return timedelta(seconds=settings.BILL_RUN_LEASE_SECONDS)


def new_worker_id() -> str:
    return uuid.uuid4().hex


class LeaseLost(Exception):
    """Another worker took the chunk over, or it is done: stop working on it."""


class RunKind:
    """What one kind of run brings to the engine. Subclasses set the models and implement the
    hooks; the engine calls them inside the transactions it opens.

    - `run_model`: the run (fields status, accounts_in_scope, started_at, finished_at).
    - `chunk_model`: a billing.models.RunChunk subclass whose foreign key to the run is
      `run_field`.
    - `pending` / `processing`: the run's status values the engine moves between.
    """

    run_model: Any
    chunk_model: Any
    run_field: str
    pending: str = "pending"
    processing: str = "processing"
    name: str = "run"

    # --- hooks ------------------------------------------------------------------------------
    def accounts_in_scope(self, run) -> list[int]:
        raise NotImplementedError

    def worker_context(self, run) -> Any:
        """Read once per worker (e.g. a reason code) and passed to every process_accounts."""
        return None

    def empty_result(self) -> Any:
        raise NotImplementedError

    def process_accounts(self, run, chunk, account_ids: list[int], context) -> Any:
        """Do the run's work for `account_ids`, inside the chunk's transaction; returns a
        result that supports `+=`. Raise to fail (the engine then goes account by account)."""
        raise NotImplementedError

    def finish_chunk(self, chunk, result, failures: list[tuple[int, str]]) -> None:
        """Record `failures` (account id, reason), mark the chunk done and add its counts to
        the run, in the chunk's last transaction (mark_chunk_done does the first part)."""
        raise NotImplementedError

    def accounts_done_before(self, chunk) -> set[int]:
        """Accounts of a chunk being given up whose work committed already (one by one)."""
        return set()

    def failure_reason(self, exc: Exception) -> str:
        if isinstance(exc, ValidationError):
            return " ".join(exc.messages)
        return f"{type(exc).__name__}: {exc}"[:1000]

    def complete(self, run) -> None:
        """Recount the locked run and set its final status (Processing -> Completed/Error)."""
        raise NotImplementedError

    # --- helpers for the hooks ----------------------------------------------------------------
    def chunks_of(self, run_id: int):
        return self.chunk_model.objects.filter(**{f"{self.run_field}_id": run_id})

    def run_id_of(self, chunk) -> int:
        return getattr(chunk, f"{self.run_field}_id")


def mark_chunk_done(kind: RunKind, chunk) -> None:
    kind.chunk_model.objects.filter(pk=chunk.pk).update(
        status=ChunkStatus.DONE, finished_at=timezone.now()
    )


# --- Planning -------------------------------------------------------------------------------------
def plan_chunks(kind: RunKind, run_id: int) -> bool:
    """Pending -> Processing: freeze the accounts in scope into chunks. False if the run was
    not Pending (already started, or canceled before it started)."""
    with transaction.atomic():
        run = kind.run_model.objects.select_for_update().get(pk=run_id)
        if run.status != kind.pending:
            return False
        ids = list(kind.accounts_in_scope(run))
        size = chunk_size()
        kind.chunk_model.objects.bulk_create(
            (
                kind.chunk_model(
                    **{kind.run_field: run}, sequence=n, account_ids=ids[start : start + size]
                )
                for n, start in enumerate(range(0, len(ids), size), start=1)
            ),
            batch_size=1000,
        )
        run.status = kind.processing
        run.accounts_in_scope = len(ids)
        run.started_at = timezone.now()
        run.save(update_fields=["status", "accounts_in_scope", "started_at"])
    return True


# --- Leases ---------------------------------------------------------------------------------------
def _claimable(now) -> Q:
    return Q(status=ChunkStatus.PENDING) | Q(status=ChunkStatus.RUNNING, lease_expires_at__lt=now)


def claim_chunk(kind: RunKind, run_id: int, worker_id: str) -> int | None:
    """Lease the run's next pending (or stalled) chunk to `worker_id`; None when there is none."""
    now = timezone.now()
    with transaction.atomic():
        chunk = (
            kind.chunks_of(run_id)
            .select_for_update(skip_locked=True)
            .filter(_claimable(now))
            .order_by("sequence")
            .first()
        )
        if chunk is None:
            return None
        if chunk.status == ChunkStatus.RUNNING:
            logger.warning("Taking over %s from worker %s", chunk, chunk.lease_owner)
        kind.chunk_model.objects.filter(pk=chunk.pk).update(
            status=ChunkStatus.RUNNING,
            lease_owner=worker_id,
            lease_expires_at=now + lease_duration(),
            attempts=F("attempts") + 1,
        )
    return chunk.pk


def has_claimable_chunks(kind: RunKind, run_id: int) -> bool:
    return kind.chunks_of(run_id).filter(_claimable(timezone.now())).exists()


def hold_lease(kind: RunKind, chunk_id: int, worker_id: str) -> None:
    """Check the chunk is still ours and renew its lease, locking its row: one UPDATE, inside
    the chunk's transaction (a worker that took the chunk over, or finished it, makes it match
    nothing: LeaseLost).

    Only the chunk's row: locking the run's row for the whole chunk transaction would make the
    run's workers take turns instead of working side by side."""
    renewed = kind.chunk_model.objects.filter(
        pk=chunk_id, status=ChunkStatus.RUNNING, lease_owner=worker_id
    ).update(lease_expires_at=timezone.now() + lease_duration())
    if not renewed:
        raise LeaseLost(chunk_id)


# --- Working a chunk ------------------------------------------------------------------------------
def process_chunk(
    kind: RunKind,
    chunk_id: int,
    worker_id: str,
    *,
    context=None,
    hold: Callable[[int, str], None] | None = None,
    finish: Callable | None = None,
    max_attempts: int = MAX_CHUNK_ATTEMPTS,
) -> bool:
    """Work a chunk this worker has leased. The whole chunk is one transaction; if it fails it
    is redone account by account, so the failing accounts are recorded and the rest done.
    Returns False if the lease was lost on the way. `context`: kind.worker_context's (a worker
    reads it once for all its chunks). `hold` and `finish` replace hold_lease and
    kind.finish_chunk (a kind's module may route them through its own names)."""
    hold = hold or (lambda chunk_pk, worker: hold_lease(kind, chunk_pk, worker))
    finish = finish or kind.finish_chunk
    chunk = kind.chunk_model.objects.select_related(kind.run_field).get(pk=chunk_id)
    run = getattr(chunk, kind.run_field)
    if chunk.attempts > max_attempts:
        return _give_up(kind, chunk, worker_id, hold, finish)
    if context is None:
        context = kind.worker_context(run)
    try:
        with transaction.atomic():
            hold(chunk_id, worker_id)
            result = kind.process_accounts(run, chunk, list(chunk.account_ids), context)
            finish(chunk, result, failures=[])
        return True
    except LeaseLost:
        return False
    except Exception:
        logger.warning(
            "%s failed as a whole; working its accounts one by one", chunk, exc_info=True
        )

    result, failures = kind.empty_result(), []
    for account_id in chunk.account_ids:
        try:
            with transaction.atomic():
                hold(chunk_id, worker_id)
                result += kind.process_accounts(run, chunk, [account_id], context)
        except LeaseLost:
            return False
        except Exception as exc:
            failures.append((account_id, kind.failure_reason(exc)))
            if not isinstance(exc, ValidationError):
                logger.exception("%s %s could not process account %s", kind.name, run, account_id)
    try:
        with transaction.atomic():
            hold(chunk_id, worker_id)
            finish(chunk, result, failures=failures)
    except LeaseLost:
        return False
    return True


def _give_up(kind: RunKind, chunk, worker_id: str, hold, finish) -> bool:
    """A chunk whose workers kept dying: its accounts are recorded as failed, so the run can
    finish and "Retry failed" can process them (what was done is not done again)."""
    reason = (
        f"Its chunk was started {chunk.attempts - 1} times without finishing; "
        "retry the failed accounts."
    )
    try:
        with transaction.atomic():
            hold(chunk.pk, worker_id)
            done = kind.accounts_done_before(chunk)
            failures = [(a, reason) for a in chunk.account_ids if a not in done]
            finish(chunk, kind.empty_result(), failures=failures)
    except LeaseLost:
        return False
    logger.error("Gave up %s after %s attempts", chunk, chunk.attempts)
    return True


# --- Working and finishing ------------------------------------------------------------------------
def work(
    kind: RunKind,
    run_id: int,
    worker_id: str | None = None,
    *,
    max_chunks: int | None = None,
    on_completed: Callable | None = None,
    process: Callable | None = None,
) -> int:
    """Claim and work chunks of the run until none is left (or `max_chunks` are done); finish
    the run when every chunk is done (finish_if_done, with `on_completed`). Returns the number
    of chunks worked. `process(chunk_id, worker_id, context=...)` replaces process_chunk."""
    worker_id = worker_id or new_worker_id()
    done = 0
    context = None
    while max_chunks is None or done < max_chunks:
        run = kind.run_model.objects.filter(pk=run_id).first()
        if run is None or run.status != kind.processing:
            return done
        chunk_id = claim_chunk(kind, run_id, worker_id)
        if chunk_id is None:
            break
        if context is None:
            context = kind.worker_context(run)
        if process is not None:
            worked = process(chunk_id, worker_id, context=context)
        else:
            worked = process_chunk(kind, chunk_id, worker_id, context=context)
        if worked:
            done += 1
    finish_if_done(kind, run_id, on_completed=on_completed)
    return done


def finish_if_done(kind: RunKind, run_id: int, *, on_completed: Callable | None = None):
    """Processing -> Completed (or Error) once every chunk is done: kind.complete recounts the
    locked run. `on_completed(run)` runs in the same transaction, the run locked, when the run
    completed (the engine knows nothing of tasks)."""
    with transaction.atomic():
        run = kind.run_model.objects.select_for_update().get(pk=run_id)
        if run.status != kind.processing:
            return None
        if kind.chunks_of(run_id).exclude(status=ChunkStatus.DONE).exists():
            return None
        kind.complete(run)
        run.finished_at = timezone.now()
        run.save()
        if run.status == "completed" and on_completed is not None:
            on_completed(run)
    return run
