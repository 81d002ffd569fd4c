"""Credit and debit memos, their items, reason codes, applications, refunds and history."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import F, Q

from billing.converters import document_url
from billing.models import (
    Account,
    BillRun,
    Charge,
    Currency,
    Invoice,
    InvoiceItem,
    SubscriptionCharge,
    TaxCode,
    TaxMode,
)
from billing.models.fields import MoneyField, PriceField, QuantityField, money_sum

# The create forms' idempotency keys: at most this long (the column's width).
IDEMPOTENCY_KEY_LENGTH = 64


class MemoType(models.TextChoices):
    CREDIT = "credit", "Credit memo"
    DEBIT = "debit", "Debit memo"


class MemoStatus(models.TextChoices):
    DRAFT = "draft", "Draft"
    POSTED = "posted", "Posted"
    CANCELED = "canceled", "Canceled"


class MemoSource(models.TextChoices):
    INVOICE = "invoice", "Invoice"
    CHARGES = "charges", "Charges"
    BILL_RUN = "bill_run", "Bill run"
    REVERSAL = "reversal", "Credit memo reversal"


class TransferStatus(models.TextChoices):
    NO = "no", "No"
    PROCESSING = "processing", "Processing"
    YES = "yes", "Yes"
    ERROR = "error", "Error"
    IGNORE = "ignore", "Ignore"


class TaxStatus(models.TextChoices):
    """Only for memos taxed by the third-party engine; blank otherwise."""

    NONE = "", "-"
    COMPLETE = "complete", "Complete"
    ERROR = "error", "Error"
    VOIDED = "voided", "Voided"


class ApprovalStatus(models.TextChoices):
    """Where a memo stands with its approval (DOMAIN.md 8); blank: not submitted."""

    NONE = "", "-"
    AWAITING = "awaiting", "Awaiting approval"
    APPROVED = "approved", "Approved"


class ReasonCodeType(models.TextChoices):
    CREDIT_MEMO = "credit_memo", "Credit memo"
    DEBIT_MEMO = "debit_memo", "Debit memo"
    REFUND = "refund", "Credit memo refund"


class ReasonCode(models.Model):
    """A configured reason code. One default per type; deactivated, never deleted once used."""

    code_type = models.CharField(max_length=16, choices=ReasonCodeType.choices)
    name = models.CharField(max_length=100)
    is_default = models.BooleanField(default=False)
    active = models.BooleanField(default=True)

    class Meta:
        ordering = ["code_type", "name"]
        constraints = [
            models.UniqueConstraint(fields=["code_type", "name"], name="reason_code_name_per_type"),
            models.UniqueConstraint(
                fields=["code_type"],
                condition=Q(is_default=True),
                name="reason_code_one_default_per_type",
                violation_error_message=(
                    "Each type has one default reason code; making a code "
                    "the default takes it from the old one."
                ),
            ),
            models.CheckConstraint(
                condition=Q(is_default=False) | Q(active=True),
                name="reason_code_default_is_active",
                violation_error_message="A default reason code must be active.",
            ),
        ]

    def __str__(self) -> str:
        return self.name


class Memo(models.Model):
    """A credit or debit memo (DOMAIN.md section 2).

    Amounts: `amount` is the total including tax and never negative (the type gives the
    direction). Credit memos: `applied_amount` went to invoices/debit memos, `refund_amount` was
    refunded, and `unapplied_amount` is what is left (a generated column). Debit memos:
    `balance` is what the customer still owes on it.
    """

    memo_type = models.CharField("Memo Type", max_length=8, choices=MemoType.choices)
    number = models.CharField(max_length=32, unique=True)
    account = models.ForeignKey(
        Account, on_delete=models.PROTECT, related_name="memos", verbose_name="Customer Account"
    )
    # No index of its own: memo_amount_keyset (currency, amount, id) serves lookups by currency.
    currency = models.ForeignKey(Currency, on_delete=models.PROTECT, db_index=False)
    status = models.CharField(max_length=16, choices=MemoStatus.choices, default=MemoStatus.DRAFT)
    # How the memo was made; the seed's "Source" label belongs to `bill_run`.
    source = models.CharField("Created from", max_length=16, choices=MemoSource.choices)
    invoice = models.ForeignKey(
        Invoice,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="memos",
        verbose_name="Related Invoice",
    )
    bill_run = models.ForeignKey(
        BillRun,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="credit_memos",
        verbose_name="Source",
    )
    # Generation rules 3 and 4 pair a bill run's invoice and credit memo for an account: posting
    # or canceling either does the same to the other.
    coupled_invoice = models.OneToOneField(
        Invoice,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="coupled_credit_memo",
        verbose_name="Coupled invoice",
    )
    reversed_memo = models.OneToOneField(
        "self",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="reversal",
        help_text="The credit memo this debit memo reverses or writes off",
    )
    memo_date = models.DateField("Memo Date")
    amount_excl_tax = MoneyField(default=0)
    tax_amount = MoneyField(default=0)
    amount = MoneyField("Amount", default=0)
    applied_amount = MoneyField(default=0)
    refund_amount = MoneyField("Refund Amount", default=0)
    unapplied_amount = models.GeneratedField(
        expression=money_sum(F("amount"), -F("applied_amount"), -F("refund_amount")),
        output_field=MoneyField(),
        db_persist=True,
        verbose_name="Unapplied Amount",
    )
    balance = MoneyField("Balance", default=0)
    reversed = models.BooleanField("Reversed", default=False)
    auto_pay = models.BooleanField("Auto-Pay", default=True)
    apply_to_invoice_on_post = models.BooleanField(
        "Auto Apply: Apply to this invoice upon posting", default=False
    )
    exclude_from_auto_apply = models.BooleanField(
        "Auto Apply: Exclude from auto apply rules", default=False
    )
    reason_code = models.ForeignKey(
        ReasonCode, on_delete=models.PROTECT, related_name="memos", verbose_name="Reason Code"
    )
    comments = models.TextField("Comments", blank=True)
    transferred_to_accounting = models.CharField(
        "Transferred to Accounting",
        max_length=16,
        choices=TransferStatus.choices,
        default=TransferStatus.NO,
    )
    tax_auto_calculation = models.BooleanField(default=True)
    taxed_by_third_party = models.BooleanField(default=False)
    tax_status = models.CharField(
        "Tax Status", max_length=16, choices=TaxStatus.choices, blank=True, default=""
    )
    tax_message = models.TextField("Tax Message", blank=True)
    # The document reference the third-party engine knows this memo's tax by (it is sent before
    # the memo has a number, so that numbers stay gapless if the engine call fails).
    tax_reference = models.CharField(max_length=64, blank=True)
    # The engine may hold a document committed under tax_reference: a commit succeeded, or a
    # call that may have committed got no usable answer (DOMAIN.md 2.6). Canceling the memo voids
    # it there; cleared once a void succeeds. Tax Status alone cannot tell: an answer that came
    # too late leaves Error, yet the document is committed.
    tax_maybe_committed = models.BooleanField(default=False)
    # A key is bound to the user who used it (created_by) and to a digest of what was submitted:
    # only the same user with the same content gets this memo back. Unique on its own, not per
    # user: a form's key is minted for one user, so another user presenting it is refused, and
    # the constraint still makes concurrent double submits (with or without a user) one memo.
    idempotency_key = models.CharField(
        max_length=IDEMPOTENCY_KEY_LENGTH,
        null=True,
        blank=True,
        unique=True,
        help_text="The create form's token, so a double submit creates one memo",
    )
    idempotency_digest = models.CharField(
        max_length=64,
        blank=True,
        default="",
        help_text="SHA-256 of the input the memo was created from, with its idempotency key",
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    posted_at = models.DateTimeField(null=True, blank=True)
    # Approvals (DOMAIN.md 8), written only by memos.services.approvals: submitted (Awaiting
    # approval) -> approved and posted in one go, or back to plain Draft (rejected, or edited).
    approval_status = models.CharField(
        "Approval",
        max_length=16,
        choices=ApprovalStatus.choices,
        blank=True,
        default="",
        # Also in the database: bulk loads (COPY) that name only the columns they know.
        db_default="",
    )
    submitted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    submitted_at = models.DateTimeField(null=True, blank=True)
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    approved_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-memo_date", "-id"]
        indexes = [
            models.Index(fields=["memo_date", "id"], name="memo_date_keyset"),
            # The list's amount sort: by currency, then amount (billing.keyset).
            models.Index(fields=["currency", "amount", "id"], name="memo_amount_keyset"),
            models.Index(fields=["account", "status"], name="memo_account_status"),
            models.Index(fields=["status", "transferred_to_accounting"], name="memo_transfer"),
            # The home page's attention counts and the lists behind their links (newest first):
            # small partial indexes over the few rows each one asks about.
            models.Index(
                fields=["memo_date", "id"],
                condition=Q(status="draft"),
                name="memo_draft_keyset",
            ),
            models.Index(
                fields=["memo_date", "id"],
                condition=Q(status="draft", tax_status="error"),
                name="memo_tax_error_keyset",
            ),
            # The approvers' queue (home page count, the list's approval filter): few rows.
            models.Index(
                fields=["memo_date", "id"],
                condition=Q(approval_status="awaiting"),
                name="memo_awaiting_keyset",
            ),
        ]
        permissions = [
            ("create_memo_from_invoice", "Create memos from invoices"),
            ("create_memo_from_charges", "Create memos from charges"),
            ("process_memo", "Edit draft memos, post, unpost and cancel memos"),
            ("settle_credit_memo", "Apply, unapply and refund credit memos"),
            ("reverse_credit_memo", "Reverse and write off credit memos"),
            ("change_reason_code", "Change a memo's reason code"),
            ("change_transferred_to_accounting", "Change Transferred to Accounting"),
            (
                "override_transferred_to_accounting",
                "Change Transferred to Accounting away from Yes",
            ),
            ("approve_memo", "Approve and reject memos submitted for approval"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(amount__gte=0),
                name="memo_amount_gte_0",
                violation_error_message="A memo's amount cannot be negative.",
            ),
            models.CheckConstraint(
                condition=Q(applied_amount__gte=0) & Q(refund_amount__gte=0),
                name="memo_applied_refunded_gte_0",
                violation_error_message="A memo's applied and refunded amounts cannot be negative.",
            ),
            models.CheckConstraint(
                condition=Q(amount__gte=money_sum(F("applied_amount"), F("refund_amount"))),
                name="memo_applied_plus_refunded_lte_amount",
                violation_error_message=(
                    "A memo cannot be applied and refunded for more than its amount."
                ),
            ),
            models.CheckConstraint(
                condition=Q(balance__gte=0) & Q(balance__lte=F("amount")),
                name="memo_balance_between_0_and_amount",
                violation_error_message="A debit memo's balance is between zero and its amount.",
            ),
            models.CheckConstraint(
                condition=Q(amount=money_sum(F("amount_excl_tax"), F("tax_amount"))),
                name="memo_amount_is_net_plus_tax",
                violation_error_message="A memo's amount is its amount excluding tax plus its tax.",
            ),
            models.CheckConstraint(
                condition=Q(memo_type="credit") | (Q(refund_amount=0) & Q(reversed=False)),
                name="memo_debit_has_no_refund_or_reversal",
                violation_error_message="A debit memo is never refunded or reversed.",
            ),
            models.CheckConstraint(
                condition=~Q(source="bill_run") | Q(bill_run__isnull=False),
                name="memo_bill_run_source_has_bill_run",
                violation_error_message="A memo from a bill run names its bill run.",
            ),
            models.CheckConstraint(
                condition=~Q(source="invoice") | Q(invoice__isnull=False),
                name="memo_invoice_source_has_invoice",
                violation_error_message="A memo from an invoice names its invoice.",
            ),
        ]

    # Set on the instance a create service returns when an idempotent retry found the memo the
    # first submit made (nothing was created this time); never stored.
    replayed = False

    def __str__(self) -> str:
        return self.number

    def get_absolute_url(self) -> str:
        return document_url("memos:memo_detail", self.number)

    # For templates, which cannot reach the TransferStatus enum.
    TRANSFER_CHOICES = TransferStatus.choices

    @property
    def is_credit(self) -> bool:
        return self.memo_type == MemoType.CREDIT

    @property
    def is_debit(self) -> bool:
        return self.memo_type == MemoType.DEBIT


class MemoItem(models.Model):
    """One line of a memo, from an invoice item, a catalog charge or a bill-run charge."""

    memo = models.ForeignKey(Memo, on_delete=models.CASCADE, related_name="items")
    sort_order = models.PositiveIntegerField(default=0)
    invoice_item = models.ForeignKey(
        InvoiceItem, on_delete=models.PROTECT, null=True, blank=True, related_name="memo_items"
    )
    charge = models.ForeignKey(Charge, on_delete=models.PROTECT, null=True, blank=True)
    subscription_charge = models.ForeignKey(
        SubscriptionCharge, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    billed_period = models.ForeignKey(
        "billing.BilledPeriod",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="memo_items",
    )
    charge_name = models.CharField(max_length=255)
    description = models.CharField(max_length=500, blank=True)
    service_start = models.DateField(null=True, blank=True)
    service_end = models.DateField(null=True, blank=True)
    quantity = QuantityField(default=1)
    unit_of_measure = models.CharField(max_length=32, blank=True)
    unit_price = PriceField(default=0)
    amount_excl_tax = MoneyField()
    tax_code = models.ForeignKey(TaxCode, on_delete=models.PROTECT, null=True, blank=True)
    tax_mode = models.CharField(max_length=16, choices=TaxMode.choices, default=TaxMode.EXCLUSIVE)
    tax_amount = MoneyField(default=0)
    amount = MoneyField(help_text="Including tax")
    applied_amount = MoneyField(default=0)
    refund_amount = MoneyField(default=0)
    unapplied_amount = models.GeneratedField(
        expression=money_sum(F("amount"), -F("applied_amount"), -F("refund_amount")),
        output_field=MoneyField(),
        db_persist=True,
    )
    balance = MoneyField(default=0)

    class Meta:
        ordering = ["memo", "sort_order", "id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(amount=money_sum(F("amount_excl_tax"), F("tax_amount"))),
                name="memo_item_amount_is_net_plus_tax",
            ),
            models.CheckConstraint(
                condition=Q(applied_amount__gte=0) & Q(refund_amount__gte=0),
                name="memo_item_applied_refunded_gte_0",
            ),
            models.CheckConstraint(
                condition=Q(service_end__isnull=True)
                | Q(service_start__isnull=True)
                | Q(service_end__gte=F("service_start")),
                name="memo_item_service_period",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.memo.number} #{self.sort_order} {self.charge_name}"

    @property
    def source_label(self) -> str:
        if self.invoice_item_id:
            return "Invoice item"
        if self.subscription_charge_id:
            return "Bill run charge"
        return "Catalog charge"


class MemoApplication(models.Model):
    """Credit moved from a credit memo to an invoice or a debit memo (kind=apply), or back
    (kind=unapply). The applied amount to a target is the sum of its applies minus its unapplies.
    """

    class Kind(models.TextChoices):
        APPLY = "apply", "Applied"
        UNAPPLY = "unapply", "Unapplied"

    credit_memo = models.ForeignKey(Memo, on_delete=models.PROTECT, related_name="applications")
    kind = models.CharField(max_length=8, choices=Kind.choices, default=Kind.APPLY)
    invoice = models.ForeignKey(
        Invoice, on_delete=models.PROTECT, null=True, blank=True, related_name="applications"
    )
    debit_memo = models.ForeignKey(
        Memo, on_delete=models.PROTECT, null=True, blank=True, related_name="credit_applications"
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
        ordering = ["credit_memo", "created_at", "id"]
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="application_amount_gt_0"),
            models.CheckConstraint(
                condition=(Q(invoice__isnull=False) & Q(debit_memo__isnull=True))
                | (Q(invoice__isnull=True) & Q(debit_memo__isnull=False)),
                name="application_one_target",
            ),
            models.CheckConstraint(
                condition=Q(kind="apply") | Q(undoes__isnull=False),
                name="application_unapply_names_apply",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.credit_memo} {self.get_kind_display()} {self.amount} to {self.target}"

    @property
    def target(self):
        """The invoice or debit memo the credit went to."""
        return self.invoice or self.debit_memo


class MemoApplicationItem(models.Model):
    """How one application is split over the credit memo's items and the target's items."""

    application = models.ForeignKey(MemoApplication, on_delete=models.CASCADE, related_name="items")
    credit_memo_item = models.ForeignKey(MemoItem, on_delete=models.PROTECT, related_name="+")
    invoice_item = models.ForeignKey(
        InvoiceItem, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    debit_memo_item = models.ForeignKey(
        MemoItem, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    amount = MoneyField()

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="application_item_amount_gt_0"),
            models.CheckConstraint(
                condition=(Q(invoice_item__isnull=False) & Q(debit_memo_item__isnull=True))
                | (Q(invoice_item__isnull=True) & Q(debit_memo_item__isnull=False)),
                name="application_item_one_target",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.application_id}: {self.amount}"


class RefundMethod(models.TextChoices):
    ACH = "ach", "ACH"
    CASH = "cash", "Cash"
    CHECK = "check", "Check"
    CREDIT_CARD = "credit_card", "Credit Card"
    PAYPAL = "paypal", "PayPal"
    WIRE_TRANSFER = "wire_transfer", "Wire Transfer"
    DEBIT_CARD = "debit_card", "Debit Card"
    BANK_TRANSFER = "bank_transfer", "Bank Transfer"
    OTHER = "other", "Other"


class Refund(models.Model):
    """An external refund of part or all of a credit memo's unapplied amount."""

    number = models.CharField(max_length=32, unique=True)
    credit_memo = models.ForeignKey(Memo, on_delete=models.PROTECT, related_name="refunds")
    amount = MoneyField()
    method = models.CharField(max_length=16, choices=RefundMethod.choices)
    refund_date = models.DateField()
    reason_code = models.ForeignKey(ReasonCode, on_delete=models.PROTECT, related_name="refunds")
    comment = models.TextField(blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["credit_memo", "created_at", "id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(amount__gt=0),
                name="refund_amount_gt_0",
                violation_error_message="A refund's amount is greater than zero.",
            ),
        ]

    def __str__(self) -> str:
        return self.number


