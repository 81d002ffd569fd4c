"""Forms of the settlement pages: refund (and the apply grid)."""

from __future__ import annotations

from django import forms

from billing.forms import TypedNumberField
from memos.forms.common import DateInput
from memos.models import ReasonCode, RefundMethod


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
