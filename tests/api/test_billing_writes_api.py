"""/api/v1/accounts/ (create, update, billing-documents), /subscriptions/, /usage/ and
/bill-runs/: success, each role, anonymous and a revoked token, errors in the documented shape,
nothing changed on a refusal, flat query counts."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from billing.factories import AccountFactory, ChargeFactory, ChargePriceFactory
from billing.models import (
    Account,
    BillRun,
    BillRunStatus,
    ChargeType,
    Invoice,
    InvoiceStatus,
    Subscription,
    SubscriptionCharge,
    UsageRecord,
)
from memos.models import Memo
from tests.api.conftest import token_client
from tests.api.test_memos_api import assert_errors
from tests.billing.bill_run_helpers import DAY, D, subscribe

pytestmark = pytest.mark.django_db
ROLES = ["operator", "reviewer", "viewer", "billing_admin"]


def state() -> tuple:
    """Everything these endpoints could change."""
    return (
        list(Account.objects.order_by("pk").values_list("pk", "name", "bill_cycle_day", "batch")),
        list(Subscription.objects.order_by("pk").values_list("pk", "end_date")),
        list(
            SubscriptionCharge.objects.order_by("pk").values_list(
                "pk", "price", "quantity", "end_date"
            )
        ),
        UsageRecord.objects.count(),
        list(BillRun.objects.order_by("pk").values_list("pk", "status")),
        Invoice.objects.count(),
        Memo.objects.count(),
    )


@pytest.fixture
def world():
    """An account with a monthly 100.00 charge and a usage charge, billable on DAY."""
    account = AccountFactory()
    recurring = subscribe(account, "100")
    usage = subscribe(
        account, "2", charge_type=ChargeType.USAGE, subscription=recurring.subscription
    )
    charge = ChargeFactory()
    ChargePriceFactory(charge=charge, currency=account.currency, list_price=D("30"))
    return {"account": account, "recurring": recurring, "usage": usage, "charge": charge}


def endpoints(world) -> list[tuple[str, str, str, dict, int, set[str]]]:
    """(name, method, url, body, success status, roles permitted)."""
    account = world["account"]
    subscription = world["recurring"].subscription
    day = DAY.isoformat()
    return [
        ("account create", "post", "/api/v1/accounts/",
         {"name": "Initech", "currency": "USD", "bill_cycle_day": 5}, 201, {"billing_admin"}),
        ("account update", "patch", f"/api/v1/accounts/{account.number}/",
         {"name": "Renamed"}, 200, {"billing_admin"}),
        ("billing documents", "post", f"/api/v1/accounts/{account.number}/billing-documents/",
         {"target_date": day, "invoice_date": day}, 201, {"operator", "billing_admin"}),
        ("subscription create", "post", "/api/v1/subscriptions/",
         {"account": account.number, "start_date": day,
          "charges": [{"charge": world["charge"].pk}]}, 201, {"billing_admin"}),
        ("subscription update", "patch", f"/api/v1/subscriptions/{subscription.number}/",
         {"charges": [{"id": world["recurring"].pk, "price": "120"}]}, 200, {"billing_admin"}),
        ("usage", "post", "/api/v1/usage/bulk/",
         {"rows": [{"subscription_charge": world["usage"].pk, "usage_date": day,
                    "quantity": "3"}]}, 201, {"operator", "billing_admin"}),
        ("bill run create", "post", "/api/v1/bill-runs/",
         {"invoice_date": day, "target_date": day}, 201, {"operator", "billing_admin"}),
    ]  # fmt: skip


@pytest.mark.parametrize("role", ROLES)
def test_each_write_takes_its_permission_and_a_refusal_changes_nothing(request, world, role):
    api = token_client(request.getfixturevalue(role))
    for name, method, url, body, code, allowed in endpoints(world):
        before = state()
        response = getattr(api, method)(url, body, format="json")
        if role in allowed:
            assert response.status_code == code, (name, response.content)
            assert state() != before, name
        else:
            assert_errors(response, 403, "__all__")
            assert state() == before, name


def test_anonymous_and_revoked_tokens_get_401_on_every_endpoint(world, revoked_client):
    before = state()
    reads = ["/api/v1/subscriptions/", "/api/v1/bill-runs/"]
    for client in (APIClient(), revoked_client):
        for _name, method, url, body, _, _ in endpoints(world):
            assert_errors(getattr(client, method)(url, body, format="json"), 401, "__all__")
        for url in reads:
            assert_errors(client.get(url), 401, "__all__")
    assert state() == before


@pytest.mark.parametrize("role", ROLES)
def test_every_role_reads_subscriptions_and_bill_runs(request, world, role):
    run = BillRun.objects.create(number="BR9", invoice_date=DAY, target_date=DAY)
    api = token_client(request.getfixturevalue(role))
    subscription = world["recurring"].subscription
    rows = api.get("/api/v1/subscriptions/").json()["results"]
    assert [r["number"] for r in rows] == [subscription.number]
    one = api.get(f"/api/v1/subscriptions/{subscription.number}/").json()
    assert [c["id"] for c in one["charges"]] == [world["recurring"].pk, world["usage"].pk]
    assert [r["number"] for r in api.get("/api/v1/bill-runs/").json()["results"]] == ["BR9"]
    assert api.get(f"/api/v1/bill-runs/{run.number}/").json()["status"] == "pending"


# --- accounts ------------------------------------------------------------------------------------


def test_create_and_update_an_account(billing_admin):
    api = token_client(billing_admin)
    created = api.post(
        "/api/v1/accounts/",
        {"name": " Initech ", "currency": "usd", "bill_cycle_day": 5, "batch": "Batch7"},
        format="json",
    )
    assert created.status_code == 201, created.content
    body = created.json()
    assert body["number"].startswith("A") and body["name"] == "Initech"
    assert (body["currency"], body["batch"], body["balance"]) == ("USD", "Batch7", "0.00")
    changed = api.patch(
        f"/api/v1/accounts/{body['number']}/", {"bill_cycle_day": 20}, format="json"
    )
    assert changed.status_code == 200 and changed.json()["bill_cycle_day"] == 20
    assert changed.json()["name"] == "Initech"


@pytest.mark.parametrize(
    ("body", "key"),
    [
        ({"currency": "USD", "bill_cycle_day": 5}, "name"),
        ({"name": "  ", "currency": "USD", "bill_cycle_day": 5}, "name"),
        ({"name": "X", "currency": "XXX", "bill_cycle_day": 5}, "currency"),
        ({"name": "X", "currency": "USD", "bill_cycle_day": 32}, "bill_cycle_day"),
        ({"name": "X", "currency": "USD", "bill_cycle_day": 1, "batch": "Batch51"}, "batch"),
        ({"name": "X" * 256, "currency": "USD", "bill_cycle_day": 1}, "name"),
    ],
)
def test_invalid_accounts_are_400_keyed_and_change_nothing(billing_admin, body, key):
    before = state()
    response = token_client(billing_admin).post("/api/v1/accounts/", body, format="json")
    assert_errors(response, 400, key)
    assert state() == before


def test_an_account_update_refuses_what_cannot_change(billing_admin, world):
    account = world["account"]
    before = state()
    api = token_client(billing_admin)
    url = f"/api/v1/accounts/{account.number}/"
    assert_errors(api.patch(url, {"bill_cycle_day": 0}, format="json"), 400, "bill_cycle_day")
    assert_errors(api.patch(url, {"name": ""}, format="json"), 400, "name")
    assert_errors(api.patch("/api/v1/accounts/A99999999/", {"name": "x"}, format="json"), 404)
    assert_errors(api.put(url, {"name": "x"}, format="json"), 405)
    assert state() == before


# --- generate billing documents for one account ---------------------------------------------------


def test_billing_documents_for_one_account_run_at_once(operator, world):
    account = world["account"]
    api = token_client(operator)
    day = DAY.isoformat()
    response = api.post(
        f"/api/v1/accounts/{account.number}/billing-documents/",
        {"target_date": day, "invoice_date": day, "auto_post": True},
        format="json",
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["bill_run"]["status"] == "posted"
    assert body["bill_run"]["scope"] == "account" and body["bill_run"]["account"] == account.number
    [invoice] = body["invoices"]
    assert invoice["status"] == "posted" and invoice["amount"] == "100.00"
    assert body["credit_memos"] == []
    assert Invoice.objects.get(number=invoice["number"]).status == InvoiceStatus.POSTED
    # Billed once: the next call finds nothing more to bill up to that date.
    again = api.post(
        f"/api/v1/accounts/{account.number}/billing-documents/",
        {"target_date": day, "invoice_date": day},
        format="json",
    )
    assert again.status_code == 201 and again.json()["invoices"] == []


def test_billing_documents_refusals(operator, world):
    account = world["account"]
    before = state()
    api = token_client(operator)
    url = f"/api/v1/accounts/{account.number}/billing-documents/"
    assert_errors(api.post(url, {}, format="json"), 400, "target_date")
    body = {"target_date": "2026-11-01", "include_one_time": False, "include_recurring": False,
            "include_usage": False}  # fmt: skip
    assert_errors(api.post(url, body, format="json"), 400, "include_recurring")
    missing = "/api/v1/accounts/A99999999/billing-documents/"
    assert_errors(api.post(missing, body, format="json"), 404)
    assert state() == before


# --- subscriptions --------------------------------------------------------------------------------


def test_create_a_subscription_with_list_prices_and_update_it(billing_admin, world):
    account, charge = world["account"], world["charge"]
    api = token_client(billing_admin)
    created = api.post(
        "/api/v1/subscriptions/",
        {
            "account": account.number,
            "start_date": "2026-12-01",
            "charges": [
                {"charge": charge.pk},
                {"charge": charge.pk, "price": "12.5", "quantity": "3"},
            ],
        },
        format="json",
    )  # fmt: skip
    assert created.status_code == 201, created.content
    body = created.json()
    assert [(c["price"], c["quantity"]) for c in body["charges"]] == [
        ("30.000000", "1.000000"),
        ("12.500000", "3.000000"),
    ]
    first = body["charges"][0]["id"]
    changed = api.patch(
        f"/api/v1/subscriptions/{body['number']}/",
        {"end_date": "2027-06-30", "charges": [{"id": first, "quantity": "4"}]},
        format="json",
    )
    assert changed.status_code == 200, changed.content
    rows = changed.json()["charges"]
    assert rows[0]["quantity"] == "4.000000"
    assert {row["end_date"] for row in rows} == {"2027-06-30"}
    assert changed.json()["end_date"] == "2027-06-30"


@pytest.mark.parametrize(
    ("body", "key"),
    [
        ({"start_date": "2026-12-01", "charges": []}, "account"),
        ({"account": "{account}", "start_date": "2026-12-01", "charges": []}, "charges"),
        ({"account": "{account}", "start_date": "2026-12-01", "charges": [{"charge": 999999}]},
         "charges.0.charge"),
        ({"account": "{account}", "start_date": "2026-12-01",
          "charges": [{"charge": "{charge}", "quantity": "-1"}]}, "charges.0.quantity"),
        ({"account": "{account}", "start_date": "2026-12-01", "end_date": "2026-11-01",
          "charges": [{"charge": "{charge}"}]}, "end_date"),
        ({"account": "{account}", "start_date": "2026-12-01",
          "charges": [{"charge": "{charge}", "start_date": "2026-11-01"}]}, "charges.0.start_date"),
        ({"account": "{account}", "start_date": "2026-12-01",
          "charges": [{"charge": "{priceless}"}]}, "charges.0.price"),
    ],
)  # fmt: skip
def test_invalid_subscriptions_are_400_keyed_and_change_nothing(billing_admin, world, body, key):
    names = {
        "{account}": world["account"].number,
        "{charge}": world["charge"].pk,
        "{priceless}": ChargeFactory().pk,
    }
    body = {k: names.get(v, v) if isinstance(v, str) else v for k, v in body.items()}
    body["charges"] = [
        {k: names.get(v, v) if isinstance(v, str) else v for k, v in line.items()}
        for line in body["charges"]
    ]
    before = state()
    response = token_client(billing_admin).post("/api/v1/subscriptions/", body, format="json")
    assert_errors(response, 400, key)
    assert state() == before


def test_a_subscription_charge_cannot_end_inside_what_is_billed(billing_admin, world):
    recurring = world["recurring"]
    recurring.charged_through_date = dt.date(2026, 12, 1)
    recurring.save()
    before = state()
    url = f"/api/v1/subscriptions/{recurring.subscription.number}/"
    api = token_client(billing_admin)
    body = {"charges": [{"id": recurring.pk, "end_date": "2026-11-15"}]}
    assert_errors(api.patch(url, body, format="json"), 400, "charges.0.end_date")
    other = {"charges": [{"id": world["charge"].pk + 10_000, "price": "1"}]}
    assert_errors(api.patch(url, other, format="json"), 400, "charges.0.id")
    assert state() == before


# --- usage ----------------------------------------------------------------------------------------


def test_bulk_usage_all_or_nothing_with_errors_keyed_by_row(operator, world):
    usage = world["usage"]
    api = token_client(operator)
    good = {"subscription_charge": usage.pk, "usage_date": "2026-11-05", "quantity": "2.5"}
    rows = [good, {**good, "quantity": "0"}, good, {**good, "usage_date": "2025-01-01"},
            {**good, "subscription_charge": world["recurring"].pk}]  # fmt: skip
    before = state()
    errors = assert_errors(api.post("/api/v1/usage/bulk/", {"rows": rows}, format="json"), 400)
    assert set(errors) == {"rows.1.quantity", "rows.3.usage_date", "rows.4.subscription_charge"}
    assert state() == before
    ok = api.post("/api/v1/usage/bulk/", {"rows": [good, good]}, format="json")
    assert ok.status_code == 201 and ok.json() == {"created": 2}
    record = UsageRecord.objects.filter(subscription_charge=usage).first()
    assert record.quantity == D("2.5") and record.unit_of_measure == "GB"


@pytest.mark.parametrize(
    ("body", "key"),
    [
        ({"rows": []}, "rows"),
        ({"rows": [{"usage_date": "2026-11-05", "quantity": "1"}]}, "rows.0.subscription_charge"),
        ({"rows": [{"subscription_charge": 1, "usage_date": "x", "quantity": "1"}]},
         "rows.0.usage_date"),
        ({"rows": [{"subscription_charge": 1, "usage_date": "2026-11-05", "quantity": "1e9"}]},
         "rows.0.quantity"),
        ({"rows": [{"subscription_charge": 999999, "usage_date": "2026-11-05", "quantity": "1"}]},
         "rows.0.subscription_charge"),
    ],
)  # fmt: skip
def test_invalid_usage_is_400_keyed_by_row(operator, world, body, key):
    before = state()
    assert_errors(token_client(operator).post("/api/v1/usage/bulk/", body, format="json"), 400, key)
    assert state() == before


def test_ten_thousand_usage_rows_in_a_few_statements(operator, world):
    usage = world["usage"]
    row = {"subscription_charge": usage.pk, "usage_date": "2026-11-05", "quantity": "1"}
    api = token_client(operator)
    api.get("/api/v1/bill-runs/")  # the token's last use is written once a minute
    with CaptureQueriesContext(connection) as ten:
        assert (
            api.post("/api/v1/usage/bulk/", {"rows": [row] * 10}, format="json").status_code == 201
        )
    with CaptureQueriesContext(connection) as many:
        response = api.post("/api/v1/usage/bulk/", {"rows": [row] * 10_000}, format="json")
    assert response.status_code == 201 and response.json() == {"created": 10_000}
    assert len(many) == len(ten)
    too_many = api.post("/api/v1/usage/bulk/", {"rows": [row] * 10_001}, format="json")
    assert_errors(too_many, 400, "rows")


def test_usage_from_a_csv_file(operator, world):
    usage = world["usage"]
    api = token_client(operator)
    text = (
        "usage_date,subscription_charge,quantity\n"
        f"2026-11-05,{usage.pk},3\n"
        f"2026-11-06,{usage.pk},4.25\n"
    )
    upload = SimpleUploadedFile("usage.csv", text.encode(), content_type="text/csv")
    response = api.post("/api/v1/usage/csv/", {"file": upload}, format="multipart")
    assert response.status_code == 201, response.content
    assert response.json() == {"created": 2}
    assert sorted(UsageRecord.objects.values_list("quantity", flat=True)) == [D("3"), D("4.25")]


@pytest.mark.parametrize(
    ("text", "key"),
    [
        (b"usage_date,quantity\n2026-11-05,3\n", "file"),
        (b"subscription_charge,usage_date,quantity\n", "file"),
        (b"\xff\xfe\x00", "file"),
        (b"subscription_charge,usage_date,quantity\n{pk},2026-11-05,3\n{pk},2026-11-05,x\n",
         "rows.1.quantity"),
    ],
)  # fmt: skip
def test_invalid_csv_is_400_keyed_and_changes_nothing(operator, world, text, key):
    text = text.replace(b"{pk}", str(world["usage"].pk).encode())
    before = state()
    upload = SimpleUploadedFile("usage.csv", text, content_type="text/csv")
    response = token_client(operator).post(
        "/api/v1/usage/csv/", {"file": upload}, format="multipart"
    )
    assert_errors(response, 400, key)
    assert state() == before


# --- bill runs ------------------------------------------------------------------------------------


def test_create_with_every_option_then_read_the_live_counts(
    operator, world, django_capture_on_commit_callbacks
):
    api = token_client(operator)
    day = DAY.isoformat()
    body = {
        "name": "November",
        "scope": "batch",
        "batch": "Batch1",
        "bill_cycle_day": 1,
        "invoice_date": day,
        "target_date": day,
        "include_one_time": False,
        "include_recurring": True,
        "include_usage": False,
        "auto_post": False,
    }
    with django_capture_on_commit_callbacks(execute=True):
        response = api.post("/api/v1/bill-runs/", body, format="json")
    assert response.status_code == 201, response.content
    run = response.json()
    assert {k: run[k] for k in body if k not in ("invoice_date", "target_date")} == {
        k: v for k, v in body.items() if k not in ("invoice_date", "target_date")
    }
    # The test settings' task backend runs the run at once: its counts are final.
    one = api.get(f"/api/v1/bill-runs/{run['number']}/").json()
    assert one["status"] == "completed"
    assert (one["accounts_in_scope"], one["invoices_generated"]) == (1, 1)
    assert one["totals"] == [
        {"currency": "USD", "invoices": "100.00", "invoices_count": 1,
         "credit_memos": "0.00", "credit_memos_count": 0}
    ]  # fmt: skip
    with django_capture_on_commit_callbacks(execute=True):
        posted = api.post(f"/api/v1/bill-runs/{run['number']}/post/")
    assert posted.status_code == 200, posted.content
    assert api.get(f"/api/v1/bill-runs/{run['number']}/").json()["status"] == "posted"
    # Posted: cancel is refused by the state (409), and nothing changes.
    before = state()
    assert_errors(api.post(f"/api/v1/bill-runs/{run['number']}/cancel/"), 409, "__all__")
    assert_errors(api.post(f"/api/v1/bill-runs/{run['number']}/retry/"), 409, "__all__")
    assert state() == before


def test_cancel_a_completed_run_and_retry_failed_accounts(
    operator, world, django_capture_on_commit_callbacks
):
    api = token_client(operator)
    day = DAY.isoformat()
    with django_capture_on_commit_callbacks(execute=True):
        run = api.post(
            "/api/v1/bill-runs/", {"invoice_date": day, "target_date": day}, format="json"
        ).json()
    assert run["status"] in ("pending", "completed")
    with django_capture_on_commit_callbacks(execute=True):
        canceled = api.post(f"/api/v1/bill-runs/{run['number']}/cancel/")
    assert canceled.status_code == 200, canceled.content
    assert BillRun.objects.get(number=run["number"]).status == BillRunStatus.CANCELED
    failed = BillRun.objects.create(
        number="BR-F", invoice_date=DAY, target_date=DAY, status=BillRunStatus.COMPLETED
    )
    failed.errors.create(account=world["account"], reason="Broken")
    retried = api.post(f"/api/v1/bill-runs/{failed.number}/retry/")
    assert retried.status_code == 201, retried.content
    assert retried.json()["scope"] == "retry" and retried.json()["number"] != failed.number


@pytest.mark.parametrize(
    ("body", "key"),
    [
        ({"target_date": "2026-11-01"}, "invoice_date"),
        ({"invoice_date": "2026-11-01", "target_date": "2026-11-01", "scope": "account"},
         "account"),
        ({"invoice_date": "2026-11-01", "target_date": "2026-11-01", "scope": "account",
          "account": "A99999999"}, "account"),
        ({"invoice_date": "2026-11-01", "target_date": "2026-11-01", "scope": "batch"}, "batch"),
        ({"invoice_date": "2026-11-01", "target_date": "2026-11-01", "scope": "retry"}, "scope"),
        ({"invoice_date": "2026-11-01", "target_date": "2026-11-01", "bill_cycle_day": 40},
         "bill_cycle_day"),
    ],
)  # fmt: skip
def test_invalid_bill_runs_are_400_keyed_and_change_nothing(operator, body, key):
    before = state()
    response = token_client(operator).post("/api/v1/bill-runs/", body, format="json")
    assert_errors(response, 400, key)
    assert state() == before


# --- flat query counts ----------------------------------------------------------------------------


def list_queries(api, url: str) -> tuple[int, int]:
    with CaptureQueriesContext(connection) as queries:
        response = api.get(url + "?page_size=50")
    assert response.status_code == 200
    return len(response.json()["results"]), len(queries)


def add_rows(count: int, start: int) -> None:
    for n in range(start, start + count):
        account = AccountFactory()
        subscribe(account, "10")
        BillRun.objects.create(number=f"BR{n}", invoice_date=DAY, target_date=DAY, account=account)


@pytest.mark.parametrize("url", ["/api/v1/subscriptions/", "/api/v1/bill-runs/"])
def test_queries_per_list_request_are_the_same_for_1_and_50_rows(viewer, url):
    api = token_client(viewer)
    add_rows(1, 0)
    api.get(url)  # the token's last use is written once a minute
    rows_one, one = list_queries(api, url)
    add_rows(49, 1)
    rows_fifty, fifty = list_queries(api, url)
    assert (rows_one, rows_fifty) == (1, 50)
    assert one == fifty


# --- every other write, per role ------------------------------------------------------------------


def finished_run(world) -> BillRun:
    run = BillRun.objects.create(
        number="BR-DONE", invoice_date=DAY, target_date=DAY, status=BillRunStatus.COMPLETED
    )
    run.errors.create(account=world["account"], reason="Broken")
    return run


@pytest.mark.parametrize("role", ["reviewer", "viewer"])
@pytest.mark.parametrize("action", ["post", "cancel", "retry"])
def test_bill_run_actions_need_the_manage_permission(request, world, role, action):
    run = finished_run(world)
    before = state()
    api = token_client(request.getfixturevalue(role))
    assert_errors(api.post(f"/api/v1/bill-runs/{run.number}/{action}/"), 403, "__all__")
    assert_errors(APIClient().post(f"/api/v1/bill-runs/{run.number}/{action}/"), 401)
    assert state() == before


@pytest.mark.parametrize("role", ["operator", "billing_admin"])
def test_bill_run_actions_for_who_may_manage_runs(request, world, role):
    run = finished_run(world)
    api = token_client(request.getfixturevalue(role))
    assert api.post(f"/api/v1/bill-runs/{run.number}/retry/").status_code == 201
    assert api.post(f"/api/v1/bill-runs/{run.number}/post/").status_code == 200
    assert_errors(api.post("/api/v1/bill-runs/BR-NONE/post/"), 404, "__all__")


@pytest.mark.parametrize("role", ROLES)
def test_usage_from_csv_per_role(request, world, role):
    text = f"subscription_charge,usage_date,quantity\n{world['usage'].pk},2026-11-05,3\n"
    upload = SimpleUploadedFile("usage.csv", text.encode(), content_type="text/csv")
    before = state()
    response = token_client(request.getfixturevalue(role)).post(
        "/api/v1/usage/csv/", {"file": upload}, format="multipart"
    )
    if role in ("operator", "billing_admin"):
        assert response.status_code == 201, response.content
    else:
        assert_errors(response, 403, "__all__")
        assert state() == before
