"""Column types shared by every money-carrying model."""

from functools import partial

from django.db import models

from billing.money import MONEY_COLUMN, MONEY_PLACES, PRICE_COLUMN, QUANTITY_COLUMN


def _decimal_field(column):
    return partial(
        models.DecimalField, max_digits=column.max_digits, decimal_places=column.decimal_places
    )


# Amounts in a document's currency, stored with the precision of the most precise currency;
# the currency's own minor unit is enforced when amounts are typed (billing.money). Typed and
# computed numbers are checked against these columns by billing.money.check_fits.
MoneyField = _decimal_field(MONEY_COLUMN)
# Unit prices and quantities carry more precision than amounts.
PriceField = _decimal_field(PRICE_COLUMN)
QuantityField = _decimal_field(QUANTITY_COLUMN)


def money_sum(*terms):
    """A sum or difference of money columns, rounded to the storage precision.

    SQLite keeps decimals as binary floats, so 11.21 + 1.12 is not 12.33 there; rounding the
    expression to the stored places makes the database's checks and generated columns exact on
    SQLite too, and is a no-op on PostgreSQL's exact numeric. Pass expressions, e.g.
    money_sum(F("amount"), -F("applied_amount")).
    """
    from django.db.models.functions import Round

    total = terms[0]
    for term in terms[1:]:
        total = total + term
    return Round(total, MONEY_PLACES)
