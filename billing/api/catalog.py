"""Invoices (with their items: the ids a memo from an invoice names; their PDF and emails:
billing.api.documents) and the product catalog, read-only. The lists take the UI lists' filters
and sorts."""

from __future__ import annotations

from django.db.models import Prefetch
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from api.base import ResourceViewSet
from api.fields import MoneyField, NumberOf
from billing import selectors
from billing.api.documents import CustomerDocumentActions
from billing.filters import InvoiceFilterSet
from billing.models import Charge, ChargePrice, Invoice, Product
from billing.selectors import ListSorts


class InvoiceSummarySerializer(serializers.Serializer):
    number = serializers.CharField()
    account = NumberOf()
    account_name = serializers.CharField(source="account.name")
    currency = serializers.CharField(source="currency_id")
    invoice_date = serializers.DateField()
    due_date = serializers.DateField()
    status = serializers.CharField()
    amount_excl_tax = MoneyField()
    tax_amount = MoneyField()
    amount = MoneyField()
    balance = MoneyField()
    created_at = serializers.DateTimeField()
    posted_at = serializers.DateTimeField(allow_null=True)


class InvoiceItemSerializer(serializers.Serializer):
    id = serializers.IntegerField(help_text="What a memo from this invoice names as invoice_item.")
    charge = serializers.IntegerField(source="charge_id", allow_null=True)
    charge_name = serializers.CharField()
    description = serializers.CharField()
    service_start = serializers.DateField(allow_null=True)
    service_end = serializers.DateField(allow_null=True)
    quantity = serializers.CharField()
    unit_of_measure = serializers.CharField()
    unit_price = serializers.CharField()
    tax_code = serializers.CharField(source="tax_code.code", allow_null=True, default=None)
    tax_mode = serializers.CharField()
    amount_excl_tax = MoneyField(currency_from="invoice.currency")
    tax_amount = MoneyField(currency_from="invoice.currency")
    amount = MoneyField(currency_from="invoice.currency")
    balance = MoneyField(currency_from="invoice.currency")


class InvoiceSerializer(InvoiceSummarySerializer):
    bill_run = NumberOf()
    items = serializers.SerializerMethodField()

    @extend_schema_field(InvoiceItemSerializer(many=True))
    def get_items(self, invoice) -> list:
        items = list(invoice.items.all())
        for item in items:
            item.invoice = invoice  # its currency without a query per item
        return InvoiceItemSerializer(items, many=True).data


class PriceSerializer(serializers.Serializer):
    currency = serializers.CharField(source="currency_id")
    list_price = serializers.CharField()


class ChargeSerializer(serializers.Serializer):
    id = serializers.IntegerField(help_text="What a memo from charges names as charge.")
    name = serializers.CharField()
    charge_type = serializers.CharField()
    charge_model = serializers.CharField()
    unit_of_measure = serializers.CharField()
    billing_period = serializers.CharField()
    taxable = serializers.BooleanField()
    tax_code = serializers.CharField(source="tax_code.code", allow_null=True, default=None)
    active = serializers.BooleanField()
    prices = PriceSerializer(many=True)


class ProductSerializer(serializers.Serializer):
    sku = serializers.CharField()
    name = serializers.CharField()
    description = serializers.CharField()
    charges = ChargeSerializer(many=True)


class InvoiceViewSet(CustomerDocumentActions, ResourceViewSet):
    resource = "invoices"
    filterset_class = InvoiceFilterSet
    sorts = selectors.INVOICE_SORTS
    list_serializer = InvoiceSummarySerializer
    detail_serializer = InvoiceSerializer

    def list_queryset(self):
        return selectors.invoice_rows()

    def detail_queryset(self):
        return selectors.invoice_with_items()

    def target_queryset(self):
        # The PDF and email actions' invoice (they read its items themselves).
        return Invoice.objects.select_related("account", "currency")


class ProductViewSet(ResourceViewSet):
    resource = "products"
    lookup_field = "sku"
    lookup_value_regex = r"[^/]{1,64}"
    sorts = ListSorts(fields={"name": "Name", "sku": "SKU"}, default="name")
    list_serializer = ProductSerializer
    detail_serializer = ProductSerializer

    def list_queryset(self):
        charges = Charge.objects.select_related("tax_code").order_by("name", "id")
        prices = ChargePrice.objects.order_by("currency_id")
        return Product.objects.prefetch_related(
            Prefetch("charges", queryset=charges.prefetch_related(Prefetch("prices", prices)))
        )
