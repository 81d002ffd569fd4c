"""Customer documents (DOMAIN.md 7): every email of a memo's or an invoice's PDF to the customer."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

from .bill_runs import BillRun
from .invoices import Invoice


class DocumentKind(models.TextChoices):
    INVOICE = "invoice", "Invoice"
    CREDIT_MEMO = "credit_memo", "Credit memo"
    DEBIT_MEMO = "debit_memo", "Debit memo"


class EmailStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    SENT = "sent", "Sent"
    FAILED = "failed", "Failed"


class DocumentEmail(models.Model):
    """One email of a document's PDF to the customer's bill-to address: queued by an operator
    (or by a bill run that posts the document), then sent or failed by a background task. A failed
    one can be retried (queued again, to the same address). The memo's History records every send
    and failure too; an invoice's emails are its history of sends.
    """

    kind = models.CharField(max_length=16, choices=DocumentKind.choices)
    # The number as it was when the email was asked for (what the subject and the file say).
    number = models.CharField(max_length=32)
    invoice = models.ForeignKey(
        Invoice, on_delete=models.CASCADE, null=True, blank=True, related_name="emails"
    )
    memo = models.ForeignKey(
        "memos.Memo", on_delete=models.CASCADE, null=True, blank=True, related_name="emails"
    )
    to_address = models.EmailField("To", max_length=254, blank=True)
    subject = models.CharField(max_length=255, blank=True)
    status = models.CharField(max_length=8, choices=EmailStatus.choices, default=EmailStatus.QUEUED)
    error = models.TextField(blank=True)
    attempts = models.PositiveIntegerField(default=0)
    bill_run = models.ForeignKey(
        BillRun, on_delete=models.SET_NULL, null=True, blank=True, related_name="document_emails"
    )
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["created_at", "id"]
        verbose_name = "document email"
        permissions = [("email_documents", "Email documents to customers")]
        indexes = [
            models.Index(fields=["bill_run", "status"], name="document_email_bill_run"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=(Q(invoice__isnull=False) & Q(memo__isnull=True))
                | (Q(invoice__isnull=True) & Q(memo__isnull=False)),
                name="document_email_one_document",
                violation_error_message="An email is of one invoice or one memo.",
            ),
            models.CheckConstraint(
                condition=Q(kind="invoice", invoice__isnull=False)
                | Q(kind__in=["credit_memo", "debit_memo"], memo__isnull=False),
                name="document_email_kind_matches_document",
                violation_error_message="An email's kind is its document's type.",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.number} to {self.to_address or '(no address)'}: {self.get_status_display()}"

    @property
    def document(self):
        return self.invoice if self.invoice_id else self.memo
