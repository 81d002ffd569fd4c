"""A standalone memo's line from a catalog charge (DOMAIN.md 2.3): Unit price x Quantity = Amount,
rounded to the currency's places, and the service period the account's billing period, aligned
to its bill cycle day (usage: the last complete period)."""

from __future__ import annotations

import datetime as dt

import pytest

from billing.factories import AccountFactory, ChargeFactory, ChargePriceFactory, currency
from billing.models import BillingPeriod, ChargeModel, ChargeType, TaxMode
from billing.periods import cycle_period_containing, last_complete_cycle_period
from memos.models import MemoType
from memos.services import ChargeLine, create_memo_from_charges
from memos.services.pricing import charge_line_amount, default_service_period, list_prices
from tests.memos.creation_helpers import D, one_error, refused

pytestmark = pytest.mark.django_db

day = dt.date


# --- billing periods on the bill cycle day ------------------------------------------------------


@pytest.mark.parametrize(
    ("on", "cycle_day", "months", "period"),
    [
        # Monthly from the 5th: the 29th of November is in 5 November - 4 December.
        (day(2026, 11, 29), 5, 1, (day(2026, 11, 5), day(2026, 12, 4))),
        # Before the cycle day: the period began the month before.
        (day(2026, 11, 3), 5, 1, (day(2026, 10, 5), day(2026, 11, 4))),
        (day(2026, 11, 5), 5, 1, (day(2026, 11, 5), day(2026, 12, 4))),
        # Cycle day 31: February's period starts on its last day, March's on the 31st again.
        (day(2026, 3, 10), 31, 1, (day(2026, 2, 28), day(2026, 3, 30))),
        (day(2026, 3, 31), 31, 1, (day(2026, 3, 31), day(2026, 4, 29))),
        (day(2028, 2, 29), 31, 1, (day(2028, 2, 29), day(2028, 3, 30))),
        # Quarters start in January, April, July, October on the cycle day.
        (day(2026, 1, 3), 10, 3, (day(2025, 10, 10), day(2026, 1, 9))),
        (day(2026, 5, 20), 10, 3, (day(2026, 4, 10), day(2026, 7, 9))),
        (day(2026, 12, 31), 1, 12, (day(2026, 1, 1), day(2026, 12, 31))),
        (day(2026, 1, 14), 15, 12, (day(2025, 1, 15), day(2026, 1, 14))),
    ],
)
def test_the_billing_period_containing_a_day_starts_on_the_cycle_day(on, cycle_day, months, period):
    assert cycle_period_containing(on, bill_cycle_day=cycle_day, months=months) == period


def test_the_last_complete_period_is_the_one_before_the_current():
    assert last_complete_cycle_period(day(2026, 11, 29), bill_cycle_day=5) == (
        day(2026, 10, 5),
        day(2026, 11, 4),
    )
    # On the cycle day the new period has just begun: the last complete one ended yesterday.
    assert last_complete_cycle_period(day(2026, 11, 5), bill_cycle_day=5) == (
        day(2026, 10, 5),
        day(2026, 11, 4),
    )


@pytest.mark.parametrize(
    ("charge_type", "billing_period", "period"),
    [
        (ChargeType.RECURRING, BillingPeriod.MONTH, (day(2026, 11, 5), day(2026, 12, 4))),
        (ChargeType.RECURRING, BillingPeriod.QUARTER, (day(2026, 10, 5), day(2027, 1, 4))),
        (ChargeType.ONE_TIME, "", (day(2026, 11, 5), day(2026, 12, 4))),
        # Usage is billed for a complete period: the last one.
        (ChargeType.USAGE, "", (day(2026, 10, 5), day(2026, 11, 4))),
    ],
)
def test_a_line_without_service_dates_gets_the_accounts_billing_period(
    charge_type, billing_period, period
):
    acct = AccountFactory(bill_cycle_day=5)
    charge = ChargeFactory(
        charge_type=charge_type, billing_period=billing_period, charge_model=ChargeModel.PER_UNIT
    )
    assert default_service_period(charge, bill_cycle_day=5, day=day(2026, 11, 29)) == period
    memo = create_memo_from_charges(
        account=acct,
        memo_type=MemoType.CREDIT,
        lines=[ChargeLine(charge=charge, unit_price=D("10"))],
        actor=None,
        memo_date=day(2026, 11, 29),
    )
    item = memo.items.get()
    assert (item.service_start, item.service_end) == period


