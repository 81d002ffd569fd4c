"""What a review of the bill-run engine found, pinned: cancel order across runs, moved charge
dates, a given-up chunk with billed accounts, the rule a run keeps, deleting a run's documents,
and the run's post and cancel against an operator working on one of its documents at the same
time (PostgreSQL, real row locks)."""

import datetime as dt
import threading
import time
from unittest import mock

import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.utils import timezone

from billing import tasks
from billing.bill_runs import documents, runner, services
from billing.bill_runs.chunk import bill_accounts
from billing.models import (
    BilledPeriod,
    BillRunChunk,
    BillRunStatus,
    ChunkStatus,
    GenerationRule,
    InvoiceStatus,
)
from memos.models import MemoStatus
from memos.services.bill_runs import bill_run_reason_code
from memos.services.lifecycle import cancel_memo, post_memo
from tests.billing.bill_run_helpers import (
    DAY,
    D,
    bill,
    bill_account,
    cancel,
    create_run,
    invoices_of,
    memos_of,
    new_account,
    process,
    subscribe,
    use_rule,
)

DEC_1 = dt.date(2026, 12, 1)


def periods_of(sc) -> list[tuple]:
    return list(
        BilledPeriod.objects.filter(subscription_charge=sc)
        .order_by("period_start")
        .values_list("period_start", "period_end")
    )


@pytest.mark.django_db
def test_an_older_run_cannot_be_canceled_before_the_run_that_billed_later_periods(operator):
    account = new_account()
    sc = subscribe(account, "30", name="Plan")
    november = bill_account(account, invoice_date=DAY, target_date=DAY)
    december = bill_account(account, invoice_date=DEC_1, target_date=DEC_1)

    with pytest.raises(ValidationError, match=f"billed for a later period by {december.number}"):
        services.request_cancel(bill_run=november, actor=operator)
    november.refresh_from_db()
    assert november.status == BillRunStatus.COMPLETED

    cancel(december, operator)
    cancel(november, operator)
    sc.refresh_from_db()
    assert sc.charged_through_date == DAY
    again = bill_account(account, invoice_date=DEC_1, target_date=DEC_1)
    assert [(i.service_start, i.amount) for i in invoices_of(again)[0].items.all()] == [
        (DAY, D(30)),
        (DEC_1, D(30)),
    ]


@pytest.mark.django_db
def test_an_older_credit_memo_cannot_be_canceled_before_the_later_one(operator):
    account = new_account()
    subscribe(account, "-30", name="Credit")
    november = bill_account(account, invoice_date=DAY, target_date=DAY)
    bill_account(account, invoice_date=DEC_1, target_date=DEC_1)
    [memo] = memos_of(november)
    with pytest.raises(ValidationError, match="cancel the later documents first"):
        cancel_memo(memo=memo, actor=operator)
    memo.refresh_from_db()
    assert memo.status == MemoStatus.DRAFT


@pytest.mark.django_db
def test_extending_a_prorated_charge_bills_the_rest_of_its_period_once():
    account = new_account()
    sc = subscribe(account, "30", end=dt.date(2026, 11, 15), name="Plan")
    bill_account(account, invoice_date=DAY, target_date=DAY)
    sc.end_date = dt.date(2026, 12, 31)
    sc.save(update_fields=["end_date"])

    run = bill_account(account, invoice_date=DEC_1, target_date=DEC_1)

    [invoice] = invoices_of(run)
    assert [(i.service_start, i.service_end, i.amount) for i in invoice.items.all()] == [
        (dt.date(2026, 11, 16), dt.date(2026, 11, 30), D(15)),  # 15 of 30 days
        (DEC_1, dt.date(2026, 12, 31), D(30)),
    ]
    assert periods_of(sc) == [
        (DAY, dt.date(2026, 11, 15)),
        (dt.date(2026, 11, 16), dt.date(2026, 11, 30)),
        (DEC_1, dt.date(2026, 12, 31)),
    ]


@pytest.mark.django_db
def test_moving_a_billed_charges_start_never_bills_a_day_twice():
    account = new_account()
    sc = subscribe(account, "30", name="Plan")
    bill_account(account, invoice_date=DAY, target_date=DAY)  # November 1-30
    sc.start_date = dt.date(2026, 11, 10)  # periods now run from the 10th
    sc.save(update_fields=["start_date"])

    run = bill_account(account, invoice_date=DEC_1, target_date=DEC_1)

    [invoice] = invoices_of(run)
    # Only December 1-9 of the period November 10 - December 9 was not billed yet.
    assert [(i.service_start, i.service_end, i.amount) for i in invoice.items.all()] == [
        (DEC_1, dt.date(2026, 12, 9), D(9)),
    ]


@pytest.mark.django_db
def test_a_given_up_chunk_keeps_what_it_billed_and_the_run_can_still_be_canceled(operator):
    accounts = [new_account() for _ in range(3)]
    for account in accounts:
        subscribe(account, "50")
    run = create_run(operator)
    runner.plan_chunks(run.pk)
    run.refresh_from_db()
    # The first account was billed one by one before the chunk's workers kept dying.
    bill_accounts(
        bill_run=run,
        account_ids=[accounts[0].pk],
        rule=run.generation_rule,
        reason_code=bill_run_reason_code(),
    )
    BillRunChunk.objects.filter(bill_run=run).update(
        status=ChunkStatus.RUNNING,
        lease_owner="dead-worker",
        lease_expires_at=timezone.now() - dt.timedelta(seconds=1),
        attempts=runner.MAX_CHUNK_ATTEMPTS,
    )

    runner.work(run.pk)

    run.refresh_from_db()
    assert run.status == BillRunStatus.COMPLETED
    assert (run.accounts_processed, run.accounts_failed, run.invoices_generated) == (1, 2, 1)
    assert set(run.errors.values_list("account_id", flat=True)) == {a.pk for a in accounts[1:]}
    cancel(run, operator)
    assert run.status == BillRunStatus.CANCELED


