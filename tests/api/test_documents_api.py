"""Customer documents in the API (DOMAIN.md 7): the PDFs, emailing, the emails and Retry, with
the UI's permissions and refusals; the bill-to contact on accounts."""

from __future__ import annotations

import pytest
from django.core import mail

from billing.models import DocumentEmail, EmailStatus
from tests.documents.helpers import account_in, make_document, pdf_pages

from .conftest import token_client

FAILING = "tests.documents.failing_backend.RefusingBackend"


@pytest.mark.django_db
@pytest.mark.parametrize("role", ["operator", "reviewer", "viewer", "billing_admin"])
@pytest.mark.parametrize(("kind", "resource"), [("credit_memo", "memos"), ("invoice", "invoices")])
def test_every_role_downloads_the_pdf(request, role, kind, resource):
    document = make_document(kind, "JPY", 2)
    client = token_client(request.getfixturevalue(role))
    response = client.get(f"/api/v1/{resource}/{document.number}/pdf/")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    assert document.number in "\n".join(pdf_pages(response.content))
    accepted = client.get(
        f"/api/v1/{resource}/{document.number}/pdf/", HTTP_ACCEPT="application/pdf"
    )
    assert accepted.status_code == 200


@pytest.mark.django_db
@pytest.mark.parametrize("resource", ["memos", "invoices"])
def test_unknown_document_pdf_is_404_json(operator, resource):
    response = token_client(operator).get(f"/api/v1/{resource}/XX00000000/pdf/")
    assert response.status_code == 404
    assert "errors" in response.json()


@pytest.mark.django_db
def test_anonymous_gets_401(client):
    memo = make_document("credit_memo", "USD", 1)
    assert client.get(f"/api/v1/memos/{memo.number}/pdf/").status_code == 401


@pytest.mark.django_db
@pytest.mark.parametrize(("kind", "resource"), [("debit_memo", "memos"), ("invoice", "invoices")])
def test_operator_emails_and_reads_the_emails(
    operator, kind, resource, django_capture_on_commit_callbacks
):
    document = make_document(kind, "KWD", 2)
    client = token_client(operator)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(f"/api/v1/{resource}/{document.number}/email/")
    assert response.status_code == 202, response.content
    body = response.json()
    assert (body["number"], body["to"], body["status"]) == (
        document.number,
        "ap-kwd@example.com",
        "queued",
    )
    [message] = mail.outbox
    assert message.attachments[0][0] == f"{document.number}.pdf"
    emails = client.get(f"/api/v1/{resource}/{document.number}/emails/").json()
    assert [(e["status"], e["to"]) for e in emails] == [("sent", "ap-kwd@example.com")]


@pytest.mark.django_db
@pytest.mark.parametrize("role", ["reviewer", "viewer"])
def test_roles_without_the_permission_get_403_and_nothing_is_queued(request, role):
    memo = make_document("credit_memo", "USD", 1)
    client = token_client(request.getfixturevalue(role))
    assert client.post(f"/api/v1/memos/{memo.number}/email/").status_code == 403
    assert client.get(f"/api/v1/memos/{memo.number}/emails/").status_code == 200
    assert not DocumentEmail.objects.exists()


@pytest.mark.django_db
def test_refusals_are_409_and_queue_nothing(operator):
    client = token_client(operator)
    no_email = make_document("credit_memo", "USD", 1, account=account_in("USD", bill_to_email=""))
    response = client.post(f"/api/v1/memos/{no_email.number}/email/")
    assert response.status_code == 409
    assert "has no bill-to email" in str(response.json()["errors"])
    draft = make_document("invoice", "USD", 1, status="draft")
    response = client.post(f"/api/v1/invoices/{draft.number}/email/")
    assert response.status_code == 409
    assert "only posted documents" in str(response.json()["errors"])
    assert not DocumentEmail.objects.exists()


@pytest.mark.django_db
def test_retry_a_failed_email(operator, settings, django_capture_on_commit_callbacks):
    memo = make_document("credit_memo", "USD", 1)
    client = token_client(operator)
    settings.EMAIL_BACKEND = FAILING
    with django_capture_on_commit_callbacks(execute=True):
        email_id = client.post(f"/api/v1/memos/{memo.number}/email/").json()["id"]
    assert DocumentEmail.objects.get(pk=email_id).status == EmailStatus.FAILED
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(f"/api/v1/memos/{memo.number}/emails/{email_id}/retry/")
    assert response.status_code == 202
    assert DocumentEmail.objects.get(pk=email_id).status == EmailStatus.SENT
    again = client.post(f"/api/v1/memos/{memo.number}/emails/{email_id}/retry/")
    assert again.status_code == 409
    other = make_document("credit_memo", "USD", 1)
    assert client.post(f"/api/v1/memos/{other.number}/emails/{email_id}/retry/").status_code == 404


@pytest.mark.django_db
def test_accounts_show_the_bill_to_contact(operator):
    account = account_in("USD", bill_to_name="Accounts Payable")
    body = token_client(operator).get(f"/api/v1/accounts/{account.number}/").json()
    assert body["bill_to_name"] == "Accounts Payable"
    assert body["bill_to_email"] == "ap-usd@example.com"
    assert body["bill_to_address"] == "1 Harbour Street\nPort Town 4001"


@pytest.mark.django_db
def test_the_admin_sets_the_bill_to_contact_through_the_api(billing_admin):
    client = token_client(billing_admin)
    created = client.post(
        "/api/v1/accounts/",
        {
            "name": "Initech",
            "currency": "USD",
            "bill_cycle_day": 1,
            "bill_to_email": "ap@initech.example",
            "bill_to_address": "1 Initech Way",
        },
        format="json",
    )
    assert created.status_code == 201, created.content
    number = created.json()["number"]
    assert created.json()["bill_to_email"] == "ap@initech.example"
    changed = client.patch(
        f"/api/v1/accounts/{number}/", {"bill_to_name": "Initech AP"}, format="json"
    )
    assert changed.status_code == 200
    assert changed.json()["bill_to_name"] == "Initech AP"
    assert changed.json()["bill_to_email"] == "ap@initech.example"  # left as it was
    refused = client.patch(
        f"/api/v1/accounts/{number}/", {"bill_to_email": "not an address"}, format="json"
    )
    assert refused.status_code == 400 and "bill_to_email" in refused.json()["errors"]


@pytest.mark.django_db
def test_a_bill_run_asked_to_email_its_documents(operator, reviewer):
    body = {"invoice_date": "2026-11-01", "target_date": "2026-11-01", "email_documents": True}
    created = token_client(operator).post("/api/v1/bill-runs/", body, format="json")
    assert created.status_code == 201, created.content
    assert created.json()["email_documents"] is True
