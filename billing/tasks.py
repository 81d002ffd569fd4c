"""Background tasks (Django's tasks API; the database backend in production, so any number of
`db_worker` processes on any number of machines share the work).

Every task is idempotent: it re-reads the run's status under its row lock and does only what
is still to do, so a task that runs twice, or after its worker was killed, changes nothing twice.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone
from django_tasks import default_task_backend, task

from billing.bill_runs import documents, runner
from billing.models import BillRun, BillRunStatus

logger = logging.getLogger(__name__)


@task()
def start_bill_run(bill_run_id: int) -> None:
    """Plan the run's chunks, then set workers on them."""
    runner.plan_chunks(bill_run_id)
    if not runner.has_claimable_chunks(bill_run_id):
        runner.finish_if_done(bill_run_id, on_completed=post_when_completed)  # nothing in scope
        return
    for _ in range(settings.BILL_RUN_WORKERS):
        work_on_bill_run.enqueue(bill_run_id)


@task()
def work_on_bill_run(bill_run_id: int) -> int:
    """Bill chunks of the run until none is left to claim."""
    return runner.work(bill_run_id, on_completed=post_when_completed)


@task()
def post_bill_run(bill_run_id: int, actor_id: int | None) -> None:
    run = BillRun.objects.get(pk=bill_run_id)
    documents.post_documents(bill_run=run, actor=_user(actor_id))


@task()
def cancel_bill_run(bill_run_id: int, actor_id: int | None) -> None:
    run = BillRun.objects.get(pk=bill_run_id)
    documents.cancel_documents(bill_run=run, actor=_user(actor_id))


@task()
def watch_bill_run(bill_run_id: int) -> None:
    """The run's watchdog: while the run is under way, re-start whatever work has stalled (a
    worker killed mid-chunk leaves a chunk whose lease runs out) and look again later."""
    run = BillRun.objects.filter(pk=bill_run_id).first()
    if run is None or not run.is_running:
        return
    resume(run)
    watch(bill_run_id)


def resume(run: BillRun) -> None:
    """Enqueue the task that moves `run` on from where it is (safe to call at any time)."""
    if run.status == BillRunStatus.PENDING:
        start_bill_run.enqueue(run.pk)
    elif run.status == BillRunStatus.PROCESSING:
        if runner.has_claimable_chunks(run.pk):
            work_on_bill_run.enqueue(run.pk)
        else:
            runner.finish_if_done(run.pk, on_completed=post_when_completed)
    elif run.status == BillRunStatus.POST_IN_PROGRESS:
        post_bill_run.enqueue(run.pk, None)
    elif run.status == BillRunStatus.CANCEL_IN_PROGRESS:
        cancel_bill_run.enqueue(run.pk, None)


def enqueue_on_commit(task, *args) -> None:
    """Enqueue when the transaction commits (the database backend would commit the task row
    with it anyway; an in-process backend must not run the task before its data is visible)."""
    transaction.on_commit(lambda: task.enqueue(*args))


def start_background(run: BillRun, status: str, task, actor) -> BillRun:
    """Move the locked run to a transitional status; its task does the work."""
    run.status = status
    run.message = ""
    run.save(update_fields=["status", "message"])
    enqueue_on_commit(task, run.pk, getattr(actor, "pk", None))
    watch(run.pk)
    return run


def post_when_completed(run: BillRun) -> None:
    """runner.finish_if_done's hook, in the transaction that completed the (locked) run: an
    auto-post run goes on to PostInProgress, with its post task."""
    if run.auto_post:
        start_background(run, BillRunStatus.POST_IN_PROGRESS, post_bill_run, run.created_by)


def watch(bill_run_id: int) -> None:
    """Schedule the watchdog one lease from now, on backends that can defer tasks."""
    if not default_task_backend.supports_defer:
        return
    run_after = timezone.now() + timedelta(seconds=settings.BILL_RUN_LEASE_SECONDS)
    transaction.on_commit(lambda: watch_bill_run.using(run_after=run_after).enqueue(bill_run_id))


def _user(actor_id: int | None):
    if actor_id is None:
        return None
    return get_user_model().objects.filter(pk=actor_id).first()
