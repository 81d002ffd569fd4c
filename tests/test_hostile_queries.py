"""NUL bytes and other hostile text in URLs and queries (item 4 of "Production-ready").

PostgreSQL refuses a NUL in any text it is sent ("A string literal cannot contain NUL (0x00)
characters", a DataError), so a NUL that reaches a query is a 500 there, while SQLite just finds
nothing. The fixes sit where the text comes in: document numbers in URLs only match the number
alphabet (a path converter, so anything else is a 404 before any view runs), list cursors are
validated, query parameters that are looked up (the account searches, ?account=) refuse a NUL
with a 400, and bulk-transfer numbers outside the alphabet are reported as not found without a
query. Every case asserts no 500, the specific answer, and an unchanged database.
"""

from __future__ import annotations

import base64
import json

import pytest
from django.urls import reverse

from billing.factories import AccountFactory, BillRunFactory, InvoiceFactory, UserFactory
from memos.factories import MemoApplicationFactory, MemoFactory
from memos.models import Memo, MemoStatus, TransferStatus
from tests.hostile_helpers import db_state, messages_of, text_of
from tests.test_url_permissions import all_patterns

pytestmark = pytest.mark.django_db

HTMX = {"HX-Request": "true"}
PLACEHOLDER = "ZZ9PLACEHOLDER"
# Document numbers as they arrive in a path (percent-encoded, as a browser or curl sends them).
HOSTILE_NUMBERS = [
    pytest.param("%00", id="nul"),
    pytest.param("CM0000%0001", id="nul-inside"),
    pytest.param("%00%00%00", id="nuls"),
    pytest.param("CM00000001%00", id="nul-after-a-real-number"),
    pytest.param("A" * 41, id="too-long"),
    pytest.param("CM%2500", id="percent"),
    pytest.param("%E2%80%AE", id="unicode-override"),
]


@pytest.fixture
def superuser_client(client):
    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    return client


@pytest.fixture
def documents(db):
    """One of each document, so a lookup that ignored the NUL would find something."""
    memo = MemoFactory(status=MemoStatus.POSTED)
    return {
        "account": AccountFactory(),
        "invoice": InvoiceFactory(),
        "bill_run": BillRunFactory(),
        "memo": memo,
        "application": MemoApplicationFactory(credit_memo=memo),
    }


def number_routes() -> list[tuple[str, str]]:
    """(URL name, path with PLACEHOLDER for the number) of every URL that takes a number."""
    routes = []
    for name, _route, pattern in all_patterns():
        if "number" not in pattern.pattern.converters:
            continue
        # The number is the hostile part; any other id in the path (an application's, an
        # email's, a payment method's) is a plain 1.
        kwargs = {key: 1 for key in pattern.pattern.converters if key != "number"}
        kwargs["number"] = PLACEHOLDER
        routes.append((name, reverse(name, kwargs=kwargs)))
    return routes


def test_every_document_page_is_covered():
    names = {name for name, _ in number_routes()}
    assert {
        "billing:account_detail",
        "billing:invoice_detail",
        "billing:bill_run_detail",
        "billing:bill_run_post",
        "billing:bill_run_cancel",
        "billing:bill_run_delete",
        "billing:bill_run_retry",
        "memos:memo_detail",
        "memos:memo_create_from_invoice",
        "memos:memo_post",
        "memos:memo_transfer",
        "memos:memo_apply",
        "memos:memo_unapply",
        "memos:memo_refund",
        "memos:memo_reverse",
        "memos:memo_write_off",
        "memos:memo_edit",
    } <= names


@pytest.mark.parametrize("number", HOSTILE_NUMBERS)
@pytest.mark.parametrize("method", ["get", "post"])
def test_a_hostile_number_in_any_document_url_is_a_404(superuser_client, documents, number, method):
    """Signed in with every permission, so nothing stops the request before the lookup."""
    before = db_state()
    for name, path in number_routes():
        url = path.replace(PLACEHOLDER, number)
        response = getattr(superuser_client, method)(url, headers=HTMX)
        assert response.status_code == 404, (name, url, response.status_code)
        response = getattr(superuser_client, method)(url)
        assert response.status_code == 404, (name, url, response.status_code)
    assert db_state() == before


