"""Payment methods, payments and their applications, payment runs (DOMAIN.md 6)."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import F, Q

from billing.converters import document_url
from billing.models import (
    Account,
    Currency,
    Invoice,
    InvoiceItem,
    RunChunk,
    batch_choices,
)
from billing.models.fields import MoneyField, money_sum
from memos.models import Memo, MemoApplication, MemoItem


class PaymentMethodType(models.TextChoices):
    CREDIT_CARD = "credit_card", "Credit Card"
    ACH = "ach", "ACH"
    BANK_TRANSFER = "bank_transfer", "Bank Transfer"


class PaymentMethod(models.Model):
    """How an account pays electronically. The gateway's token is what is charged; it is never
    shown (pages and the API show the display label)."""

    account = models.ForeignKey(Account, on_delete=models.PROTECT, related_name="payment_methods")
    method_type = models.CharField("Type", max_length=16, choices=PaymentMethodType.choices)
    label = models.CharField("Display label", max_length=100)
    gateway_token = models.CharField(max_length=255)
    is_default = models.BooleanField("Default", default=False)
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["account", "-is_default", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["account"],
                condition=Q(is_default=True),
                name="payment_method_one_default_per_account",
                violation_error_message="An account has one default payment method.",
            ),
            models.CheckConstraint(
                condition=Q(is_default=False) | Q(active=True),
                name="payment_method_default_is_active",
                violation_error_message="A default payment method must be active.",
            ),
        ]

    def __str__(self) -> str:
        return self.label


class PaymentType(models.TextChoices):
    """The payment's method: through the gateway, or received outside it."""

    ELECTRONIC = "electronic", "Electronic"
    CASH = "cash", "Cash"
    CHECK = "check", "Check"
    WIRE_TRANSFER = "wire_transfer", "Wire Transfer"
    OTHER = "other", "Other"


EXTERNAL_PAYMENT_TYPES = [
    (value, label) for value, label in PaymentType.choices if value != PaymentType.ELECTRONIC
]


class PaymentStatus(models.TextChoices):
    PROCESSED = "processed", "Processed"
    ERROR = "error", "Error"
    CANCELED = "canceled", "Canceled"


class PaymentRunStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    PROCESSING = "processing", "Processing"
    COMPLETED = "completed", "Completed"
    ERROR = "error", "Error"
    CANCELED = "canceled", "Canceled"


class PaymentRunScope(models.TextChoices):
    ALL = "all", "All accounts"
    BATCH = "batch", "Batch and/or bill cycle day"
    ACCOUNT = "account", "Single account"
    RETRY = "retry", "Declined and failed documents of another run"


class PaymentRun(models.Model):
    """One payment run and its live counts (DOMAIN.md 6)."""

    number = models.CharField("Payment Run Number", max_length=32, unique=True)
    target_date = models.DateField()
    scope = models.CharField(
        max_length=16, choices=PaymentRunScope.choices, default=PaymentRunScope.ALL
    )
    batch = models.CharField(max_length=8, choices=batch_choices(), blank=True)
    bill_cycle_day = models.PositiveSmallIntegerField(null=True, blank=True)
    account = models.ForeignKey(
        Account, on_delete=models.PROTECT, null=True, blank=True, related_name="payment_runs"
    )
    apply_credit_memos = models.BooleanField("Apply unapplied credit memos", default=True)
    collect_payments = models.BooleanField("Collect payments", default=True)
    status = models.CharField(
        max_length=16, choices=PaymentRunStatus.choices, default=PaymentRunStatus.PENDING
    )
    retry_of = models.ForeignKey(
        "self", on_delete=models.SET_NULL, null=True, blank=True, related_name="retries"
    )
    accounts_in_scope = models.PositiveIntegerField(default=0)
    accounts_processed = models.PositiveIntegerField(default=0)
    accounts_failed = models.PositiveIntegerField(default=0)
    credit_applications = models.PositiveIntegerField("Credit memos applied", default=0)
    documents_collected = models.PositiveIntegerField(default=0)
    declines = models.PositiveIntegerField(default=0)
    errors_count = models.PositiveIntegerField("Errors", default=0)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        permissions = [
            ("view_payments", "View payments and payment runs"),
            ("manage_payments", "Record, apply, unapply and cancel payments; run payment runs"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(bill_cycle_day__isnull=True)
                | (Q(bill_cycle_day__gte=1) & Q(bill_cycle_day__lte=31)),
                name="payment_run_bill_cycle_day_1_31",
                violation_error_message="The bill cycle day is a day of the month, 1 to 31.",
            ),
            models.CheckConstraint(
                condition=~Q(scope="account") | Q(account__isnull=False),
                name="payment_run_account_scope_has_account",
                violation_error_message="A payment run for a single account needs that account.",
            ),
            models.CheckConstraint(
                condition=Q(apply_credit_memos=True) | Q(collect_payments=True),
                name="payment_run_does_something",
                violation_error_message=(
                    "A payment run applies credit memos, collects payments, or both."
                ),
            ),
            models.CheckConstraint(
                condition=Q(accounts_processed__lte=F("accounts_in_scope")),
                name="payment_run_processed_lte_scope",
                violation_error_message=(
                    "A payment run cannot process more accounts than are in its scope."
                ),
            ),
        ]

    def __str__(self) -> str:
        return self.number

    def get_absolute_url(self) -> str:
        return document_url("payments:payment_run_detail", self.number)

    @property
    def is_running(self) -> bool:
        return self.status in (PaymentRunStatus.PENDING, PaymentRunStatus.PROCESSING)

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


