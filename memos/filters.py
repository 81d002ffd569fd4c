"""The memo list's filters; its CSV export uses the same FilterSet, so both show the same rows."""

from __future__ import annotations

import django_filters
from django import forms
from django.core.exceptions import ValidationError
from django.db.models import Exists, OuterRef

from billing.filters import (
    IdFilter,
    ModelChoiceOnceField,
    ModelChoiceOnceFilter,
    date_range,
    matching_accounts,
)
from billing.forms import TypedNumberField
from billing.models import Account
from billing.money import MONEY_COLUMN
from memos.models import (
    ApprovalStatus,
    Memo,
    MemoItem,
    MemoSource,
    MemoStatus,
    MemoType,
    ReasonCode,
    ReasonCodeType,
    TaxStatus,
    TransferStatus,
)
from memos.services.approval_rules import awaiting_approval_of


class AmountRangeWidget(django_filters.widgets.RangeWidget):
    """amount_min / amount_max, as number inputs."""

    def __init__(self, attrs=None):
        # RangeWidget's own __init__ would make them text inputs.
        django_filters.widgets.SuffixedMultiWidget.__init__(
            self, (forms.NumberInput, forms.NumberInput), attrs
        )


class AmountRangeField(django_filters.fields.RangeField):
    """A from/to pair of amounts, validated like the money columns they filter.

    The list mixes currencies, so the bound is the storage precision (3 decimals, for KWD and
    BHD), not one currency's minor unit: "1.250" finds a KWD memo, "1.2345" is an error. The
    amounts are read like every typed number (billing.money.parse_number: no "1e3", NaN or
    other digits) and capped at the column, so a number wider than it never reaches the database.
    """

    widget = AmountRangeWidget

    def __init__(self, *args, **kwargs):
        def amount() -> forms.DecimalField:
            return TypedNumberField(column=MONEY_COLUMN, decimal_places=MONEY_COLUMN.decimal_places)

        super().__init__((amount(), amount()), *args, **kwargs)

    def compress(self, data_list):
        value = super().compress(data_list)
        if value and None not in (value.start, value.stop) and value.start > value.stop:
            raise ValidationError(
                "The lower amount is above the upper one (%(start)s > %(stop)s).",
                code="reversed_range",
                params={"start": value.start, "stop": value.stop},
            )
        return value


class AmountRangeFilter(django_filters.RangeFilter):
    field_class = AmountRangeField


MEMO_REASON_CODE_TYPES = {
    ReasonCodeType.CREDIT_MEMO: MemoType.CREDIT.label,
    ReasonCodeType.DEBIT_MEMO: MemoType.DEBIT.label,
}


class ReasonCodeChoiceField(ModelChoiceOnceField):
    # The two types share names ("Write-off"), so the label says whose code it is. Labels, not
    # <optgroup>s: the shared filter components render flat choices, and so do the chips.
    def label_from_instance(self, obj: ReasonCode) -> str:
        label = f"{MEMO_REASON_CODE_TYPES[obj.code_type]}: {obj.name}"
        return label if obj.active else f"{label} (inactive)"


class ReasonCodeFilter(ModelChoiceOnceFilter):
    field_class = ReasonCodeChoiceField


def memo_reason_codes(request=None):
    # Inactive codes stay: old memos still carry them. Refund reason codes never sit on a memo.
    return ReasonCode.objects.filter(code_type__in=list(MEMO_REASON_CODE_TYPES)).order_by(
        "code_type", "-active", "name"
    )


APPROVAL_YOURS = "yours"
APPROVAL_CHOICES = [
    (ApprovalStatus.AWAITING.value, "Awaiting approval"),
    (APPROVAL_YOURS, "Awaiting your approval"),
    (ApprovalStatus.APPROVED.value, "Approved"),
]


