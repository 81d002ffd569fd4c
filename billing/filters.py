"""List filters. Invalid input shows an error beside the filter, never the whole table."""

from __future__ import annotations

import django_filters
from django import forms
from django.core.exceptions import ValidationError
from django.db.models import Exists
from django.forms.models import ModelChoiceIterator

from billing.keyset import MAX_PK
from billing.models import (
    Account,
    AccountStatus,
    BillRun,
    BillRunScope,
    BillRunStatus,
    Currency,
    Invoice,
    InvoiceStatus,
)


class IdFilter(django_filters.NumberFilter):
    """A database id typed in the query (a link's filter): a whole number from 1 to the largest
    bigint, else an error beside the filter. NumberFilter's decimal field would pass "1.5",
    "1e3" or thirty digits to the database (the last overflows SQLite's driver: a 500)."""

    field_class = forms.IntegerField

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("min_value", 1)
        kwargs.setdefault("max_value", MAX_PK)
        super().__init__(*args, **kwargs)


class DateInput(forms.DateInput):
    input_type = "date"


class RowsOnceIterator(ModelChoiceIterator):
    """The field's choices from its rows, read once (see ModelChoiceOnceField)."""

    def __iter__(self):
        if self.field.empty_label is not None:
            yield ("", self.field.empty_label)
        for obj in self.field.rows():
            yield self.choice(obj)

    def __len__(self):
        return len(self.field.rows()) + (self.field.empty_label is not None)


class ModelChoiceOnceField(forms.ModelChoiceField):
    """A ModelChoiceField over a short table (currencies, reason codes) that reads it once.

    ModelChoiceField counts its queryset for the template's loop, iterates it again for the
    options, and .get()s the submitted value: two or three queries a page, and one more for the
    filter's chip. This one reads the rows once per form and answers all of them from the list.
    """

    iterator = RowsOnceIterator
    _rows: list | None = None

    def _set_queryset(self, queryset):
        self._rows = None  # a new queryset (every form's deepcopy sets one) is read afresh
        super()._set_queryset(queryset)

    queryset = property(forms.ModelChoiceField._get_queryset, _set_queryset)

    def rows(self) -> list:
        if self._rows is None:
            self._rows = list(self.queryset)
        return self._rows

    def to_python(self, value):
        if value in self.empty_values:
            return None
        meta = self.queryset.model._meta
        key_field = meta.get_field(self.to_field_name) if self.to_field_name else meta.pk
        if isinstance(value, self.queryset.model):
            value = getattr(value, key_field.attname)
        try:
            # What .get(pk=value) would match: the value as the key column reads it.
            value = key_field.to_python(value)
        except ValidationError:
            value = None
        for obj in self.rows():
            if value is not None and getattr(obj, key_field.attname) == value:
                return obj
        raise ValidationError(
            self.error_messages["invalid_choice"],
            code="invalid_choice",
            params={"value": value},
        )


class ModelChoiceOnceFilter(django_filters.ModelChoiceFilter):
    field_class = ModelChoiceOnceField


def matching_accounts(value: str):
    """The ids of the accounts an "Account" filter or search means, as a subquery: the account
    whose number it is (any case), or else every account whose name contains it.

    A whole number means that account alone, so the common case (a number copied from a page)
    costs one lookup in account_number_upper: the name branch runs only when no number matched
    (a one-time NOT EXISTS), through account_name_trgm. As one OR of both, PostgreSQL read every
    account (the trigram index is priced too high to win an OR at 20,000 rows), twice a page.

    Filtering documents by `account_id IN (<this>)` finds the accounts first, then their
    documents by the account index; `account__number ... OR account__name ...` across the join
    made PostgreSQL walk the documents in list order and test each one's account.
    """
    value = value.strip()
    by_number = Account.objects.filter(number__iexact=value)
    by_name = Account.objects.filter(~Exists(by_number), name__icontains=value)
    return by_number.order_by().values("pk").union(by_name.order_by().values("pk"), all=True)


def date_range(label: str) -> django_filters.DateFromToRangeFilter:
    return django_filters.DateFromToRangeFilter(
        label=label, widget=django_filters.widgets.DateRangeWidget(attrs={"type": "date"})
    )


class AccountFilterSet(django_filters.FilterSet):
    q = django_filters.CharFilter(
        label="Search",
        method="search",
        widget=forms.TextInput(attrs={"type": "search", "placeholder": "Number or name"}),
    )
    currency = ModelChoiceOnceFilter(queryset=Currency.objects.all(), empty_label="Any currency")
    status = django_filters.ChoiceFilter(choices=AccountStatus.choices, empty_label="Any status")
    batch = django_filters.ChoiceFilter(
        choices=Account._meta.get_field("batch").choices, empty_label="Any batch"
    )
    bill_cycle_day = django_filters.NumberFilter(
        label="Bill cycle day", widget=forms.NumberInput(attrs={"min": 1, "max": 31})
    )

    primary_filters = ("q", "currency", "status")

    class Meta:
        model = Account
        fields = ["q", "currency", "status", "batch", "bill_cycle_day"]

    def search(self, queryset, name, value):
        return queryset.filter(pk__in=matching_accounts(value))


class InvoiceFilterSet(django_filters.FilterSet):
    number = django_filters.CharFilter(
        label="Invoice number",
        lookup_expr="icontains",
        widget=forms.TextInput(
            attrs={"type": "search", "placeholder": "Invoice number, or part of it"}
        ),
    )
    account = django_filters.CharFilter(
        label="Account",
        method="filter_account",
        widget=forms.TextInput(attrs={"placeholder": "Account number or name"}),
    )
    status = django_filters.ChoiceFilter(choices=InvoiceStatus.choices, empty_label="Any status")
    invoice_date = date_range("Invoice date")
    currency = ModelChoiceOnceFilter(queryset=Currency.objects.all(), empty_label="Any currency")
    # A choice, not a BooleanFilter: that one reads an unknown value as "any" and would show
    # every invoice instead of an error.
    has_balance = django_filters.ChoiceFilter(
        label="Open balance",
        method="filter_has_balance",
        choices=[("true", "Yes"), ("false", "No")],
        empty_label="Any",
    )

    # The bill run's page links here for all of its invoices.
    bill_run = django_filters.CharFilter(
        label="Bill run",
        field_name="bill_run__number",
        lookup_expr="iexact",
        widget=forms.TextInput(attrs={"placeholder": "Bill run number"}),
    )

    primary_filters = ("number", "account", "status", "invoice_date")

    class Meta:
        model = Invoice
        fields = [
            "number", "account", "status", "invoice_date", "currency", "has_balance", "bill_run",
        ]  # fmt: skip

    def filter_account(self, queryset, name, value):
        return queryset.filter(account__in=matching_accounts(value))

    def filter_has_balance(self, queryset, name, value):
        return queryset.filter(balance__gt=0) if value == "true" else queryset.filter(balance=0)


class BillRunFilterSet(django_filters.FilterSet):
    number = django_filters.CharFilter(
        label="Bill run number",
        lookup_expr="icontains",
        widget=forms.TextInput(attrs={"type": "search", "placeholder": "Bill run number"}),
    )
    status = django_filters.ChoiceFilter(choices=BillRunStatus.choices, empty_label="Any status")
    invoice_date = date_range("Invoice date")
    target_date = date_range("Target date")
    scope = django_filters.ChoiceFilter(choices=BillRunScope.choices, empty_label="Any scope")

    primary_filters = ("number", "status", "invoice_date")

    class Meta:
        model = BillRun
        fields = ["number", "status", "invoice_date", "target_date", "scope"]
