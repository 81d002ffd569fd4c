"""The payments and payment-runs resources of the REST API: the same services, permissions and
error shapes as the UI (DESIGN.md API conventions)."""

from __future__ import annotations

import pytest
from django.core.cache import cache

from payments.models import Payment, PaymentRun
from tests.api.conftest import token_client
from tests.payments.helpers import DAY, TARGET, D, account, invoice

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def fresh_throttle_counts():
    cache.clear()
    yield
    cache.clear()


def test_record_apply_read_list_and_cancel(operator, viewer):
    acct = account()
    inv = invoice(acct, ["60.00", "40.00"])
    client = token_client(operator)
    body = {
        "account": acct.number, "amount": "150.00", "payment_date": DAY.isoformat(),
        "method": "check", "reference": "Check 7",
        "apply_to": [{"document": inv.number, "amount": "100.00"}],
    }  # fmt: skip
    created = client.post("/api/v1/payments/", body, format="json", HTTP_IDEMPOTENCY_KEY="k1")
    assert created.status_code == 201, created.json()
    data = created.json()
    assert (data["number"], data["applied_amount"], data["unapplied_amount"]) == (
        "P-00000001",
        "100.00",
        "50.00",
    )
    assert data["applications"][0]["document"] == inv.number
    again = client.post("/api/v1/payments/", body, format="json", HTTP_IDEMPOTENCY_KEY="k1")
    assert again.status_code == 201 and Payment.objects.count() == 1  # replayed, not twice
    listed = token_client(viewer).get("/api/v1/payments/", {"method": "check"}).json()
    assert [row["number"] for row in listed["results"]] == ["P-00000001"]
    refused = client.post("/api/v1/payments/P-00000001/cancel/")
    assert refused.status_code == 409 and "unapply it first" in str(refused.json())
    assert token_client(viewer).post("/api/v1/payments/", body, format="json").status_code == 403


def test_bad_input_is_a_400_with_the_services_words(operator):
    acct = account()
    client = token_client(operator)
    answer = client.post(
        "/api/v1/payments/",
        {"account": acct.number, "amount": "1.001", "payment_date": DAY.isoformat(),
         "method": "cash"},
        format="json",
    )  # fmt: skip
    assert answer.status_code == 400
    assert "amount" in answer.json()["errors"]
    assert not Payment.objects.exists()


def test_start_a_payment_run_and_read_it(operator, payment_gateway):
    acct = account()
    invoice(acct, ["30.00"])
    client = token_client(operator)
    created = client.post(
        "/api/v1/payment-runs/", {"target_date": TARGET.isoformat()}, format="json"
    )
    assert created.status_code == 201, created.json()
    run = PaymentRun.objects.get()
    read = client.get(f"/api/v1/payment-runs/{run.number}/").json()
    assert read["number"] == run.number and read["apply_credit_memos"] is True
    none_to_retry = client.post(f"/api/v1/payment-runs/{run.number}/retry/")
    assert none_to_retry.status_code == 409


def test_apply_and_unapply_through_the_api(operator):
    acct = account()
    inv = invoice(acct, ["60.00", "40.00"])
    client = token_client(operator)
    client.post(
        "/api/v1/payments/",
        {"account": acct.number, "amount": "80.00", "payment_date": DAY.isoformat(),
         "method": "cash"},
        format="json",
    )  # fmt: skip
    applied = client.post(
        "/api/v1/payments/P-00000001/apply/",
        {"apply_to": [{"document": inv.number, "amount": "70.00"}],
         "effective_date": DAY.isoformat()},
        format="json",
    )  # fmt: skip
    assert applied.status_code == 200, applied.json()
    assert applied.json()["unapplied_amount"] == "10.00"
    over = client.post(
        "/api/v1/payments/P-00000001/apply/",
        {"apply_to": [{"document": inv.number, "amount": "20.00"}],
         "effective_date": DAY.isoformat()},
        format="json",
    )  # fmt: skip
    assert over.status_code == 400 and "__all__" in over.json()["errors"]
    application = applied.json()["applications"][0]["id"]
    undone = client.post(
        "/api/v1/payments/P-00000001/unapply/",
        {"application": application, "amount": "30.00", "effective_date": DAY.isoformat()},
        format="json",
    )
    assert undone.status_code == 200, undone.json()
    assert undone.json()["unapplied_amount"] == "40.00"
    inv.refresh_from_db()
    assert inv.balance == D("60.00")
    unknown = client.post(
        "/api/v1/payments/P-00000001/unapply/",
        {"application": 999999, "effective_date": DAY.isoformat()},
        format="json",
    )
    assert unknown.status_code == 400


def test_a_payment_run_with_an_unknown_batch_is_a_400(operator):
    # Was a 500 (the batch column's constraint), found by the schemathesis run.
    answer = token_client(operator).post(
        "/api/v1/payment-runs/",
        {"target_date": TARGET.isoformat(), "scope": "batch", "batch": "payment_date"},
        format="json",
    )
    assert answer.status_code == 400 and "batch" in answer.json()["errors"]
    assert PaymentRun.objects.count() == 0
