"""Customer accounts."""

from __future__ import annotations

from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.db.models.functions import Upper

from billing.converters import document_url

from .fields import MoneyField
from .reference import Currency

BATCH_COUNT = 50


def batch_choices() -> list[tuple[str, str]]:
    return [(f"Batch{n}", f"Batch{n}") for n in range(1, BATCH_COUNT + 1)]


class AccountStatus(models.TextChoices):
    ACTIVE = "active", "Active"
    INACTIVE = "inactive", "Inactive"


class Account(models.Model):
    """A customer account. Its balance is derived (billing.selectors.account_balance)."""

    number = models.CharField("Account Number", max_length=32, unique=True)
    name = models.CharField(max_length=255)
    currency = models.ForeignKey(Currency, on_delete=models.PROTECT)
    bill_cycle_day = models.PositiveSmallIntegerField(
        validators=[MinValueValidator(1), MaxValueValidator(31)]
    )
    batch = models.CharField(max_length=8, choices=batch_choices(), default="Batch1")
    status = models.CharField(
        max_length=8, choices=AccountStatus.choices, default=AccountStatus.ACTIVE
    )
    # The database defaults too: bulk loads that name their columns (the benchmark's) need none.
    auto_pay = models.BooleanField(
        "Auto-Pay",
        default=False,
        db_default=False,
        help_text="Payment runs collect this account's invoices from its default payment method.",
    )
    # What the account's processed payments hold unapplied (DOMAIN.md 6), kept by the payments
    # app's services in the transaction that moves it, so that the balance (DOMAIN.md 1) needs
    # no import of the payments app here: billing sits below payments.
    unapplied_payment_amount = MoneyField(
        "Unapplied payments", default=0, db_default=0, editable=False
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["number"]
        indexes = [
            models.Index(fields=["name", "id"], name="account_name_keyset"),
            models.Index(fields=["batch", "bill_cycle_day"], name="account_bill_run_scope"),
            # The lists' "Account" filter and search match a number in any case (iexact). The
            # name's "contains" has a trigram index on PostgreSQL, made by migration 0007 (a GIN
            # index SQLite cannot build, so it is not declared here).
            models.Index(Upper("number"), name="account_number_upper"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(bill_cycle_day__gte=1) & Q(bill_cycle_day__lte=31),
                name="account_bill_cycle_day_1_31",
                violation_error_message="The bill cycle day is a day of the month, 1 to 31.",
            ),
            models.CheckConstraint(
                condition=Q(batch__regex=r"^Batch([1-9]|[1-4][0-9]|50)$"),
                name="account_batch_1_50",
                violation_error_message="The batch is one of Batch1 to Batch50.",
            ),
            models.CheckConstraint(
                condition=Q(unapplied_payment_amount__gte=0),
                name="account_unapplied_payments_gte_0",
                violation_error_message="An account's unapplied payments cannot be negative.",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.number} {self.name}"

    def get_absolute_url(self) -> str:
        return document_url("billing:account_detail", self.number)
