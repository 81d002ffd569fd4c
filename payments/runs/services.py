"""What operators do to payment runs (DOMAIN.md 6): create one (started in the background),
retry the declined and failed documents of one, cancel a Pending one."""

from __future__ import annotations

import datetime as dt

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from billing.busy import retry_when_busy
from billing.models import Account, NumberSeries, batch_choices
from billing.numbering import next_number
from payments import tasks
from payments.models import PaymentRun, PaymentRunScope, PaymentRunStatus


@retry_when_busy
@transaction.atomic
def create_payment_run(
    *,
    actor,
    target_date: dt.date,
    scope: str = PaymentRunScope.ALL,
    batch: str = "",
    bill_cycle_day: int | None = None,
    account: Account | None = None,
    apply_credit_memos: bool = True,
    collect_payments: bool = True,
    retry_of: PaymentRun | None = None,
) -> PaymentRun:
    """A Pending run, started in the background."""
    errors = {}
    if target_date is None:
        errors["target_date"] = "Enter the target date."
    if not (apply_credit_memos or collect_payments):
        errors["collect_payments"] = "Apply credit memos, collect payments, or both."
    if scope == PaymentRunScope.ACCOUNT and account is None:
        errors["account"] = "Choose the account."
    if scope == PaymentRunScope.BATCH and not batch and not bill_cycle_day:
        errors["batch"] = "Choose a batch, a bill cycle day, or both."
    if batch and batch not in dict(batch_choices()):
        errors["batch"] = "Choose one of Batch1 to Batch50."
    if bill_cycle_day is not None and not 1 <= bill_cycle_day <= 31:
        errors["bill_cycle_day"] = "A bill cycle day is 1 to 31."
    if scope == PaymentRunScope.RETRY and (retry_of is None or not retry_of.errors.exists()):
        errors["__all__"] = "There are no declined or failed documents to retry."
    if scope not in PaymentRunScope.values:
        errors["scope"] = "Choose the accounts to process."
    if errors:
        raise ValidationError(errors)
    run = PaymentRun.objects.create(
        number=next_number(NumberSeries.Key.PAYMENT_RUN),
        target_date=target_date,
        scope=scope,
        batch=batch if scope == PaymentRunScope.BATCH else "",
        bill_cycle_day=bill_cycle_day if scope == PaymentRunScope.BATCH else None,
        account=account if scope == PaymentRunScope.ACCOUNT else None,
        apply_credit_memos=apply_credit_memos,
        collect_payments=collect_payments,
        retry_of=retry_of,
        created_by=actor if getattr(actor, "is_authenticated", False) else None,
    )
    tasks.start_on_commit(run.pk)
    return run


def retry_failed(*, payment_run: PaymentRun, actor) -> PaymentRun:
    """A new run, same target date and options, for just the declined and failed documents
    (and the accounts that failed as a whole)."""
    if payment_run.status not in (PaymentRunStatus.COMPLETED, PaymentRunStatus.ERROR):
        raise ValidationError(
            f"{payment_run.number} is {payment_run.get_status_display()}: "
            "its failures can be retried once it has finished."
        )
    return create_payment_run(
        actor=actor,
        target_date=payment_run.target_date,
        scope=PaymentRunScope.RETRY,
        apply_credit_memos=payment_run.apply_credit_memos,
        collect_payments=payment_run.collect_payments,
        retry_of=payment_run,
    )


@retry_when_busy
@transaction.atomic
def cancel_payment_run(*, payment_run: PaymentRun, actor) -> PaymentRun:
    """Pending -> Canceled (a run that has started cannot be canceled: charges are made)."""
    run = PaymentRun.objects.select_for_update().get(pk=payment_run.pk)
    if run.status != PaymentRunStatus.PENDING:
        raise ValidationError(
            f"{run.number} is {run.get_status_display()}: only Pending runs can be canceled.",
            code="invalid_transition",
        )
    run.status = PaymentRunStatus.CANCELED
    run.finished_at = timezone.now()
    run.save(update_fields=["status", "finished_at"])
    return run
