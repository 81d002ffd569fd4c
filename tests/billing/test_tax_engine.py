"""The third-party tax engine connector (DOMAIN.md 2.6), against a real local HTTP server
(tests/tax_engine_server.py): success, error, timeout, refused connection, malformed answers."""

from __future__ import annotations

import base64
import datetime as dt
import socket
import time
from decimal import Decimal

import pytest

from billing import tax_engine as engine
from billing.models import BillingSettings, Currency, TaxEngine, TaxMode
from billing.tax_engine import EngineLine, EngineResult, TaxEngineError

D = Decimal
pytestmark = pytest.mark.django_db

EXCL = TaxMode.EXCLUSIVE.value
INCL = TaxMode.INCLUSIVE.value


def line(key: str, amount: str, mode: str = EXCL, tax_code: str | None = "VAT", description=""):
    return EngineLine(
        key=key, amount=D(amount), mode=mode, tax_code=tax_code, description=description
    )


def calc(lines, *, currency="USD", **kwargs):
    return engine.calculate(
        document_number=kwargs.pop("document_number", "CM00000001"),
        document_type=kwargs.pop("document_type", "credit_memo"),
        document_date=kwargs.pop("document_date", dt.date(2025, 1, 31)),
        currency=currency,
        account_number=kwargs.pop("account_number", "A00000001"),
        lines=lines,
        **kwargs,
    )


def amounts(results):
    """(key, net, tax) with the exact decimal strings, so 10.00 and 10.0 are told apart."""
    return [(r.key, str(r.amount_excl_tax), str(r.tax_amount)) for r in results]


def closed_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# --- success -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("currency", "lines", "expected"),
    [
        (
            "USD",
            [line("a", "100.00"), line("b", "0.05"), line("c", "-20.15"), line("d", "0")],
            [("a", "100.00", "10.00"), ("b", "0.05", "0.01"), ("c", "-20.15", "-2.02"),
             ("d", "0.00", "0.00")],
        ),
        (
            "USD",
            [line("a", "110.00", INCL), line("b", "10.00", INCL), line("c", "0.05", INCL)],
            [("a", "100.00", "10.00"), ("b", "9.09", "0.91"), ("c", "0.05", "0.00")],
        ),
        (
            "JPY",
            [line("a", "1005"), line("b", "5"), line("c", "1000", INCL), line("d", "1", INCL)],
            [("a", "1005", "101"), ("b", "5", "1"), ("c", "909", "91"), ("d", "1", "0")],
        ),
        (
            "KWD",
            [line("a", "1.005"), line("b", "0.015"), line("c", "1.100", INCL),
             line("d", "0.007", INCL)],
            [("a", "1.005", "0.101"), ("b", "0.015", "0.002"), ("c", "1.000", "0.100"),
             ("d", "0.006", "0.001")],
        ),
    ],
    ids=["usd-exclusive", "usd-inclusive", "jpy", "kwd"],
)  # fmt: skip
def test_calculate_success(tax_engine, currency, lines, expected):
    results = calc(lines, currency=currency)

    assert amounts(results) == expected
    for result in results:
        assert isinstance(result, EngineResult)
        assert type(result.amount_excl_tax) is Decimal
        assert type(result.tax_amount) is Decimal
    for sent, result in zip(lines, results, strict=True):
        if sent.mode == INCL:
            assert result.amount_excl_tax + result.tax_amount == sent.amount
        else:
            assert result.amount_excl_tax == sent.amount


def test_calculate_takes_a_currency_object(tax_engine):
    kwd = Currency.objects.get(code="KWD")

    results = calc([line("1", "2.345")], currency=kwd)

    assert amounts(results) == [("1", "2.345", "0.235")]
    assert tax_engine.requests[0]["body"]["currency"] == "KWD"


def test_request_body(tax_engine):
    calc(
        [
            line("10", "100.00", description="Setup fee"),
            line("11", "55.5", INCL, tax_code=None, description="Ünïcode — ok"),
            line("12", "1E+2"),
        ],
        document_number="DM00000042",
        document_type="debit_memo",
        document_date=dt.date(2024, 2, 29),
        account_number="A00000007",
        commit=False,
    )

    [request] = tax_engine.requests
    assert request["path"] == "/calculate"
    assert request["authorization"] is None
    assert request["body"] == {
        "document_number": "DM00000042",
        "document_type": "debit_memo",
        "document_date": "2024-02-29",
        "currency": "USD",
        "account_number": "A00000007",
        "commit": False,
        "lines": [
            {
                "key": "10",
                "amount": "100.00",
                "mode": "exclusive",
                "tax_code": "VAT",
                "description": "Setup fee",
            },
            {
                "key": "11",
                "amount": "55.5",
                "mode": "inclusive",
                "tax_code": None,
                "description": "Ünïcode — ok",
            },
            {
                "key": "12",
                "amount": "100",
                "mode": "exclusive",
                "tax_code": "VAT",
                "description": "",
            },
        ],
    }


