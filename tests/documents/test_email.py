"""Emailing customer documents (DOMAIN.md 7), with Django's locmem backend: the attachment is
the document's own PDF, the History records every send and failure with the address, a failure
can be retried, and nothing is queued when the rules refuse."""

from __future__ import annotations

import smtplib

import pytest
from django.core import mail
from django.core.exceptions import ValidationError
from django.urls import reverse

from billing.documents.context import render_document_pdf
from billing.documents.emails import email_document, retry_document_email
from billing.models import DocumentEmail, EmailStatus
from memos.models import MemoEvent

from .helpers import account_in, make_document, money, pdf_pages

FAILING = "tests.documents.failing_backend.RefusingBackend"


def attachment_text(message) -> tuple[str, str, str]:
    [(filename, content, mimetype)] = message.attachments
    return filename, mimetype, "\n".join(pdf_pages(content))


@pytest.mark.django_db
@pytest.mark.parametrize("kind", ["credit_memo", "debit_memo", "invoice"])
def test_email_sends_the_documents_pdf_to_the_bill_to_email(
    kind, operator, django_capture_on_commit_callbacks
):
    document = make_document(kind, "KWD", 3)
    with django_capture_on_commit_callbacks(execute=True):
        email = email_document(document=document, actor=operator)
    [message] = mail.outbox
    assert message.to == ["ap-kwd@example.com"]
    assert document.number in message.subject
    assert f"KWD {money(document.amount, 'KWD')}" in message.subject
    filename, mimetype, text = attachment_text(message)
    assert (filename, mimetype) == (f"{document.number}.pdf", "application/pdf")
    # The attachment is this document's PDF: same pages and text as its download.
    expected = "\n".join(pdf_pages(render_document_pdf(document)[1]))
    assert text == expected
    assert document.number in text
    email.refresh_from_db()
    assert email.status == EmailStatus.SENT and email.attempts == 1 and email.sent_at
    if kind != "invoice":
        event = MemoEvent.objects.get(memo=document, kind=MemoEvent.Kind.EMAILED)
        assert "ap-kwd@example.com" in event.message
        assert event.actor == operator


@pytest.mark.django_db
def test_a_failing_backend_records_the_failure_and_retry_sends_it(
    operator, settings, django_capture_on_commit_callbacks
):
    memo = make_document("credit_memo", "USD", 2)
    settings.EMAIL_BACKEND = FAILING
    with django_capture_on_commit_callbacks(execute=True):
        email = email_document(document=memo, actor=operator)
    email.refresh_from_db()
    assert email.status == EmailStatus.FAILED
    assert "mailbox unavailable" in email.error or "SMTPRecipientsRefused" in email.error
    failure = MemoEvent.objects.get(memo=memo, kind=MemoEvent.Kind.EMAIL_FAILED)
    assert "ap-usd@example.com" in failure.message and "failed" in failure.message
    assert not MemoEvent.objects.filter(memo=memo, kind=MemoEvent.Kind.EMAILED).exists()
    assert mail.outbox == []

    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    with django_capture_on_commit_callbacks(execute=True):
        retry_document_email(email=email, actor=operator)
    email.refresh_from_db()
    assert email.status == EmailStatus.SENT and email.attempts == 2 and email.error == ""
    [message] = mail.outbox
    assert attachment_text(message)[0] == f"{memo.number}.pdf"
    assert MemoEvent.objects.filter(memo=memo, kind=MemoEvent.Kind.EMAILED).count() == 1
    with pytest.raises(ValidationError, match="only a failed email can be retried"):
        retry_document_email(email=email, actor=operator)


@pytest.mark.django_db
def test_no_bill_to_email_is_refused_and_nothing_is_queued(operator):
    account = account_in("USD", bill_to_email="")
    memo = make_document("credit_memo", "USD", 1, account=account)
    with pytest.raises(ValidationError, match=f"Account {account.number} has no bill-to email"):
        email_document(document=memo, actor=operator)
    assert not DocumentEmail.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize("status", ["draft", "canceled"])
def test_only_posted_documents_are_emailed(operator, status):
    memo = make_document("debit_memo", "USD", 1, status=status)
    with pytest.raises(ValidationError, match="only posted documents"):
        email_document(document=memo, actor=operator)
    assert not DocumentEmail.objects.exists()


@pytest.mark.django_db
def test_a_task_that_runs_twice_sends_once(operator, django_capture_on_commit_callbacks):
    from billing.documents.delivery import deliver_document_email

    memo = make_document("credit_memo", "USD", 1)
    with django_capture_on_commit_callbacks(execute=True):
        email = email_document(document=memo, actor=operator)
    assert deliver_document_email(email_id=email.pk) == EmailStatus.SENT
    assert len(mail.outbox) == 1