class MemoEvent(models.Model):
    """The memo's history: who did what, when, with the values before and after."""

    class Kind(models.TextChoices):
        CREATED = "created", "Created"
        UPDATED = "updated", "Updated"
        POSTED = "posted", "Posted"
        UNPOSTED = "unposted", "Post canceled"
        CANCELED = "canceled", "Canceled"
        APPLIED = "applied", "Applied"
        UNAPPLIED = "unapplied", "Unapplied"
        REFUNDED = "refunded", "Refunded"
        REVERSED = "reversed", "Reversed"
        WRITTEN_OFF = "written_off", "Written off"
        TRANSFER_CHANGED = "transfer_changed", "Transferred to Accounting changed"
        TAX_RECALCULATED = "tax_recalculated", "Tax recalculated"
        TAX_VOIDED = "tax_voided", "Tax voided"
        SUBMITTED = "submitted", "Submitted for approval"
        APPROVED = "approved", "Approved"
        REJECTED = "rejected", "Rejected"
        WITHDRAWN = "withdrawn", "Submission withdrawn"

    memo = models.ForeignKey(Memo, on_delete=models.CASCADE, related_name="events")
    kind = models.CharField(max_length=20, choices=Kind.choices)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    at = models.DateTimeField(auto_now_add=True)
    message = models.CharField(max_length=500, blank=True)
    before = models.JSONField(default=dict, blank=True)
    after = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["memo", "at", "id"]

    def __str__(self) -> str:
        return f"{self.memo} {self.get_kind_display()} at {self.at:%Y-%m-%d %H:%M}"