@pytest.mark.parametrize(
    ("client_role", "path"),
    [
        ("operator", "/memos/%00/"),
        ("operator", "/memos/%00/post/"),
        ("operator", "/memos/%00/cancel/"),
        ("operator", "/memos/%00/apply/"),
        ("operator", "/memos/%00/refund/"),
        ("operator", "/memos/%00/applications/1/unapply/"),
        ("reviewer", "/memos/%00/transfer/"),
        ("operator", "/invoices/%00/"),
        ("operator", "/invoices/%00/memos/new/?type=credit"),
        ("operator", "/accounts/%00/"),
        ("operator", "/bill-runs/%00/"),
        ("operator", "/bill-runs/%00/post/"),
        ("operator", "/bill-runs/%00/cancel/"),
    ],
)
def test_the_roles_that_use_a_page_get_a_404_too(client, request, client_role, path):
    client.force_login(request.getfixturevalue(client_role))
    before = db_state()
    for method in ("get", "post"):
        assert getattr(client, method)(path).status_code == 404, (method, path)
    assert db_state() == before


def test_real_numbers_still_resolve(superuser_client, documents):
    for key in ("account", "invoice", "bill_run", "memo"):
        url = documents[key].get_absolute_url()
        assert superuser_client.get(url).status_code == 200, url


# --- list cursors -------------------------------------------------------------------------------


def cursor(value, pk) -> str:
    return base64.urlsafe_b64encode(json.dumps([value, pk]).encode()).decode().rstrip("=")


LISTS = [
    pytest.param("/memos/", "number", id="memos"),
    pytest.param("/invoices/", "number", id="invoices"),
    pytest.param("/accounts/", "name", id="accounts"),
    pytest.param("/bill-runs/", "number", id="bill-runs"),
]


@pytest.mark.parametrize(("url", "sort"), LISTS)
@pytest.mark.parametrize("param", ["after", "before"])
@pytest.mark.parametrize(
    "value",
    [
        pytest.param(cursor("CM\x00", 1), id="nul-in-the-value"),
        pytest.param(cursor("\x00", 1), id="only-nul"),
        pytest.param("\x00", id="nul-as-the-cursor"),
        pytest.param(cursor("CM00000001", "\x00"), id="nul-as-the-id"),
    ],
)
def test_a_nul_in_a_list_cursor_says_the_link_is_invalid(
    client, operator, documents, url, sort, param, value
):
    client.force_login(operator)
    for headers in ({}, HTMX):
        response = client.get(url, {"sort": sort, param: value}, headers=headers)
        assert response.status_code == 200
        assert "This page link is no longer valid" in text_of(response)
        assert response.context["rows"] == []


# --- filters and searches -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "params"),
    [
        ("/memos/", {"account": "\x00"}),
        ("/memos/", {"account": "A\x00"}),
        ("/memos/", {"number": "CM\x00"}),
        ("/memos/", {"bill_run": "\x00"}),
        ("/invoices/", {"account": "\x00"}),
        ("/invoices/", {"number": "\x00"}),
        ("/invoices/", {"bill_run": "\x00"}),
        ("/accounts/", {"q": "\x00"}),
        ("/bill-runs/", {"number": "\x00"}),
    ],
)
def test_a_nul_in_a_list_filter_is_an_error_beside_the_filter(
    client, operator, documents, url, params
):
    client.force_login(operator)
    for headers in ({}, HTMX):
        response = client.get(url, params, headers=headers)
        assert response.status_code == 200
        assert "Null characters are not allowed." in text_of(response)
        assert response.context["rows"] == []


@pytest.mark.parametrize("param", ["charge", "created_by"])
@pytest.mark.parametrize("typed", ["9" * 30, "-1", "1.5", "1e3"])
def test_an_id_filter_out_of_range_is_an_error_beside_the_filter(
    client, operator, documents, param, typed
):
    """The memo list's id filters (the insight's links) take whole ids that fit the database's
    bigint; a larger one overflowed SQLite's driver (a 500 the fuzz suite found)."""
    client.force_login(operator)
    response = client.get("/memos/", {param: typed})
    assert response.status_code == 200
    assert response.context["filterset"].errors[param]
    assert response.context["rows"] == []
    assert client.get("/memos/export.csv", {param: typed}).status_code == 400


def test_a_nul_in_an_export_filter_is_a_400(client, operator, documents):
    client.force_login(operator)
    response = client.get("/memos/export.csv", {"account": "\x00"})
    assert response.status_code == 400
    assert "Null characters are not allowed." in response.content.decode()


