"""Payment runs for the shared run engine (billing.runs.engine): which accounts, what a chunk does
(payments.runs.chunk), the counts, and the functions the tasks call."""

from __future__ import annotations

from django.db.models import F
from django.db.models.functions import Least

from billing.models import Account, AccountStatus, BillingSettings
from billing.runs import engine
from payments.models import (
    PaymentRun,
    PaymentRunChunk,
    PaymentRunError,
    PaymentRunErrorKind,
    PaymentRunScope,
    PaymentRunStatus,
    PaymentStatus,
)
from payments.runs.chunk import RunResult, process_accounts


def accounts_in_scope(run: PaymentRun):
    """The ids of the accounts the run processes, in id order."""
    if run.scope == PaymentRunScope.RETRY:
        ids = PaymentRunError.objects.filter(payment_run_id=run.retry_of_id).values("account_id")
        return Account.objects.filter(pk__in=ids).order_by("pk").values_list("pk", flat=True)
    if run.scope == PaymentRunScope.ACCOUNT:
        return Account.objects.filter(pk=run.account_id).values_list("pk", flat=True)
    accounts = Account.objects.filter(status=AccountStatus.ACTIVE)
    if run.scope == PaymentRunScope.BATCH:
        if run.batch:
            accounts = accounts.filter(batch=run.batch)
        if run.bill_cycle_day:
            accounts = accounts.filter(bill_cycle_day=run.bill_cycle_day)
    return accounts.order_by("pk").values_list("pk", flat=True)


class PaymentRunKind(engine.RunKind):
    run_model = PaymentRun
    chunk_model = PaymentRunChunk
    run_field = "payment_run"
    pending = PaymentRunStatus.PENDING
    processing = PaymentRunStatus.PROCESSING
    name = "Payment run"

    def accounts_in_scope(self, run):
        return accounts_in_scope(run)

    def worker_context(self, run):
        return {"rule": BillingSettings.load().application_rule}

    def empty_result(self):
        return RunResult()

    def process_accounts(self, run, chunk, account_ids, context):
        # A chunk taken over, or redone account by account after it failed, may have charged
        # in a transaction that rolled back: ask the gateway by key before charging again.
        reconcile = chunk.attempts > 1 or list(account_ids) != list(chunk.account_ids)
        return process_accounts(
            run=run, account_ids=account_ids, rule=context["rule"], reconcile=reconcile
        )

    def finish_chunk(self, chunk, result, failures):
        if failures:
            PaymentRunError.objects.bulk_create(
                [
                    PaymentRunError(
                        payment_run_id=chunk.payment_run_id,
                        account_id=a,
                        kind=PaymentRunErrorKind.ERROR,
                        reason=r,
                    )
                    for a, r in failures
                ]
            )
        engine.mark_chunk_done(self, chunk)
        processed = F("accounts_processed") + len(chunk.account_ids) - len(failures)
        PaymentRun.objects.filter(pk=chunk.payment_run_id).update(
            accounts_processed=Least(processed, F("accounts_in_scope")),
            accounts_failed=F("accounts_failed") + len(failures),
            credit_applications=F("credit_applications") + result.credit_applications,
            documents_collected=F("documents_collected") + result.collected,
            declines=F("declines") + result.declines,
            errors_count=F("errors_count") + result.errors + len(failures),
        )

    def accounts_done_before(self, chunk):
        run = chunk.payment_run
        return set(
            run.payments.filter(account_id__in=chunk.account_ids).values_list(
                "account_id", flat=True
            )
        ) | set(
            run.credit_applications_made.filter(
                application__credit_memo__account_id__in=chunk.account_ids
            ).values_list("application__credit_memo__account_id", flat=True)
        )

    def complete(self, run):
        """Recount from the rows the run wrote: exact whatever retries happened."""
        errors = run.errors.all()
        run.credit_applications = run.credit_applications_made.count()
        run.documents_collected = run.payments.filter(status=PaymentStatus.PROCESSED).count()
        run.declines = errors.filter(kind=PaymentRunErrorKind.DECLINED).count()
        run.errors_count = errors.exclude(kind=PaymentRunErrorKind.DECLINED).count()
        run.accounts_failed = (
            errors.filter(invoice__isnull=True, debit_memo__isnull=True)
            .values("account_id")
            .distinct()
            .count()
        )
        run.accounts_processed = run.accounts_in_scope - run.accounts_failed
        done_nothing = not (run.credit_applications or run.documents_collected or run.declines)
        failed_all = run.accounts_failed and not run.accounts_processed and done_nothing
        run.status = PaymentRunStatus.ERROR if failed_all else PaymentRunStatus.COMPLETED


PAYMENT_RUNS = PaymentRunKind()


def plan_chunks(run_id: int) -> bool:
    return engine.plan_chunks(PAYMENT_RUNS, run_id)


def claim_chunk(run_id: int, worker_id: str) -> int | None:
    return engine.claim_chunk(PAYMENT_RUNS, run_id, worker_id)


def has_claimable_chunks(run_id: int) -> bool:
    return engine.has_claimable_chunks(PAYMENT_RUNS, run_id)


def process_chunk(chunk_id: int, worker_id: str, **kwargs) -> bool:
    return engine.process_chunk(PAYMENT_RUNS, chunk_id, worker_id, **kwargs)


def work(run_id: int, worker_id: str | None = None, *, max_chunks: int | None = None) -> int:
    return engine.work(PAYMENT_RUNS, run_id, worker_id, max_chunks=max_chunks)


def finish_if_done(run_id: int):
    return engine.finish_if_done(PAYMENT_RUNS, run_id)