# --- the pages -------------------------------------------------------------------------------


@pytest.mark.django_db
def test_memo_page_offers_download_and_email_with_the_address(client, operator):
    memo = make_document("credit_memo", "USD", 1)
    client.force_login(operator)
    page = client.get(memo.get_absolute_url()).content.decode()
    assert reverse("memos:memo_pdf", args=[memo.number]) in page
    assert "Download PDF" in page and "Email to customer" in page
    assert "to ap-usd@example.com" in page  # the confirmation names the address


@pytest.mark.django_db
def test_viewer_downloads_but_does_not_email(client, viewer):
    memo = make_document("credit_memo", "USD", 1)
    client.force_login(viewer)
    page = client.get(memo.get_absolute_url()).content.decode()
    assert "Download PDF" in page and "Email to customer" not in page
    response = client.get(reverse("memos:memo_pdf", args=[memo.number]))
    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    assert f'filename="{memo.number}.pdf"' in response["Content-Disposition"]
    assert "no-store" in response["Cache-Control"]
    assert memo.number in "\n".join(pdf_pages(response.content))
    assert client.post(reverse("memos:memo_email", args=[memo.number])).status_code == 403


@pytest.mark.django_db
def test_unknown_documents_are_404(client, operator):
    client.force_login(operator)
    assert client.get(reverse("memos:memo_pdf", args=["CM99999999"])).status_code == 404
    assert client.get(reverse("billing:invoice_pdf", args=["INV99999999"])).status_code == 404
    assert client.post(reverse("memos:memo_email", args=["CM99999999"])).status_code == 404


@pytest.mark.django_db
def test_invoice_email_view_queues_and_the_page_lists_it(
    client, operator, django_capture_on_commit_callbacks
):
    invoice = make_document("invoice", "JPY", 2)
    client.force_login(operator)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("billing:invoice_email", args=[invoice.number]), follow=True)
    page = response.content.decode()
    assert "is being emailed to ap-jpy@example.com" in page
    assert 'data-status="queued"' in page  # the task runs once the request has committed
    page = client.get(invoice.get_absolute_url()).content.decode()
    assert 'data-status="sent"' in page
    assert len(mail.outbox) == 1 and invoice.number in mail.outbox[0].subject


@pytest.mark.django_db
def test_email_view_refuses_without_bill_to_email(client, operator):
    account = account_in("USD", bill_to_email="")
    memo = make_document("credit_memo", "USD", 1, account=account)
    client.force_login(operator)
    page = client.get(memo.get_absolute_url()).content.decode()
    assert "has no bill-to email" in page  # said before the click
    response = client.post(reverse("memos:memo_email", args=[memo.number]), follow=True)
    assert "has no bill-to email" in response.content.decode()
    assert not DocumentEmail.objects.exists()


@pytest.mark.django_db
def test_retry_button_on_a_failed_email(
    client, operator, settings, django_capture_on_commit_callbacks
):
    memo = make_document("credit_memo", "USD", 1)
    settings.EMAIL_BACKEND = FAILING
    with django_capture_on_commit_callbacks(execute=True):
        email = email_document(document=memo, actor=operator)
    client.force_login(operator)
    retry_url = reverse("memos:memo_email_retry", args=[memo.number, email.pk])
    page = client.get(memo.get_absolute_url()).content.decode()
    assert retry_url in page and 'data-status="failed"' in page
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    with django_capture_on_commit_callbacks(execute=True):
        client.post(retry_url)
    email.refresh_from_db()
    assert email.status == EmailStatus.SENT and len(mail.outbox) == 1
    # Another document's email is not reachable through this memo's URL.
    other = make_document("credit_memo", "USD", 1)
    assert (
        client.post(reverse("memos:memo_email_retry", args=[other.number, email.pk])).status_code
        == 404
    )


@pytest.mark.parametrize(
    ("exc", "words"),
    [
        (
            smtplib.SMTPRecipientsRefused({"a@x.example": (550, b"no such user")}),
            "The mail server refused the address (a@x.example: 550 no such user).",
        ),
        (
            smtplib.SMTPDataError(554, b"message rejected"),
            "The mail server answered 554 message rejected.",
        ),
        (ConnectionRefusedError(111, "Connection refused"), "could not be reached"),
    ],
)
def test_failures_read_as_the_mail_servers_answer(exc, words):
    from billing.documents.delivery import failure_reason

    assert words in failure_reason(exc)
