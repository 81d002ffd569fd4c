"""Background tasks of payment runs (the database task backend in production): the same steps as
bill runs' (billing.tasks) on the shared engine. Every task is idempotent: it re-reads the run's
status and does only what is still to do."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django_tasks import default_task_backend, task

from payments.models import PaymentRun, PaymentRunStatus
from payments.runs import kind


@task()
def start_payment_run(run_id: int) -> None:
    """Plan the run's chunks, then set workers on them."""
    kind.plan_chunks(run_id)
    if not kind.has_claimable_chunks(run_id):
        kind.finish_if_done(run_id)  # nothing in scope
        return
    for _ in range(settings.BILL_RUN_WORKERS):
        work_on_payment_run.enqueue(run_id)


@task()
def work_on_payment_run(run_id: int) -> int:
    """Work chunks of the run until none is left to claim."""
    return kind.work(run_id)


@task()
def watch_payment_run(run_id: int) -> None:
    """The run's watchdog: re-start stalled work (a killed worker's chunk) and look again later."""
    run = PaymentRun.objects.filter(pk=run_id).first()
    if run is None or not run.is_running:
        return
    resume(run)
    watch(run_id)


def resume(run: PaymentRun) -> None:
    """Enqueue the task that moves `run` on from where it is (safe to call at any time)."""
    if run.status == PaymentRunStatus.PENDING:
        start_payment_run.enqueue(run.pk)
    elif run.status == PaymentRunStatus.PROCESSING:
        if kind.has_claimable_chunks(run.pk):
            work_on_payment_run.enqueue(run.pk)
        else:
            kind.finish_if_done(run.pk)


def start_on_commit(run_id: int) -> None:
    transaction.on_commit(lambda: start_payment_run.enqueue(run_id))
    watch(run_id)


def watch(run_id: int) -> None:
    """Schedule the watchdog one lease from now, on backends that can defer tasks."""
    if not default_task_backend.supports_defer:
        return
    run_after = timezone.now() + timedelta(seconds=settings.BILL_RUN_LEASE_SECONDS)
    transaction.on_commit(lambda: watch_payment_run.using(run_after=run_after).enqueue(run_id))
