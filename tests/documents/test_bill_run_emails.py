"""A bill run with "Email documents when posted" (DOMAIN.md 7): posting it emails every document
it posts to its account's bill-to email, and its page counts what was sent and what failed."""

from __future__ import annotations

import pytest
from django.core import mail
from django.urls import reverse

from billing.factories import currency
from billing.models import BillRun, DocumentEmail, EmailStatus
from memos.models import MemoEvent
from tests.billing.bill_run_helpers import bill, invoices_of, memos_of, new_account, post, subscribe


@pytest.fixture
def accounts(db):
    usd = currency("USD")
    payer = new_account(currency=usd, bill_to_email="ap@payer.example")
    creditor = new_account(currency=usd, bill_to_email="ap@creditor.example")
    silent = new_account(currency=usd, bill_to_email="")  # no bill-to email
    subscribe(payer, "120.00")
    subscribe(creditor, "-30.00")  # a net-negative account: a credit memo
    subscribe(silent, "50.00")
    return payer, creditor, silent


@pytest.mark.django_db
def test_posting_emails_every_posted_document_and_counts_them(
    accounts, operator, client, django_capture_on_commit_callbacks
):
    payer, creditor, silent = accounts
    run = bill(operator, email_documents=True)
    assert run.email_documents
    with django_capture_on_commit_callbacks(execute=True):
        run = post(run, operator)
    assert run.status == "posted"
    [invoice] = invoices_of(run, payer)
    [memo] = memos_of(run, creditor)
    sent = {message.to[0]: message for message in mail.outbox}
    assert set(sent) == {"ap@payer.example", "ap@creditor.example"}
    assert invoice.number in sent["ap@payer.example"].subject
    assert sent["ap@payer.example"].attachments[0][0] == f"{invoice.number}.pdf"
    assert memo.number in sent["ap@creditor.example"].subject
    assert MemoEvent.objects.filter(memo=memo, kind=MemoEvent.Kind.EMAILED).exists()
    [failed] = DocumentEmail.objects.filter(bill_run=run, status=EmailStatus.FAILED)
    assert failed.invoice.account == silent and "has no bill-to email" in failed.error

    client.force_login(operator)
    page = client.get(run.get_absolute_url()).content.decode()
    assert "Email documents when posted" in page
    assert 'id="count-emails-sent">2<' in page
    assert 'id="count-emails-failed">1<' in page


@pytest.mark.django_db
def test_without_the_option_nothing_is_emailed(
    accounts, operator, django_capture_on_commit_callbacks
):
    run = bill(operator)
    with django_capture_on_commit_callbacks(execute=True):
        post(run, operator)
    assert mail.outbox == [] and not DocumentEmail.objects.exists()


@pytest.mark.django_db
def test_the_new_bill_run_form_sets_the_option(client, operator):
    client.force_login(operator)
    response = client.post(
        reverse("billing:bill_run_new"),
        {
            "scope": "all",
            "invoice_date": "2026-11-01",
            "target_date": "2026-11-01",
            "include_one_time": "on",
            "include_recurring": "on",
            "include_usage": "on",
            "email_documents": "on",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    assert BillRun.objects.get().email_documents is True


@pytest.mark.django_db
def test_a_user_who_may_not_email_cannot_ask_a_run_to():
    from django.contrib.auth.models import Permission
    from django.core.exceptions import ValidationError

    from billing.factories import UserFactory
    from tests.billing.bill_run_helpers import create_run

    user = UserFactory()
    user.user_permissions.add(Permission.objects.get(codename="manage_billrun"))
    with pytest.raises(ValidationError, match="may not email documents"):
        create_run(user, email_documents=True)
    assert not BillRun.objects.exists()


@pytest.mark.django_db
def test_a_document_without_bill_to_email_is_retried_once_the_account_has_one(
    accounts, operator, django_capture_on_commit_callbacks
):
    from billing.documents.emails import retry_document_email

    _payer, _creditor, silent = accounts
    run = bill(operator, email_documents=True)
    with django_capture_on_commit_callbacks(execute=True):
        post(run, operator)
    failed = DocumentEmail.objects.get(bill_run=run, status=EmailStatus.FAILED)
    assert failed.to_address == ""
    silent.bill_to_email = "ap@silent.example"
    silent.save()
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        retry_document_email(email=failed, actor=operator)
    failed.refresh_from_db()
    assert (failed.status, failed.to_address) == (EmailStatus.SENT, "ap@silent.example")
    assert [m.to for m in mail.outbox] == [["ap@silent.example"]]
