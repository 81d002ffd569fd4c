"""/api/v1/memos/: list, retrieve, create from an invoice and from charges, post, unpost, cancel,
delete; each role, anonymous and a revoked token; errors in the documented shape; nothing changed
on a refusal; Idempotency-Key; throttling; flat query counts."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from api.models import IdempotentRequest
from billing.factories import AccountFactory, ChargeFactory, ChargePriceFactory, UserFactory
from billing.roles import BILLING_VIEWER
from memos.factories import MemoFactory
from memos.models import Memo, MemoEvent, MemoStatus, MemoType
from tests.api.conftest import token_client
from tests.memos.creation_helpers import MEMO_DATE, items_of, posted_invoice

pytestmark = pytest.mark.django_db
MEMOS = "/api/v1/memos/"
ROLES = ["operator", "reviewer", "viewer", "billing_admin"]
WRITERS = {"operator", "billing_admin"}


def state() -> tuple:
    """What a refusal must leave unchanged."""
    return (
        list(Memo.objects.order_by("pk").values_list("pk", "status", "amount", "updated_at")),
        MemoEvent.objects.count(),
        IdempotentRequest.objects.count(),
    )


def from_invoice_body(invoice, amount="10.00", **header) -> dict:
    item = items_of(invoice)[0]
    return {
        "memo_type": "credit",
        "invoice": invoice.number,
        "memo_date": MEMO_DATE.isoformat(),
        "items": [{"invoice_item": item.pk, "amount": amount}],
        **header,
    }


def assert_errors(response, status: int, *keys: str) -> dict:
    assert response.status_code == status, response.content
    body = response.json()
    assert list(body) == ["errors"]
    for key in keys:
        assert body["errors"].get(key), (key, body)
        assert all(isinstance(m, str) and m for m in body["errors"][key])
    return body["errors"]


# --- reads ---------------------------------------------------------------------------------


@pytest.mark.parametrize("role", ROLES)
def test_every_role_lists_and_reads_memos(request, role):
    memo = MemoFactory(status=MemoStatus.POSTED)
    api = token_client(request.getfixturevalue(role))
    listed = api.get(MEMOS)
    assert listed.status_code == 200
    assert [row["number"] for row in listed.json()["results"]] == [memo.number]
    one = api.get(f"{MEMOS}{memo.number}/")
    assert one.status_code == 200
    body = one.json()
    assert body["number"] == memo.number and body["status"] == "posted"
    assert {"items", "applications", "refunds", "history"} <= set(body)


def test_retrieve_gives_items_money_in_the_currency_and_history(operator):
    invoice = posted_invoice("100")
    api = token_client(operator)
    created = api.post(f"{MEMOS}from-invoice/", from_invoice_body(invoice, "10"), format="json")
    assert created.status_code == 201, created.content
    body = api.get(f"{MEMOS}{created.json()['number']}/").json()
    assert body["amount_excl_tax"] == "10.00"
    assert body["tax_amount"] == "1.00"  # the STD code's 10%
    assert body["amount"] == "11.00"
    assert body["invoice"] == invoice.number and body["account"] == invoice.account.number
    assert [item["amount"] for item in body["items"]] == ["11.00"]
    assert [event["kind"] for event in body["history"]] == ["created"]
    assert body == created.json()


def test_the_list_takes_the_ui_filters_and_sorts(operator):
    drafts = [MemoFactory(status=MemoStatus.DRAFT) for _ in range(3)]
    posted = MemoFactory(status=MemoStatus.POSTED)
    api = token_client(operator)
    rows = api.get(MEMOS, {"status": "draft", "sort": "number"}).json()["results"]
    assert [r["number"] for r in rows] == sorted(m.number for m in drafts)
    assert posted.number not in {r["number"] for r in rows}
    rows = api.get(MEMOS, {"account": posted.account.number}).json()["results"]
    assert [r["number"] for r in rows] == [posted.number]


def test_cursor_pages_walk_every_row_once(operator):
    memos = [MemoFactory() for _ in range(5)]
    api = token_client(operator)
    seen, url = [], MEMOS + "?sort=number&page_size=2"
    while url:
        page = api.get(url).json()
        seen += [row["number"] for row in page["results"]]
        url = page["next"]
    assert seen == sorted(m.number for m in memos)
    last = api.get(MEMOS + "?sort=number&page_size=2").json()
    back = api.get(api.get(last["next"]).json()["previous"]).json()
    assert [r["number"] for r in back["results"]] == [r["number"] for r in last["results"]]


@pytest.mark.parametrize(
    ("params", "key"),
    [
        ({"status": "nope"}, "status"),
        ({"amount_min": "1e3"}, "amount"),
        ({"sort": "colour"}, "sort"),
        ({"sort": ""}, "sort"),
        ({"after": "garbage"}, "after"),
        ({"page_size": "0"}, "page_size"),
        ({"number": "x" * 5000}, "number"),
    ],
)
def test_bad_list_parameters_are_400_in_the_error_shape(operator, params, key):
    MemoFactory()
    assert_errors(token_client(operator).get(MEMOS, params), 400, key)


def test_an_unknown_memo_is_404_in_the_error_shape(operator):
    assert_errors(token_client(operator).get(f"{MEMOS}CM99999999/"), 404, "__all__")


@pytest.mark.parametrize("rows", [1, 50])
def test_queries_per_list_request_do_not_grow_with_rows(operator, rows):
    api = token_client(operator)
    api.get(MEMOS)  # the token's last-used time is written once a minute, not per request
    for _ in range(rows):
        MemoFactory()
    with CaptureQueriesContext(connection) as queries:
        response = api.get(MEMOS)
    assert len(response.json()["results"]) == rows
    # Token + user, permissions, the page (with its rows' relations).
    assert len(queries) == QUERIES_PER_LIST, [q["sql"] for q in queries]


QUERIES_PER_LIST = 3


# --- anonymous, revoked, roles -------------------------------------------------------------


WRITES = [
    ("post", lambda m, i: (f"{MEMOS}from-invoice/", from_invoice_body(i))),
    ("post", lambda m, i: (f"{MEMOS}{m.number}/post/", None)),
    ("post", lambda m, i: (f"{MEMOS}{m.number}/unpost/", None)),
    ("post", lambda m, i: (f"{MEMOS}{m.number}/cancel/", None)),
    ("delete", lambda m, i: (f"{MEMOS}{m.number}/", None)),
]
READS = [lambda m: MEMOS, lambda m: f"{MEMOS}{m.number}/"]


@pytest.fixture
def draft_and_invoice(operator):
    invoice = posted_invoice("100")
    memo = MemoFactory(status=MemoStatus.DRAFT, account=invoice.account)
    return memo, invoice


@pytest.mark.parametrize("who", ["anonymous", "revoked"])
def test_anonymous_and_revoked_tokens_get_401_and_change_nothing(
    who, draft_and_invoice, revoked_client
):
    memo, invoice = draft_and_invoice
    api = APIClient() if who == "anonymous" else revoked_client
    for url in READS:
        assert_errors(api.get(url(memo)), 401, "__all__")
    before = state()
    for method, target in WRITES:
        url, body = target(memo, invoice)
        assert_errors(getattr(api, method)(url, body, format="json"), 401, "__all__")
    assert state() == before


@pytest.mark.parametrize("role", ["reviewer", "viewer"])
def test_roles_without_the_permission_get_403_and_change_nothing(request, role, draft_and_invoice):
    memo, invoice = draft_and_invoice
    api = token_client(request.getfixturevalue(role))
    before = state()
    for method, target in WRITES:
        url, body = target(memo, invoice)
        response = getattr(api, method)(url, body, format="json", HTTP_IDEMPOTENCY_KEY="k")
        assert_errors(response, 403, "__all__")
    assert state() == before


def test_nobody_deletes_a_memo_without_the_personal_permission(billing_admin):
    memo = MemoFactory(status=MemoStatus.CANCELED)
    before = state()
    assert_errors(token_client(billing_admin).delete(f"{MEMOS}{memo.number}/"), 403, "__all__")
    assert state() == before


def test_session_users_use_the_api_too_with_csrf(client, operator):
    memo = MemoFactory()
    client.force_login(operator)
    assert client.get(f"{MEMOS}{memo.number}/").status_code == 200


# --- writes --------------------------------------------------------------------------------


@pytest.mark.parametrize("role", sorted(WRITERS))
def test_writers_create_post_unpost_and_cancel(request, role):
    invoice = posted_invoice("100")
    api = token_client(request.getfixturevalue(role))
    created = api.post(f"{MEMOS}from-invoice/", from_invoice_body(invoice), format="json")
    assert created.status_code == 201, created.content
    number = created.json()["number"]
    assert created.json()["status"] == "draft"
    posted = api.post(f"{MEMOS}{number}/post/")
    assert posted.status_code == 200 and posted.json()["status"] == "posted"
    unposted = api.post(f"{MEMOS}{number}/unpost/")
    assert unposted.status_code == 200 and unposted.json()["status"] == "draft"
    canceled = api.post(f"{MEMOS}{number}/cancel/")
    assert canceled.status_code == 200 and canceled.json()["status"] == "canceled"
    assert Memo.objects.get(number=number).status == MemoStatus.CANCELED


def test_a_user_granted_delete_deletes_a_canceled_memo(billing_admin):
    from django.contrib.auth.models import Permission

    billing_admin.user_permissions.add(Permission.objects.get(codename="delete_memo"))
    memo = MemoFactory(status=MemoStatus.CANCELED)
    response = token_client(billing_admin).delete(f"{MEMOS}{memo.number}/")
    assert response.status_code == 204
    assert not Memo.objects.filter(pk=memo.pk).exists()


def test_create_from_charges(operator):
    account = AccountFactory()
    charge = ChargeFactory(taxable=False)
    ChargePriceFactory(charge=charge, currency=account.currency)
    body = {
        "memo_type": "debit",
        "account": account.number,
        "memo_date": MEMO_DATE.isoformat(),
        "reason_code": "Ad hoc Debit",
        "lines": [{"charge": charge.pk, "amount": "25.50", "description": "Setup"}],
    }
    response = token_client(operator).post(f"{MEMOS}from-charges/", body, format="json")
    assert response.status_code == 201, response.content
    memo = Memo.objects.get(number=response.json()["number"])
    assert memo.memo_type == MemoType.DEBIT and memo.reason_code.name == "Ad hoc Debit"
    assert response.json()["amount"] == "25.50"


@pytest.mark.parametrize(
    ("change", "keys"),
    [
        ({"memo_type": "loan"}, ["memo_type"]),
        ({"memo_date": "yesterday"}, ["memo_date"]),
        ({"reason_code": "Because"}, ["reason_code"]),
        ({"invoice": "INV-NOPE"}, ["invoice"]),
        ({"items": []}, ["__all__"]),
        ({"items": [{"invoice_item": 1, "amount": "1e3"}]}, ["items.0.amount"]),
        ({"items": [{"invoice_item": 999999, "amount": "1"}]}, ["items.0.invoice_item"]),
        ({"items": "all"}, ["items"]),
    ],
)
def test_invalid_creates_are_400_keyed_by_field_or_row_and_change_nothing(operator, change, keys):
    invoice = posted_invoice("100")
    before = state()
    body = {**from_invoice_body(invoice), **change}
    response = token_client(operator).post(f"{MEMOS}from-invoice/", body, format="json")
    assert_errors(response, 400, *keys)
    assert state() == before


def test_a_service_refusal_is_400_with_the_services_message_on_the_row(operator):
    invoice = posted_invoice("100")
    before = state()
    response = token_client(operator).post(
        f"{MEMOS}from-invoice/", from_invoice_body(invoice, "500"), format="json"
    )
    errors = assert_errors(response, 400)
    assert any("available to credit" in m for ms in errors.values() for m in ms), errors
    assert "items.0" in errors, errors
    assert state() == before


@pytest.mark.parametrize("action", ["unpost", "cancel"])
def test_an_action_the_state_refuses_is_409_and_changes_nothing(operator, action):
    memo = MemoFactory(status=MemoStatus.CANCELED)
    before = state()
    response = token_client(operator).post(f"{MEMOS}{memo.number}/{action}/")
    assert_errors(response, 409, "__all__")
    assert state() == before


# --- Idempotency-Key -----------------------------------------------------------------------


def test_a_create_with_a_key_made_twice_makes_one_memo_and_answers_the_same(operator):
    invoice = posted_invoice("100")
    api = token_client(operator)
    body = from_invoice_body(invoice)
    first = api.post(f"{MEMOS}from-invoice/", body, format="json", HTTP_IDEMPOTENCY_KEY="abc")
    again = api.post(f"{MEMOS}from-invoice/", body, format="json", HTTP_IDEMPOTENCY_KEY="abc")
    assert first.status_code == again.status_code == 201
    assert first.json() == again.json()
    assert again["Idempotent-Replayed"] == "true"
    assert Memo.objects.count() == 1
    other = {**body, "items": [{**body["items"][0], "amount": "9"}]}
    before = state()
    reused = api.post(f"{MEMOS}from-invoice/", other, format="json", HTTP_IDEMPOTENCY_KEY="abc")
    assert_errors(reused, 422, "__all__")
    assert state() == before


def test_two_users_keys_never_meet(operator, billing_admin):
    invoice = posted_invoice("100")
    body = from_invoice_body(invoice)
    for user in (operator, billing_admin):
        response = token_client(user).post(
            f"{MEMOS}from-invoice/", body, format="json", HTTP_IDEMPOTENCY_KEY="same"
        )
        assert response.status_code == 201
    assert Memo.objects.count() == 2


def test_an_action_with_a_key_runs_once_and_replays_its_answer(operator):
    memo = MemoFactory(status=MemoStatus.POSTED)
    api = token_client(operator)
    url = f"{MEMOS}{memo.number}/unpost/"
    first = api.post(url, HTTP_IDEMPOTENCY_KEY="k1")
    assert first.status_code == 200
    events = MemoEvent.objects.count()
    again = api.post(url, HTTP_IDEMPOTENCY_KEY="k1")
    assert again.status_code == 200 and again.json() == first.json()
    assert MemoEvent.objects.count() == events
    other = api.post(f"{MEMOS}{memo.number}/cancel/", HTTP_IDEMPOTENCY_KEY="k1")
    assert_errors(other, 422, "__all__")
    assert Memo.objects.get(pk=memo.pk).status == MemoStatus.DRAFT


def test_a_refused_action_leaves_its_key_free(operator):
    memo = MemoFactory(status=MemoStatus.CANCELED)
    api = token_client(operator)
    assert api.post(f"{MEMOS}{memo.number}/cancel/", HTTP_IDEMPOTENCY_KEY="k").status_code == 409
    assert not IdempotentRequest.objects.exists()


def test_an_overlong_key_is_400(operator):
    memo = MemoFactory(status=MemoStatus.POSTED)
    response = token_client(operator).post(
        f"{MEMOS}{memo.number}/unpost/", HTTP_IDEMPOTENCY_KEY="k" * 256
    )
    assert_errors(response, 400, "Idempotency-Key")
    assert Memo.objects.get(pk=memo.pk).status == MemoStatus.POSTED


# --- throttling ----------------------------------------------------------------------------


def test_requests_beyond_the_rate_get_429_with_retry_after(operator, settings):
    settings.API_THROTTLE_RATE = "3/minute"
    api = token_client(operator)
    assert [api.get(MEMOS).status_code for _ in range(3)] == [200, 200, 200]
    throttled = api.get(MEMOS)
    assert_errors(throttled, 429, "__all__")
    assert int(throttled["Retry-After"]) > 0
    # Per token: another token of another user is not throttled.
    assert token_client(UserFactory(roles=[BILLING_VIEWER])).get(MEMOS).status_code == 200


# --- what schemathesis found ---------------------------------------------------------------


def test_a_method_an_endpoint_does_not_take_is_405(operator):
    memo = MemoFactory()
    api = token_client(operator)
    for method, url in [("put", f"{MEMOS}{memo.number}/"), ("get", f"{MEMOS}{memo.number}/post/")]:
        assert_errors(getattr(api, method)(url), 405, "__all__")
    for method in ("TRACE", "OPTIONS"):
        assert_errors(api.generic(method, f"{MEMOS}{memo.number}/post/"), 405, "__all__")
        assert_errors(api.generic(method, MEMOS), 405, "__all__")


@pytest.mark.parametrize("role", ["viewer", "operator"])
def test_a_post_to_a_memo_itself_is_405_and_posts_nothing(request, role):
    # The post action once answered POST /memos/<number>/ too (a method named `post` on the
    # viewset), skipping its permission: a viewer could post a memo.
    memo = MemoFactory(status=MemoStatus.DRAFT)
    before = state()
    response = token_client(request.getfixturevalue(role)).post(f"{MEMOS}{memo.number}/")
    assert_errors(response, 405, "__all__")
    assert "POST" not in response["Allow"]
    assert state() == before


def test_an_unmapped_method_is_401_for_anonymous():
    memo = MemoFactory()
    assert_errors(APIClient().put(f"{MEMOS}{memo.number}/"), 401, "__all__")


@pytest.mark.parametrize(
    "path",
    [
        "nothing/",
        "memos/a/b/c/",
        "memos/CM%00/",
        "memos/" + "9" * 99 + "/",
        # A line break in a path (schemathesis sent one as an email id): still the API's 404.
        "invoices/INV1/emails/%0A/retry/",
        "memos/CM%0A/",
    ],
)
def test_unknown_paths_and_numbers_are_a_json_404(operator, path):
    assert_errors(token_client(operator).get(f"/api/v1/{path}"), 404, "__all__")


def test_ids_beyond_the_id_column_are_400_not_an_overflow(operator):
    account = AccountFactory()
    body = {
        "memo_type": "credit",
        "account": account.number,
        "lines": [{"charge": 2**70, "amount": "1"}],
    }
    response = token_client(operator).post(f"{MEMOS}from-charges/", body, format="json")
    assert_errors(response, 400, "lines.0.charge")
