"""The memo list's filters."""

from __future__ import annotations

import django_filters
from django import forms
from django.db.models import Q

from billing.filters import date_range
from memos.models import Memo, MemoSource, MemoStatus, MemoType, TaxStatus, TransferStatus


class MemoFilterSet(django_filters.FilterSet):
    number = django_filters.CharFilter(
        label="Memo number",
        lookup_expr="icontains",
        widget=forms.TextInput(attrs={"type": "search", "placeholder": "CM00000001"}),
    )
    memo_type = django_filters.ChoiceFilter(
        label="Memo Type", choices=MemoType.choices, empty_label="Any type"
    )
    status = django_filters.ChoiceFilter(choices=MemoStatus.choices, empty_label="Any status")
    account = django_filters.CharFilter(
        label="Account",
        method="filter_account",
        widget=forms.TextInput(attrs={"placeholder": "Account number or name"}),
    )
    memo_date = date_range("Memo Date")
    source = django_filters.ChoiceFilter(choices=MemoSource.choices, empty_label="Any source")
    transferred_to_accounting = django_filters.ChoiceFilter(
        label="Transferred to Accounting", choices=TransferStatus.choices, empty_label="Any"
    )

    # The home page links here with ?tax_status=error; unfiltered it would list every memo.
    tax_status = django_filters.ChoiceFilter(
        label="Tax Status",
        choices=[(value, label) for value, label in TaxStatus.choices if value],
        empty_label="Any",
    )

    primary_filters = ("number", "memo_type", "status", "account", "memo_date")

    class Meta:
        model = Memo
        fields = [
            "number",
            "memo_type",
            "status",
            "account",
            "memo_date",
            "source",
            "transferred_to_accounting",
            "tax_status",
        ]

    def filter_account(self, queryset, name, value):
        value = value.strip()
        return queryset.filter(Q(account__number__iexact=value) | Q(account__name__icontains=value))
