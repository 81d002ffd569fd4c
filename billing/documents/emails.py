"""Emailing customer documents (DOMAIN.md 7): the operator's requests, and a bill run's.

A request checks the rules and queues a DocumentEmail in one transaction; its background task
(billing.documents.tasks) renders the PDF, sends it and records the outcome. Nothing is queued
when the rules refuse: a document that is not posted, or an account without a bill-to email.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import transaction

from billing.busy import retry_when_busy
from billing.documents.context import kind_of
from billing.documents.delivery import email_subject, memo_event_fields
from billing.documents.tasks import send_bill_run_emails, send_document_email
from billing.models import (
    Account,
    BillingSettings,
    BillRun,
    DocumentEmail,
    EmailStatus,
    Invoice,
    InvoiceStatus,
)
from memos.models import Memo, MemoEvent, MemoStatus


def no_email_message(account: Account) -> str:
    return (
        f"Account {account.number} has no bill-to email: add one to the account "
        "(Django admin > Accounts) before emailing its documents."
    )


def email_refusal(document: Invoice | Memo) -> str:
    """Why this document cannot be emailed now ("" when it can)."""
    posted = InvoiceStatus.POSTED if isinstance(document, Invoice) else MemoStatus.POSTED
    if document.status != posted:
        return (
            f"{document.number} is {document.get_status_display()}: only posted documents are "
            "emailed to customers."
        )
    if not document.account.bill_to_email:
        return no_email_message(document.account)
    return ""


def lock_document(document: Invoice | Memo) -> Invoice | Memo:
    """The document's row, locked (only it: of=self), with its account and currency."""
    queryset = type(document).objects.select_related("account", "currency")
    return queryset.select_for_update(of=("self",)).get(pk=document.pk)


def document_link(document: Invoice | Memo) -> dict:
    return {"invoice": document} if isinstance(document, Invoice) else {"memo": document}


@retry_when_busy
@transaction.atomic
def email_document(*, document: Invoice | Memo, actor) -> DocumentEmail:
    """Queue an email of the posted document's PDF to its account's bill-to email."""
    document = lock_document(document)
    refusal = email_refusal(document)
    if refusal:
        raise ValidationError(refusal, code="not_emailable")
    email = DocumentEmail.objects.create(
        kind=kind_of(document),
        number=document.number,
        to_address=document.account.bill_to_email,
        subject=email_subject(document),
        requested_by=actor,
        **document_link(document),
    )
    transaction.on_commit(lambda: send_document_email.enqueue(email.pk))
    return email


@retry_when_busy
@transaction.atomic
def retry_document_email(*, email: DocumentEmail, actor) -> DocumentEmail:
    """Queue a failed email again, to the address it was for (or, when it had none, to the
    account's bill-to email now)."""
    email = DocumentEmail.objects.select_for_update().get(pk=email.pk)
    if email.status != EmailStatus.FAILED:
        raise ValidationError(
            f"The email of {email.number} to {email.to_address} is "
            f"{email.get_status_display().lower()}: only a failed email can be retried.",
            code="not_failed",
        )
    document = lock_document(email.document)
    if not email.to_address:
        if not document.account.bill_to_email:
            raise ValidationError(no_email_message(document.account), code="no_bill_to_email")
        email.to_address = document.account.bill_to_email
    email.status = EmailStatus.QUEUED
    email.error = ""
    email.requested_by = actor
    email.save(update_fields=["to_address", "status", "error", "requested_by", "updated_at"])
    transaction.on_commit(lambda: send_document_email.enqueue(email.pk))
    return email


def queue_bill_run_emails(*, bill_run: BillRun, invoice_ids: list[int], memo_ids: list[int]):
    """In the transaction that posts a bill run's documents: an email for each, sent by one
    background task. A document whose account has no bill-to email gets a failed email at once
    (so the run counts it, and it can be retried once the account has one)."""
    rows: list[DocumentEmail] = []
    seller = BillingSettings.load().seller_name
    invoices = Invoice.objects.filter(pk__in=invoice_ids, status=InvoiceStatus.POSTED)
    memos = Memo.objects.filter(pk__in=memo_ids, status=MemoStatus.POSTED)
    invoices = invoices.select_related("account", "currency")
    memos = memos.select_related("account", "currency")
    for document in [*invoices.order_by("pk"), *memos.order_by("pk")]:
        address = document.account.bill_to_email
        rows.append(
            DocumentEmail(
                kind=kind_of(document),
                number=document.number,
                to_address=address,
                subject=email_subject(document, seller),
                status=EmailStatus.QUEUED if address else EmailStatus.FAILED,
                error="" if address else no_email_message(document.account),
                attempts=0 if address else 1,
                bill_run=bill_run,
                requested_by=bill_run.created_by,
                **document_link(document),
            )
        )
    created = DocumentEmail.objects.bulk_create(rows, batch_size=1000)
    failed = [row for row in created if row.status == EmailStatus.FAILED and row.memo_id]
    if failed:
        for row in failed:
            row.bill_run = bill_run
        MemoEvent.objects.bulk_create(
            [MemoEvent(**memo_event_fields(row)) for row in failed], batch_size=1000
        )
    if any(row.status == EmailStatus.QUEUED for row in created):
        transaction.on_commit(lambda: send_bill_run_emails.enqueue(bill_run.pk))
    return created
