"""The credit insight's filters (DOMAIN.md 8): a period of whole months, a currency, a batch."""

from __future__ import annotations

import datetime as dt

from django import forms
from django.utils import timezone

from billing.models import Currency, batch_choices
from memos.insight import InsightFilter, month_end

MONTH_FORMAT = "%Y-%m"
MAX_MONTHS = 120


class MonthInput(forms.DateInput):
    input_type = "month"

    def __init__(self, attrs=None):
        super().__init__(attrs=attrs, format=MONTH_FORMAT)


class InsightFilterForm(forms.Form):
    start = forms.DateField(label="From month", input_formats=[MONTH_FORMAT], widget=MonthInput())
    end = forms.DateField(label="To month", input_formats=[MONTH_FORMAT], widget=MonthInput())
    currency = forms.ModelChoiceField(
        label="Currency", queryset=Currency.objects.order_by("code"), to_field_name="code"
    )
    batch = forms.ChoiceField(
        label="Batch", choices=[("", "Any batch"), *batch_choices()], required=False
    )

    @classmethod
    def initial_for(cls, today: dt.date) -> dict:
        """The last twelve months, this one included, in USD (else the first currency)."""
        end = today.replace(day=1)
        start = (end - dt.timedelta(days=335)).replace(day=1)
        currency = Currency.objects.filter(code="USD").first() or Currency.objects.first()
        return {"start": start, "end": end, "currency": currency, "batch": ""}

    def clean(self):
        data = super().clean()
        start, end = data.get("start"), data.get("end")
        if start and end:
            if start > end:
                self.add_error("end", "The last month is before the first one.")
            elif (end.year - start.year) * 12 + end.month - start.month >= MAX_MONTHS:
                self.add_error("end", f"At most {MAX_MONTHS} months at a time.")
        return data

    def insight_filter(self) -> InsightFilter:
        data = self.cleaned_data
        return InsightFilter(
            start=data["start"].replace(day=1),
            end=month_end(data["end"]),
            currency=data["currency"],
            batch=data.get("batch") or "",
        )


def insight_form(query) -> InsightFilterForm:
    """The filters of a query (the page's GET, the API's query parameters), with the defaults
    (InsightFilterForm.initial_for) where it has none."""
    initial = InsightFilterForm.initial_for(timezone.localdate())
    data = {
        "start": f"{initial['start']:%Y-%m}",
        "end": f"{initial['end']:%Y-%m}",
        "currency": getattr(initial["currency"], "pk", ""),
        "batch": "",
    }
    data.update({key: value for key, value in query.items() if key in data and value})
    return InsightFilterForm(data)
