"""Bill runs: background work that bills subscriptions into invoices and credit memos."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

from billing.converters import document_url

from .accounts import Account, batch_choices
from .reference import GenerationRule

GENERATION_RULE_CHOICES = GenerationRule.choices
DEFAULT_GENERATION_RULE = GenerationRule.NET_NEGATIVE_UNGROUPED


class BillRunStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    PROCESSING = "processing", "Processing"
    COMPLETED = "completed", "Completed"
    ERROR = "error", "Error"
    CANCEL_IN_PROGRESS = "cancel_in_progress", "CancelInProgress"
    CANCELED = "canceled", "Canceled"
    POST_IN_PROGRESS = "post_in_progress", "PostInProgress"
    POSTED = "posted", "Posted"


class BillRunScope(models.TextChoices):
    ALL = "all", "All accounts"
    BATCH = "batch", "Batch and/or bill cycle day"
    ACCOUNT = "account", "Single account"
    RETRY = "retry", "Failed accounts of another run"


class BillRun(models.Model):
    """One bill run and its counts (kept up to date by the engine as chunks finish)."""

    number = models.CharField("Bill Run Number", max_length=32, unique=True)
    name = models.CharField(max_length=255, blank=True)
    invoice_date = models.DateField()
    target_date = models.DateField()
    scope = models.CharField(max_length=16, choices=BillRunScope.choices, default=BillRunScope.ALL)
    batch = models.CharField(max_length=8, choices=batch_choices(), blank=True)
    bill_cycle_day = models.PositiveSmallIntegerField(null=True, blank=True)
    account = models.ForeignKey(
        Account, on_delete=models.PROTECT, null=True, blank=True, related_name="bill_runs"
    )
    include_one_time = models.BooleanField("One-time charges", default=True)
    include_recurring = models.BooleanField("Recurring charges", default=True)
    include_usage = models.BooleanField("Usage charges", default=True)
    auto_post = models.BooleanField("Auto-post on completion", default=False)
    generation_rule = models.CharField(
        "Invoice/Credit Memo generation rule",
        max_length=32,
        choices=GENERATION_RULE_CHOICES,
        default=DEFAULT_GENERATION_RULE,
        help_text="The billing settings' rule when the run was created",
    )
    status = models.CharField(
        max_length=20, choices=BillRunStatus.choices, default=BillRunStatus.PENDING
    )
    retry_of = models.ForeignKey(
        "self", on_delete=models.SET_NULL, null=True, blank=True, related_name="retries"
    )
    accounts_in_scope = models.PositiveIntegerField(default=0)
    accounts_processed = models.PositiveIntegerField(default=0)
    accounts_failed = models.PositiveIntegerField(default=0)
    invoices_generated = models.PositiveIntegerField(default=0)
    credit_memos_generated = models.PositiveIntegerField(default=0)
    zero_total_invoices = models.PositiveIntegerField(default=0)
    # Credit memos at or above their approval threshold, held for approval when the run was
    # posted (DOMAIN.md 8): they and their coupled invoices stayed Draft.
    credit_memos_held = models.PositiveIntegerField(default=0, db_default=0)
    # Why the last Post or Cancel did not go through (shown on the run's page until the next try).
    message = models.TextField(blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        permissions = [("manage_billrun", "Create, post and cancel bill runs")]
        constraints = [
            models.CheckConstraint(
                condition=Q(bill_cycle_day__isnull=True)
                | (Q(bill_cycle_day__gte=1) & Q(bill_cycle_day__lte=31)),
                name="bill_run_bill_cycle_day_1_31",
                violation_error_message="The bill cycle day is a day of the month, 1 to 31.",
            ),
            models.CheckConstraint(
                condition=~Q(scope="account") | Q(account__isnull=False),
                name="bill_run_account_scope_has_account",
                violation_error_message="A bill run for a single account needs that account.",
            ),
            models.CheckConstraint(
                condition=Q(include_one_time=True)
                | Q(include_recurring=True)
                | Q(include_usage=True),
                name="bill_run_includes_a_charge_type",
                violation_error_message="A bill run includes at least one charge type.",
            ),
            models.CheckConstraint(
                condition=Q(accounts_processed__lte=models.F("accounts_in_scope")),
                name="bill_run_processed_lte_scope",
                violation_error_message=(
                    "A bill run cannot process more accounts than are in its scope."
                ),
            ),
        ]

    def __str__(self) -> str:
        return self.number

    def get_absolute_url(self) -> str:
        return document_url("billing:bill_run_detail", self.number)

    @property
    def is_running(self) -> bool:
        """Background work is under way (the page keeps polling)."""
        return self.status in RUNNING_STATUSES

    @property
    def accounts_done(self) -> int:
        return self.accounts_processed + self.accounts_failed

    @property
    def progress_percent(self) -> int:
        if not self.accounts_in_scope:
            return 100 if self.finished_at else 0
        return min(100, self.accounts_done * 100 // self.accounts_in_scope)

    @property
    def duration(self):
        if self.started_at is None:
            return None
        from django.utils import timezone

        return (self.finished_at or timezone.now()) - self.started_at


RUNNING_STATUSES = frozenset(
    {
        BillRunStatus.PENDING,
        BillRunStatus.PROCESSING,
        BillRunStatus.POST_IN_PROGRESS,
        BillRunStatus.CANCEL_IN_PROGRESS,
    }
)


class ChunkStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    RUNNING = "running", "Running"
    DONE = "done", "Done"


class RunChunk(models.Model):
    """A slice of a background run's accounts (a bill run's, a payment run's), worked in one
    transaction by whichever worker holds its lease (billing.runs.engine).

    The accounts are frozen when the run starts, so a chunk means the same work however often it
    is taken over. A worker leases a chunk for BILL_RUN_LEASE_SECONDS; a chunk whose lease ran
    out (its worker died) is taken over by the next worker that looks. Each kind of run has its
    own chunk table (a foreign key to its run) made from this.
    """

    sequence = models.PositiveIntegerField()
    account_ids = models.JSONField()
    status = models.CharField(
        max_length=16, choices=ChunkStatus.choices, default=ChunkStatus.PENDING
    )
    lease_owner = models.CharField(max_length=64, blank=True)
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        abstract = True


class BillRunChunk(RunChunk):
    """A bill run's chunk (RunChunk)."""

    bill_run = models.ForeignKey(BillRun, on_delete=models.CASCADE, related_name="chunks")

    class Meta:
        ordering = ["bill_run", "sequence"]
        indexes = [models.Index(fields=["bill_run", "status"], name="chunk_run_status")]
        constraints = [
            models.UniqueConstraint(fields=["bill_run", "sequence"], name="chunk_sequence_per_run"),
        ]

    def __str__(self) -> str:
        return f"{self.bill_run} chunk {self.sequence}"


