"""What operators do to bill runs (DOMAIN.md section 4): create, post, cancel, delete, retry the
failed accounts. Long work (billing, posting, canceling) runs in background tasks; each of these
functions changes the run's status under its row lock and enqueues the task in the same
transaction, so the task exists exactly when the status says work is under way."""

from __future__ import annotations

import datetime as dt
import logging

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import F, ProtectedError
from django.utils import timezone

from billing.bill_runs.ledger import check_nothing_billed_later, release_billed_periods
from billing.busy import retry_when_busy
from billing.models import (
    Account,
    BilledPeriod,
    BillingSettings,
    BillRun,
    BillRunScope,
    BillRunStatus,
    Invoice,
    InvoiceItem,
    InvoiceStatus,
    NumberSeries,
)
from billing.numbering import next_number
from billing.services import ensure_open_period
from memos.models import Memo, MemoStatus
from memos.services.bill_runs import cancel_bill_run_credit_memos, post_bill_run_credit_memos

logger = logging.getLogger(__name__)


def _enqueue(task, *args) -> None:
    """Enqueue when the transaction commits (the database backend would commit the task row
    with it anyway; an in-process backend must not run the task before its data is visible)."""
    transaction.on_commit(lambda: task.enqueue(*args))


@retry_when_busy
@transaction.atomic
def create_bill_run(
    *,
    actor,
    invoice_date: dt.date,
    target_date: dt.date,
    scope: str = BillRunScope.ALL,
    batch: str = "",
    bill_cycle_day: int | None = None,
    account: Account | None = None,
    include_one_time: bool = True,
    include_recurring: bool = True,
    include_usage: bool = True,
    auto_post: bool = False,
    name: str = "",
    retry_of: BillRun | None = None,
) -> BillRun:
    """A Pending run, started in the background."""
    from billing import tasks

    errors = {}
    if invoice_date is None:
        errors["invoice_date"] = "Enter the invoice date."
    if target_date is None:
        errors["target_date"] = "Enter the target date."
    if invoice_date is not None:
        try:
            ensure_open_period(invoice_date, field="Invoice date")
        except ValidationError as exc:
            errors["invoice_date"] = exc.messages
    if not (include_one_time or include_recurring or include_usage):
        errors["include_recurring"] = "Include at least one charge type."
    if scope == BillRunScope.ACCOUNT and account is None:
        errors["account"] = "Choose the account to bill."
    if scope == BillRunScope.BATCH and not batch and not bill_cycle_day:
        errors["batch"] = "Choose a batch, a bill cycle day, or both."
    if bill_cycle_day is not None and not 1 <= bill_cycle_day <= 31:
        errors["bill_cycle_day"] = "A bill cycle day is 1 to 31."
    if scope == BillRunScope.RETRY and (retry_of is None or not retry_of.errors.exists()):
        errors["__all__"] = "There are no failed accounts to retry."
    if errors:
        raise ValidationError(errors)
    run = BillRun.objects.create(
        number=next_number(NumberSeries.Key.BILL_RUN),
        name=name,
        invoice_date=invoice_date,
        target_date=target_date,
        scope=scope,
        batch=batch if scope == BillRunScope.BATCH else "",
        bill_cycle_day=bill_cycle_day if scope == BillRunScope.BATCH else None,
        account=account if scope == BillRunScope.ACCOUNT else None,
        include_one_time=include_one_time,
        include_recurring=include_recurring,
        include_usage=include_usage,
        auto_post=auto_post,
        retry_of=retry_of,
        # The rule in force when the run is created, for all of its chunks.
        generation_rule=BillingSettings.load().generation_rule,
        created_by=actor if getattr(actor, "is_authenticated", False) else None,
    )
    _enqueue(tasks.start_bill_run, run.pk)
    tasks.watch(run.pk)
    return run


def retry_failed_accounts(*, bill_run: BillRun, actor) -> BillRun:
    """A new run, with the same dates and charge types, for just the accounts that failed."""
    if bill_run.status not in (BillRunStatus.COMPLETED, BillRunStatus.POSTED, BillRunStatus.ERROR):
        raise ValidationError(
            f"{bill_run.number} is {bill_run.get_status_display()}: "
            "its failed accounts can be retried once it has finished."
        )
    return create_bill_run(
        actor=actor,
        invoice_date=bill_run.invoice_date,
        target_date=bill_run.target_date,
        scope=BillRunScope.RETRY,
        include_one_time=bill_run.include_one_time,
        include_recurring=bill_run.include_recurring,
        include_usage=bill_run.include_usage,
        auto_post=bill_run.auto_post,
        name=f"Retry of {bill_run.number}",
        retry_of=bill_run,
    )


def _start_background(run: BillRun, status: str, task, actor) -> BillRun:
    """Move the locked run to a transitional status; its task does the work."""
    from billing import tasks

    run.status = status
    run.message = ""
    run.save(update_fields=["status", "message"])
    _enqueue(task, run.pk, getattr(actor, "pk", None))
    tasks.watch(run.pk)
    return run


def _lock(bill_run: BillRun) -> BillRun:
    return BillRun.objects.select_for_update().get(pk=bill_run.pk)


def _refuse(run: BillRun, verb: str, allowed: str) -> ValidationError:
    return ValidationError(
        f"{run.number} is {run.get_status_display()}: only {allowed} runs can be {verb}.",
        code="invalid_transition",
    )


# --- Post -----------------------------------------------------------------------------------------
@retry_when_busy
@transaction.atomic
def request_post(*, bill_run: BillRun, actor) -> BillRun:
    """Completed -> PostInProgress; the post task posts every draft document."""
    from billing import tasks

    run = _lock(bill_run)
    if run.status != BillRunStatus.COMPLETED:
        raise _refuse(run, "posted", "Completed")
    return _start_background(run, BillRunStatus.POST_IN_PROGRESS, tasks.post_bill_run, actor)