class PaymentRunChunk(RunChunk):
    """A payment run's chunk (billing.models.RunChunk)."""

    payment_run = models.ForeignKey(PaymentRun, on_delete=models.CASCADE, related_name="chunks")

    class Meta:
        ordering = ["payment_run", "sequence"]
        indexes = [models.Index(fields=["payment_run", "status"], name="payment_chunk_run_status")]
        constraints = [
            models.UniqueConstraint(
                fields=["payment_run", "sequence"], name="payment_chunk_sequence_per_run"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.payment_run} chunk {self.sequence}"


class Payment(models.Model):
    """Money received from a customer (DOMAIN.md 6). `applied_amount` went to invoices and debit
    memos; `unapplied_amount` (generated) is what is left. Only Processed payments count in the
    account's balance (Account.unapplied_payment_amount)."""

    number = models.CharField("Payment Number", max_length=32, unique=True)
    account = models.ForeignKey(
        Account, on_delete=models.PROTECT, related_name="payments", verbose_name="Customer Account"
    )
    currency = models.ForeignKey(Currency, on_delete=models.PROTECT)
    amount = MoneyField("Amount")
    applied_amount = MoneyField("Applied Amount", default=0)
    unapplied_amount = models.GeneratedField(
        expression=money_sum(F("amount"), -F("applied_amount")),
        output_field=MoneyField(),
        db_persist=True,
        verbose_name="Unapplied Amount",
    )
    payment_date = models.DateField("Payment Date")
    method = models.CharField("Method", max_length=16, choices=PaymentType.choices)
    payment_method = models.ForeignKey(
        PaymentMethod,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="payments",
        verbose_name="Payment method",
    )
    reference = models.CharField("Reference", max_length=100, blank=True)
    comment = models.TextField("Comment", blank=True)
    status = models.CharField(
        max_length=16, choices=PaymentStatus.choices, default=PaymentStatus.PROCESSED
    )
    gateway_reference = models.CharField("Gateway Reference", max_length=100, blank=True)
    gateway_message = models.TextField("Gateway Message", blank=True)
    payment_run = models.ForeignKey(
        PaymentRun, on_delete=models.PROTECT, null=True, blank=True, related_name="payments"
    )
    # A run's charge of one document: unique per (run, document), sent to the gateway, which
    # answers a repeated key with the first charge; the constraint makes a second payment for
    # the same charge impossible.
    idempotency_key = models.CharField(max_length=100, null=True, blank=True, unique=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-payment_date", "-id"]
        indexes = [
            models.Index(fields=["payment_date", "id"], name="payment_date_keyset"),
            models.Index(fields=["account", "status"], name="payment_account_status"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(amount__gt=0),
                name="payment_amount_gt_0",
                violation_error_message="A payment's amount is greater than zero.",
            ),
            models.CheckConstraint(
                condition=Q(applied_amount__gte=0) & Q(applied_amount__lte=F("amount")),
                name="payment_applied_between_0_and_amount",
                violation_error_message="A payment's applied amount is between 0 and its amount.",
            ),
            models.CheckConstraint(
                condition=Q(status="processed") | Q(applied_amount=0),
                name="payment_only_processed_applied",
                violation_error_message="Only a processed payment can be applied.",
            ),
            models.CheckConstraint(
                condition=~Q(method="electronic") | Q(payment_method__isnull=False),
                name="payment_electronic_has_method",
                violation_error_message="An electronic payment names its payment method.",
            ),
        ]

    def __str__(self) -> str:
        return self.number

    def get_absolute_url(self) -> str:
        return document_url("payments:payment_detail", self.number)


class PaymentApplication(models.Model):
    """A payment applied to an invoice or a debit memo (kind=apply), or moved back (unapply),
    as MemoApplication is for credit memos."""

    Kind = MemoApplication.Kind

    payment = models.ForeignKey(Payment, on_delete=models.PROTECT, related_name="applications")
    kind = models.CharField(max_length=8, choices=Kind.choices, default=Kind.APPLY)
    invoice = models.ForeignKey(
        Invoice,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="payment_applications",
    )
    debit_memo = models.ForeignKey(
        Memo, on_delete=models.PROTECT, null=True, blank=True, related_name="payment_applications"
    )
    undoes = models.ForeignKey(
        "self", on_delete=models.PROTECT, null=True, blank=True, related_name="unapplications"
    )
    amount = MoneyField()
    effective_date = models.DateField()
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["payment", "created_at", "id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(amount__gt=0), name="payment_application_amount_gt_0"
            ),
            models.CheckConstraint(
                condition=(Q(invoice__isnull=False) & Q(debit_memo__isnull=True))
                | (Q(invoice__isnull=True) & Q(debit_memo__isnull=False)),
                name="payment_application_one_target",
            ),
            models.CheckConstraint(
                condition=Q(kind="apply") | Q(undoes__isnull=False),
                name="payment_application_unapply_names_apply",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.payment} {self.get_kind_display()} {self.amount} to {self.target}"

    @property
    def target(self):
        return self.invoice or self.debit_memo


class PaymentApplicationItem(models.Model):
    """How one payment application is split over the target's items."""

    application = models.ForeignKey(
        PaymentApplication, on_delete=models.CASCADE, related_name="items"
    )
    invoice_item = models.ForeignKey(
        InvoiceItem, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    debit_memo_item = models.ForeignKey(
        MemoItem, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    amount = MoneyField()

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(amount__gt=0), name="payment_application_item_amount_gt_0"
            ),
            models.CheckConstraint(
                condition=(Q(invoice_item__isnull=False) & Q(debit_memo_item__isnull=True))
                | (Q(invoice_item__isnull=True) & Q(debit_memo_item__isnull=False)),
                name="payment_application_item_one_target",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.application_id}: {self.amount}"


class PaymentEvent(models.Model):
    """A payment's history: who did what, when."""

    class Kind(models.TextChoices):
        CREATED = "created", "Created"
        APPLIED = "applied", "Applied"
        UNAPPLIED = "unapplied", "Unapplied"
        CANCELED = "canceled", "Canceled"
        DECLINED = "declined", "Declined"

    payment = models.ForeignKey(Payment, on_delete=models.CASCADE, related_name="events")
    kind = models.CharField(max_length=16, choices=Kind.choices)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    at = models.DateTimeField(auto_now_add=True)
    message = models.CharField(max_length=500, blank=True)
    after = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["payment", "at", "id"]

    def __str__(self) -> str:
        return f"{self.payment} {self.get_kind_display()}"


class PaymentRunApplication(models.Model):
    """A credit memo application a payment run made (the run's "Credit memos applied" tab).
    One row per application, so a resumed run that applied a credit is visible once."""

    payment_run = models.ForeignKey(
        PaymentRun, on_delete=models.CASCADE, related_name="credit_applications_made"
    )
    application = models.OneToOneField(
        MemoApplication, on_delete=models.PROTECT, related_name="payment_run_link"
    )

    class Meta:
        ordering = ["payment_run", "id"]

    def __str__(self) -> str:
        return f"{self.payment_run_id}: application {self.application_id}"


class PaymentRunErrorKind(models.TextChoices):
    DECLINED = "declined", "Declined"
    ERROR = "error", "Error"
    UNKNOWN = "unknown", "Outcome unknown"


class PaymentRunError(models.Model):
    """What a payment run could not do: a declined or failed charge of one document, or an
    account it could not process (no document), with the reason."""

    payment_run = models.ForeignKey(PaymentRun, on_delete=models.CASCADE, related_name="errors")
    account = models.ForeignKey(Account, on_delete=models.PROTECT, related_name="+")
    invoice = models.ForeignKey(
        Invoice, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    debit_memo = models.ForeignKey(
        Memo, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    kind = models.CharField(max_length=16, choices=PaymentRunErrorKind.choices)
    reason = models.TextField()
    # The charge's idempotency key, kept when its outcome is unknown: a retry asks the gateway
    # by it before charging again.
    idempotency_key = models.CharField(max_length=100, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["payment_run", "id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(invoice__isnull=True) | Q(debit_memo__isnull=True),
                name="payment_run_error_one_document",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.payment_run} {self.account_id}: {self.reason[:40]}"

    @property
    def document(self):
        return self.invoice or self.debit_memo
