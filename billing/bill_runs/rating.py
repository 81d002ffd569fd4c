"""What a subscription charge owes up to a bill run's target date. Pure: no queries, so a chunk
rates thousands of charges from what it has already read."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

from billing.models import BillingPeriod, ChargeModel, ChargeType, SubscriptionCharge, TaxCode
from billing.money import round_money
from billing.periods import add_months

ONE_DAY = dt.timedelta(days=1)
# A charge years behind is billed period by period; this bounds one run's catch-up per charge.
MAX_PERIODS_PER_RUN = 120


@dataclass(frozen=True)
class UsageTotal:
    """Unbilled usage of one usage charge up to the target date."""

    quantity: Decimal
    first_day: dt.date
    last_day: dt.date
    records: int


@dataclass
class DueLine:
    """One billed charge period, as the account owes it (negative for credits)."""

    sub_charge: SubscriptionCharge
    period_start: dt.date  # the BilledPeriod this line records
    period_end: dt.date
    service_start: dt.date
    service_end: dt.date
    quantity: Decimal
    unit_price: Decimal
    amount_excl_tax: Decimal
    tax_amount: Decimal
    tax_code: TaxCode | None
    description: str

    @property
    def amount(self) -> Decimal:
        return self.amount_excl_tax + self.tax_amount

    @property
    def is_credit(self) -> bool:
        """A credit charge: priced below zero, or a discount (rule 4 moves its zero lines too)."""
        return self.unit_price < 0 or self.sub_charge.charge.charge_model == ChargeModel.DISCOUNT


@dataclass(frozen=True)
class Rated:
    lines: list[DueLine]
    charged_through: dt.date | None  # the charge's new charged-through date; None: unchanged


def billing_start(sc: SubscriptionCharge) -> dt.date:
    """The first day not yet billed."""
    return max(sc.charged_through_date or sc.start_date, sc.start_date)


def effective_end(sc: SubscriptionCharge) -> dt.date | None:
    """The last billable day: the charge's or its subscription's end, whichever comes first."""
    ends = [d for d in (sc.end_date, sc.subscription.end_date) if d is not None]
    return min(ends) if ends else None


def rate_charge(
    sc: SubscriptionCharge,
    *,
    target_date: dt.date,
    usage: UsageTotal | None,
    tax,
    currency,
) -> Rated:
    """Every line `sc` owes up to `target_date`. `tax` is a billing.tax.RateBook. `sc` is a
    SubscriptionCharge or anything with the same attributes (a bill-run chunk passes its
    billing.bill_runs.chunk.DueCharge: plain values read without model instances)."""
    charge = sc.charge
    if charge.charge_type == ChargeType.RECURRING:
        periods = _recurring_periods(sc, target_date)
        lines = [
            _line(sc, start, end, start, end, sc.quantity, factor, tax, currency, note)
            for start, end, factor, note in periods
        ]
        return Rated(lines, periods[-1][1] + ONE_DAY if periods else None)
    start = billing_start(sc)
    if charge.charge_type == ChargeType.ONE_TIME:
        if start > sc.start_date or sc.start_date > target_date:
            return Rated([], None)  # billed already, or not yet started
        day = sc.start_date
        return Rated(
            [_line(sc, day, day, day, day, sc.quantity, 1, tax, currency, "")], day + ONE_DAY
        )
    # Usage: what was recorded and not billed, for the period from the charged-through date.
    if usage is None or start > target_date:
        return Rated([], None)
    note = f"{usage.records} usage record{'s' if usage.records != 1 else ''}"
    line = _line(
        sc,
        start,
        target_date,
        usage.first_day,
        usage.last_day,
        usage.quantity,
        1,
        tax,
        currency,
        note,
    )
    return Rated([line], target_date + ONE_DAY)


def _recurring_periods(sc: SubscriptionCharge, target_date: dt.date):
    """(start, end, proration factor, note) of each period starting on or before the target
    date and not yet billed. Periods are counted from the charge's start date (billing in
    advance); a period billed only in part (the charge ends inside it, or it was partly billed
    before) is prorated by days."""
    months = BillingPeriod(sc.charge.billing_period).months
    first_unbilled = billing_start(sc)
    end = effective_end(sc)
    periods = []
    n = 0
    while len(periods) < MAX_PERIODS_PER_RUN:
        full_start = add_months(sc.start_date, n * months)
        n += 1
        full_end = add_months(sc.start_date, n * months) - ONE_DAY
        if full_end < first_unbilled:
            continue  # billed already
        # A period billed in part (the charge's end was extended, or its dates moved) is
        # billed from the charged-through date on, never from its start again.
        start = max(full_start, first_unbilled)
        if start > target_date or (end is not None and start > end):
            break
        period_end = min(full_end, end) if end is not None else full_end
        factor, note = Decimal(1), ""
        if (start, period_end) != (full_start, full_end):
            factor = Decimal((period_end - start).days + 1) / Decimal(
                (full_end - full_start).days + 1
            )
            note = f"prorated {start:%Y-%m-%d} to {period_end:%Y-%m-%d}"
        periods.append((start, period_end, factor, note))
    return periods


def _line(
    sc, period_start, period_end, service_start, service_end, quantity, factor, tax, currency, note
) -> DueLine:
    charge = sc.charge
    amount = round_money(quantity * sc.price * factor, currency)
    tax_code = charge.tax_code if charge.taxable else None
    taxed = tax.calculate(amount, tax_code=tax_code, mode="exclusive", currency=currency)
    description = f"Subscription {sc.subscription.number}" + (f", {note}" if note else "")
    return DueLine(
        sub_charge=sc,
        period_start=period_start,
        period_end=period_end,
        service_start=service_start,
        service_end=service_end,
        quantity=quantity,
        unit_price=sc.price,
        amount_excl_tax=taxed.amount_excl_tax,
        tax_amount=taxed.tax_amount,
        tax_code=tax_code,
        description=description,
    )