def test_commit_defaults_to_true(tax_engine):
    calc([line("1", "1.00")])

    assert tax_engine.requests[0]["body"]["commit"] is True


def test_basic_auth_when_credentials_are_set(tax_engine, settings):
    settings.TAX_ENGINE_USERNAME = "memodesk"
    settings.TAX_ENGINE_PASSWORD = "s3cr:et"

    calc([line("1", "1.00")])
    engine.void(document_number="CM00000001")

    expected = "Basic " + base64.b64encode(b"memodesk:s3cr:et").decode()
    assert [r["authorization"] for r in tax_engine.requests] == [expected, expected]


def test_no_auth_header_without_username(tax_engine, settings):
    settings.TAX_ENGINE_USERNAME = ""
    settings.TAX_ENGINE_PASSWORD = ""

    calc([line("1", "1.00")])

    assert tax_engine.requests[0]["authorization"] is None


def test_results_follow_the_order_of_the_lines(tax_engine):
    def reversed_answer(body):
        return {
            "lines": [
                {"key": x["key"], "amount_excl_tax": x["amount"], "tax_amount": "1.00"}
                for x in reversed(body["lines"])
            ]
        }

    tax_engine.mode = "malformed"
    tax_engine.malformed_body = reversed_answer

    results = calc([line("b", "5.00"), line("a", "6.00"), line("c", "7.00")])

    assert [r.key for r in results] == ["b", "a", "c"]
    assert [r.amount_excl_tax for r in results] == [D("5.00"), D("6.00"), D("7.00")]


def test_json_numbers_are_read_as_exact_decimals(tax_engine):
    tax_engine.mode = "malformed"
    tax_engine.malformed_body = (
        '{"lines": [{"key": "1", "amount_excl_tax": 0.10, "tax_amount": 0.01, "extra": true}]}'
    )

    [result] = calc([line("1", "0.1")])

    assert result == EngineResult(key="1", amount_excl_tax=D("0.10"), tax_amount=D("0.01"))
    assert str(result.amount_excl_tax) == "0.10"


def test_no_lines(tax_engine):
    assert calc([]) == []
    assert tax_engine.requests[0]["body"]["lines"] == []


def test_settings_none_loads_billing_settings_and_explicit_settings_win(tax_engine):
    calc([line("1", "1.00")])  # from BillingSettings in the DB
    assert len(tax_engine.requests) == 1

    other = BillingSettings(tax_engine=TaxEngine.THIRD_PARTY, tax_engine_url=tax_engine.url + "/")
    other.tax_engine_timeout = D("2")
    calc([line("1", "1.00")], settings=other)  # trailing slash: still /calculate

    assert [r["path"] for r in tax_engine.requests] == ["/calculate", "/calculate"]


# --- failures ------------------------------------------------------------------------------------


def test_engine_error_gives_its_reason(tax_engine):
    tax_engine.mode = "error"

    with pytest.raises(TaxEngineError) as excinfo:
        calc([line("1", "100.00")])

    assert (
        str(excinfo.value) == "The tax engine refused the request: Address could not be validated"
    )


def test_engine_error_with_a_plain_body(tax_engine):
    tax_engine.mode = "error"
    tax_engine.error_status = 500
    tax_engine.error_body = "  Internal\n  failure  "

    with pytest.raises(TaxEngineError) as excinfo:
        calc([line("1", "100.00")])

    assert str(excinfo.value) == "The tax engine refused the request: Internal failure"


def test_engine_error_without_a_body_names_the_status(tax_engine):
    tax_engine.mode = "error"
    tax_engine.error_status = 503
    tax_engine.error_body = b""

    with pytest.raises(TaxEngineError) as excinfo:
        calc([line("1", "100.00")])

    assert str(excinfo.value) == (
        "The tax engine refused the request: HTTP 503 Service Unavailable"
    )


