"""The product catalog: products and their charges, priced per currency."""

from __future__ import annotations

import datetime as dt

from django.db import models
from django.db.models import Q

from billing.periods import period_containing

from .fields import PriceField
from .reference import Currency, TaxCode


class ChargeType(models.TextChoices):
    ONE_TIME = "one_time", "One-time"
    RECURRING = "recurring", "Recurring"
    USAGE = "usage", "Usage"


class ChargeModel(models.TextChoices):
    FLAT_FEE = "flat_fee", "Flat fee"
    PER_UNIT = "per_unit", "Per unit"
    DISCOUNT = "discount", "Discount"


class BillingPeriod(models.TextChoices):
    MONTH = "month", "Month"
    QUARTER = "quarter", "Quarter"
    YEAR = "year", "Year"

    @property
    def months(self) -> int:
        return {"month": 1, "quarter": 3, "year": 12}[self.value]


class Product(models.Model):
    name = models.CharField(max_length=255, unique=True)
    sku = models.CharField("SKU", max_length=64, unique=True)
    description = models.TextField(blank=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Charge(models.Model):
    """A catalog charge. Prices live in ChargePrice, one per currency."""

    product = models.ForeignKey(Product, on_delete=models.PROTECT, related_name="charges")
    name = models.CharField(max_length=255)
    charge_type = models.CharField(max_length=16, choices=ChargeType.choices)
    charge_model = models.CharField(max_length=16, choices=ChargeModel.choices)
    unit_of_measure = models.CharField(max_length=32, blank=True)
    billing_period = models.CharField(
        max_length=8, choices=BillingPeriod.choices, blank=True, help_text="Recurring charges only"
    )
    taxable = models.BooleanField(default=True)
    tax_code = models.ForeignKey(TaxCode, on_delete=models.PROTECT, null=True, blank=True)
    active = models.BooleanField(default=True)

    class Meta:
        ordering = ["product__name", "name"]
        constraints = [
            models.UniqueConstraint(fields=["product", "name"], name="charge_name_per_product"),
            models.CheckConstraint(
                condition=(Q(charge_type="recurring") & ~Q(billing_period=""))
                | (~Q(charge_type="recurring") & Q(billing_period="")),
                name="charge_billing_period_iff_recurring",
                violation_error_message=(
                    "A recurring charge needs a billing period, and "
                    "only a recurring charge has one."
                ),
            ),
            models.CheckConstraint(
                condition=Q(taxable=False) | Q(tax_code__isnull=False),
                name="charge_taxable_has_tax_code",
                violation_error_message="A taxable charge needs a tax code.",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.product.name}: {self.name}"

    @property
    def is_discount(self) -> bool:
        return self.charge_model == ChargeModel.DISCOUNT

    def current_period(self, today: dt.date) -> tuple[dt.date, dt.date]:
        """The billing period containing `today` (recurring), else the day itself."""
        if self.charge_type == ChargeType.RECURRING:
            return period_containing(today, BillingPeriod(self.billing_period).months)
        return today, today


class ChargePrice(models.Model):
    """A charge's list price in one currency (negative for credits)."""

    charge = models.ForeignKey(Charge, on_delete=models.CASCADE, related_name="prices")
    currency = models.ForeignKey(Currency, on_delete=models.PROTECT)
    list_price = PriceField()

    class Meta:
        ordering = ["charge", "currency"]
        constraints = [
            models.UniqueConstraint(
                fields=["charge", "currency"], name="charge_price_per_currency"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.charge} {self.currency} {self.list_price}"
