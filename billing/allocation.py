"""Splitting an amount over parts whose sum must come out exact (DOMAIN.md section 3).

Proration gives each part its share of `amount` by weight, rounded down to the currency's minor
unit, then hands the leftover units one by one to the parts with the largest remainders (ties:
the earlier part). FIFO fills the parts in order up to each one's capacity.
"""

from __future__ import annotations

from decimal import ROUND_DOWN, Decimal

from billing.money import ZERO, HasMinorUnit, quantum


def prorate(amount: Decimal, weights: list[Decimal], currency: HasMinorUnit | str) -> list[Decimal]:
    """Shares of `amount` proportional to `weights`, summing exactly to `amount`."""
    if amount < 0 or any(w < 0 for w in weights):
        raise ValueError("Proration takes a non-negative amount and weights")
    unit = quantum(currency)
    if amount != amount.quantize(unit):
        # Whole minor units cannot add up to it: the shares would silently lose the excess.
        raise ValueError(f"{amount} is not in the currency's minor unit ({unit})")
    total_weight = sum(weights, ZERO)
    if not weights or total_weight == 0:
        if amount == 0:
            return [ZERO] * len(weights)
        raise ValueError("Nothing to prorate over")
    exact = [amount * w / total_weight for w in weights]
    shares = [e.quantize(unit, rounding=ROUND_DOWN) for e in exact]
    leftover_units = int((amount - sum(shares, ZERO)) / unit)
    by_remainder = sorted(range(len(weights)), key=lambda i: (-(exact[i] - shares[i]), i))
    for i in by_remainder[:leftover_units]:
        shares[i] += unit
    return shares


def fifo(amount: Decimal, capacities: list[Decimal]) -> list[Decimal]:
    """Fill `capacities` in order with `amount`; raises if they cannot hold it all."""
    if amount < 0:
        raise ValueError("FIFO takes a non-negative amount")
    shares = []
    left = amount
    for capacity in capacities:
        take = min(max(capacity, ZERO), left)
        shares.append(take)
        left -= take
    if left > 0:
        raise ValueError("The amount is more than the parts can take")
    return shares
