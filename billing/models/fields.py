"""Column types shared by every money-carrying model."""

from functools import partial

from django.db import models

from billing.money import MONEY_DIGITS, MONEY_PLACES

# Amounts in a document's currency, stored with the precision of the most precise currency;
# the currency's own minor unit is enforced when amounts are typed (billing.money).
MoneyField = partial(models.DecimalField, max_digits=MONEY_DIGITS, decimal_places=MONEY_PLACES)
# Unit prices and quantities carry more precision than amounts.
PriceField = partial(models.DecimalField, max_digits=22, decimal_places=6)
QuantityField = partial(models.DecimalField, max_digits=18, decimal_places=6)