@pytest.mark.parametrize(
    "url", ["/memos/new/?type=credit", "/memos/new/?type=debit", "/bill-runs/new/"]
)
@pytest.mark.parametrize("typed", ["\x00", "Acme\x00", "A00000001\x00"])
def test_a_nul_in_the_account_search_is_a_400(client, operator, documents, url, typed):
    client.force_login(operator)
    response = client.get(url, {"account": typed}, headers={**HTMX, "HX-Trigger-Name": "account"})
    assert response.status_code == 400


@pytest.mark.parametrize(
    "url", ["/memos/new/?type=credit", "/memos/new/?type=debit", "/bill-runs/new/"]
)
def test_a_nul_in_the_account_of_a_new_page_link_is_a_400(client, operator, documents, url):
    client.force_login(operator)
    response = client.get(url, {"account": documents["account"].number + "\x00"})
    assert response.status_code == 400


def test_the_account_search_and_link_still_work(client, operator, documents):
    client.force_login(operator)
    account = documents["account"]
    search = client.get(
        "/memos/new/?type=credit",
        {"account": account.number},
        headers={**HTMX, "HX-Trigger-Name": "account"},
    )
    assert search.status_code == 200 and account.number in search.content.decode()
    page = client.get("/memos/new/?type=credit", {"account": account.number})
    assert page.status_code == 200 and account.number in page.content.decode()


def test_a_nul_in_typed_text_of_the_create_forms_is_a_form_error(client, operator, documents):
    client.force_login(operator)
    before = db_state()
    response = client.post(
        "/memos/new/?type=debit",
        {"account": "\x00", "comments": "\x00", "line": ["a1"], "line-a1-description": "\x00"},
    )
    assert response.status_code == 200
    assert "Null characters are not allowed." in text_of(response)
    assert db_state() == before


# --- bulk transfer ------------------------------------------------------------------------------


def bulk(client, numbers, **extra):
    data = {"number": numbers, "transferred_to_accounting": "yes", "next": "/memos/", **extra}
    return client.post(reverse("memos:memo_bulk_transfer"), data, follow=True)


@pytest.mark.parametrize(
    "numbers",
    [
        pytest.param(["\x00"], id="nul"),
        pytest.param(["CM00000001\x00"], id="nul-after"),
        pytest.param(["\x00", "CM\x0000000001", "x" * 100], id="several"),
    ],
)
def test_hostile_bulk_transfer_numbers_are_not_found_and_change_nothing(
    client, reviewer, documents, numbers
):
    client.force_login(reviewer)
    before = db_state()
    response = bulk(client, numbers)
    assert response.status_code == 200
    assert response.redirect_chain[-1][0] == "/memos/"
    [message] = messages_of(response)
    assert message.startswith("No memo with the number")
    assert "\x00" not in message and "\\x00" in message
    assert db_state() == before


def test_a_hostile_number_beside_real_ones_is_reported_and_the_real_ones_change(
    client, reviewer, documents
):
    client.force_login(reviewer)
    memo = documents["memo"]
    response = bulk(client, [memo.number, memo.number + "\x00"])
    assert response.status_code == 200
    assert Memo.objects.get(pk=memo.pk).transferred_to_accounting == TransferStatus.YES
    assert any(m.startswith("No memo with the number") for m in messages_of(response))


def test_hostile_bulk_transfer_numbers_over_htmx(client, reviewer, documents):
    client.force_login(reviewer)
    before = db_state()
    response = client.post(
        reverse("memos:memo_bulk_transfer"),
        {"number": ["\x00"], "transferred_to_accounting": "yes", "next": "/memos/?after=%00"},
        headers=HTMX,
    )
    assert response.status_code == 200
    assert "No memo with the number" in text_of(response)
    assert db_state() == before


def test_a_nul_as_the_transfer_value_is_refused(client, reviewer, documents):
    client.force_login(reviewer)
    memo = documents["memo"]
    before = db_state()
    response = client.post(
        reverse("memos:memo_transfer", args=[memo.number]),
        {"transferred_to_accounting": "\x00"},
        headers=HTMX,
    )
    assert response.status_code == 200
    assert "is not a Transferred to Accounting value" in text_of(response)
    assert db_state() == before
