"""Signed-in answers are never stored (by the browser or a proxy): Back then loads the page
again instead of showing a stale form, whose resubmit would replay an old idempotency key, and
nobody else's data stays in a shared cache. Static files stay cacheable."""

from __future__ import annotations

import pytest
from django.urls import reverse

from memos.models import Memo
from tests.memos.test_creation_views import (
    charges_url,
    from_invoice_url,
    invoice_form_data,
)
from tests.memos.test_creation_views_idempotency import platform_and_support_invoice

pytestmark = pytest.mark.django_db


@pytest.fixture
def invoice():
    return platform_and_support_invoice()


def test_signed_in_pages_and_exports_are_not_stored(operator_client, invoice):
    for url in (
        "/",
        from_invoice_url(invoice),
        charges_url(),
        reverse("memos:memo_list"),
        reverse("memos:memo_export"),
        reverse("billing:invoice_list"),
        invoice.get_absolute_url(),
        invoice.account.get_absolute_url(),
    ):
        response = operator_client.get(url)
        assert response.status_code == 200, url
        assert "no-store" in response["Cache-Control"], url
        assert "private" in response["Cache-Control"], url


def test_no_store_keeps_the_htmx_vary_header(operator_client, invoice):
    data = invoice_form_data(invoice, {"Platform": "40"}, preview="1")
    response = operator_client.post(from_invoice_url(invoice), data, headers={"HX-Request": "true"})
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    assert "HX-Request" in response["Vary"]


def test_the_redirect_after_a_create_and_the_memo_page_are_not_stored(operator_client, invoice):
    response = operator_client.post(
        from_invoice_url(invoice), invoice_form_data(invoice, {"Platform": "40"})
    )
    assert response.status_code == 302
    assert "no-store" in response["Cache-Control"]
    memo_page = operator_client.get(Memo.objects.get().get_absolute_url())
    assert "no-store" in memo_page["Cache-Control"]


def test_refused_and_forbidden_answers_are_not_stored_either(client, viewer, invoice):
    client.force_login(viewer)
    response = client.get(from_invoice_url(invoice))
    assert response.status_code == 403
    assert "no-store" in response["Cache-Control"]


def test_static_files_stay_cacheable(operator_client):
    response = operator_client.get("/static/css/memodesk.css")
    assert response.status_code == 200
    assert "no-store" not in response.get("Cache-Control", "")
