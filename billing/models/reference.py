"""Reference data: currencies, accounting periods, tax codes, numbering series, billing settings."""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models
from django.db.models import Q

from billing.money import validate_money

from .fields import MoneyField, PriceField


class Currency(models.Model):
    """An ISO 4217 currency and its minor unit (decimals allowed in amounts)."""

    code = models.CharField(max_length=3, primary_key=True)
    name = models.CharField(max_length=64)
    minor_unit = models.PositiveSmallIntegerField(validators=[MaxValueValidator(3)])

    class Meta:
        ordering = ["code"]
        verbose_name_plural = "currencies"
        constraints = [
            models.CheckConstraint(
                condition=Q(minor_unit__lte=3),
                name="currency_minor_unit_at_most_3",
                violation_error_message="A currency has at most 3 decimals.",
            ),
            models.CheckConstraint(
                condition=Q(code__regex=r"^[A-Z]{3}$"),
                name="currency_code_iso_4217",
                violation_error_message=(
                    "A currency code is three capital letters (ISO 4217), e.g. USD."
                ),
            ),
        ]

    def __str__(self) -> str:
        return self.code


class PeriodStatus(models.TextChoices):
    OPEN = "open", "Open"
    CLOSED = "closed", "Closed"


class AccountingPeriodQuerySet(models.QuerySet):
    def closed_on(self, day: dt.date) -> AccountingPeriodQuerySet:
        return self.filter(status=PeriodStatus.CLOSED, start_date__lte=day, end_date__gte=day)


class AccountingPeriod(models.Model):
    """A named accounting period. No document date may fall in a closed one.

    Written only by billing.period_services: periods never overlap (checked there, and on
    PostgreSQL also by the exclusion constraint `accounting_period_no_overlap`, which migration
    0005 adds outside the model state because SQLite has no such constraint), a Closed period's
    dates never change, and closing and reopening are recorded in AccountingPeriodEvent.
    """

    name = models.CharField(max_length=64, unique=True)
    start_date = models.DateField()
    end_date = models.DateField()
    status = models.CharField(max_length=8, choices=PeriodStatus.choices, default=PeriodStatus.OPEN)

    objects = AccountingPeriodQuerySet.as_manager()

    class Meta:
        ordering = ["-start_date"]
        constraints = [
            models.CheckConstraint(
                condition=Q(end_date__gte=models.F("start_date")),
                name="accounting_period_end_after_start",
                violation_error_message="The end date cannot be before the start date.",
            ),
        ]

    def __str__(self) -> str:
        return self.name


