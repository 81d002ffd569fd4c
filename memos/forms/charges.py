"""One row per charge line on the from-charges form, the grid of them, and the memo's account.

Rows are plain forms with a prefix per row (`line-<key>`), so charge lines can be added and
removed in the page without renumbering a formset; `ChargeGrid` reads which rows were sent.
"""

from __future__ import annotations

from django import forms
from django.core.exceptions import ValidationError

from billing.forms import TypedNumberField
from billing.models import Account, Charge, ChargeModel
from billing.money import QUANTITY_COLUMN
from memos.forms.common import DateInput, MoneyInput, RowFields
from memos.services import MAX_ITEMS
from memos.services.pricing import charge_quantity, check_unit_price

# The figures the page fills in (the list price, the default service period) until the operator
# types over them: the page keeps their names in each row's hidden `prefilled` field.
PREFILLABLE = ("unit_price", "service_start", "service_end")


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
    # The operator types the unit price (the charge's list price is filled in); the amount is
    # Unit price x Quantity in the currency's places (memos.services.pricing).
    unit_price = TypedNumberField(label="Unit price", widget=MoneyInput())
    # Positive, and for a usage charge said so: checked with the charge in clean().
    quantity = TypedNumberField(
        required=False,
        column=QUANTITY_COLUMN,
        widget=MoneyInput(),
    )
    service_start = forms.DateField(required=False, widget=DateInput())
    service_end = forms.DateField(required=False, widget=DateInput())
    description = forms.CharField(required=False, max_length=500)
    tax_included = forms.BooleanField(label="Tax-Included", required=False)
    tax_amount = TypedNumberField(label="Tax", required=False, widget=MoneyInput())
    prefilled = forms.CharField(required=False, max_length=64, widget=forms.HiddenInput)

    def __init__(self, *args, charges: dict[int, Charge] | None = None, **kwargs):
        kwargs.setdefault("label_suffix", "")  # as InvoiceRowForm
        super().__init__(*args, **kwargs)
        self.fields["charge"].known = charges

    def clean_unit_price(self):
        value = self.cleaned_data["unit_price"]
        return None if value is None else check_unit_price(value)

    def clean_prefilled(self) -> set[str]:
        """Which figures the page filled in (not typed): names it does not fill are ignored."""
        return set(self.cleaned_data["prefilled"].split()) & set(PREFILLABLE)

    def clean(self):
        data = super().clean()
        charge = data.get("charge")
        if charge is not None and "quantity" in data:
            try:  # positive, the usage rule named for a usage charge (as the service says)
                data["quantity"] = charge_quantity(charge, data["quantity"])
            except ValidationError as exc:
                self.add_error("quantity", exc)
        start, end = data.get("service_start"), data.get("service_end")
        if start and end and end < start:
            self.add_error(
                "service_end", "The service end date cannot be before the service start date."
            )
        return data

    def chosen_charge(self) -> Charge | None:
        """The row's charge, also when another of its fields is in error."""
        if not self.is_bound:
            return None
        self.is_valid()  # cleans once
        return self.cleaned_data.get("charge")

    def row_label(self, position: int) -> str:
        """What the row's controls are labelled with: its charge's name, or its position."""
        charge = self.chosen_charge()
        return charge.name if charge is not None else f"line {position}"

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


class LineKeysField(forms.Field):
    """The rows' keys, in the page's order, once each: letters and digits, at most 16, and at
    most one row more than a memo can have (the service says how many are allowed)."""

    widget = forms.MultipleHiddenInput

    def to_python(self, value):
        keys: dict[str, None] = {}
        for raw in (value or [])[: MAX_ITEMS + 1]:
            key = "".join(ch for ch in str(raw) if ch.isalnum())[:16]
            if key:
                keys[key] = None
        return list(keys)


class ChargeGrid(forms.Form):
    """The charge lines a page sent: one ChargeRowForm per `line` key, every row's charge read
    in one query (not one per row form)."""

    line = LineKeysField(required=False)

    def __init__(self, data=None, **kwargs):
        super().__init__(data, **kwargs)
        self.rows: dict[str, ChargeRowForm] = {}
        if data is None:
            return
        keys = self.fields["line"].clean(data.getlist("line"))
        prefixes = {key: f"line-{key}" for key in keys}
        charges = ChargeRowForm.charges_for(data, prefixes.values())
        self.rows = {
            key: ChargeRowForm(data, prefix=prefix, charges=charges)
            for key, prefix in prefixes.items()
        }


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
