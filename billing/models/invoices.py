"""Invoices and their items. Posted invoices are immutable except for their balance."""

from __future__ import annotations

from django.db import models
from django.db.models import F, Q

from billing.converters import document_url

from .accounts import Account
from .catalog import Charge
from .fields import MoneyField, PriceField, QuantityField, money_sum
from .reference import Currency, TaxCode
from .subscriptions import SubscriptionCharge


class InvoiceStatus(models.TextChoices):
    DRAFT = "draft", "Draft"
    POSTED = "posted", "Posted"
    CANCELED = "canceled", "Canceled"


class TaxMode(models.TextChoices):
    EXCLUSIVE = "exclusive", "Tax-Excluded"
    INCLUSIVE = "inclusive", "Tax-Included"


class Invoice(models.Model):
    """An invoice. `amount` includes tax; `balance` is what is still owed once posted."""

    number = models.CharField("Invoice Number", max_length=32, unique=True)
    account = models.ForeignKey(Account, on_delete=models.PROTECT, related_name="invoices")
    currency = models.ForeignKey(Currency, on_delete=models.PROTECT)
    invoice_date = models.DateField()
    due_date = models.DateField()
    status = models.CharField(
        max_length=16, choices=InvoiceStatus.choices, default=InvoiceStatus.DRAFT
    )
    amount_excl_tax = MoneyField(default=0)
    tax_amount = MoneyField(default=0)
    amount = MoneyField(default=0)
    balance = MoneyField(default=0)
    bill_run = models.ForeignKey(
        "billing.BillRun",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="invoices",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    posted_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-invoice_date", "-id"]
        indexes = [
            models.Index(fields=["invoice_date", "id"], name="invoice_date_keyset"),
            models.Index(fields=["account", "status"], name="invoice_account_status"),
        ]
        constraints = [
            models.CheckConstraint(condition=Q(amount__gte=0), name="invoice_amount_gte_0"),
            models.CheckConstraint(condition=Q(balance__gte=0), name="invoice_balance_gte_0"),
            models.CheckConstraint(
                condition=Q(balance__lte=F("amount")), name="invoice_balance_lte_amount"
            ),
            models.CheckConstraint(
                condition=Q(amount=money_sum(F("amount_excl_tax"), F("tax_amount"))),
                name="invoice_amount_is_net_plus_tax",
            ),
            models.CheckConstraint(
                condition=Q(due_date__gte=F("invoice_date")), name="invoice_due_after_date"
            ),
        ]

    def __str__(self) -> str:
        return self.number

    def get_absolute_url(self) -> str:
        return document_url("billing:invoice_detail", self.number)

    @property
    def is_posted(self) -> bool:
        return self.status == InvoiceStatus.POSTED


class InvoiceItem(models.Model):
    """One line of an invoice. Lines may be negative (a credit charge on a net-positive invoice)."""

    invoice = models.ForeignKey(Invoice, on_delete=models.CASCADE, related_name="items")
    sort_order = models.PositiveIntegerField(default=0)
    charge = models.ForeignKey(Charge, on_delete=models.PROTECT, null=True, blank=True)
    subscription_charge = models.ForeignKey(
        SubscriptionCharge,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="invoice_items",
    )
    billed_period = models.ForeignKey(
        "billing.BilledPeriod",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="invoice_items",
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
    balance = MoneyField(default=0)

    class Meta:
        ordering = ["invoice", "sort_order", "id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(amount=money_sum(F("amount_excl_tax"), F("tax_amount"))),
                name="invoice_item_amount_is_net_plus_tax",
            ),
            models.CheckConstraint(
                condition=Q(service_end__isnull=True)
                | Q(service_start__isnull=True)
                | Q(service_end__gte=F("service_start")),
                name="invoice_item_service_period",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.invoice.number} #{self.sort_order} {self.charge_name}"