@pytest.mark.django_db
def test_a_run_keeps_the_generation_rule_it_was_created_with():
    use_rule(GenerationRule.NET_NEGATIVE_UNGROUPED)
    account = new_account()
    subscribe(account, "50")
    subscribe(account, "-10")
    run = create_run()
    use_rule(GenerationRule.NEGATIVE_CHARGES)  # changed while the run waits to start

    run = process(run)

    assert run.generation_rule == GenerationRule.NET_NEGATIVE_UNGROUPED
    assert (len(invoices_of(run)), len(memos_of(run))) == (1, 0)


@pytest.mark.django_db
def test_deleting_a_run_with_documents_needs_the_delete_memo_permission(
    client, operator, superuser
):
    account = new_account()
    subscribe(account, "50")
    run = cancel(bill(operator), operator)
    client.force_login(operator)
    page = client.get(run.get_absolute_url()).content.decode()
    assert 'id="bill-run-delete"' not in page
    response = client.post(f"{run.get_absolute_url()}delete/", follow=True)
    assert "needs the permission to delete canceled memos" in response.content.decode()
    assert invoices_of(run)

    client.force_login(superuser)
    assert 'id="bill-run-delete"' in client.get(run.get_absolute_url()).content.decode()
    client.post(f"{run.get_absolute_url()}delete/")
    assert not type(run).objects.filter(pk=run.pk).exists()


# --- The run's post and cancel against an operator, with real row locks -----------------------
def coupled_pair(operator):
    use_rule(GenerationRule.NEGATIVE_CHARGES)
    account = new_account()
    subscribe(account, "50", name="Plan")
    subscribe(account, "-10", name="Credit")
    run = bill_account(account, actor=operator)
    return run, invoices_of(run)[0], memos_of(run)[0]


def race(task, operator_action, *, hold, held: threading.Event):
    """Run the task and the operator's action in two threads: `hold` is patched to stall the
    first of them while it holds its locks, `held` is set once it does."""
    errors = {}

    def run(name, action):
        try:
            action()
        except Exception as exc:  # the test inspects what each side got
            errors[name] = exc
        finally:
            connection.close()

    threads = [
        threading.Thread(target=run, args=("task", task)),
        threading.Thread(target=run, args=("operator", operator_action)),
    ]
    with hold:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
    assert not any(thread.is_alive() for thread in threads)
    return errors


def stall_after(target, name, held):
    real = getattr(target, name)

    def stalled(*args, **kwargs):
        result = real(*args, **kwargs)
        held.set()
        time.sleep(1)
        return result

    return mock.patch.object(target, name, stalled)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_operator_posting_a_coupled_memo_during_the_runs_post_waits_and_is_told(operator):
    run, invoice, memo = coupled_pair(operator)
    with mock.patch.object(tasks, "enqueue_on_commit", lambda *a: None):
        services.request_post(bill_run=run, actor=operator)
    held = threading.Event()

    errors = race(
        lambda: documents.post_documents(bill_run=run, actor=operator),
        lambda: held.wait(10) and post_memo(memo=memo, actor=operator),
        hold=stall_after(documents, "_lock_drafts", held),
        held=held,
    )

    # No deadlock: the operator waited for the run's post and was told the memo is posted.
    assert "task" not in errors
    assert "is Posted: it cannot be posted" in str(errors["operator"])
    run.refresh_from_db(), invoice.refresh_from_db(), memo.refresh_from_db()
    assert (run.status, invoice.status, memo.status) == ("posted", "posted", "posted")


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_operator_posting_a_memo_during_the_runs_cancel_is_refused(operator):
    run, invoice, memo = coupled_pair(operator)
    with mock.patch.object(tasks, "enqueue_on_commit", lambda *a: None):
        services.request_cancel(bill_run=run, actor=operator)
    held = threading.Event()

    errors = race(
        lambda: documents.cancel_documents(bill_run=run, actor=operator),
        lambda: held.wait(10) and post_memo(memo=memo, actor=operator),
        hold=stall_after(documents, "_lock_drafts", held),
        held=held,
    )

    assert "task" not in errors
    assert "is Canceled: it cannot be posted" in str(errors["operator"])
    run.refresh_from_db(), invoice.refresh_from_db(), memo.refresh_from_db()
    assert (run.status, invoice.status, memo.status) == ("canceled", "canceled", "canceled")
    assert not BilledPeriod.objects.filter(bill_run=run).exists()


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_memo_posted_before_the_runs_cancel_takes_its_locks_stops_the_cancel(operator):
    run, invoice, memo = coupled_pair(operator)
    with mock.patch.object(tasks, "enqueue_on_commit", lambda *a: None):
        services.request_cancel(bill_run=run, actor=operator)
    held = threading.Event()
    from memos.services import lifecycle

    errors = race(
        lambda: held.wait(10) and documents.cancel_documents(bill_run=run, actor=operator),
        lambda: post_memo(memo=memo, actor=operator),
        # The operator's post holds the memo and its invoice while the cancel starts.
        hold=stall_after(lifecycle, "post_invoice", held),
        held=held,
    )

    assert errors == {}
    run.refresh_from_db(), invoice.refresh_from_db(), memo.refresh_from_db()
    assert (invoice.status, memo.status) == (InvoiceStatus.POSTED, MemoStatus.POSTED)
    assert run.status == BillRunStatus.COMPLETED
    assert run.message == "Not canceled: some of its documents have been posted."
    assert BilledPeriod.objects.filter(bill_run=run).count() == 2
