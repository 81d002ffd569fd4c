"""Money: Decimal only, rounded to the currency's minor unit with one explicit mode.

Every amount in the product goes through this module: `round_money` for computed amounts (tax,
allocations) and `validate_money` for amounts a person typed, which are rejected, never silently
rounded, when they carry more decimals than the currency allows.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Protocol

from django.core.exceptions import ValidationError

ROUNDING = ROUND_HALF_UP

# ISO 4217 minor units of the currencies we bill in; the Currency table is seeded from this.
MINOR_UNITS = {
    "USD": 2,
    "EUR": 2,
    "GBP": 2,
    "CAD": 2,
    "AUD": 2,
    "CHF": 2,
    "JPY": 0,
    "KRW": 0,
    "KWD": 3,
    "BHD": 3,
}

# Storage precision of money columns: enough for the currency with the most decimals (KWD/BHD).
MONEY_DIGITS = 18
MONEY_PLACES = 3
ZERO = Decimal("0")


class HasPrecision(Protocol):
    max_digits: int
    decimal_places: int


@dataclass(frozen=True)
class Column:
    """The precision of a decimal column (what `models.DecimalField` is built with)."""

    max_digits: int
    decimal_places: int


# The numeric columns (billing.models.fields builds its fields from these): amounts, unit prices
# (amount / quantity, so wider) and quantities.
MONEY_COLUMN = Column(MONEY_DIGITS, MONEY_PLACES)
PRICE_COLUMN = Column(22, 6)
QUANTITY_COLUMN = Column(18, 6)

# Digits a decimal column keeps exactly on both databases (see column_limit).
SIGNIFICANT_DIGITS = 15

# What a person may type as a number: ASCII digits, at most one decimal point, a leading sign.
# Decimal() itself also reads "1e3", "NaN", "Infinity", "1_000" and any Unicode digits ("١٢٣",
# "１２３"), none of which is an amount anyone means to type.
_TYPED_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)", re.ASCII)
# Amounts are often copied from a page or a statement with thousands separators: "1,200.50" is
# 1200.50. Commas only between groups of three digits, before any decimal point.
_GROUPED_NUMBER = re.compile(r"[+-]?\d{1,3}(?:,\d{3})+(?:\.\d*)?", re.ASCII)


class HasMinorUnit(Protocol):
    code: str
    minor_unit: int


def minor_unit(currency: HasMinorUnit | str) -> int:
    """Decimals the currency allows (USD 2, JPY 0, KWD 3)."""
    if isinstance(currency, str):
        try:
            return MINOR_UNITS[currency.upper()]
        except KeyError as exc:
            raise ValueError(f"Unknown currency {currency!r}") from exc
    return currency.minor_unit


def currency_code(currency: HasMinorUnit | str) -> str:
    return currency.upper() if isinstance(currency, str) else currency.code


def quantum(currency: HasMinorUnit | str) -> Decimal:
    return Decimal(1).scaleb(-minor_unit(currency))


def to_decimal(value: object) -> Decimal:
    """Decimal from a Decimal, int or string; floats are refused (they are never exact)."""
    if isinstance(value, Decimal):
        return value
    if isinstance(value, float):
        raise TypeError("Money is never a float; pass a Decimal or a string")
    try:
        return Decimal(str(value).strip())
    except (InvalidOperation, ValueError) as exc:
        raise ValidationError("Enter a number.", code="invalid") from exc


def parse_number(raw: object) -> Decimal:
    """The Decimal of a number a person typed, or a ValidationError that says what is wrong.

    Only plain decimal notation is read (see _TYPED_NUMBER); the messages name no field, so they
    read the same beside a form field and in a service's error. Whether the number fits its
    column is `check_fits`'s job.
    """
    if isinstance(raw, Decimal | int) and not isinstance(raw, bool):
        value = Decimal(raw)
        if not value.is_finite():
            raise ValidationError(f"“{raw}” is not a number.", code="not_finite")
        return value
    if not isinstance(raw, str):
        raise ValidationError("Enter a number.", code="invalid")
    text = raw.strip()
    if _TYPED_NUMBER.fullmatch(text):
        return Decimal(text)
    if _GROUPED_NUMBER.fullmatch(text):
        return Decimal(text.replace(",", ""))
    shown = text if len(text) <= 20 else text[:20] + "…"
    if "," in text and _TYPED_NUMBER.fullmatch(text.replace(",", "")):
        raise ValidationError(
            f"“{shown}”: commas may only separate thousands, as in 1,200.50.", code="grouping"
        )
    if any(ch.isdigit() and not ch.isascii() for ch in text):
        raise ValidationError(f"Type “{shown}” with the digits 0-9.", code="invalid_digits")
    try:
        value = Decimal(text)
    except (InvalidOperation, ValueError):
        raise ValidationError("Enter a number.", code="invalid") from None
    if not value.is_finite():
        raise ValidationError(f"“{shown}” is not a number.", code="not_finite")
    if "e" in text.lower():
        raise ValidationError(
            f"Write {shown} in full, without an exponent (e.g. 1000, not 1e3).", code="exponent"
        )
    raise ValidationError("Enter a number.", code="invalid")


def column_limit(column: HasPrecision, places: int | None = None) -> Decimal:
    """The largest value `column` holds exactly with `places` decimals (the column's own, or
    fewer: a currency's minor unit), on every database we run on.

    PostgreSQL holds max_digits digits. SQLite keeps decimals as doubles and Django reads them
    back through a 15-significant-digit context, so there a longer number comes back changed,
    or, at the top of the column, not at all (InvalidOperation on read). Hence at most
    SIGNIFICANT_DIGITS digits in all: 9,999,999,999,999.99 for USD in an 18.3 money column,
    999,999,999,999,999 for JPY, 999,999,999.999999 for an 18.6 quantity.
    """
    places = column.decimal_places if places is None else min(places, column.decimal_places)
    whole = min(column.max_digits - column.decimal_places, SIGNIFICANT_DIGITS - places)
    return Decimal(10) ** whole - Decimal(1).scaleb(-places)


def check_fits(
    value: Decimal, column: HasPrecision, *, places: int | None = None, field: str = ""
) -> Decimal:
    """`value` if its size fits `column` (see column_limit), else a ValidationError that says the
    limit. The one size check of every typed or computed number before it is stored: the
    database would otherwise refuse it (PostgreSQL: numeric field overflow)."""
    if not value.is_finite():
        raise ValidationError(f"{field or 'The value'} must be a number.", code="invalid")
    limit = column_limit(column, places)
    if abs(value) > limit:
        shown = f"{value:,f}" if value.adjusted() < 40 else f"{value:.3E}"
        subject = f"{field} {shown}" if field else shown
        raise ValidationError(
            f"{subject} is too large: at most {limit:,f}.",
            code="too_large",
        )
    return value


def round_money(amount: Decimal | int | str, currency: HasMinorUnit | str) -> Decimal:
    """Round a computed amount to the currency's minor unit, half up."""
    return to_decimal(amount).quantize(quantum(currency), rounding=ROUNDING)


def decimal_places(amount: Decimal) -> int:
    exponent = amount.normalize().as_tuple().exponent
    return max(0, -exponent) if isinstance(exponent, int) else 0


def validate_money(
    amount: Decimal | int | str, currency: HasMinorUnit | str, *, field: str = "Amount"
) -> Decimal:
    """Return the typed amount as a Decimal, or raise if it has more decimals than allowed."""
    if isinstance(amount, float):
        raise TypeError("Money is never a float; pass a Decimal or a string")
    value = parse_number(amount) if isinstance(amount, str) else to_decimal(amount)
    if not value.is_finite():
        raise ValidationError(f"{field} must be a number.", code="invalid")
    places = minor_unit(currency)
    # Wider than the money columns: say so here, instead of an InvalidOperation from quantize()
    # or a database error on save.
    check_fits(value, MONEY_COLUMN, places=places, field=field)
    if decimal_places(value) > places:
        code = currency_code(currency)
        allowed = "no decimals" if places == 0 else f"at most {places} decimal places"
        raise ValidationError(
            f"{field} {value} has too many decimals: {code} amounts allow {allowed}.",
            code="too_many_decimals",
        )
    return value.quantize(quantum(currency))


def format_money(amount: Decimal | None, currency: HasMinorUnit | str) -> str:
    """'1,234.50' for USD, '1,235' for JPY, '1.250' for KWD; the code is shown by the caller."""
    if amount is None:
        return ""
    value = round_money(amount, currency)
    places = minor_unit(currency)
    return f"{value:,.{places}f}"


def money_label(amount: Decimal | None, currency: HasMinorUnit | str) -> str:
    """'USD 1,234.50': a lone figure with its currency, for messages."""
    return f"{currency_code(currency)} {format_money(amount, currency)}"
