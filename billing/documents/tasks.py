"""Background tasks of customer documents (the same task machinery as bill runs)."""

from __future__ import annotations

from django_tasks import task

from billing.documents import delivery


@task()
def send_document_email(email_id: int) -> str:
    return delivery.deliver_document_email(email_id=email_id)


@task()
def send_bill_run_emails(bill_run_id: int) -> int:
    return delivery.deliver_bill_run_emails(bill_run_id=bill_run_id)
