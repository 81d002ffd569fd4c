"""What operators do to bill runs (DOMAIN.md section 4): create, post, cancel, delete, retry the
failed accounts. Long work (billing, posting, canceling) runs in background tasks; each of these
functions changes the run's status under its row lock and enqueues the task in the same
transaction, so the task exists exactly when the status says work is under way. The work itself
is below: runner (billing) and documents (posting, canceling), which billing.tasks runs."""

from __future__ import annotations

import datetime as dt
import logging

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import ProtectedError
from django.utils import timezone

from billing import permissions as perms
from billing import tasks
from billing.bill_runs import runner
from billing.bill_runs.documents import has_posted_documents, lock_run, post_documents
from billing.bill_runs.ledger import check_nothing_billed_later
from billing.busy import retry_when_busy
from billing.models import (
    Account,
    BilledPeriod,
    BillingSettings,
    BillRun,
    BillRunScope,
    BillRunStatus,
    Invoice,
    InvoiceStatus,
    NumberSeries,
)
from billing.numbering import next_number
from billing.services import cancel_invoice, ensure_open_period, post_invoice
from memos.models import Memo, MemoStatus
from memos.services.lifecycle import cancel_memo, post_memo

logger = logging.getLogger(__name__)


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
    email_documents: bool = False,
    name: str = "",
    retry_of: BillRun | None = None,
    background: bool = True,
) -> BillRun:
    """A Pending run, started in the background (unless `background` is False: the caller runs
    it, as generate_billing_documents does). `email_documents`: when the run posts its
    documents, each is emailed to its account's bill-to email (DOMAIN.md 7)."""
    errors = {}
    if email_documents and actor is not None and not actor.has_perm(perms.EMAIL_DOCUMENTS):
        errors["email_documents"] = "You may not email documents to customers."
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
        email_documents=email_documents,
        retry_of=retry_of,
        # The rule in force when the run is created, for all of its chunks.
        generation_rule=BillingSettings.load().generation_rule,
        created_by=actor if getattr(actor, "is_authenticated", False) else None,
    )
    if background:
        tasks.enqueue_on_commit(tasks.start_bill_run, run.pk)
        tasks.watch(run.pk)
    return run


def generate_billing_documents(
    *,
    account: Account,
    target_date: dt.date,
    actor,
    invoice_date: dt.date | None = None,
    include_one_time: bool = True,
    include_recurring: bool = True,
    include_usage: bool = True,
    auto_post: bool = False,
) -> BillRun:
    """ "Generate billing documents for one account": a single-account run executed here and now,
    not in the background (the account's work is one chunk), by the same engine as every run:
    the documents it makes are the run's, and it can be posted or canceled as any run. With
    `auto_post` its documents are posted before this returns (or the run says why not)."""
    run = create_bill_run(
        actor=actor,
        invoice_date=invoice_date or timezone.localdate(),
        target_date=target_date,
        scope=BillRunScope.ACCOUNT,
        account=account,
        include_one_time=include_one_time,
        include_recurring=include_recurring,
        include_usage=include_usage,
        auto_post=auto_post,
        background=False,
    )
    runner.plan_chunks(run.pk)
    runner.work(run.pk)
    run.refresh_from_db()
    if auto_post and run.status == BillRunStatus.COMPLETED:
        with transaction.atomic():
            locked = lock_run(run)
            locked.status = BillRunStatus.POST_IN_PROGRESS
            locked.save(update_fields=["status"])
        run = post_documents(bill_run=run, actor=actor)
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
        email_documents=bill_run.email_documents,
        name=f"Retry of {bill_run.number}",
        retry_of=bill_run,
    )


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
    run = lock_run(bill_run)
    if run.status != BillRunStatus.COMPLETED:
        raise _refuse(run, "posted", "Completed")
    return tasks.start_background(run, BillRunStatus.POST_IN_PROGRESS, tasks.post_bill_run, actor)


# --- Cancel ---------------------------------------------------------------------------------------
@retry_when_busy
@transaction.atomic
def request_cancel(*, bill_run: BillRun, actor) -> BillRun:
    """Pending -> Canceled at once; Completed -> CancelInProgress, and the cancel task cancels
    its drafts. Refused once any of its documents is posted."""
    run = lock_run(bill_run)
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
    return tasks.start_background(
        run, BillRunStatus.CANCEL_IN_PROGRESS, tasks.cancel_bill_run, actor
    )


# --- Delete ---------------------------------------------------------------------------------------
@retry_when_busy
@transaction.atomic
def delete_bill_run(*, bill_run: BillRun, actor, may_delete_documents: bool = False) -> str:
    """Delete a Canceled or Error run. Its canceled documents go with it only for a user who may
    delete canceled memos (DOMAIN.md 2.1: no default role may); otherwise a run that generated
    documents stays, as their Source. Returns the run's number."""
    run = lock_run(bill_run)
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
    memo = coupled_draft_memo(invoice)
    if memo is None:
        return post_invoice(invoice=invoice)
    post_memo(memo=memo, actor=actor)
    return Invoice.objects.get(pk=invoice.pk)


def cancel_generated_invoice(*, invoice: Invoice, actor) -> Invoice:
    """Cancel one draft invoice; its coupled credit memo (rules 3 and 4) is canceled with it."""
    memo = coupled_draft_memo(invoice)
    if memo is None:
        return cancel_invoice(invoice=invoice)
    cancel_memo(memo=memo, actor=actor)
    return Invoice.objects.get(pk=invoice.pk)
