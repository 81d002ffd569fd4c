"""Money (DOMAIN.md section 1, DESIGN.md rule 5): Decimal only, rounded half up to the currency's
minor unit by one helper, typed amounts rejected (not rounded) when too precise, one display
filter; and the built-in tax split (DOMAIN.md 2.6)."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.template import Context, Template
from hypothesis import given
from hypothesis import strategies as st

from billing.models import Currency, TaxMode
from billing.money import (
    MINOR_UNITS,
    format_money,
    minor_unit,
    round_money,
    validate_money,
)
from billing.tax import split_tax

D = Decimal


@pytest.mark.parametrize(
    ("amount", "code", "expected"),
    [
        ("1.005", "USD", "1.01"),
        ("2.675", "USD", "2.68"),
        ("-1.005", "USD", "-1.01"),
        ("1.004", "USD", "1.00"),
        ("-2.675", "USD", "-2.68"),
        ("0.5", "JPY", "1"),
        ("1234.5", "JPY", "1235"),
        ("-0.5", "JPY", "-1"),
        ("1234.49", "JPY", "1234"),
        ("1.0005", "KWD", "1.001"),
        ("1.0004", "KWD", "1.000"),
        ("2.5", "KWD", "2.500"),
        ("7", "EUR", "7.00"),
    ],
)
def test_round_money_is_half_up_to_the_minor_unit(amount, code, expected):
    rounded = round_money(D(amount), code)
    assert rounded == D(expected)
    assert str(rounded) == expected  # exactly the currency's places, no more, no fewer
    assert round_money(amount, code) == rounded  # a string is read exactly too


def test_round_money_accepts_a_currency_row():
    kwd = Currency(code="KWD", name="Kuwaiti Dinar", minor_unit=3)
    assert str(round_money(D("1.0005"), kwd)) == "1.001"
    assert minor_unit(kwd) == 3
    assert minor_unit("jpy") == 0


def test_unknown_currency_is_an_error():
    with pytest.raises(ValueError, match="XYZ"):
        round_money(D("1"), "XYZ")


@pytest.mark.parametrize(
    ("amount", "code", "places_message"),
    [
        ("1.234", "USD", "USD amounts allow at most 2 decimal places"),
        ("0.001", "EUR", "EUR amounts allow at most 2 decimal places"),
        ("10.5", "JPY", "JPY amounts allow no decimals"),
        ("1.2345", "KWD", "KWD amounts allow at most 3 decimal places"),
    ],
)
def test_validate_money_rejects_too_many_decimals(amount, code, places_message):
    with pytest.raises(ValidationError) as excinfo:
        validate_money(D(amount), code, field="Refund amount")
    error = excinfo.value
    assert error.code == "too_many_decimals"
    assert places_message in error.messages[0]
    assert error.messages[0].startswith(f"Refund amount {amount} has too many decimals")
    # A typed string is judged the same way.
    with pytest.raises(ValidationError):
        validate_money(amount, code)


@pytest.mark.parametrize(
    ("amount", "code", "expected"),
    [
        ("1.234", "KWD", "1.234"),
        ("100", "JPY", "100"),
        ("1.5", "USD", "1.50"),
        ("1.2300", "USD", "1.23"),  # trailing zeros are not extra precision
        ("-3", "USD", "-3.00"),
        ("0", "KWD", "0.000"),
        (" 12.5 ", "EUR", "12.50"),
    ],
)
def test_validate_money_accepts_the_allowed_places(amount, code, expected):
    value = validate_money(amount, code)
    assert isinstance(value, Decimal)
    assert str(value) == expected
    assert validate_money(D(amount.strip()), code) == value


@pytest.mark.parametrize("amount", ["abc", "", "1,5", "NaN", "Infinity", "1e"])
def test_validate_money_rejects_what_is_not_a_number(amount):
    with pytest.raises(ValidationError):
        validate_money(amount, "USD")


@pytest.mark.parametrize(
    "typed, expected",
    [
        ("1,200.50", "1200.50"),
        ("1,200", "1200.00"),
        ("12,345,678.9", "12345678.90"),
        ("-1,000.25", "-1000.25"),
        (" 1,200.50 ", "1200.50"),
    ],
)
def test_thousands_separators_are_read(typed, expected):
    assert str(validate_money(typed, "USD")) == expected


@pytest.mark.parametrize("typed", ["1,5", "12,00.50", "1,2345", "1.200,50", ",100", "1,,000"])
def test_misplaced_commas_are_refused_in_words(typed):
    with pytest.raises(ValidationError) as error:
        validate_money(typed, "USD")
    message = " ".join(error.value.messages)
    assert "commas may only separate thousands, as in 1,200.50" in message or message == (
        "Enter a number."
    )


def test_an_exponent_is_refused_in_words():
    with pytest.raises(ValidationError, match=r"without an exponent \(e.g. 1000, not 1e3\)"):
        validate_money("1e3", "USD")


def test_validate_money_rejects_amounts_wider_than_the_columns():
    # 15 significant digits: what both databases hold exactly (billing.money.column_limit).
    with pytest.raises(ValidationError, match="too large: at most 9,999,999,999,999.99"):
        validate_money(D("1e30"), "USD")
    with pytest.raises(ValidationError, match="too large: at most 999,999,999,999,999[.]'"):
        validate_money(D("1234567890123456"), "JPY")
    with pytest.raises(ValidationError, match="too large: at most 999,999,999,999.999[.]'"):
        validate_money("1000000000000", "KWD")
    assert validate_money(D("9999999999999.99"), "USD") == D("9999999999999.99")
    assert validate_money("999999999999999", "JPY") == D("999999999999999")


@pytest.mark.parametrize(
    ("typed", "says"),
    [
        ("1e30", "without an exponent"),
        ("1E3", "without an exponent"),
        ("NaN", "“NaN” is not a number."),
        ("-Infinity", "“-Infinity” is not a number."),
        ("١٢٣", "with the digits 0-9"),
        ("1_000", "Enter a number."),
    ],
)
def test_validate_money_reads_plain_digits_only(typed, says):
    with pytest.raises(ValidationError, match=says):
        validate_money(typed, "USD")


@pytest.mark.parametrize("func", [round_money, validate_money, format_money])
def test_floats_are_refused(func):
    with pytest.raises(TypeError, match="float"):
        func(1.005, "USD")


@pytest.mark.parametrize(
    ("amount", "code", "expected"),
    [
        ("1234.5", "USD", "1,234.50"),
        ("1234.5", "JPY", "1,235"),
        ("1.25", "KWD", "1.250"),
        ("-1234567.891", "USD", "-1,234,567.89"),
        ("0", "JPY", "0"),
        ("1000000", "KWD", "1,000,000.000"),
    ],
)
def test_format_money(amount, code, expected):
    assert format_money(D(amount), code) == expected


@pytest.mark.parametrize(
    ("amount", "code", "expected"),
    [
        (D("1234.5"), "USD", "1,234.50"),
        (D("1234.5"), "JPY", "1,235"),
        (D("1.25"), "KWD", "1.250"),
        (None, "USD", ""),
    ],
)
def test_money_template_filter(amount, code, expected):
    template = Template("[{{ amount|money:currency }}]")
    row = Currency(code=code, name=code, minor_unit=MINOR_UNITS[code])
    assert template.render(Context({"amount": amount, "currency": row})) == f"[{expected}]"
    assert template.render(Context({"amount": amount, "currency": code})) == f"[{expected}]"


def amounts_in(code: str):
    places = MINOR_UNITS[code]
    return st.decimals(
        min_value=D("-999999999999"),
        max_value=D("999999999999"),
        places=places,
        allow_nan=False,
        allow_infinity=False,
    )


@pytest.mark.parametrize("code", ["USD", "JPY", "KWD"])
@given(data=st.data())
def test_amounts_with_the_currency_places_pass_validation_unchanged(code, data):
    amount = data.draw(amounts_in(code))
    value = validate_money(amount, code)
    assert value == amount
    assert value.as_tuple().exponent == -MINOR_UNITS[code]
    assert validate_money(str(amount), code) == amount
    assert round_money(amount, code) == amount


@pytest.mark.parametrize("code", ["USD", "JPY", "KWD"])
@given(amount=st.decimals(min_value=-(10**9), max_value=10**9, places=6))
def test_round_money_is_idempotent_and_close(code, amount):
    once = round_money(amount, code)
    assert round_money(once, code) == once
    assert validate_money(once, code) == once
    half = D(1).scaleb(-MINOR_UNITS[code]) / 2
    assert abs(once - amount) <= half


# --- tax: split_tax ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("amount", "rate", "code", "net", "tax"),
    [
        ("100.00", "10", "USD", "100.00", "10.00"),
        ("19.99", "8.25", "USD", "19.99", "1.65"),  # 1.649175 rounds up
        ("0.05", "10", "USD", "0.05", "0.01"),  # 0.005 rounds half up
        ("999", "8", "JPY", "999", "80"),  # 79.92
        ("1005", "10", "JPY", "1005", "101"),  # 100.5 rounds half up
        ("1.005", "5", "KWD", "1.005", "0.050"),  # 0.05025
        ("12.345", "10", "KWD", "12.345", "1.235"),  # 1.2345 rounds half up
        ("50.00", "0", "USD", "50.00", "0.00"),
    ],
)
def test_exclusive_tax_is_added_on_top(amount, rate, code, net, tax):
    taxed = split_tax(D(amount), rate=D(rate), mode=TaxMode.EXCLUSIVE, currency=code)
    assert taxed.amount_excl_tax == D(net)
    assert str(taxed.tax_amount) == tax
    assert taxed.amount == D(amount) + D(tax)


@pytest.mark.parametrize(
    ("amount", "rate", "code", "net", "tax"),
    [
        ("110.00", "10", "USD", "100.00", "10.00"),
        ("100.00", "10", "USD", "90.91", "9.09"),
        ("0.01", "10", "USD", "0.01", "0.00"),
        ("1000", "10", "JPY", "909", "91"),
        ("108", "8", "JPY", "100", "8"),
        ("1.000", "10", "KWD", "0.909", "0.091"),
        ("5.250", "5", "KWD", "5.000", "0.250"),
    ],
)
def test_inclusive_tax_splits_the_typed_amount(amount, rate, code, net, tax):
    taxed = split_tax(D(amount), rate=D(rate), mode=TaxMode.INCLUSIVE, currency=code)
    assert str(taxed.amount_excl_tax) == net
    assert taxed.tax_amount == D(tax)
    assert taxed.amount_excl_tax + taxed.tax_amount == D(amount)
    assert taxed.amount == D(amount)


@pytest.mark.parametrize("code", ["USD", "JPY", "KWD"])
@pytest.mark.parametrize("mode", [TaxMode.INCLUSIVE, TaxMode.EXCLUSIVE])
@given(data=st.data())
def test_split_tax_stays_in_the_currency_places(code, mode, data):
    amount = data.draw(amounts_in(code).filter(lambda a: a >= 0))
    rate = data.draw(st.decimals(min_value=0, max_value=100, places=4))
    taxed = split_tax(amount, rate=rate, mode=mode, currency=code)
    places = MINOR_UNITS[code]
    for part in (taxed.amount_excl_tax, taxed.tax_amount, taxed.amount):
        assert round_money(part, code) == part, f"{part} has more than {places} places"
    if mode == TaxMode.INCLUSIVE:
        assert taxed.amount == amount
    else:
        assert taxed.amount_excl_tax == amount
    assert taxed.tax_amount >= 0
    assert taxed.tax_amount <= taxed.amount


@pytest.mark.parametrize(
    "value, expected",
    [
        ("10.000000", "10"),
        ("2.500", "2.5"),
        ("1000", "1,000"),
        ("0.000001", "0.000001"),
        ("0", "0"),
    ],
)
def test_quantities_show_without_storage_zeros_or_exponents(value, expected):
    # Decimal("10.000").normalize() is 1E+1, which the pages once showed.
    assert Template("{{ q|quantity }}").render(Context({"q": D(value)})) == expected


@pytest.mark.parametrize(
    "value, code, expected",
    [
        ("1500.000000", "USD", "1,500.00"),
        ("0.012500", "USD", "0.0125"),
        ("432000.000000", "JPY", "432,000"),
        ("0.5", "JPY", "0.5"),
        ("1.2", "KWD", "1.200"),
    ],
)
def test_unit_prices_keep_their_places_beyond_the_currency(value, code, expected):
    rendered = Template("{{ p|unit_price:c }}").render(Context({"p": D(value), "c": code}))
    assert rendered == expected