# --- Unit price x Quantity = Amount -----------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "unit_price", "quantity", "amount"),
    [
        ("USD", "0.0125", "3", "0.04"),  # 0.0375 rounds half up
        ("USD", "19.99", "3", "59.97"),
        ("JPY", "33.5", "3", "101"),  # 100.5
        ("KWD", "1.2345", "1", "1.235"),
        ("USD", "0.005", "1", "0.01"),
    ],
)
def test_the_amount_is_unit_price_times_quantity_in_the_currencys_places(
    code, unit_price, quantity, amount
):
    assert charge_line_amount(D(unit_price), D(quantity), currency(code)) == D(amount)
    charge = ChargeFactory(taxable=False, charge_model=ChargeModel.PER_UNIT)
    memo = create_memo_from_charges(
        account=AccountFactory(currency=currency(code)),
        memo_type=MemoType.DEBIT,
        lines=[ChargeLine(charge=charge, unit_price=D(unit_price), quantity=D(quantity))],
        actor=None,
        memo_date=day(2026, 11, 29),
    )
    item = memo.items.get()
    assert item.amount_excl_tax == D(amount) and memo.amount == D(amount)
    # The item keeps the price that was typed, not amount / quantity.
    assert item.unit_price == D(unit_price) and item.quantity == D(quantity)


def test_tax_included_splits_the_product_and_derives_the_unit_price():
    charge = ChargeFactory(charge_model=ChargeModel.PER_UNIT)  # STD 10%
    memo = create_memo_from_charges(
        account=AccountFactory(),
        memo_type=MemoType.CREDIT,
        lines=[
            ChargeLine(charge=charge, unit_price=D("55"), quantity=D(2), tax_mode=TaxMode.INCLUSIVE)
        ],
        actor=None,
        memo_date=day(2026, 11, 29),
    )
    item = memo.items.get()
    assert (item.amount, item.amount_excl_tax, item.tax_amount) == (D(110), D(100), D(10))
    assert item.unit_price == D(50)


@pytest.mark.parametrize(
    ("unit_price", "quantity", "message"),
    [
        ("-5", "1", "Unit price cannot be negative: the memo type gives the direction."),
        ("1.0000001", "1", "Unit price can have at most 6 decimal places."),
        ("0.001", "1", "Amount is 0: a line of 0 is only allowed to correct tax (type the tax)."),
        ("1", "0", "Quantity must be positive."),
    ],
)
def test_a_bad_unit_price_or_quantity_is_refused_beside_its_line(unit_price, quantity, message):
    charge = ChargeFactory()
    with refused() as info:
        create_memo_from_charges(
            account=AccountFactory(),
            memo_type=MemoType.CREDIT,
            lines=[
                ChargeLine(charge=charge, unit_price=D(unit_price), quantity=D(quantity), key="r")
            ],
            actor=None,
            memo_date=day(2026, 11, 29),
        )
    assert one_error(info, "r") == message


def test_a_product_too_large_for_the_amount_column_is_refused():
    with refused() as info:
        create_memo_from_charges(
            account=AccountFactory(),
            memo_type=MemoType.CREDIT,
            lines=[
                ChargeLine(
                    charge=ChargeFactory(taxable=False),
                    unit_price=D("999999999"),
                    quantity=D("100000"),
                    key="r",
                )
            ],
            actor=None,
            memo_date=day(2026, 11, 29),
        )
    assert one_error(info, "r").startswith("Amount (unit price × quantity) ")


def test_an_amount_and_a_unit_price_that_disagree_are_refused():
    with refused() as info:
        create_memo_from_charges(
            account=AccountFactory(),
            memo_type=MemoType.CREDIT,
            lines=[
                ChargeLine(
                    charge=ChargeFactory(),
                    unit_price=D("10"),
                    quantity=D(2),
                    amount=D("25"),
                    key="r",
                )
            ],
            actor=None,
            memo_date=day(2026, 11, 29),
        )
    assert "is not Unit price × Quantity (20.00)" in one_error(info, "r")


def test_list_prices_are_read_in_the_accounts_currency_as_a_size():
    platform = ChargeFactory()
    loyalty = ChargeFactory()
    ChargePriceFactory(charge=platform, currency=currency("USD"), list_price=D("1500"))
    ChargePriceFactory(charge=platform, currency=currency("JPY"), list_price=D("200000"))
    ChargePriceFactory(charge=loyalty, currency=currency("USD"), list_price=D("-10.5"))
    assert list_prices([platform, loyalty], currency("USD")) == {
        platform.pk: D("1500"),
        loyalty.pk: D("10.5"),
    }
    assert list_prices([platform, loyalty], currency("EUR")) == {}
