"""Subscriptions: what an account is billed for, and the usage it records."""

from __future__ import annotations

from django.db import models
from django.db.models import Q

from .accounts import Account
from .catalog import Charge
from .fields import PriceField, QuantityField


class SubscriptionStatus(models.TextChoices):
    ACTIVE = "active", "Active"
    CANCELLED = "cancelled", "Cancelled"


class Subscription(models.Model):
    number = models.CharField(max_length=32, unique=True)
    account = models.ForeignKey(Account, on_delete=models.PROTECT, related_name="subscriptions")
    start_date = models.DateField()
    end_date = models.DateField(null=True, blank=True)
    status = models.CharField(
        max_length=16, choices=SubscriptionStatus.choices, default=SubscriptionStatus.ACTIVE
    )

    class Meta:
        ordering = ["number"]
        constraints = [
            models.CheckConstraint(
                condition=Q(end_date__isnull=True) | Q(end_date__gte=models.F("start_date")),
                name="subscription_end_after_start",
                violation_error_message="A subscription cannot end before it starts.",
            ),
        ]

    def __str__(self) -> str:
        return self.number


class SubscriptionCharge(models.Model):
    """A charge an account subscribes to, at its own price and quantity.

    `charged_through_date` is the first day not yet billed: a monthly charge billed for
    January has charged-through date February 1. Empty means nothing billed yet.
    """

    subscription = models.ForeignKey(Subscription, on_delete=models.CASCADE, related_name="charges")
    charge = models.ForeignKey(Charge, on_delete=models.PROTECT, related_name="subscriptions")
    price = PriceField(help_text="Unit price in the account's currency; negative for credits")
    quantity = QuantityField(default=1)
    start_date = models.DateField()
    end_date = models.DateField(null=True, blank=True)
    charged_through_date = models.DateField(null=True, blank=True)

    class Meta:
        ordering = ["subscription", "id"]
        indexes = [models.Index(fields=["charged_through_date"], name="sub_charge_ctd")]
        constraints = [
            models.CheckConstraint(
                condition=Q(quantity__gte=0),
                name="sub_charge_quantity_gte_0",
                violation_error_message="A subscribed quantity cannot be negative.",
            ),
            models.CheckConstraint(
                condition=Q(end_date__isnull=True) | Q(end_date__gte=models.F("start_date")),
                name="sub_charge_end_after_start",
                violation_error_message="A subscription charge cannot end before it starts.",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.subscription} {self.charge.name}"


class UsageRecord(models.Model):
    """Usage of a usage charge on a day; billed at most once (billed_period set)."""

    subscription_charge = models.ForeignKey(
        SubscriptionCharge, on_delete=models.CASCADE, related_name="usage_records"
    )
    usage_date = models.DateField()
    quantity = QuantityField()
    unit_of_measure = models.CharField(max_length=32, blank=True)
    billed_period = models.ForeignKey(
        "billing.BilledPeriod",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="usage_records",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-usage_date", "id"]
        indexes = [
            models.Index(fields=["subscription_charge", "usage_date"], name="usage_charge_date"),
            models.Index(
                fields=["subscription_charge", "usage_date"],
                condition=Q(billed_period__isnull=True),
                name="usage_unbilled",
            ),
        ]
        constraints = [
            models.CheckConstraint(condition=Q(quantity__gt=0), name="usage_quantity_gt_0"),
        ]

    def __str__(self) -> str:
        return f"{self.subscription_charge} {self.usage_date} x{self.quantity}"