class MemoFilterSet(django_filters.FilterSet):
    number = django_filters.CharFilter(
        label="Memo number",
        lookup_expr="icontains",
        widget=forms.TextInput(
            attrs={"type": "search", "placeholder": "Memo number, or part of it"}
        ),
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
    amount = AmountRangeFilter(label="Amount", widget=AmountRangeWidget(attrs={"step": "any"}))
    reason_code = ReasonCodeFilter(
        label="Reason Code", queryset=memo_reason_codes, empty_label="Any reason code"
    )
    transferred_to_accounting = django_filters.ChoiceFilter(
        label="Transferred to Accounting", choices=TransferStatus.choices, empty_label="Any"
    )
    source = django_filters.ChoiceFilter(
        label=Memo._meta.get_field("source").verbose_name,
        choices=MemoSource.choices,
        empty_label="Any",
    )

    # The home page links here with ?tax_status=error; unfiltered it would list every memo.
    tax_status = django_filters.ChoiceFilter(
        label="Tax Status",
        choices=[(value, label) for value, label in TaxStatus.choices if value],
        empty_label="Any",
    )

    # The bill run's page links here for all of its credit memos.
    bill_run = django_filters.CharFilter(
        label="Bill run",
        field_name="bill_run__number",
        lookup_expr="iexact",
        widget=forms.TextInput(attrs={"placeholder": "Bill run number"}),
    )

    # DOMAIN.md 8: the approvers' queue. "Awaiting your approval" leaves out the memos the
    # signed-in user created or submitted (they may not approve those).
    approval = django_filters.ChoiceFilter(
        label="Approval",
        choices=APPROVAL_CHOICES,
        empty_label="Any",
        method="filter_approval",
    )

    # The credit insight's bars and rows link here (DOMAIN.md 8): one filter per dimension.
    # Text and id filters, not selects: a select of every currency or user would cost the page
    # a query of its own (tests/billing/test_lists.py keeps the page's queries flat).
    currency = django_filters.CharFilter(
        label="Currency",
        method="filter_currency",
        widget=forms.TextInput(attrs={"placeholder": "USD", "maxlength": 3}),
    )
    batch = django_filters.ChoiceFilter(
        label="Batch",
        field_name="account__batch",
        choices=Account._meta.get_field("batch").choices,
        empty_label="Any batch",
    )
    created_by = IdFilter(
        label="Created by (user id)", field_name="created_by_id", widget=forms.HiddenInput()
    )
    charge = IdFilter(label="Charge", method="filter_charge", widget=forms.HiddenInput())
    from_bill_run = django_filters.BooleanFilter(
        label="From a bill run", method="filter_from_bill_run"
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
            "amount",
            "reason_code",
            "transferred_to_accounting",
            "source",
            "tax_status",
            "bill_run",
            "approval",
            "currency",
            "batch",
            "created_by",
            "charge",
            "from_bill_run",
        ]

    def filter_currency(self, queryset, name, value):
        return queryset.filter(currency_id=value.strip().upper())

    def filter_charge(self, queryset, name, value):
        # Memos with at least one item of that catalog charge (the insight's "by charge").
        return queryset.filter(Exists(MemoItem.objects.filter(memo=OuterRef("pk"), charge=value)))

    def filter_from_bill_run(self, queryset, name, value):
        if value is None:
            return queryset
        return (
            queryset.filter(source=MemoSource.BILL_RUN)
            if value
            else queryset.exclude(source=MemoSource.BILL_RUN)
        )

    def filter_approval(self, queryset, name, value):
        if value == APPROVAL_YOURS:
            user = getattr(self.request, "user", None)
            return queryset.filter(awaiting_approval_of(user)) if user else queryset.none()
        if value == ApprovalStatus.AWAITING:
            return queryset.filter(approval_status=value, status=MemoStatus.DRAFT)
        return queryset.filter(approval_status=value)

    def filter_account(self, queryset, name, value):
        return queryset.filter(account__in=matching_accounts(value))
