"""billing.allocation: proration by largest remainder and FIFO (DOMAIN.md sections 1 and 3).

Both must split an amount so the parts add up to it exactly, in the currency's minor unit.
"""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from billing.allocation import fifo, prorate
from billing.money import MINOR_UNITS, quantum

D = Decimal


def decimals(*values: str) -> list[Decimal]:
    return [D(v) for v in values]


# --- prorate ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "amount", "expected"),
    [
        ("USD", "100", ["33.34", "33.33", "33.33"]),
        ("JPY", "100", ["34", "33", "33"]),
        ("KWD", "1", ["0.334", "0.333", "0.333"]),
        ("USD", "0.02", ["0.01", "0.01", "0.00"]),
        ("USD", "0.01", ["0.01", "0.00", "0.00"]),
    ],
)
def test_equal_weights_share_the_leftover_units_from_the_first_part(code, amount, expected):
    shares = prorate(D(amount), decimals("50", "50", "50"), code)
    assert shares == decimals(*expected)
    assert sum(shares) == D(amount)
    assert all(share == share.quantize(quantum(code)) for share in shares)


def test_leftover_units_go_to_the_largest_remainders_not_to_the_first_parts():
    # Exact shares: 10 * (1, 2, 4) / 7 = 1.428..., 2.857..., 5.714...: floors 1.42, 2.85, 5.71
    # (sum 9.98), remainders 0.0086, 0.0071, 0.0043: the two cents go to the first two parts.
    assert prorate(D("10"), decimals("1", "2", "4"), "USD") == decimals("1.43", "2.86", "5.71")
    # Weights reversed: the remainders follow their parts.
    assert prorate(D("10"), decimals("4", "2", "1"), "USD") == decimals("5.71", "2.86", "1.43")
    # 100 over (1, 1, 1, 3): exact 16.666..., 16.666..., 16.666..., 50: the 50 takes no unit.
    assert prorate(D("100"), decimals("1", "1", "1", "3"), "USD") == decimals(
        "16.67", "16.67", "16.66", "50.00"
    )


def test_ties_go_to_the_earlier_part():
    assert prorate(D("0.01"), decimals("1", "1"), "USD") == decimals("0.01", "0")
    assert prorate(D("1"), decimals("5", "5"), "JPY") == decimals("1", "0")


def test_exact_shares_need_no_leftover():
    assert prorate(D("90"), decimals("10", "20", "60"), "USD") == decimals("10", "20", "60")
    assert prorate(D("150"), decimals("50", "50", "50"), "USD") == decimals("50", "50", "50")


def test_weights_need_not_be_in_the_currency_unit():
    assert prorate(D("10"), decimals("0.5", "1.5"), "USD") == decimals("2.50", "7.50")


def test_a_zero_weight_gets_nothing():
    assert prorate(D("100"), decimals("0", "50", "0", "50"), "USD") == decimals(
        "0", "50", "0", "50"
    )
    # Even when leftover units are handed out.
    assert prorate(D("0.03"), decimals("0", "1", "1", "0"), "USD") == decimals(
        "0", "0.02", "0.01", "0"
    )


def test_zero_amount_gives_zero_shares():
    assert prorate(D("0"), decimals("1", "2"), "USD") == decimals("0", "0")


def test_zero_amount_over_nothing_is_nothing():
    assert prorate(D("0"), [], "USD") == []
    assert prorate(D("0"), decimals("0", "0"), "USD") == decimals("0", "0")


def test_a_single_part_takes_it_all():
    assert prorate(D("12.34"), decimals("1"), "USD") == decimals("12.34")


def test_the_currency_may_be_a_model_or_a_code(db):
    from billing.factories import currency

    assert prorate(D("100"), decimals("1", "1", "1"), currency("JPY")) == decimals("34", "33", "33")


@pytest.mark.parametrize(
    ("amount", "weights", "message"),
    [
        ("10", [], "Nothing to prorate over"),
        ("10", ["0", "0"], "Nothing to prorate over"),
        ("-1", ["1"], "non-negative"),
        ("10", ["1", "-1", "5"], "non-negative"),
        # More decimals than the currency allows: it cannot be split into whole minor units.
        ("0.005", ["1", "1"], "minor unit"),
        ("10.001", ["1"], "minor unit"),
    ],
)
def test_impossible_prorations_raise_value_error(amount, weights, message):
    with pytest.raises(ValueError, match=message):
        prorate(D(amount), decimals(*weights), "USD")


def test_an_amount_in_the_minor_unit_of_a_three_decimal_currency_is_fine():
    assert prorate(D("0.005"), decimals("1", "1"), "KWD") == decimals("0.003", "0.002")


