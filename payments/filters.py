"""The payments and payment runs lists' filters (invalid input shows an error, never everything)."""

from __future__ import annotations

import django_filters
from django import forms

from billing.filters import ModelChoiceOnceFilter, date_range, matching_accounts
from billing.models import Currency
from payments.models import (
    Payment,
    PaymentRun,
    PaymentRunScope,
    PaymentRunStatus,
    PaymentStatus,
    PaymentType,
)


class PaymentFilterSet(django_filters.FilterSet):
    number = django_filters.CharFilter(
        label="Payment number",
        lookup_expr="icontains",
        widget=forms.TextInput(attrs={"type": "search", "placeholder": "Payment number"}),
    )
    account = django_filters.CharFilter(
        label="Account",
        method="filter_account",
        widget=forms.TextInput(attrs={"placeholder": "Account number or name"}),
    )
    status = django_filters.ChoiceFilter(choices=PaymentStatus.choices, empty_label="Any status")
    payment_date = date_range("Payment date")
    method = django_filters.ChoiceFilter(choices=PaymentType.choices, empty_label="Any method")
    currency = ModelChoiceOnceFilter(queryset=Currency.objects.all(), empty_label="Any currency")
    has_unapplied = django_filters.ChoiceFilter(
        label="Unapplied amount",
        method="filter_has_unapplied",
        choices=[("true", "Yes"), ("false", "No")],
        empty_label="Any",
    )
    payment_run = django_filters.CharFilter(
        label="Payment run",
        field_name="payment_run__number",
        lookup_expr="iexact",
        widget=forms.TextInput(attrs={"placeholder": "Payment run number"}),
    )

    primary_filters = ("number", "account", "status", "payment_date")

    class Meta:
        model = Payment
        fields = [
            "number", "account", "status", "payment_date", "method", "currency",
            "has_unapplied", "payment_run",
        ]  # fmt: skip

    def filter_account(self, queryset, name, value):
        return queryset.filter(account__in=matching_accounts(value))

    def filter_has_unapplied(self, queryset, name, value):
        if value == "true":
            return queryset.filter(unapplied_amount__gt=0, status=PaymentStatus.PROCESSED)
        return queryset.filter(unapplied_amount=0)


class PaymentRunFilterSet(django_filters.FilterSet):
    number = django_filters.CharFilter(
        label="Payment run number",
        lookup_expr="icontains",
        widget=forms.TextInput(attrs={"type": "search", "placeholder": "Payment run number"}),
    )
    status = django_filters.ChoiceFilter(choices=PaymentRunStatus.choices, empty_label="Any status")
    target_date = date_range("Target date")
    scope = django_filters.ChoiceFilter(choices=PaymentRunScope.choices, empty_label="Any scope")

    primary_filters = ("number", "status", "target_date")

    class Meta:
        model = PaymentRun
        fields = ["number", "status", "target_date", "scope"]
