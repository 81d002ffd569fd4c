"""One row per invoice item on the from-invoice form.

Rows are plain forms with a prefix per row (`item-<invoice item id>`).
"""

from __future__ import annotations

from django import forms

from billing.forms import TypedNumberField
from memos.forms.common import MoneyInput, RowFields


class InvoiceRowForm(forms.Form):
    """One invoice item on the from-invoice form."""

    selected = forms.BooleanField(required=False, initial=True)
    amount = TypedNumberField(required=False, widget=MoneyInput())
    tax_included = forms.BooleanField(label="Tax-Included", required=False)
    tax_amount = TypedNumberField(required=False, widget=MoneyInput())
    description = forms.CharField(required=False, max_length=500)

    def clean(self):
        data = super().clean()
        if data.get("selected") and data.get("amount") is None and "amount" not in self.errors:
            self.add_error("amount", "Enter an amount, or deselect the row.")
        return data

    def __init__(self, *args, **kwargs):
        # Rows show no form labels; the default suffix costs a translation lookup per row.
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)


InvoiceRowForm.base_fields = RowFields(InvoiceRowForm.base_fields)
