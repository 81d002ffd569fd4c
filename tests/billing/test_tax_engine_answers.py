"""The tax engine connector: answers out of range are refused with the value named, and every
failure says whether the engine may have committed the document (so the caller voids it)."""

from __future__ import annotations

import socket
from decimal import Decimal

import pytest

from billing.models import BillingSettings
from billing.tax_engine import TaxEngineError
from tests.billing.test_tax_engine import INCL, calc, line

pytestmark = pytest.mark.django_db

D = Decimal


def answered(tax_engine, net: str, tax: str, key: str = "1") -> None:
    tax_engine.mode = "malformed"
    tax_engine.malformed_body = {"lines": [{"key": key, "amount_excl_tax": net, "tax_amount": tax}]}


def refused_answer(lines) -> TaxEngineError:
    with pytest.raises(TaxEngineError) as excinfo:
        calc(lines)
    return excinfo.value


OUT_OF_RANGE = [
    pytest.param("100.00", "exclusive", "100.00", "-150.00",
                 "tax -150.00 is negative on the amount 100.00", id="negative"),
    pytest.param("100.00", "exclusive", "100.00", "-0.01",
                 "tax -0.01 is negative on the amount 100.00", id="negative-cent"),
    pytest.param("-20.00", "exclusive", "-20.00", "2.00",
                 "tax 2.00 is positive on the negative amount -20.00", id="positive-on-negative"),
    pytest.param("10.00", "inclusive", "-20.00", "30.00",
                 "tax 30.00 is more than the tax-inclusive amount 10.00", id="inclusive-over"),
    pytest.param("10.00", "inclusive", "20.00", "-10.00",
                 "tax -10.00 is negative on the amount 10.00", id="inclusive-negative"),
    pytest.param("100.00", "exclusive", "100.00", "NaN",
                 '"tax_amount" \'NaN\' is not a number', id="nan"),
    pytest.param("100.00", "exclusive", "100.00", "-Infinity",
                 '"tax_amount" \'-Infinity\' is not a number', id="infinity"),
    pytest.param("100.00", "exclusive", "100.00", "1000000000000000",
                 '"tax_amount" 1,000,000,000,000,000 is too large: at most 9,999,999,999,999.99',
                 id="too-large"),
    pytest.param("100.00", "exclusive", "100.00", "9999999999999.99",
                 "net 100.00 + tax 9,999,999,999,999.99 = 10,000,000,000,099.99 is too large: "
                 "at most 9,999,999,999,999.99", id="sum-too-large"),
]  # fmt: skip


@pytest.mark.parametrize(("amount", "mode", "net", "tax", "problem"), OUT_OF_RANGE)
def test_out_of_range_answers_are_refused_naming_the_value(
    tax_engine, amount, mode, net, tax, problem
):
    answered(tax_engine, net, tax)
    error = refused_answer([line("1", amount, mode)])
    assert str(error) == f"The tax engine gave an invalid answer: line '1': {problem}."
    # The engine answered 200: it committed the document, which the caller must void.
    assert (error.answered, error.may_have_committed) == (True, True)


def test_zero_tax_and_tax_of_the_amounts_sign_are_accepted(tax_engine):
    tax_engine.mode = "malformed"
    tax_engine.malformed_body = {
        "lines": [
            {"key": "a", "amount_excl_tax": "100.00", "tax_amount": "0.00"},
            {"key": "b", "amount_excl_tax": "-20.00", "tax_amount": "-2.00"},
            {"key": "c", "amount_excl_tax": "0.00", "tax_amount": "0.00"},
            {"key": "d", "amount_excl_tax": "0.00", "tax_amount": "10.00"},
        ]
    }
    results = calc([line("a", "100"), line("b", "-20"), line("c", "0"), line("d", "10", INCL)])
    assert [(r.amount_excl_tax, r.tax_amount) for r in results] == [
        (D("100.00"), D("0.00")),
        (D("-20.00"), D("-2.00")),
        (D("0.00"), D("0.00")),
        (D("0.00"), D("10.00")),
    ]


# --- may the engine have committed? --------------------------------------------------------------


def test_an_error_answer_committed_nothing(tax_engine):
    tax_engine.mode = "error"
    error = refused_answer([line("1", "100")])
    assert (error.answered, error.may_have_committed) == (False, False)


@pytest.mark.parametrize("mode", ["timeout", "late"])
def test_no_answer_in_time_may_have_committed(tax_engine, mode):
    tax_engine.mode = mode
    error = refused_answer([line("1", "100")])
    assert str(error) == "The tax engine did not answer within 0.5 seconds"
    assert (error.answered, error.may_have_committed) == (False, True)
    assert tax_engine.committed == ({"CM00000001"} if mode == "late" else set())


def test_a_malformed_answer_was_committed(tax_engine):
    tax_engine.mode = "malformed"
    error = refused_answer([line("1", "100")])
    assert (error.answered, error.may_have_committed) == (True, True)


def test_an_engine_that_cannot_be_reached_committed_nothing(db):
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    billing = BillingSettings(tax_engine_url=f"http://127.0.0.1:{port}", tax_engine_timeout=1)
    with pytest.raises(TaxEngineError) as excinfo:
        calc([line("1", "100")], settings=billing)
    assert excinfo.value.may_have_committed is False


def test_no_url_committed_nothing(db):
    with pytest.raises(TaxEngineError) as excinfo:
        calc([line("1", "100")])
    assert excinfo.value.may_have_committed is False
