"""Amounts and tax of memo lines: built-in engine, typed tax, or the third-party engine."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

from django.core.exceptions import ValidationError

from billing import tax
from billing.models import (
    BillingPeriod,
    BillingSettings,
    Charge,
    ChargePrice,
    ChargeType,
    Currency,
    TaxCode,
    TaxEngine,
    TaxMode,
)
from billing.money import (
    MONEY_COLUMN,
    PRICE_COLUMN,
    QUANTITY_COLUMN,
    ZERO,
    check_fits,
    decimal_places,
    minor_unit,
    parse_number,
    round_money,
    validate_money,
)
from billing.periods import cycle_period_containing, last_complete_cycle_period

# Unit prices and quantities are stored with 6 decimals (billing.models.fields).
PRICE_PLACES = QUANTITY_PLACES = 6


def taxed_by_third_party_engine(
    tax_auto_calculation: bool, settings: BillingSettings | None = None
) -> bool:
    """Whether a memo with this setting is taxed by the third-party engine (not the built-in).
    `settings`: the billing settings when the caller has read them already."""
    if not tax_auto_calculation:
        return False
    return (settings or BillingSettings.load()).tax_engine == TaxEngine.THIRD_PARTY


@dataclass(frozen=True)
class PricedLine:
    amount_excl_tax: Decimal
    tax_amount: Decimal

    @property
    def amount(self) -> Decimal:
        return self.amount_excl_tax + self.tax_amount


def price_line(
    *,
    amount: Decimal,
    currency: Currency,
    tax_code: TaxCode | None,
    tax_mode: str,
    day: dt.date,
    tax_auto_calculation: bool,
    typed_tax: Decimal | None,
    built_in_tax: bool = True,
    rates: tax.RateBook | None = None,
) -> PricedLine:
    """Net and tax of one line as the built-in engine (or the operator, without auto-calculation)
    makes them. Raises ValidationError with a message for the line.

    `built_in_tax=False` is for lines the third-party engine taxes afterwards: the built-in rates
    are not looked up (the engine's tax codes need none), and the line is the typed amount
    without tax until the engine answers.

    `rates` (a RateBook of `day`) is for callers pricing many lines: the rates are then read once
    for all of them, not once per line."""
    if rates is not None and rates.day != day:
        raise ValueError(f"A RateBook of {rates.day} cannot price a line taxed on {day}")
    if tax_mode not in TaxMode.values:
        raise ValidationError(f"Unknown tax mode {tax_mode!r}.")
    amount = validate_money(amount, currency, field="Amount")
    if amount < 0:
        raise ValidationError("Amount cannot be negative: the memo type gives the direction.")
    if tax_auto_calculation:
        if typed_tax not in (None, ""):
            raise ValidationError(
                "Tax is calculated automatically; clear the tax or turn auto-calculation off."
            )
        if built_in_tax:
            taxed = (
                tax.calculate(amount, tax_code=tax_code, day=day, mode=tax_mode, currency=currency)
                if rates is None
                else rates.calculate(amount, tax_code=tax_code, mode=tax_mode, currency=currency)
            )
            priced = PricedLine(taxed.amount_excl_tax, taxed.tax_amount)
        else:
            priced = PricedLine(amount, ZERO)
    else:
        if tax_mode == TaxMode.INCLUSIVE:
            raise ValidationError("Tax-Included needs tax auto-calculation.")
        tax_amount = (
            ZERO if typed_tax in (None, "") else validate_money(typed_tax, currency, field="Tax")
        )
        if tax_amount < 0:
            raise ValidationError("Tax cannot be negative.")
        priced = PricedLine(amount, tax_amount)
    if priced.amount_excl_tax == 0 and priced.tax_amount == 0:
        raise ValidationError(
            "Amount is 0: a line of 0 is only allowed to correct tax (type the tax)."
        )
    if priced.tax_amount:
        # Each part fits its column; the line's amount with tax must fit too.
        check_fits(
            priced.amount, MONEY_COLUMN, places=minor_unit(currency), field="Amount with tax"
        )
    return priced


def price_invoice_item_line(
    *,
    item_amount: Decimal,
    available=None,
    amount: Decimal,
    tax_mode: str,
    tax_auto_calculation: bool,
    typed_tax: Decimal | None,
    built_in_tax: bool = True,
    **kwargs,
) -> PricedLine:
    """A memo line on an invoice item (DOMAIN.md 2.2), priced as `price_line` prices it, and:

    - a negative invoice item (a discount, a credit) is mirrored by a negative line: typed
      negative, priced on its size, and negated;
    - a credit of the whole rest of an item (`available`: what is left on it, for credit memos)
      takes the rest of its tax, so rounding left over by earlier credits never makes the last
      one exceed the tax left (5.85 credited as 2.93 and 2.93 would be 5.86)."""
    negative = item_amount < 0
    if negative:
        if amount is not None and amount > 0:
            raise ValidationError(
                "This invoice item is negative: its line is negative too (a minus sign)."
            )
        if typed_tax not in (None, "") and typed_tax > 0:
            raise ValidationError("The tax of a negative line is negative too (a minus sign).")
        amount = -amount
        typed_tax = None if typed_tax in (None, "") else -typed_tax
    priced = price_line(
        amount=amount,
        tax_mode=tax_mode,
        tax_auto_calculation=tax_auto_calculation,
        typed_tax=typed_tax,
        built_in_tax=built_in_tax,
        **kwargs,
    )
    if available is not None and tax_auto_calculation and built_in_tax:
        rest_net, rest_tax = abs(available.net), abs(available.tax)
        whole_rest = rest_net + rest_tax if tax_mode == TaxMode.INCLUSIVE else rest_net
        if rest_net and amount == whole_rest:
            places = kwargs["currency"]
            priced = PricedLine(round_money(rest_net, places), round_money(rest_tax, places))
    if negative:
        return PricedLine(-priced.amount_excl_tax, -priced.tax_amount)
    return priced


# --- A line from a catalog charge: Unit price x Quantity = Amount (DOMAIN.md 2.3) -----------------
#
# The operator types the unit price (the charge's list price is filled in) and the quantity; the
# amount is their product rounded to the currency's places, half up, as a bill run prices an
# invoice line. The create page's live preview and the create service both call these, so the
# page shows exactly what the memo will hold.


def charge_quantity(charge: Charge, quantity: Decimal | str | None) -> Decimal:
    """The line's quantity: empty is 1 (for a usage charge too, seeds/000); it must be positive
    and fit its column with at most 6 decimals. Raises ValidationError with the line's message."""
    if quantity in (None, ""):
        return Decimal(1)
    quantity = check_fits(parse_number(quantity), QUANTITY_COLUMN, field="Quantity")
    if decimal_places(quantity) > QUANTITY_PLACES:
        raise ValidationError(f"Quantity can have at most {QUANTITY_PLACES} decimal places.")
    if quantity <= 0:
        raise ValidationError(
            "Quantity of a usage charge must be positive."
            if charge.charge_type == ChargeType.USAGE
            else "Quantity must be positive."
        )
    return quantity


def check_unit_price(unit_price: Decimal | str) -> Decimal:
    """A typed unit price: a number that fits its column with at most 6 decimals, not negative."""
    unit_price = parse_number(unit_price)
    # The column holds 6 decimals, or more whole digits with fewer (see column_limit): a price
    # of 12,000,000,000.50 fits as typed.
    places = min(decimal_places(unit_price), PRICE_PLACES) if unit_price.is_finite() else None
    check_fits(unit_price, PRICE_COLUMN, places=places, field="Unit price")
    if decimal_places(unit_price) > PRICE_PLACES:
        raise ValidationError(f"Unit price can have at most {PRICE_PLACES} decimal places.")
    if unit_price < 0:
        raise ValidationError("Unit price cannot be negative: the memo type gives the direction.")
    return unit_price


def charge_line_amount(
    unit_price: Decimal | str | None, quantity: Decimal, currency: Currency
) -> Decimal:
    """Unit price x Quantity, rounded to the currency's places (ROUND_HALF_UP). The unit price
    may carry up to 6 decimals (a per-unit list price such as 0.0125); it is never negative: the
    memo type gives the direction."""
    if unit_price in (None, ""):
        raise ValidationError("Type the unit price.")
    amount = round_money(check_unit_price(unit_price) * quantity, currency)
    return check_fits(
        amount, MONEY_COLUMN, places=minor_unit(currency), field="Amount (unit price × quantity)"
    )


def list_prices(charges, currency: Currency) -> dict[int, Decimal]:
    """Each charge's list price in `currency` (one query for all of them), by charge id. What
    the create page fills in as the unit price: a credit charge's negative price as its size,
    since a memo line is never negative (the memo type gives the direction)."""
    ids = {charge.pk if isinstance(charge, Charge) else int(charge) for charge in charges}
    if not ids:
        return {}
    rows = ChargePrice.objects.filter(charge_id__in=ids, currency=currency).values_list(
        "charge_id", "list_price"
    )
    # As typed: 1500 and 0.0125, not the column's 1500.000000 (nor normalize()'s 1.5E+3).
    return {charge_id: Decimal(f"{abs(price).normalize():f}") for charge_id, price in rows}


def default_service_period(
    charge: Charge, *, bill_cycle_day: int, day: dt.date
) -> tuple[dt.date, dt.date]:
    """The service period a line gets when the operator types none: the account's billing
    period containing `day` (the memo date), starting on its bill cycle day. A recurring charge's
    period is its own length (month, quarter, year); a usage charge's is the last complete month,
    the one its usage was recorded in; a one-time charge's is the account's current month.
    Raises ValueError or OverflowError for a period past the calendar."""
    if charge.charge_type == ChargeType.USAGE:
        return last_complete_cycle_period(day, bill_cycle_day=bill_cycle_day)
    months = 1
    if charge.charge_type == ChargeType.RECURRING:
        months = BillingPeriod(charge.billing_period).months
    return cycle_period_containing(day, bill_cycle_day=bill_cycle_day, months=months)
