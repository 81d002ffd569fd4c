"""The built-in tax engine (DOMAIN.md 2.6): percentage rates by tax code and date.

Exclusive mode adds tax on top of the typed amount; inclusive mode splits the typed amount into
net + tax. Tax is rounded per item, half up, to the currency's minor unit.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db.models import Q

from billing.models import TaxCode, TaxMode, TaxRate
from billing.money import ZERO, HasMinorUnit, round_money

HUNDRED = Decimal(100)


@dataclass(frozen=True)
class TaxedAmount:
    amount_excl_tax: Decimal
    tax_amount: Decimal

    @property
    def amount(self) -> Decimal:
        return self.amount_excl_tax + self.tax_amount


def rate_on(tax_code: TaxCode, day: dt.date) -> Decimal:
    """The tax code's percentage rate in force on `day`."""
    rate = (
        TaxRate.objects.filter(tax_code=tax_code, effective_from__lte=day)
        .filter(Q(effective_to__isnull=True) | Q(effective_to__gte=day))
        .order_by("-effective_from")
        .values_list("rate", flat=True)
        .first()
    )
    if rate is None:
        raise ValidationError(
            f"Tax code {tax_code.code} has no rate in force on {day:%Y-%m-%d}.", code="no_tax_rate"
        )
    return rate


def split_tax(
    amount: Decimal, *, rate: Decimal, mode: str, currency: HasMinorUnit | str
) -> TaxedAmount:
    """Net and tax of one item for an amount typed in `mode` (exclusive or inclusive)."""
    if mode == TaxMode.INCLUSIVE:
        net = round_money(amount * HUNDRED / (HUNDRED + rate), currency)
        return TaxedAmount(amount_excl_tax=net, tax_amount=amount - net)
    return TaxedAmount(
        amount_excl_tax=amount, tax_amount=round_money(amount * rate / HUNDRED, currency)
    )


def calculate(
    amount: Decimal,
    *,
    tax_code: TaxCode | None,
    day: dt.date,
    mode: str,
    currency: HasMinorUnit | str,
) -> TaxedAmount:
    """Tax of one item by the built-in engine; untaxed items (no tax code) have zero tax."""
    if tax_code is None:
        return TaxedAmount(amount_excl_tax=amount, tax_amount=ZERO)
    return split_tax(amount, rate=rate_on(tax_code, day), mode=mode, currency=currency)


class RateBook:
    """Every tax rate in force on one day, read in one query, for work that taxes many items
    (a bill run chunk) and must not query per item."""

    def __init__(self, day: dt.date):
        self.day = day
        self._rates: dict[int, Decimal] | None = None

    def _load(self) -> dict[int, Decimal]:
        rates: dict[int, Decimal] = {}
        in_force = (
            TaxRate.objects.filter(effective_from__lte=self.day)
            .filter(Q(effective_to__isnull=True) | Q(effective_to__gte=self.day))
            .order_by("tax_code_id", "effective_from")
            .values_list("tax_code_id", "rate")
        )
        for tax_code_id, rate in in_force:
            rates[tax_code_id] = rate  # the latest effective_from wins
        return rates

    def calculate(
        self, amount: Decimal, *, tax_code: TaxCode | None, mode: str, currency
    ) -> TaxedAmount:
        if tax_code is None:
            return TaxedAmount(amount_excl_tax=amount, tax_amount=ZERO)
        if self._rates is None:
            self._rates = self._load()
        rate = self._rates.get(tax_code.pk)
        if rate is None:
            raise ValidationError(
                f"Tax code {tax_code.code} has no rate in force on {self.day:%Y-%m-%d}.",
                code="no_tax_rate",
            )
        return split_tax(amount, rate=rate, mode=mode, currency=currency)