def test_timeout_is_reported_quickly(tax_engine):
    tax_engine.mode = "timeout"

    started = time.monotonic()
    with pytest.raises(TaxEngineError) as excinfo:
        calc([line("1", "100.00")])
    elapsed = time.monotonic() - started

    assert str(excinfo.value) == "The tax engine did not answer within 0.5 seconds"
    assert elapsed < 3
    assert len(tax_engine.requests) == 1  # it did reach the engine


@pytest.mark.parametrize(
    ("timeout", "text"),
    [("5.00", "5 seconds"), ("0.50", "0.5 seconds"), ("1", "1 second"), ("12.25", "12.25 seconds")],
)
def test_timeout_wording(timeout, text):
    assert engine._seconds(D(timeout)) == text


def test_refused_connection(db):
    url = f"http://127.0.0.1:{closed_port()}"
    billing = BillingSettings(tax_engine_url=url, tax_engine_timeout=D("0.5"))

    with pytest.raises(TaxEngineError) as excinfo:
        calc([line("1", "100.00")], settings=billing)

    message = str(excinfo.value)
    assert message.startswith(f"The tax engine at {url} could not be reached: ")
    assert "refused" in message.lower()


def test_credentials_in_the_url_are_not_shown(db):
    port = closed_port()
    billing = BillingSettings(
        tax_engine_url=f"http://user:hunter2@127.0.0.1:{port}", tax_engine_timeout=D("0.5")
    )

    with pytest.raises(TaxEngineError) as excinfo:
        calc([line("1", "100.00")], settings=billing)

    assert "hunter2" not in str(excinfo.value)
    assert f"http://127.0.0.1:{port}" in str(excinfo.value)


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("", "No tax engine URL is configured in the billing settings."),
        ("   ", "No tax engine URL is configured in the billing settings."),
        (
            "file:///etc/passwd",
            "The tax engine URL file:///etc/passwd is not an http:// or https:// address.",
        ),
    ],
)
def test_unusable_url(db, url, message):
    billing = BillingSettings.load()
    billing.tax_engine_url = url
    billing.save()

    with pytest.raises(TaxEngineError) as excinfo:
        calc([line("1", "100.00")])
    assert str(excinfo.value) == message

    with pytest.raises(TaxEngineError):
        engine.void(document_number="CM00000001")


MALFORMED = [
    pytest.param(None, "line '1' has no \"tax_amount\"", id="missing-tax"),
    pytest.param(
        '{"lines": [{"key": "1", "amount_excl_tax": 100.00, "tax_amount": 10.005}]}',
        "line '1': \"tax_amount\" 10.005 has too many decimals: USD amounts allow at most 2",
        id="float-looking-too-many-decimals",
    ),
    pytest.param(
        {"lines": [{"key": "1", "amount_excl_tax": "100.000", "tax_amount": "10.001"}]},
        "line '1': \"tax_amount\" 10.001 has too many decimals",
        id="string-too-many-decimals",
    ),
    pytest.param(
        {"lines": [{"key": "1", "amount_excl_tax": "100.00", "tax_amount": "ten"}]},
        "line '1': \"tax_amount\" 'ten' is not a number",
        id="not-a-number",
    ),
    pytest.param(
        '{"lines": [{"key": "1", "amount_excl_tax": "100.00", "tax_amount": NaN}]}',
        "its answer is not JSON",
        id="nan",
    ),
    pytest.param(
        {"lines": [{"key": "1", "amount_excl_tax": "100.00", "tax_amount": "Infinity"}]},
        "line '1': \"tax_amount\" 'Infinity' is not a number",
        id="infinity-string",
    ),
    pytest.param(
        {"lines": [{"key": "1", "amount_excl_tax": "100.00", "tax_amount": True}]},
        "line '1': \"tax_amount\" is not a decimal amount",
        id="bool",
    ),
    pytest.param(
        {"lines": [{"key": "1", "amount_excl_tax": "100.00", "tax_amount": None}]},
        "line '1': \"tax_amount\" is not a decimal amount",
        id="null",
    ),
    pytest.param(
        {"lines": [{"key": "9", "amount_excl_tax": "100.00", "tax_amount": "10.00"}]},
        "line '9' was not in the request",
        id="unknown-key",
    ),
    pytest.param({"lines": []}, "no answer for line '1'", id="missing-line"),
    pytest.param(
        {
            "lines": [
                {"key": "1", "amount_excl_tax": "100.00", "tax_amount": "10.00"},
                {"key": "1", "amount_excl_tax": "100.00", "tax_amount": "10.00"},
            ]
        },
        "line '1' is answered twice",
        id="duplicate-line",
    ),
    pytest.param(
        {"lines": [{"amount_excl_tax": "100.00", "tax_amount": "10.00"}]},
        'a line has no "key"',
        id="no-key",
    ),
    pytest.param(
        {"lines": [{"key": "1", "amount_excl_tax": "90.00", "tax_amount": "10.00"}]},
        "line '1': net 90.00 is not the tax-exclusive amount 100.00",
        id="exclusive-net-changed",
    ),
    pytest.param({"result": []}, '"lines" is missing', id="no-lines"),
    pytest.param({"lines": {"1": {}}}, '"lines" is missing', id="lines-not-a-list"),
    pytest.param({"lines": ["1"]}, "a line is not an object", id="line-not-an-object"),
    pytest.param("<html>Gateway</html>", "its answer is not JSON", id="html"),
    pytest.param(b"\xff\xfe", "its answer is not JSON", id="not-utf8"),
    pytest.param("", "its answer is not JSON", id="empty"),
]


