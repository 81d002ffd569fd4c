"""Forms of the settlement pages: refund, and the apply grid (one row form per open document,
under a form for the effective date that checks the rows together)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

from django import forms
from django.core.exceptions import ValidationError

from billing.forms import TypedNumberField
from billing.models import Invoice
from billing.money import MONEY_COLUMN, ZERO, check_fits, format_money, quantum, validate_money
from memos.forms.common import DateInput, RowFields
from memos.models import ReasonCode, RefundMethod
from memos.services.settlement import ApplicationTarget, more_than_balance, over_applied


class RefundForm(forms.Form):
    amount = TypedNumberField(label="Refund amount")
    method = forms.ChoiceField(label="Method", choices=RefundMethod.choices)
    refund_date = forms.DateField(label="Refund date", widget=DateInput())
    reason_code = forms.ModelChoiceField(
        label="Reason Code",
        queryset=ReasonCode.objects.filter(code_type="refund", active=True),
        empty_label=None,
    )
    comment = forms.CharField(
        label="Comment", required=False, widget=forms.Textarea(attrs={"rows": 2})
    )


# --- the apply grid ------------------------------------------------------------------------------


@dataclass
class OpenDocument:
    """A row of the apply page: an open invoice or debit memo of the credit memo's account.
    `key` names its inputs (`invoice-<id>-amount`, `debit-<id>-item-<item id>`); `date` is what
    the rows are ordered by (an invoice's due date, a debit memo's memo date)."""

    key: str
    doc: object
    kind: str
    date: dt.date
    items: list

    def matches(self, terms: list[str], currency) -> bool:
        """Every term of a search is found in the number, the date or an amount (as shown,
        "1,200.50", or as typed, "1200.50")."""
        amounts = (self.doc.amount, self.doc.balance)
        haystack = " ".join(
            [
                self.doc.number,
                self.date.isoformat(),
                *(format_money(a, currency) for a in amounts),
                *(format_money(a, currency).replace(",", "") for a in amounts),
            ]
        ).lower()
        return all(term in haystack for term in terms)


# An item's input, shared by every row form (RowFields: nothing changes it once built).
ITEM_AMOUNT = TypedNumberField(required=False)


class ApplyRowForm(forms.Form):
    """One open document: an amount for the whole document, or amounts per item (which then
    replace it). Checked against the balances as read; the service checks them again under its
    locks. `counted` is what the row adds to the running total (what parses and fits, even when
    refused, so that "Unapplied after" follows what is typed)."""

    amount = TypedNumberField(required=False)

    def __init__(self, data, *, row: OpenDocument, currency):
        super().__init__(data, prefix=row.key, label_suffix="")
        self.row, self.currency = row, currency
        for item in row.items:
            self.fields[f"item-{item.pk}"] = ITEM_AMOUNT
        self.counted = ZERO
        self.amount = None  # the header amount (None when items are given or nothing is)
        self.item_amounts: dict[int, Decimal] = {}

    @property
    def typed(self) -> str:
        return self.data.get(self.add_prefix("amount"), "") if self.is_bound else ""

    @property
    def typed_items(self) -> dict[int, str]:
        if not self.is_bound:
            return {}
        return {
            item.pk: self.data.get(self.add_prefix(f"item-{item.pk}"), "")
            for item in self.row.items
        }

    @property
    def messages(self) -> list[str]:
        """Every error of the row, shown under it (what is typed is not checked until bound)."""
        return [message for errors in self.errors.values() for message in errors]

    @property
    def chosen(self) -> bool:
        """Something was typed that the service is to apply."""
        return self.amount is not None or bool(self.item_amounts)

    def clean(self):
        data = super().clean()
        items = {
            item: data[f"item-{item.pk}"]
            for item in self.row.items
            if data.get(f"item-{item.pk}") is not None
        }
        header = data.get("amount")
        self.counted = self._count([*items.values()] if items else [header])
        if self.errors or (header is None and not items):
            return data
        if items:
            self.item_amounts = self._check_items(items)
        else:
            self.amount = self._check_amount(header)
        return data

    def _count(self, values) -> Decimal:
        # Wider than the money columns adds nothing (summing it could raise instead).
        total = ZERO
        for value in (v for v in values if v is not None):
            try:
                total += max(check_fits(value, MONEY_COLUMN, places=self.currency.minor_unit), ZERO)
            except ValidationError:
                continue
        return total

    def _check_amount(self, value: Decimal) -> Decimal:
        value = validate_money(value, self.currency)
        if value <= 0:
            raise ValidationError("Enter an amount greater than zero.")
        if value > self.row.doc.balance:
            raise ValidationError(more_than_balance(self.row.doc, self.currency))
        return value

    def _check_items(self, items: dict) -> dict[int, Decimal]:
        amounts = {}
        for item, raw in items.items():
            value = validate_money(raw, self.currency)
            if value < 0 or value > item.balance:
                raise ValidationError(
                    f"{item.charge_name} on {self.row.doc.number}: at most "
                    f"{format_money(item.balance, self.currency)} can be applied."
                )
            if value:
                amounts[item.pk] = value
        if not amounts:
            raise ValidationError("Enter an amount greater than zero.")
        return amounts


ApplyRowForm.base_fields = RowFields(ApplyRowForm.base_fields)


class ApplyForm(forms.Form):
    """The apply page: the effective date and a row form per open document, checked together:
    at least one amount, and in all no more than the memo's unapplied amount (that error is the
    total's, shown beside it: `total_errors`)."""

    effective_date = forms.DateField(
        label="Effective date",
        widget=DateInput(),
        error_messages={"required": "Enter the effective date."},
    )

    def __init__(self, data=None, *, memo, rows: list[OpenDocument], **kwargs):
        super().__init__(data, **kwargs)
        self.memo, self.currency = memo, memo.currency
        self.rows = [ApplyRowForm(data, row=row, currency=memo.currency) for row in rows]
        self.total_errors: list[str] = []
        self.fields["effective_date"].widget.attrs["min"] = memo.memo_date.isoformat()

    @property
    def effective_value(self) -> str:
        """The effective date as its input shows it: as typed, or the initial date."""
        value = self["effective_date"].value()
        return value.isoformat() if isinstance(value, dt.date) else (value or "")

    def row(self, key: str) -> ApplyRowForm | None:
        return next((form for form in self.rows if form.row.key == key), None)

    @property
    def total(self) -> Decimal:
        return sum((form.counted for form in self.rows), ZERO)

    @property
    def remaining(self) -> Decimal:
        """The unapplied amount after what is typed: never below zero (the excess is an error)."""
        return max(self.memo.unapplied_amount - self.total, ZERO)

    @property
    def over(self) -> bool:
        return self.total > self.memo.unapplied_amount

    def full_clean(self):
        super().full_clean()
        if not self.is_bound:
            return
        rows_valid = all([form.is_valid() for form in self.rows])
        if self.over:
            self.total_errors = [over_applied(self.total, self.memo)]
        elif rows_valid and not any(form.chosen for form in self.rows):
            self.add_error(None, "Enter an amount for at least one invoice or debit memo.")
        self.rows_valid = rows_valid

    def is_valid(self) -> bool:
        return super().is_valid() and self.rows_valid and not self.total_errors

    def targets(self) -> list[ApplicationTarget]:
        """The service's targets: the rows with an amount (once the form is valid)."""
        return [
            ApplicationTarget(
                invoice=form.row.doc if isinstance(form.row.doc, Invoice) else None,
                debit_memo=None if isinstance(form.row.doc, Invoice) else form.row.doc,
                amount=form.amount,
                item_amounts=form.item_amounts,
                key=form.row.key,
            )
            for form in self.rows
            if form.chosen
        ]

    def max_for(self, key: str) -> Decimal:
        """Apply max: the lesser of the row's balance and what the other rows leave of the
        unapplied amount (never below zero), in the currency's places."""
        others = sum((form.counted for form in self.rows if form.row.key != key), ZERO)
        row = self.row(key)
        left = max(self.memo.unapplied_amount - others, ZERO)
        return min(row.row.doc.balance, left).quantize(quantum(self.currency))

    def filled_to_max(self, key: str) -> ApplyForm:
        """This form with the row `key` filled by Apply max (max_for), its item amounts cleared:
        they would replace the figure."""
        row = self.row(key)
        data = self.data.copy()
        data[row.add_prefix("amount")] = money_value(self.max_for(key), self.currency)
        for item in row.row.items:
            data[row.add_prefix(f"item-{item.pk}")] = ""
        return ApplyForm(data, memo=self.memo, rows=[form.row for form in self.rows])

    def shown_rows(self, query: str) -> list[ApplyRowForm]:
        """The rows a search leaves: those matching every word of `query`, and those with an
        amount typed (so that nothing typed is out of sight)."""
        terms = query.lower().split()
        return [
            form
            for form in self.rows
            if not terms
            or form.typed
            or any(form.typed_items.values())
            or form.row.matches(terms, self.currency)
        ]

    def add_service_errors(self, exc: ValidationError) -> None:
        """Put the service's refusal where it belongs: beside a row, the date or the total."""
        errors = exc.error_dict if hasattr(exc, "error_dict") else {"__all__": exc.error_list}
        for key, messages in errors.items():
            for error in messages:
                text = " ".join(error.messages)
                if error.code == "over_applied":
                    self.total_errors.append(text)
                elif key == "effective_date":
                    self.add_error("effective_date", text)
                elif (row := self.row(key)) is not None:
                    row.add_error(None, text)
                else:
                    self.add_error(None, text)


def money_value(amount: Decimal, currency) -> str:
    """An amount as an input's value: no thousands separators, the currency's places."""
    return f"{amount.quantize(quantum(currency)):f}"
