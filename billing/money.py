"""Money: Decimal only, rounded to the currency's minor unit with one explicit mode.

Every amount in the product goes through this module: `round_money` for computed amounts (tax,
allocations) and `validate_money` for amounts a person typed, which are rejected, never silently
rounded, when they carry more decimals than the currency allows.
"""

from __future__ import annotations

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
    value = to_decimal(amount)
    if not value.is_finite():
        raise ValidationError(f"{field} must be a number.", code="invalid")
    # Wider than the money columns: say so here, instead of an InvalidOperation from quantize()
    # or a database error on save.
    if value and value.adjusted() >= MONEY_DIGITS - MONEY_PLACES:
        raise ValidationError(f"{field} {value} is too large.", code="too_large")
    places = minor_unit(currency)
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