@retry_when_busy
@transaction.atomic
def post_documents(*, bill_run: BillRun, actor) -> BillRun:
    """Post all the run's draft invoices and credit memos, set-based. If they cannot be posted
    the run goes back to Completed and says why; nothing is half posted."""
    run = _lock(bill_run)
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
    Invoice.objects.filter(pk__in=invoice_ids, status=InvoiceStatus.DRAFT).update(
        status=InvoiceStatus.POSTED, balance=F("amount"), posted_at=timezone.now()
    )
    InvoiceItem.objects.filter(invoice_id__in=invoice_ids).update(balance=F("amount"))
    post_bill_run_credit_memos(bill_run=run, memo_ids=memo_ids, actor=actor)
    run.status = BillRunStatus.POSTED
    run.message = ""
    run.save(update_fields=["status", "message"])
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


# --- Cancel ---------------------------------------------------------------------------------------
def has_posted_documents(run: BillRun) -> bool:
    return (
        Invoice.objects.filter(bill_run=run, status=InvoiceStatus.POSTED).exists()
        or Memo.objects.filter(bill_run=run, status=MemoStatus.POSTED).exists()
    )


@retry_when_busy
@transaction.atomic
def request_cancel(*, bill_run: BillRun, actor) -> BillRun:
    """Pending -> Canceled at once; Completed -> CancelInProgress, and the cancel task cancels
    its drafts. Refused once any of its documents is posted."""
    from billing import tasks

    run = _lock(bill_run)
    if run.status not in (BillRunStatus.PENDING, BillRunStatus.COMPLETED):
        raise _refuse(run, "canceled", "Pending or Completed")
    if has_posted_documents(run):
        raise ValidationError(
            f"{run.number} has posted documents, so it cannot be canceled.", code="has_posted"
        )
    check_nothing_billed_later(BilledPeriod.objects.filter(bill_run=run))
    if run.status == BillRunStatus.PENDING:
        run.status = BillRunStatus.CANCELED
        run.finished_at = timezone.now()
        run.save(update_fields=["status", "finished_at"])
        return run
    return _start_background(run, BillRunStatus.CANCEL_IN_PROGRESS, tasks.cancel_bill_run, actor)


@retry_when_busy
@transaction.atomic
def cancel_documents(*, bill_run: BillRun, actor) -> BillRun:
    """Cancel the run's drafts and release their charge periods, so they can be billed again."""
    run = _lock(bill_run)
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


# --- Delete ---------------------------------------------------------------------------------------
@retry_when_busy
@transaction.atomic
def delete_bill_run(*, bill_run: BillRun, actor, may_delete_documents: bool = False) -> str:
    """Delete a Canceled or Error run. Its canceled documents go with it only for a user who may
    delete canceled memos (DOMAIN.md 2.1: no default role may); otherwise a run that generated
    documents stays, as their Source. Returns the run's number."""
    run = _lock(bill_run)
    if run.status not in (BillRunStatus.CANCELED, BillRunStatus.ERROR):
        raise _refuse(run, "deleted", "Canceled or Error")
    invoices = Invoice.objects.filter(bill_run=run)
    memos = Memo.objects.filter(bill_run=run)
    if (
        invoices.exclude(status=InvoiceStatus.CANCELED).exists()
        or memos.exclude(status=MemoStatus.CANCELED).exists()
    ):
        raise ValidationError(f"{run.number} still has documents that are not canceled.")
    documents = invoices.count() + memos.count()
    if documents and not may_delete_documents:
        raise ValidationError(
            f"{run.number} generated {documents} documents (now canceled); deleting them "
            "needs the permission to delete canceled memos.",
            code="has_documents",
        )
    number = run.number
    for memo_number, amount in memos.values_list("number", "amount"):
        logger.info("Memo %s (%s) deleted with bill run %s by %s", memo_number, amount, number,
                    getattr(actor, "username", actor))  # fmt: skip
    memos.delete()
    invoices.delete()
    try:
        run.delete()
    except ProtectedError as exc:
        raise ValidationError(f"{number} cannot be deleted: {exc.args[0]}") from exc
    logger.info("Bill run %s deleted by %s", number, getattr(actor, "username", actor))
    return number


# --- One generated invoice ------------------------------------------------------------------------
def coupled_draft_memo(invoice: Invoice) -> Memo | None:
    """The draft credit memo that posts and cancels with this invoice (rules 3 and 4), if any."""
    return Memo.objects.filter(coupled_invoice=invoice, status=MemoStatus.DRAFT).first()


def post_generated_invoice(*, invoice: Invoice, actor) -> Invoice:
    """Post one invoice; an invoice coupled with a credit memo (rules 3 and 4) posts with it."""
    from billing.services import post_invoice
    from memos.services.lifecycle import post_memo

    memo = coupled_draft_memo(invoice)
    if memo is None:
        return post_invoice(invoice=invoice)
    post_memo(memo=memo, actor=actor)
    return Invoice.objects.get(pk=invoice.pk)


def cancel_generated_invoice(*, invoice: Invoice, actor) -> Invoice:
    """Cancel one draft invoice; its coupled credit memo (rules 3 and 4) is canceled with it."""
    from billing.services import cancel_invoice
    from memos.services.lifecycle import cancel_memo

    memo = coupled_draft_memo(invoice)
    if memo is None:
        return cancel_invoice(invoice=invoice)
    cancel_memo(memo=memo, actor=actor)
    return Invoice.objects.get(pk=invoice.pk)