def test_an_unknown_currency_code_raises_value_error():
    with pytest.raises(ValueError, match="Unknown currency"):
        prorate(D("10"), decimals("1"), "XXX")


# --- fifo ---------------------------------------------------------------------------------------


def test_fifo_fills_the_parts_in_order():
    assert fifo(D("70"), decimals("30", "30", "30")) == decimals("30", "30", "10")
    assert fifo(D("30"), decimals("30", "30")) == decimals("30", "0")
    assert fifo(D("90"), decimals("30", "30", "30")) == decimals("30", "30", "30")


def test_fifo_of_zero_is_all_zeros():
    assert fifo(D("0"), decimals("5", "5")) == decimals("0", "0")
    assert fifo(D("0"), []) == []


def test_fifo_skips_empty_and_negative_capacities():
    assert fifo(D("15"), decimals("0", "-5", "10", "10")) == decimals("0", "0", "10", "5")


def test_fifo_keeps_the_amounts_decimals():
    shares = fifo(D("0.334"), decimals("0.200", "0.500"))
    assert shares == decimals("0.2", "0.134")
    assert sum(shares) == D("0.334")


@pytest.mark.parametrize(
    ("amount", "capacities"),
    [("10.01", ["5", "5"]), ("1", []), ("1", ["0", "-3"])],
)
def test_fifo_raises_when_the_parts_cannot_hold_the_amount(amount, capacities):
    with pytest.raises(ValueError, match="more than the parts can take"):
        fifo(D(amount), decimals(*capacities))


def test_fifo_refuses_a_negative_amount():
    with pytest.raises(ValueError, match="non-negative"):
        fifo(D("-1"), decimals("5"))


# --- properties ---------------------------------------------------------------------------------

CODES = sorted(MINOR_UNITS)
# Up to the money columns' 15 integer digits, in minor units.
MAX_UNITS = 10**15


@st.composite
def prorations(draw):
    code = draw(st.sampled_from(CODES))
    unit = quantum(code)
    amount = draw(st.integers(min_value=0, max_value=MAX_UNITS)) * unit
    weight = st.one_of(
        st.integers(min_value=0, max_value=10),
        st.integers(min_value=0, max_value=MAX_UNITS),
    ).map(lambda n: n * unit)
    weights = draw(st.lists(weight, min_size=1, max_size=25).filter(lambda ws: sum(ws) > 0))
    return code, amount, weights


@settings(max_examples=400, deadline=None)
@given(prorations())
@example(("USD", D("100.00"), decimals("50", "50", "50")))
@example(("JPY", D("1"), decimals("1", "1", "1")))
@example(("USD", D("9999999999999.99"), decimals("999999999999999.99", "0.01", "0.01")))
def test_prorate_always_sums_to_the_amount_and_stays_within_a_unit_of_exact(case):
    code, amount, weights = case
    unit = quantum(code)
    shares = prorate(amount, weights, code)
    assert len(shares) == len(weights)
    assert sum(shares) == amount
    total = sum(Fraction(w) for w in weights)
    for share, weight in zip(shares, weights, strict=True):
        assert share >= 0
        assert share == share.quantize(unit)
        exact = Fraction(amount) * Fraction(weight) / total
        assert abs(Fraction(share) - exact) < Fraction(unit)
        if weight == 0:
            assert share == 0
        # Rounded down or up from the exact share, never further.
        assert Fraction(share) <= exact + Fraction(unit)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.integers(min_value=0, max_value=10**6), min_size=1, max_size=20),
    st.data(),
)
def test_prorate_never_gives_a_part_more_than_its_weight_when_the_amount_fits(units, data):
    """What the settlement relies on: prorating at most the sum of the balances over the
    balances never puts more on an item than its balance."""
    unit = quantum("USD")
    weights = [n * unit for n in units]
    total_units = sum(units)
    amount = data.draw(st.integers(min_value=0, max_value=total_units)) * unit
    if total_units == 0:
        return
    shares = prorate(amount, weights, "USD")
    assert sum(shares) == amount
    assert all(0 <= s <= w for s, w in zip(shares, weights, strict=True))


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.integers(min_value=-100, max_value=10**6), max_size=20),
    st.data(),
)
def test_fifo_fills_each_part_before_the_next(capacities, data):
    room = sum(max(c, 0) for c in capacities)
    amount = D(data.draw(st.integers(min_value=0, max_value=room)))
    shares = fifo(amount, [D(c) for c in capacities])
    assert sum(shares) == amount
    for index, (share, capacity) in enumerate(zip(shares, capacities, strict=True)):
        assert 0 <= share <= max(capacity, 0)
        if share < max(capacity, 0):
            # A part left not full: nothing went to any later part.
            assert all(s == 0 for s in shares[index + 1 :])
