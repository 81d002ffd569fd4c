"""The background work on a run's documents (DOMAIN.md section 4): post all of its drafts, or
cancel them and release their charge periods. billing.tasks runs these; the operator's requests
(billing.bill_runs.services) only move the run to PostInProgress or CancelInProgress."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from billing.bill_runs.ledger import check_nothing_billed_later, release_billed_periods
from billing.busy import retry_when_busy
from billing.models import (
    BilledPeriod,
    BillRun,
    BillRunStatus,
    Invoice,
    InvoiceItem,
    InvoiceStatus,
)
from billing.services import ensure_open_period
from memos.models import Memo, MemoStatus
from memos.services.approvals import hold_bill_run_credit_memos
from memos.services.bill_runs import cancel_bill_run_credit_memos, post_bill_run_credit_memos


def lock_run(bill_run: BillRun) -> BillRun:
    return BillRun.objects.select_for_update().get(pk=bill_run.pk)


@retry_when_busy
@transaction.atomic
def post_documents(*, bill_run: BillRun, actor) -> BillRun:
    """Post all the run's draft invoices and credit memos, set-based. If they cannot be posted
    the run goes back to Completed and says why; nothing is half posted."""
    run = lock_run(bill_run)
    if run.status != BillRunStatus.POST_IN_PROGRESS:
        return run
    try:
        ensure_open_period(run.invoice_date, field="Invoice date")
    except ValidationError as exc:
        run.status = BillRunStatus.COMPLETED
        run.message = "Not posted: " + " ".join(exc.messages)
        run.save(update_fields=["status", "message"])
        return run
    memo_ids, invoice_ids = _lock_drafts(run)
    # DOMAIN.md 8: credit memos at or above their approval threshold are held (submitted for
    # approval), and so are the invoices coupled with them (rules 3 and 4), which post with
    # their memo once it is approved. Everything else posts now.
    held = hold_bill_run_credit_memos(bill_run=run, memo_ids=memo_ids, actor=actor)
    if held:
        held_set = set(held)
        memo_ids = [pk for pk in memo_ids if pk not in held_set]
        waiting = set(
            Memo.objects.filter(pk__in=held, coupled_invoice__isnull=False).values_list(
                "coupled_invoice_id", flat=True
            )
        )
        invoice_ids = [pk for pk in invoice_ids if pk not in waiting]
    Invoice.objects.filter(pk__in=invoice_ids, status=InvoiceStatus.DRAFT).update(
        status=InvoiceStatus.POSTED, balance=F("amount"), posted_at=timezone.now()
    )
    InvoiceItem.objects.filter(invoice_id__in=invoice_ids).update(balance=F("amount"))
    post_bill_run_credit_memos(bill_run=run, memo_ids=memo_ids, actor=actor)
    run.status = BillRunStatus.POSTED
    run.message = ""
    run.credit_memos_held = len(held)
    run.save(update_fields=["status", "message", "credit_memos_held"])
    return run


def _lock_drafts(run: BillRun) -> tuple[list[int], list[int]]:
    """Lock the run's draft memos, then its draft invoices, by id (the lock order every memo
    service keeps), so an operator posting or canceling one of them meanwhile either finishes
    first (and the document is no longer a draft here) or waits until the run's work is done."""
    memo_ids = list(
        Memo.objects.select_for_update()
        .filter(bill_run=run, status=MemoStatus.DRAFT)
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    invoice_ids = list(
        Invoice.objects.select_for_update()
        .filter(bill_run=run, status=InvoiceStatus.DRAFT)
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    return memo_ids, invoice_ids


def has_posted_documents(run: BillRun) -> bool:
    return (
        Invoice.objects.filter(bill_run=run, status=InvoiceStatus.POSTED).exists()
        or Memo.objects.filter(bill_run=run, status=MemoStatus.POSTED).exists()
    )


@retry_when_busy
@transaction.atomic
def cancel_documents(*, bill_run: BillRun, actor) -> BillRun:
    """Cancel the run's drafts and release their charge periods, so they can be billed again."""
    run = lock_run(bill_run)
    if run.status != BillRunStatus.CANCEL_IN_PROGRESS:
        return run
    memo_ids, invoice_ids = _lock_drafts(run)
    refusal = ""
    if has_posted_documents(run):  # posted one by one since the cancel was asked for
        refusal = "some of its documents have been posted."
    else:
        try:
            check_nothing_billed_later(BilledPeriod.objects.filter(bill_run=run))
        except ValidationError as exc:
            refusal = " ".join(exc.messages)
    if refusal:
        run.status = BillRunStatus.COMPLETED
        run.message = f"Not canceled: {refusal}"
        run.save(update_fields=["status", "message"])
        return run
    Invoice.objects.filter(pk__in=invoice_ids, status=InvoiceStatus.DRAFT).update(
        status=InvoiceStatus.CANCELED
    )
    cancel_bill_run_credit_memos(bill_run=run, memo_ids=memo_ids, actor=actor)
    # Every document of the run is now canceled (none posted, the drafts locked above).
    release_billed_periods(BilledPeriod.objects.filter(bill_run=run))
    run.status = BillRunStatus.CANCELED
    run.message = ""
    run.save(update_fields=["status", "message"])
    return run