class CreditInsight(models.Model):
    """Credit issued (posted credit memos), summed per month, currency and batch along one
    dimension (DOMAIN.md 8's insight). Kept up to date by the services that post, unpost and
    re-reason credit memos (memos.services.insight), in their transactions, so the insight pages
    read a few hundred rows instead of aggregating a million memos.

    `kind` says which dimension a row sums: "memo" rows by reason code, creating user and
    whether a bill run made the memo; "charge" rows (from the memos' items) by catalog charge;
    "account" rows by account. Dimension ids are plain integers, 0 where a kind has none (or the
    memo none: no creating user, an item without a catalog charge), so the unique key matches on
    every database. Amounts are positive sums of the credit; memo_count counts memos ("charge"
    rows: items).
    """

    class Kind(models.TextChoices):
        MEMO = "memo", "By reason, user and source"
        CHARGE = "charge", "By charge"
        ACCOUNT = "account", "By account"

    kind = models.CharField(max_length=8, choices=Kind.choices)
    month = models.DateField(help_text="First day of the memo date's month")
    currency_id = models.CharField(max_length=3)
    batch = models.CharField(max_length=8, blank=True)
    reason_code_id = models.BigIntegerField(default=0)
    created_by_id = models.BigIntegerField(default=0)
    from_bill_run = models.BooleanField(default=False)
    charge_id = models.BigIntegerField(default=0)
    account_id = models.BigIntegerField(default=0)
    memo_count = models.BigIntegerField(default=0)
    amount_excl_tax = MoneyField(default=0)
    amount = MoneyField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=[
                    "kind",
                    "month",
                    "currency_id",
                    "batch",
                    "reason_code_id",
                    "created_by_id",
                    "from_bill_run",
                    "charge_id",
                    "account_id",
                ],
                name="credit_insight_key",
            ),
        ]
        indexes = [
            models.Index(fields=["kind", "currency_id", "month"], name="credit_insight_lookup"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.month:%Y-%m} {self.currency_id} {self.amount}"
