"""The payment gateway connector against the real local stand-in (tests/payment_gateway_server.py):
approve, decline with reasons, time out and reconcile by key, credentials, idempotency."""

from __future__ import annotations

import base64
from decimal import Decimal

import pytest

from payments import gateway


def charge(key="PR-00000001:INV00000001", token="tok_visa_4242", **kwargs):
    return gateway.charge(
        key=key,
        amount=Decimal("12.50"),
        currency="USD",
        token=token,
        account_number="A00000001",
        document_number=key.split(":")[-1],
        **kwargs,
    )


def test_approved_and_the_key_charges_once(payment_gateway):
    first = charge()
    again = charge()
    assert first.status == gateway.APPROVED and first.reference
    assert again == first
    assert len(payment_gateway.charge_log) == 1
    assert payment_gateway.requests[0]["body"]["amount"] == "12.50"  # a string, never a float


def test_declined_with_the_gateways_reason(payment_gateway):
    outcome = charge(token="tok_decline_insufficient_funds")
    assert outcome.status == gateway.DECLINED
    assert outcome.reason == "Insufficient funds"
    assert payment_gateway.charge_log == []


def test_a_late_answer_is_learnt_by_asking_by_key(payment_gateway):
    outcome = charge(token="tok_late")
    assert outcome.status == gateway.APPROVED
    assert [r["method"] for r in payment_gateway.requests] == ["POST", "GET"]
    assert len(payment_gateway.charge_log) == 1


def test_a_hung_gateway_charged_nothing(payment_gateway):
    outcome = charge(token="tok_hang")
    assert outcome.status == gateway.FAILED
    assert "nothing was charged" in outcome.reason
    # Its 504 came too late for the client; asked by key, the gateway has no such charge.
    assert [r["method"] for r in payment_gateway.requests] == ["POST", "GET"]


def test_a_server_error_is_asked_about_by_key(payment_gateway, settings):
    payment_gateway.delay = 0.1  # the hung charge's 504 comes before the client's timeout
    outcome = charge(token="tok_hang")
    assert outcome.status == gateway.FAILED
    assert [r["method"] for r in payment_gateway.requests] == ["POST", "GET"]


def test_unknown_when_asking_by_key_fails_too(payment_gateway):
    payment_gateway.lookup_fails = True
    outcome = charge(token="tok_late")
    assert outcome.status == gateway.UNKNOWN
    assert "unknown" in outcome.reason


def test_reconcile_first_asks_before_charging(payment_gateway):
    charge()
    outcome = charge(reconcile_first=True)
    assert outcome.status == gateway.APPROVED
    assert [r["method"] for r in payment_gateway.requests] == ["POST", "GET"]
    payment_gateway.lookup_fails = True
    assert charge(key="PR-1:INV2", reconcile_first=True).status == gateway.UNKNOWN
    assert len(payment_gateway.charge_log) == 1  # not charged while unknown


def test_credentials_from_the_environment(payment_gateway, settings):
    settings.PAYMENT_GATEWAY_USERNAME = "memodesk"
    settings.PAYMENT_GATEWAY_PASSWORD = "s3cret"
    charge()
    expected = "Basic " + base64.b64encode(b"memodesk:s3cret").decode()
    assert payment_gateway.requests[0]["authorization"] == expected


@pytest.mark.parametrize("url", ["ftp://example.com", "http://127.0.0.1:9"])
def test_a_bad_or_unreachable_gateway_fails_without_charging(settings, url):
    settings.PAYMENT_GATEWAY_URL = url
    settings.PAYMENT_GATEWAY_TIMEOUT = 0.5
    assert charge().status == gateway.FAILED


def test_the_simulated_gateway_behaves_like_the_stand_in_for_tokens(settings):
    settings.PAYMENT_GATEWAY_URL = "simulated"
    assert charge().status == gateway.APPROVED
    declined = charge(token="tok_decline_card_expired")
    assert (declined.status, declined.reason) == (gateway.DECLINED, "Card expired")
