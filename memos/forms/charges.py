"""One row per charge line on the from-charges form, and the memo's account.

Rows are plain forms with a prefix per row (`line-<key>`), so charge lines can be added and
removed in the page without renumbering a formset.
"""

from __future__ import annotations

from django import forms

from billing.forms import TypedNumberField
from billing.models import Account, Charge, ChargeModel
from billing.money import QUANTITY_COLUMN
from memos.forms.common import DateInput, MoneyInput, RowFields


class ChargeChoiceField(forms.ModelChoiceField):
    """A charge picked by id. With `known` (the charges of every row, read at once by the view
    from this field's queryset) the id is looked up there: one query for the whole grid, not one
    per row."""

    known: dict[int, Charge] | None = None

    def to_python(self, value):
        if self.known is None or value in self.empty_values or isinstance(value, Charge):
            return super().to_python(value)
        try:
            charge = self.known.get(int(value))
        except (TypeError, ValueError):
            charge = None
        if charge is None:
            raise forms.ValidationError(
                self.error_messages["invalid_choice"],
                code="invalid_choice",
                params={"value": value},
            )
        return charge


class ChargeRowForm(forms.Form):
    """One catalog charge line on the standalone form."""

    charge = ChargeChoiceField(
        queryset=Charge.objects.filter(active=True)
        .exclude(charge_model=ChargeModel.DISCOUNT)
        .select_related("product"),
        empty_label="Choose a charge…",
    )
    amount = TypedNumberField(widget=MoneyInput())
    quantity = TypedNumberField(
        required=False,
        min_value=0,
        column=QUANTITY_COLUMN,
        widget=MoneyInput(attrs={"placeholder": "1"}),
    )
    service_start = forms.DateField(required=False, widget=DateInput())
    service_end = forms.DateField(required=False, widget=DateInput())
    description = forms.CharField(required=False, max_length=500)
    tax_included = forms.BooleanField(label="Tax-Included", required=False)
    tax_amount = TypedNumberField(required=False, widget=MoneyInput())

    def __init__(self, *args, charges: dict[int, Charge] | None = None, **kwargs):
        kwargs.setdefault("label_suffix", "")  # as InvoiceRowForm
        super().__init__(*args, **kwargs)
        self.fields["charge"].known = charges

    @classmethod
    def charges_for(cls, data, prefixes) -> dict[int, Charge]:
        """The charges the rows with these prefixes name in `data`, in one query: those the
        field offers (active, not discounts), with what pricing reads (tax code)."""
        ids = set()
        for prefix in prefixes:
            try:
                charge_id = int(data.get(f"{prefix}-charge", ""))
            except (TypeError, ValueError):
                continue  # the field says why, beside its row
            if 0 < charge_id < 2**63:  # a key the id column can hold; else no such charge
                ids.add(charge_id)
        queryset = cls.base_fields["charge"].queryset.select_related("tax_code")
        return queryset.in_bulk(ids) if ids else {}


# The charge field is each row's own: the view sets its charges and choices.
ChargeRowForm.base_fields = RowFields(ChargeRowForm.base_fields, own=("charge",))


class AccountChoiceForm(forms.Form):
    """The account of a standalone memo, typed or picked by number (the list searches names)."""

    account = forms.CharField(label="Customer Account", max_length=32)

    def clean_account(self):
        number = self.cleaned_data["account"].strip().split(" ")[0]
        account = Account.objects.select_related("currency").filter(number__iexact=number).first()
        if account is None:
            raise forms.ValidationError(
                "Choose an account from the list (type a name or an account number)."
            )
        return account