class BilledPeriod(models.Model):
    """A charge period that has been billed: the unique constraint is what makes billing the same
    period twice impossible, whatever workers, retries or concurrent runs do.

    Recurring charges: one row per billing period. One-time charges: one row (the start date).
    Usage charges: one row per bill run that billed usage, starting at the charged-through date;
    the usage records it billed point to it. Releasing a period (its document is canceled)
    deletes the row, which un-bills its usage records.
    """

    subscription_charge = models.ForeignKey(
        "billing.SubscriptionCharge", on_delete=models.PROTECT, related_name="billed_periods"
    )
    period_start = models.DateField()
    period_end = models.DateField()
    bill_run = models.ForeignKey(
        BillRun, on_delete=models.PROTECT, null=True, blank=True, related_name="billed_periods"
    )

    class Meta:
        ordering = ["subscription_charge", "period_start"]
        constraints = [
            models.UniqueConstraint(
                fields=["subscription_charge", "period_start"], name="billed_period_once"
            ),
            models.CheckConstraint(
                condition=Q(period_end__gte=models.F("period_start")),
                name="billed_period_end_after_start",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.subscription_charge_id} {self.period_start}..{self.period_end}"


class BillRunError(models.Model):
    """An account a bill run could not bill, and why."""

    bill_run = models.ForeignKey(BillRun, on_delete=models.CASCADE, related_name="errors")
    account = models.ForeignKey(Account, on_delete=models.PROTECT, related_name="+")
    reason = models.TextField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["bill_run", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["bill_run", "account"], name="bill_run_error_per_account"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.bill_run} {self.account.number}: {self.reason[:40]}"
