"""Amounts and tax of memo lines: built-in engine, typed tax, or the third-party engine."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

from django.core.exceptions import ValidationError

from billing import tax
from billing.models import BillingSettings, Currency, TaxCode, TaxEngine, TaxMode
from billing.money import MONEY_COLUMN, ZERO, check_fits, minor_unit, round_money, validate_money


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
