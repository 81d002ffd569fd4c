"""A real `db_worker` process SIGKILLed in the middle of a payment-run chunk, and the run resumed
by another (issue 13 must-show 2, PostgreSQL): the stand-in gateway's log shows exactly one
charge per document, and no credit is applied twice.

The first worker applies the chunk's credit memos and charges its documents at the gateway, then
waits for the payment number counter (held here by another connection): it is killed there. Its
transaction rolls back (no payment, no application is left), but the gateway did charge. Once
the chunk's lease runs out a second worker takes the chunk over: it asks the gateway by each
charge's idempotency key before charging, so the charges already made are recorded, not made
again.
"""

from __future__ import annotations

import os
import signal
import subprocess
from collections import Counter
from pathlib import Path

import pytest
from django.conf import settings
from django.utils import timezone

from billing.models import Invoice, NumberSeries
from billing.numbering import next_number
from memos.models import Memo, MemoApplication, MemoType
from payments import tasks
from payments.models import Payment, PaymentRun, PaymentRunStatus, PaymentStatus
from payments.runs import kind
from tests.billing.test_bill_run_idempotence import (
    WORKER_COMMAND,
    RowLock,
    backend_alive,
    backends_blocked_by,
    stop,
    wait_for,
    worker_environment,
)
from tests.payments.helpers import TARGET, D, account, credit_memo, debit_memo, invoice
from tests.reliability.invariants import assert_invariants

ACCOUNTS = 30  # three chunks of 10 under the test settings


def start_worker(log: Path, gateway_url: str) -> subprocess.Popen:
    env = {**worker_environment(), "PAYMENT_GATEWAY_URL": gateway_url}
    with log.open("ab") as out:
        return subprocess.Popen(
            WORKER_COMMAND, cwd=settings.BASE_DIR, env=env, stdout=out, stderr=subprocess.STDOUT
        )


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_worker_killed_mid_chunk_charges_each_document_once(payment_gateway, tmp_path):
    for _ in range(ACCOUNTS):
        acct = account(auto_pay=True)
        credit_memo(acct, ["10.00"])
        invoice(acct, ["60.00", "40.00"])
        debit_memo(acct, ["25.00"])
    run = PaymentRun.objects.create(
        number=next_number(NumberSeries.Key.PAYMENT_RUN), target_date=TARGET
    )
    assert kind.plan_chunks(run.pk)
    log = tmp_path / "workers.log"
    first = second = None
    counter = ("SELECT id FROM billing_numberseries WHERE key = %s FOR UPDATE", ["payment"])
    try:
        with RowLock(*counter) as lock:
            first = start_worker(log, payment_gateway.url)
            tasks.work_on_payment_run.using(backend="database").enqueue(run.pk)
            [(orphan, query)] = wait_for(
                lambda: backends_blocked_by(lock.backend_pid),
                timeout=30,
                what="the worker to wait for the payment counter",
                log=log,
            )
            assert "billing_numberseries" in query
            # The first chunk's documents are charged: its 10 invoices and 10 debit memos.
            assert len(payment_gateway.charge_log) == 20
            chunk = run.chunks.get(sequence=1)
            killed_owner = chunk.lease_owner
            os.kill(first.pid, signal.SIGKILL)
            assert first.wait(timeout=10) == -signal.SIGKILL
        wait_for(
            lambda: not backend_alive(orphan),
            timeout=10,
            what="the killed worker's database session to end",
            log=log,
        )
        # Rolled back: nothing of the chunk is left but the charges at the gateway.
        assert not Payment.objects.exists()
        assert not MemoApplication.objects.exists()
        assert not Invoice.objects.filter(balance=0).exists()
        wait_for(
            lambda: run.chunks.get(sequence=1).lease_expires_at < timezone.now(),
            timeout=settings.BILL_RUN_LEASE_SECONDS + 5,
            what="the lease to run out",
            log=log,
        )
        second = start_worker(log, payment_gateway.url)
        tasks.work_on_payment_run.using(backend="database").enqueue(run.pk)
        wait_for(
            lambda: PaymentRun.objects.get(pk=run.pk).status == PaymentRunStatus.COMPLETED,
            timeout=60,
            what="the run to complete",
            log=log,
        )
    finally:
        if first is not None and first.poll() is None:
            first.kill()
            first.wait(timeout=10)
        stop(second)

    chunk = run.chunks.get(sequence=1)
    assert chunk.attempts == 2 and chunk.lease_owner != killed_owner
    documents = list(Invoice.objects.values_list("number", flat=True)) + list(
        Memo.objects.filter(memo_type=MemoType.DEBIT).values_list("number", flat=True)
    )
    charged = Counter(c["document"] for c in payment_gateway.charge_log)
    assert charged == dict.fromkeys(documents, 1)  # exactly one charge per document
    assert Payment.objects.filter(status=PaymentStatus.PROCESSED).count() == 2 * ACCOUNTS
    # One application per credit memo, each applied once.
    assert MemoApplication.objects.count() == ACCOUNTS
    credits = Memo.objects.filter(memo_type=MemoType.CREDIT)
    assert set(credits.values_list("applied_amount", flat=True)) == {D("10.00")}
    assert not Invoice.objects.exclude(balance=0).exists()
    run.refresh_from_db()
    assert (run.credit_applications, run.documents_collected) == (ACCOUNTS, 2 * ACCOUNTS)
    assert "Taking over" in log.read_text(errors="replace")
    assert_invariants()
