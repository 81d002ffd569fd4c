"""Sending a queued document email (the background half of DOMAIN.md 7's "Email to customer").

Rendering and sending happen outside any transaction (an SMTP server may take seconds); the
outcome is then recorded under the email's row lock, once: a task that runs twice, or after
another worker recorded the outcome, changes nothing.
"""

from __future__ import annotations

import logging
import smtplib

from django.conf import settings
from django.core.mail import EmailMessage
from django.db import transaction
from django.utils import timezone

from billing.busy import retry_when_busy
from billing.documents.context import TITLES, CustomerDocument, kind_of, render_document_pdf
from billing.models import BillingSettings, DocumentEmail, EmailStatus
from billing.money import money_label
from memos.models import MemoEvent

logger = logging.getLogger(__name__)

ERROR_LENGTH = 1000


def email_subject(document, seller: str | None = None) -> str:
    """'Credit Memo CM00000042: USD 44.00 from Acme Ltd' (DOMAIN.md 7: number and amount), for
    an invoice or memo (its currency loaded; its items are not needed)."""
    if seller is None:
        seller = BillingSettings.load().seller_name
    subject = f"{TITLES[kind_of(document)]} {document.number}: "
    subject += money_label(document.amount, document.currency)
    return f"{subject} from {seller}" if seller else subject


def email_body(doc: CustomerDocument) -> str:
    settings_row = BillingSettings.load()
    name = doc.account.bill_to_name or doc.account.name
    lines = [
        f"Dear {name},",
        "",
        f"Please find attached {doc.title.lower()} {doc.number} for {doc.amount_label} "
        f"(account {doc.account.number}).",
        "",
        "Kind regards,",
    ]
    if settings_row.seller_name:
        lines.append(settings_row.seller_name)
    if settings_row.document_footer.strip():
        lines += ["", settings_row.document_footer.strip()]
    return "\n".join(lines) + "\n"


def build_message(email: DocumentEmail) -> EmailMessage:
    doc, pdf = render_document_pdf(email.document)
    message = EmailMessage(
        subject=email.subject or email_subject(email.document),
        body=email_body(doc),
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[email.to_address],
    )
    message.attach(doc.filename, pdf, "application/pdf")
    return message


def deliver_document_email(*, email_id: int) -> str:
    """Send one queued email and record the outcome; returns the email's status."""
    email = (
        DocumentEmail.objects.select_related("invoice", "memo", "requested_by")
        .filter(pk=email_id)
        .first()
    )
    if email is None:
        return "gone"
    if email.status != EmailStatus.QUEUED:
        return email.status
    try:
        build_message(email).send(fail_silently=False)
    except Exception as exc:  # any failure (SMTP, network, rendering) is the email's outcome
        logger.warning("Emailing %s to %s failed: %s", email.number, email.to_address, exc)
        return record_outcome(email_id=email_id, sent=False, error=failure_reason(exc))
    return record_outcome(email_id=email_id, sent=True)


def text(value) -> str:
    return value.decode(errors="replace") if isinstance(value, bytes) else str(value)


def failure_reason(exc: Exception) -> str:
    """Why a send failed, in words an operator can act on (the mail server's own answer)."""
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        refused = "; ".join(
            f"{address}: {code} {text(message)}"
            for address, (code, message) in exc.recipients.items()
        )
        return f"The mail server refused the address ({refused})."
    if isinstance(exc, smtplib.SMTPResponseException):
        return f"The mail server answered {exc.smtp_code} {text(exc.smtp_error)}."
    if isinstance(exc, smtplib.SMTPServerDisconnected | OSError):
        return f"The mail server could not be reached ({type(exc).__name__}: {exc})."
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


@retry_when_busy
@transaction.atomic
def record_outcome(*, email_id: int, sent: bool, error: str = "") -> str:
    """Mark the (locked) email sent or failed and put it on the memo's History."""
    email = DocumentEmail.objects.select_for_update().get(pk=email_id)
    if email.status != EmailStatus.QUEUED:
        return email.status
    email.attempts += 1
    if sent:
        email.status, email.error, email.sent_at = EmailStatus.SENT, "", timezone.now()
    else:
        email.status, email.error = EmailStatus.FAILED, error[:ERROR_LENGTH]
    email.save(update_fields=["status", "error", "attempts", "sent_at", "updated_at"])
    if email.memo_id:
        MemoEvent.objects.create(**memo_event_fields(email))
    return email.status


def memo_event_fields(email: DocumentEmail) -> dict:
    """A MemoEvent for a send or a failure, with the address (DOMAIN.md 7)."""
    to = email.to_address or "(no bill-to email)"
    if email.status == EmailStatus.SENT:
        kind, message = MemoEvent.Kind.EMAILED, f"Emailed the PDF to {to}."
    else:
        kind, message = MemoEvent.Kind.EMAIL_FAILED, f"Email to {to} failed: {email.error}"
    after = {"To": to}
    if email.bill_run_id:
        after["Bill Run"] = email.bill_run.number
    return {
        "memo_id": email.memo_id,
        "kind": kind,
        "actor": email.requested_by,
        "message": message[:500],
        "after": after,
    }


def deliver_bill_run_emails(*, bill_run_id: int) -> int:
    """Send every queued email of a bill run, one by one; returns how many were tried."""
    tried = 0
    last_id = 0
    while True:
        ids = list(
            DocumentEmail.objects.filter(
                bill_run_id=bill_run_id, status=EmailStatus.QUEUED, pk__gt=last_id
            )
            .order_by("pk")
            .values_list("pk", flat=True)[:200]
        )
        if not ids:
            return tried
        for email_id in ids:
            deliver_document_email(email_id=email_id)
            tried += 1
        last_id = ids[-1]
