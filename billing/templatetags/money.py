"""Display filters for figures: `{{ memo.amount|money:memo.currency }}` for money,
`{{ item.unit_price|unit_price:cur }}` for prices with more places, and
`{{ item.quantity|quantity }}`."""

from decimal import Decimal

from django import template

from billing.money import format_money, minor_unit

register = template.Library()


@register.filter
def money(amount, currency):
    return format_money(amount, currency)


@register.filter
def unit_price(price, currency):
    """A unit price with at least the currency's places and as many more as it has:
    1,500.00 and 0.0125 in USD, 432 in JPY (never rounded to the currency, unlike `money`)."""
    if price is None:
        return ""
    value = Decimal(price)
    places = max(minor_unit(currency), -value.normalize().as_tuple().exponent)
    return f"{value:,.{places}f}"


@register.filter
def quantity(value):
    """A quantity without its storage zeros and never in exponent form: 10, 2.5, 1,000."""
    if value is None:
        return ""
    normalized = Decimal(value).normalize()
    places = max(0, -normalized.as_tuple().exponent)
    return f"{normalized:,.{places}f}"