@pytest.mark.parametrize(("body", "problem"), MALFORMED)
def test_malformed_answer(tax_engine, body, problem):
    tax_engine.mode = "malformed"
    if body is not None:
        tax_engine.malformed_body = body

    with pytest.raises(TaxEngineError) as excinfo:
        calc([line("1", "100.00")])

    message = str(excinfo.value)
    assert message.startswith("The tax engine gave an invalid answer: ")
    assert problem in message


def test_inclusive_net_plus_tax_must_be_the_amount(tax_engine):
    tax_engine.mode = "malformed"
    tax_engine.malformed_body = {
        "lines": [{"key": "1", "amount_excl_tax": "100.00", "tax_amount": "10.01"}]
    }

    with pytest.raises(TaxEngineError) as excinfo:
        calc([line("1", "110.00", INCL)])

    assert str(excinfo.value) == (
        "The tax engine gave an invalid answer: line '1': net 100.00 + tax 10.01 is not the "
        "tax-inclusive amount 110.00."
    )


def test_too_many_decimals_for_jpy(tax_engine):
    tax_engine.mode = "malformed"
    tax_engine.malformed_body = {
        "lines": [{"key": "1", "amount_excl_tax": "1000", "tax_amount": "100.5"}]
    }

    with pytest.raises(TaxEngineError, match="JPY amounts allow no decimals"):
        calc([line("1", "1000")], currency="JPY")


def test_too_large_an_answer(tax_engine):
    tax_engine.mode = "malformed"
    tax_engine.malformed_body = "x" * (engine.MAX_RESPONSE_BYTES + 1)

    with pytest.raises(TaxEngineError, match="its answer is too large"):
        calc([line("1", "1.00")])


# --- void ----------------------------------------------------------------------------------------


def test_void_sends_the_document_number(tax_engine):
    assert engine.void(document_number="CM00000123") is None

    [request] = tax_engine.requests
    assert request["path"] == "/void"
    assert request["body"] == {"document_number": "CM00000123"}


def test_void_error(tax_engine):
    tax_engine.mode = "error"
    tax_engine.error_message = "Document CM00000123 is not committed"

    with pytest.raises(TaxEngineError) as excinfo:
        engine.void(document_number="CM00000123")

    assert str(excinfo.value) == (
        "The tax engine refused the request: Document CM00000123 is not committed"
    )


def test_void_timeout(tax_engine):
    tax_engine.mode = "timeout"

    started = time.monotonic()
    with pytest.raises(TaxEngineError, match="did not answer within 0.5 seconds"):
        engine.void(document_number="CM00000123")
    assert time.monotonic() - started < 3


# --- mistakes of the caller ----------------------------------------------------------------------


def test_caller_mistakes_are_not_engine_errors(tax_engine):
    with pytest.raises(ValueError, match="Duplicate line key"):
        calc([line("1", "1.00"), line("1", "2.00")])
    with pytest.raises(ValueError, match="Unknown tax mode"):
        calc([line("1", "1.00", mode="gross")])
    with pytest.raises(TypeError, match="Decimal"):
        calc([EngineLine(key="1", amount=1.5, mode=EXCL, tax_code=None)])  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="USD amounts allow at most 2 decimal places"):
        calc([line("1", "1.005")])
    assert tax_engine.requests == []


def test_unknown_currency(tax_engine):
    with pytest.raises(TaxEngineError, match="The currency XYZ is not known"):
        calc([line("1", "1.00")], currency="XYZ")
    assert tax_engine.requests == []
