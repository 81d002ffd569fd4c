"""Serializer fields the resources share: numbers read as the UI reads them, money written with
its currency's decimal places."""

from __future__ import annotations

from django import forms
from django.core.exceptions import ValidationError as DjangoValidationError
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from billing.forms import TypedNumberField
from billing.money import format_money


@extend_schema_field({"type": "string", "pattern": r"^-?\d+(\.\d+)?$", "example": "10.00"})
class NumberField(serializers.Field):
    """A number sent as a string (or a JSON number), read by the UI's own form field
    (billing.forms.TypedNumberField: plain digits, no exponent, NaN or Infinity)."""

    def __init__(self, *, column=None, min_value=None, **kwargs):
        self.form_field = TypedNumberField(column=column, min_value=min_value, required=False)
        super().__init__(**kwargs)

    def to_internal_value(self, data):
        if isinstance(data, bool) or not isinstance(data, str | int | float):
            raise serializers.ValidationError('Send a number as a string, e.g. "10.00".')
        try:
            return self.form_field.clean(str(data))
        except (DjangoValidationError, forms.ValidationError) as exc:
            raise serializers.ValidationError(exc.messages) from exc

    def to_representation(self, value):
        return str(value)


@extend_schema_field({"type": "string", "example": "10.00"})
class MoneyField(serializers.Field):
    """An amount as a string with its document's currency decimals ("1234.50", JPY "1234")."""

    def __init__(self, *, currency_from: str = "currency", **kwargs):
        self.currency_from = currency_from
        kwargs["read_only"] = True
        super().__init__(**kwargs)

    def get_attribute(self, instance):
        self._currency = instance
        for part in self.currency_from.split("."):
            self._currency = getattr(self._currency, part)
        return super().get_attribute(instance)

    def to_representation(self, value):
        if value is None:
            return None
        return format_money(value, self._currency).replace(",", "")


@extend_schema_field({"type": "string", "nullable": True})
class NumberOf(serializers.Field):
    """A related document by its number (`account.number`), or null."""

    def __init__(self, **kwargs):
        kwargs["read_only"] = True
        super().__init__(**kwargs)

    def to_representation(self, value):
        return getattr(value, "number", None) if value is not None else None


# The largest id the id columns hold (bigint): a larger one is no such row, not an overflow.
MAX_ID = 2**63 - 1


def IdField(**kwargs) -> serializers.IntegerField:  # noqa: N802 (a field, named as one)
    return serializers.IntegerField(min_value=1, max_value=MAX_ID, **kwargs)
