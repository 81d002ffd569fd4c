"""/api/v1/accounts/, /invoices/, /catalog/products/: read per role, 401 / 403, the UI lists'
filters, error shape, flat query counts."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from billing.factories import AccountFactory, ChargeFactory, ChargePriceFactory, ProductFactory
from billing.models import InvoiceStatus
from tests.api.conftest import token_client
from tests.api.test_memos_api import assert_errors
from tests.memos.creation_helpers import posted_invoice

pytestmark = pytest.mark.django_db
ROLES = ["operator", "reviewer", "viewer", "billing_admin"]


def urls() -> list[str]:
    invoice = posted_invoice("100", "50")
    product = ProductFactory()
    return [
        "/api/v1/accounts/",
        f"/api/v1/accounts/{invoice.account.number}/",
        "/api/v1/invoices/",
        f"/api/v1/invoices/{invoice.number}/",
        "/api/v1/catalog/products/",
        f"/api/v1/catalog/products/{product.sku}/",
    ]


@pytest.mark.parametrize("role", ROLES)
def test_every_role_reads_accounts_invoices_and_the_catalog(request, role):
    api = token_client(request.getfixturevalue(role))
    for url in urls():
        assert api.get(url).status_code == 200, url


def test_anonymous_revoked_and_roleless_are_refused(revoked_client, no_role_user):
    targets = urls()
    for client, status in [
        (APIClient(), 401),
        (revoked_client, 401),
        (token_client(no_role_user), 403),
    ]:
        for url in targets:
            assert_errors(client.get(url), status, "__all__")


def test_an_account_reads_with_its_balance_summary(viewer):
    invoice = posted_invoice("100")
    body = token_client(viewer).get(f"/api/v1/accounts/{invoice.account.number}/").json()
    assert body["number"] == invoice.account.number
    assert body["balance"] == body["invoice_balance"] == "110.00"
    assert body["credit_unapplied"] == "0.00"


def test_an_invoice_reads_with_the_item_ids_a_memo_names(viewer):
    invoice = posted_invoice("100", "50")
    body = token_client(viewer).get(f"/api/v1/invoices/{invoice.number}/").json()
    assert body["status"] == InvoiceStatus.POSTED
    assert body["amount"] == "165.00"
    assert [item["id"] for item in body["items"]] == [
        item.pk for item in invoice.items.order_by("sort_order", "id")
    ]
    assert [item["amount"] for item in body["items"]] == ["110.00", "55.00"]


def test_the_catalog_lists_charges_with_their_prices(viewer):
    product = ProductFactory(name="Platform")
    charge = ChargeFactory(product=product, name="Seats")
    ChargePriceFactory(charge=charge)
    rows = token_client(viewer).get("/api/v1/catalog/products/").json()["results"]
    assert [(r["sku"], [c["id"] for c in r["charges"]]) for r in rows] == [
        (product.sku, [charge.pk])
    ]
    assert len(rows[0]["charges"][0]["prices"]) == 1


def test_the_lists_take_the_ui_filters(viewer):
    first = posted_invoice("100")
    second = posted_invoice("100")
    api = token_client(viewer)
    rows = api.get("/api/v1/invoices/", {"account": second.account.number}).json()["results"]
    assert [r["number"] for r in rows] == [second.number]
    rows = api.get("/api/v1/accounts/", {"q": first.account.number}).json()["results"]
    assert [r["number"] for r in rows] == [first.account.number]
    assert_errors(api.get("/api/v1/invoices/", {"status": "lost"}), 400, "status")
    assert_errors(api.get("/api/v1/accounts/", {"sort": "balance"}), 400, "sort")


def test_unknown_documents_are_404(viewer):
    api = token_client(viewer)
    for url in ["/api/v1/accounts/A99999999/", "/api/v1/invoices/INV99999999/"]:
        assert_errors(api.get(url), 404, "__all__")


LISTS = {
    "/api/v1/accounts/": lambda: AccountFactory(),
    "/api/v1/invoices/": lambda: posted_invoice("10"),
    "/api/v1/catalog/products/": lambda: ChargePriceFactory(charge=ChargeFactory()),
}


@pytest.mark.parametrize("url", list(LISTS))
def test_queries_per_list_request_are_the_same_for_1_and_50_rows(viewer, url):
    api = token_client(viewer)
    api.get(url)  # the token's last-used time, written once a minute
    counts = []
    for rows in (1, 50):
        while len(api.get(url, {"page_size": 200}).json()["results"]) < rows:
            LISTS[url]()
        with CaptureQueriesContext(connection) as queries:
            response = api.get(url)
        assert len(response.json()["results"]) == rows
        counts.append(len(queries))
    assert counts[0] == counts[1], counts
