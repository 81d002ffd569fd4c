"""Picking up bill runs where they stopped: the resume command, the watchdog and tasks.resume."""

import datetime as dt
import io

import pytest
from django.core.management import call_command
from django.test import override_settings
from django.urls import reverse
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from billing import tasks
from billing.bill_runs import runner, services
from billing.factories import AccountFactory
from billing.models import BillRunChunk, BillRunStatus, ChunkStatus, Invoice, InvoiceStatus
from tests.billing.bill_run_helpers import DAY, subscribe

pytestmark = pytest.mark.django_db


def pending_run(operator, accounts=3):
    """A Pending run whose start task was lost (its on-commit callback never ran)."""
    for _ in range(accounts):
        subscribe(AccountFactory(), "50")
    return services.create_bill_run(actor=operator, invoice_date=DAY, target_date=DAY)


def test_resume_command_starts_a_pending_run_whose_task_was_lost(operator):
    run = pending_run(operator)
    assert run.status == BillRunStatus.PENDING

    call_command("resume_bill_runs", stdout=io.StringIO())

    run.refresh_from_db()
    assert run.status == BillRunStatus.COMPLETED
    assert run.invoices_generated == 3
    assert Invoice.objects.filter(bill_run=run).count() == 3


def test_resume_takes_over_a_chunk_whose_worker_died(operator):
    run = pending_run(operator)
    runner.plan_chunks(run.pk)
    chunk = BillRunChunk.objects.get(bill_run=run)
    # A worker leased it and died: its lease has run out.
    BillRunChunk.objects.filter(pk=chunk.pk).update(
        status=ChunkStatus.RUNNING,
        lease_owner="dead-worker",
        lease_expires_at=timezone.now() - dt.timedelta(seconds=1),
        attempts=1,
    )
    run.refresh_from_db()

    tasks.resume(run)

    chunk.refresh_from_db()
    run.refresh_from_db()
    assert chunk.status == ChunkStatus.DONE
    assert chunk.attempts == 2
    assert chunk.lease_owner != "dead-worker"
    assert run.status == BillRunStatus.COMPLETED
    assert run.invoices_generated == 3


def test_resume_leaves_a_chunk_alone_while_its_lease_holds(operator):
    run = pending_run(operator)
    runner.plan_chunks(run.pk)
    BillRunChunk.objects.filter(bill_run=run).update(
        status=ChunkStatus.RUNNING,
        lease_owner="live-worker",
        lease_expires_at=timezone.now() + dt.timedelta(minutes=5),
    )
    run.refresh_from_db()

    tasks.resume(run)

    run.refresh_from_db()
    assert run.status == BillRunStatus.PROCESSING
    assert BillRunChunk.objects.get(bill_run=run).lease_owner == "live-worker"
    assert not Invoice.objects.filter(bill_run=run).exists()


def test_resume_finishes_a_post_whose_task_was_lost(operator):
    run = pending_run(operator)
    runner.plan_chunks(run.pk)
    runner.work(run.pk)
    run.refresh_from_db()
    services.request_post(bill_run=run, actor=operator)  # on-commit task never runs here
    run.refresh_from_db()
    assert run.status == BillRunStatus.POST_IN_PROGRESS

    tasks.resume(run)

    run.refresh_from_db()
    assert run.status == BillRunStatus.POSTED
    assert set(Invoice.objects.filter(bill_run=run).values_list("status", flat=True)) == {
        InvoiceStatus.POSTED
    }


def test_watchdog_is_not_scheduled_on_a_backend_that_cannot_defer(
    operator, django_capture_on_commit_callbacks
):
    run = pending_run(operator)
    with django_capture_on_commit_callbacks() as callbacks:
        tasks.watch(run.pk)
    assert callbacks == []


@override_settings(TASKS={"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}})
def test_watchdog_is_scheduled_one_lease_later_and_reschedules_itself(
    operator, django_capture_on_commit_callbacks, settings
):
    run = pending_run(operator)
    before = timezone.now()
    with django_capture_on_commit_callbacks(execute=True):
        tasks.watch(run.pk)
    watchdog = DBTaskResult.objects.get(task_path="billing.tasks.watch_bill_run")
    assert watchdog.args_kwargs["args"] == [run.pk]
    lease = dt.timedelta(seconds=settings.BILL_RUN_LEASE_SECONDS)
    assert before + lease <= watchdog.run_after <= timezone.now() + lease

    # When it fires on a run still Pending, it re-enqueues the start and watches again.
    with django_capture_on_commit_callbacks(execute=True):
        tasks.watch_bill_run.call(run.pk)
    paths = list(DBTaskResult.objects.values_list("task_path", flat=True))
    assert paths.count("billing.tasks.start_bill_run") == 1  # the lost start, enqueued again
    assert paths.count("billing.tasks.watch_bill_run") == 2


def test_account_page_offers_a_bill_run_for_that_account(client, operator, viewer):
    account = AccountFactory()
    client.force_login(operator)
    page = client.get(account.get_absolute_url()).content.decode()
    new_run = reverse("billing:bill_run_new") + f"?account={account.number}"
    assert f'href="{new_run}"' in page
    form = client.get(new_run).content.decode()
    assert 'id="id_scope_account" value="account" checked' in form
    assert f'value="{account.number}"' in form

    client.force_login(viewer)
    assert "Bill this account" not in client.get(account.get_absolute_url()).content.decode()


def test_a_chunk_started_too_often_is_given_up_and_its_accounts_recorded_failed(operator):
    run = pending_run(operator)
    runner.plan_chunks(run.pk)
    chunk = BillRunChunk.objects.get(bill_run=run)
    BillRunChunk.objects.filter(pk=chunk.pk).update(
        status=ChunkStatus.RUNNING,
        lease_owner="dead-worker",
        lease_expires_at=timezone.now() - dt.timedelta(seconds=1),
        attempts=runner.MAX_CHUNK_ATTEMPTS,
    )

    runner.work(run.pk)

    run.refresh_from_db()
    assert run.status == BillRunStatus.ERROR
    assert (run.accounts_processed, run.accounts_failed) == (0, 3)
    assert set(run.errors.values_list("account_id", flat=True)) == set(chunk.account_ids)
    assert "retry the failed accounts" in run.errors.first().reason
    assert not Invoice.objects.filter(bill_run=run).exists()
    # Retrying bills them.
    retry = services.retry_failed_accounts(bill_run=run, actor=operator)
    runner.plan_chunks(retry.pk)
    runner.work(retry.pk)
    retry.refresh_from_db()
    assert (retry.status, retry.invoices_generated) == (BillRunStatus.COMPLETED, 3)
