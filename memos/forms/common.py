"""What the memo forms share: the header, money and date inputs, and row fields shared between a
grid's rows.
"""

from __future__ import annotations

import copy
import uuid
from decimal import Decimal

from django import forms
from django.utils import timezone

from billing.models import TaxMode
from memos.models import IDEMPOTENCY_KEY_LENGTH, MemoType, ReasonCode
from memos.services.common import REASON_CODE_TYPE


class DateInput(forms.DateInput):
    input_type = "date"

    def __init__(self, attrs=None):
        super().__init__(attrs=attrs, format="%Y-%m-%d")


class MemoHeaderForm(forms.Form):
    """Memo Date, Reason Code, Comments, tax auto-calculation and the type's flags."""

    memo_date = forms.DateField(label="Memo Date", widget=DateInput())
    reason_code = forms.ModelChoiceField(
        label="Reason Code", queryset=ReasonCode.objects.none(), empty_label=None
    )
    comments = forms.CharField(
        label="Comments", required=False, widget=forms.Textarea(attrs={"rows": 2})
    )
    tax_auto_calculation = forms.BooleanField(
        label="Calculate tax automatically", required=False, initial=True
    )
    apply_to_invoice_on_post = forms.BooleanField(
        label="Auto Apply: Apply to this invoice upon posting", required=False
    )
    exclude_from_auto_apply = forms.BooleanField(
        label="Auto Apply: Exclude from auto apply rules", required=False
    )
    auto_pay = forms.BooleanField(label="Auto-Pay", required=False, initial=True)
    # Minted per page view: a double submit of one form creates one memo. Hidden, so its error
    # says what the operator can do about it (the template shows it above the header).
    idempotency_key = forms.CharField(
        widget=forms.HiddenInput,
        required=False,
        max_length=IDEMPOTENCY_KEY_LENGTH,
        error_messages={
            "max_length": "This form's submission key is not valid. "
            "Reload the page and enter the memo again."
        },
    )

    def __init__(self, *args, memo_type: str, from_invoice: bool, min_date=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.memo_type = memo_type
        codes = ReasonCode.objects.filter(
            code_type=REASON_CODE_TYPE[memo_type], active=True
        ).order_by("name")
        self.fields["reason_code"].queryset = codes
        # Read when the form is shown, not when a submitted one is validated.
        self.fields["reason_code"].initial = codes.filter(is_default=True).first
        self.fields["memo_date"].initial = timezone.localdate()
        self.fields["idempotency_key"].initial = uuid.uuid4().hex
        if min_date:
            self.fields["memo_date"].widget.attrs["min"] = min_date.isoformat()
            self.fields[
                "memo_date"
            ].help_text = f"Cannot be before the invoice date {min_date:%Y-%m-%d}."
        if memo_type == MemoType.CREDIT:
            del self.fields["auto_pay"]
            if not from_invoice:
                del self.fields["apply_to_invoice_on_post"]
        else:
            del self.fields["apply_to_invoice_on_post"]
            del self.fields["exclude_from_auto_apply"]

    def service_kwargs(self) -> dict:
        data = self.cleaned_data
        kwargs = {
            "memo_date": data["memo_date"],
            "reason_code": data["reason_code"],
            "comments": data["comments"],
            "tax_auto_calculation": data["tax_auto_calculation"],
            "idempotency_key": data["idempotency_key"] or None,
        }
        for flag in ("apply_to_invoice_on_post", "exclude_from_auto_apply", "auto_pay"):
            if flag in self.fields:
                kwargs[flag] = data[flag]
        return kwargs


class RowFields(dict):
    """A row form's fields, shared by its instances rather than deep-copied for each one as
    Django does: a grid of 1,000 rows would copy every field and widget 1,000 times per request
    (~0.15 ms a row form). Only the fields named in `own` are copied: those an instance changes
    (nothing else may change a shared field: it is every row's, in every thread)."""

    def __init__(self, fields, *, own: tuple[str, ...] = ()):
        super().__init__(fields)
        self.own = own

    def __deepcopy__(self, memo):
        return {
            name: copy.deepcopy(field, memo) if name in self.own else field
            for name, field in self.items()
        }


class MoneyInput(forms.TextInput):
    """Amounts are typed as text (inputmode decimal): the browser never rounds or reformats them."""

    def __init__(self, attrs=None):
        super().__init__(
            attrs={
                "inputmode": "decimal",
                "autocomplete": "off",
                "class": "form-control form-control-sm text-end",
                **(attrs or {}),
            }
        )


def tax_mode(data: dict, auto_tax: bool) -> str:
    """Tax-Included only counts with tax auto-calculation on (the checkbox is hidden otherwise)."""
    return TaxMode.INCLUSIVE if auto_tax and data.get("tax_included") else TaxMode.EXCLUSIVE


def typed_tax(data: dict, auto_tax: bool) -> Decimal | None:
    """A typed tax only counts with tax auto-calculation off (the field is hidden otherwise)."""
    return None if auto_tax else data.get("tax_amount")
