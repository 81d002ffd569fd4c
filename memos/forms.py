"""Forms of the memo pages: the header, one row per invoice item, one row per charge line.

Rows are plain forms with a prefix per row (`item-<invoice item id>`, `line-<key>`), so charge
lines can be added and removed in the page without renumbering a formset.
"""

from __future__ import annotations

import copy
import uuid

from django import forms
from django.utils import timezone

from billing.forms import TypedNumberField
from billing.models import Account, Charge, ChargeModel
from billing.money import QUANTITY_COLUMN
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