class AccountingPeriodEvent(models.Model):
    """A period's history: who created, changed, closed, reopened or deleted it, when and why.

    It outlives the period: a deleted period's events keep its name (`period` becomes null).
    """

    class Kind(models.TextChoices):
        CREATED = "created", "Created"
        UPDATED = "updated", "Changed"
        CLOSED = "closed", "Closed"
        REOPENED = "reopened", "Reopened"
        DELETED = "deleted", "Deleted"

    period = models.ForeignKey(
        AccountingPeriod, on_delete=models.SET_NULL, null=True, blank=True, related_name="events"
    )
    period_name = models.CharField("Period", max_length=64)
    kind = models.CharField(max_length=16, choices=Kind.choices)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    at = models.DateTimeField(auto_now_add=True)
    reason = models.TextField(blank=True)
    before = models.JSONField(default=dict, blank=True)
    after = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["at", "id"]
        constraints = [
            # DOMAIN.md 1: closing and reopening are recorded with why.
            models.CheckConstraint(
                condition=~Q(kind__in=["closed", "reopened"]) | ~Q(reason=""),
                name="accounting_period_event_close_reopen_has_reason",
                violation_error_message="Closing or reopening a period needs a reason.",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.period_name} {self.get_kind_display()} at {self.at:%Y-%m-%d %H:%M}"


class TaxCode(models.Model):
    """A tax code of the built-in engine; its rate depends on the date (see TaxRate)."""

    code = models.CharField(max_length=32, unique=True)
    name = models.CharField(max_length=128)
    active = models.BooleanField(default=True)

    class Meta:
        ordering = ["code"]

    def __str__(self) -> str:
        return self.code


class TaxRate(models.Model):
    """A percentage rate of a tax code, effective from a date (until the next one starts)."""

    tax_code = models.ForeignKey(TaxCode, on_delete=models.CASCADE, related_name="rates")
    rate = PriceField(help_text="Percent, e.g. 8.25", validators=[MinValueValidator(0)])
    effective_from = models.DateField()
    effective_to = models.DateField(null=True, blank=True)

    class Meta:
        ordering = ["tax_code", "-effective_from"]
        constraints = [
            models.UniqueConstraint(
                fields=["tax_code", "effective_from"], name="tax_rate_one_per_start"
            ),
            models.CheckConstraint(
                condition=Q(rate__gte=0) & Q(rate__lte=100),
                name="tax_rate_percentage",
                violation_error_message="A tax rate is a percentage from 0 to 100.",
            ),
            models.CheckConstraint(
                condition=Q(effective_to__isnull=True)
                | Q(effective_to__gte=models.F("effective_from")),
                name="tax_rate_end_after_start",
                violation_error_message="A tax rate cannot end before it starts.",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.tax_code} {self.rate}% from {self.effective_from}"


prefix_validator = RegexValidator(
    r"^[A-Za-z0-9_-]{1,16}$", "A prefix is 1 to 16 letters, digits, hyphens or underscores."
)


class NumberSeries(models.Model):
    """The counter a document type's numbers come from (DOMAIN.md 2.7).

    Numbers are allocated by locking this row inside the creating transaction
    (billing.numbering), so they are gapless; the documents' unique constraints back it up.
    """

    class Key(models.TextChoices):
        INVOICE = "invoice", "Invoice"
        CREDIT_MEMO = "credit_memo", "Credit memo"
        DEBIT_MEMO = "debit_memo", "Debit memo"
        BILL_RUN = "bill_run", "Bill run"
        REFUND = "refund", "Refund"
        ACCOUNT = "account", "Account"
        SUBSCRIPTION = "subscription", "Subscription"
        PAYMENT = "payment", "Payment"
        PAYMENT_RUN = "payment_run", "Payment run"

    key = models.CharField(max_length=32, choices=Key.choices, unique=True)
    prefix = models.CharField(max_length=16, unique=True, validators=[prefix_validator])
    last_number = models.PositiveBigIntegerField(default=0)

    class Meta:
        ordering = ["key"]
        verbose_name_plural = "number series"
        constraints = [
            models.CheckConstraint(
                condition=Q(prefix__regex=r"^[A-Za-z0-9_-]{1,16}$"),
                name="number_series_prefix",
                violation_error_message=(
                    "A prefix is 1 to 16 letters, digits, hyphens or underscores."
                ),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_key_display()} ({self.prefix})"


class GenerationRule(models.TextChoices):
    NET_NEGATIVE_UNGROUPED = (
        "net_negative_ungrouped",
        "Create credit memos for net negative invoice totals without grouping charges",
    )
    NET_NEGATIVE_GROUPED = (
        "net_negative_grouped",
        "Create credit memos for net negative invoice totals",
    )
    NEGATIVE_CHARGES = "negative_charges", "Put all negative charges on a credit memo"
    NEGATIVE_AND_ZERO_CHARGES = (
        "negative_and_zero_charges",
        "Put all negative charges and zero credit charges on a credit memo",
    )


class CreditValidationLevel(models.TextChoices):
    HEADER_AND_ITEM = "header_and_item", "Header and item level"
    HEADER = "header", "Header level only"
    NONE = "none", "No validation"


class ApplicationRule(models.TextChoices):
    PRORATION = "proration", "Proration"
    FIFO = "fifo", "FIFO"


class TaxEngine(models.TextChoices):
    BUILT_IN = "built_in", "Built-in tax engine"
    THIRD_PARTY = "third_party", "Third-party tax engine"


class BillingSettings(models.Model):
    """The tenant's billing settings: one row (pk 1), created by a migration."""

    generation_rule = models.CharField(
        "Invoice/Credit Memo generation rule",
        max_length=32,
        choices=GenerationRule.choices,
        default=GenerationRule.NET_NEGATIVE_UNGROUPED,
    )
    credit_validation_level = models.CharField(
        "Available-to-credit validation",
        max_length=16,
        choices=CreditValidationLevel.choices,
        default=CreditValidationLevel.HEADER_AND_ITEM,
    )
    application_rule = models.CharField(
        max_length=16, choices=ApplicationRule.choices, default=ApplicationRule.PRORATION
    )
    tax_engine = models.CharField(
        max_length=16, choices=TaxEngine.choices, default=TaxEngine.BUILT_IN
    )
    tax_engine_url = models.URLField("Tax engine URL", blank=True)
    tax_engine_timeout = models.DecimalField(
        "Tax engine timeout (seconds)",
        max_digits=5,
        decimal_places=2,
        default=5,
        validators=[MinValueValidator(0.1)],
    )
    max_reason_codes = 300

    class Meta:
        verbose_name = "billing settings"
        verbose_name_plural = "billing settings"
        permissions = [
            ("configure_billing", "Configure settings, reason codes, tax codes and periods"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(pk=1),
                name="billing_settings_singleton",
                violation_error_message=(
                    "There is one billing settings row: change it, do not add another."
                ),
            ),
            # Without a URL every memo would be saved with Tax Status Error.
            models.CheckConstraint(
                condition=~Q(tax_engine="third_party") | ~Q(tax_engine_url=""),
                name="billing_settings_third_party_engine_has_url",
                violation_error_message=(
                    "The third-party tax engine needs its URL (Tax engine URL); "
                    "otherwise no memo could be taxed."
                ),
            ),
        ]

    def __str__(self) -> str:
        return "Billing settings"

    @classmethod
    def load(cls) -> BillingSettings:
        settings, _ = cls.objects.get_or_create(pk=1)
        return settings


class ApprovalMemoType(models.TextChoices):
    """The memo types an approval rule is for (memos.MemoType's values; billing cannot import
    memos)."""

    CREDIT = "credit", "Credit memo"
    DEBIT = "debit", "Debit memo"


class ApprovalRule(models.Model):
    """An approval threshold (DOMAIN.md 8), part of the billing settings: a memo of this type
    and currency whose total is at or above `threshold` is posted only once approved."""

    billing_settings = models.ForeignKey(
        BillingSettings,
        on_delete=models.CASCADE,
        default=1,
        related_name="approval_rules",
        editable=False,
    )
    memo_type = models.CharField(max_length=8, choices=ApprovalMemoType.choices)
    currency = models.ForeignKey(Currency, on_delete=models.PROTECT, related_name="+")
    threshold = MoneyField(
        help_text="Memos with a total at or above this amount need approval before posting"
    )

    class Meta:
        ordering = ["memo_type", "currency"]
        constraints = [
            models.UniqueConstraint(
                fields=["memo_type", "currency"],
                name="approval_rule_one_per_type_and_currency",
                violation_error_message="There is one approval rule per memo type and currency.",
            ),
            models.CheckConstraint(
                condition=Q(threshold__gt=0),
                name="approval_rule_threshold_gt_0",
                violation_error_message="An approval threshold is greater than zero.",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_memo_type_display()} {self.currency_id} at or above {self.threshold}"

    def clean(self) -> None:
        if self.threshold is not None and self.currency_id:
            try:
                validate_money(self.threshold, self.currency, field="Threshold")
            except ValidationError as exc:
                raise ValidationError({"threshold": exc.messages}) from exc
