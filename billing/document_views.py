"""Customer documents (DOMAIN.md 7): the PDF of a memo or an invoice, "Email to customer" and
Retry. The invoice views are here; memos/views/documents.py has the memo ones, on these bases."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.utils.cache import add_never_cache_headers
from django.views import View
from django_htmx.http import HttpResponseClientRedirect

from billing import permissions as perms
from billing.documents.context import render_document_pdf
from billing.documents.emails import email_document, email_refusal, retry_document_email
from billing.documents.pdf import PdfUnavailable
from billing.models import DocumentEmail, Invoice
from billing.money import money_label
from billing.permissions import PermissionMixin


def go_to(request, url: str) -> HttpResponse:
    return HttpResponseClientRedirect(url) if request.htmx else redirect(url)


def pdf_response(document) -> HttpResponse:
    doc, pdf = render_document_pdf(document)
    response = HttpResponse(pdf, content_type="application/pdf")
    response["Content-Disposition"] = f'attachment; filename="{doc.filename}"'
    # A customer document: never kept by a shared cache.
    add_never_cache_headers(response)
    response["Cache-Control"] += ", private"
    return response


def email_action(document, user) -> dict:
    """Whether the page shows "Email to customer", and why it is refused when it is."""
    if not user.has_perm(perms.EMAIL_DOCUMENTS):
        return {"shown": False}
    return {
        "shown": True,
        "refusal": email_refusal(document),
        "address": document.account.bill_to_email,
    }


def document_emails(document) -> list[DocumentEmail]:
    return list(
        document.emails.select_related("requested_by", "bill_run").order_by("created_at", "id")
    )


class DocumentViewMixin(PermissionMixin):
    """`get_document(number)`: the invoice or memo of the URL, or 404."""

    def get_document(self, number: str):
        raise NotImplementedError


class DocumentPdfView(DocumentViewMixin, View):
    http_method_names = ["get", "head"]

    def get(self, request, number: str) -> HttpResponse:
        document = self.get_document(number)
        try:
            return pdf_response(document)
        except PdfUnavailable as exc:
            # Back to the document, saying what the server lacks, rather than a server error.
            messages.error(request, str(exc))
            return go_to(request, document.get_absolute_url())


class DocumentEmailView(DocumentViewMixin, View):
    """Queue "Email to customer"; back to the document's page with what happened."""

    http_method_names = ["post"]
    permission_required = perms.EMAIL_DOCUMENTS

    def post(self, request, number: str) -> HttpResponse:
        document = self.get_document(number)
        try:
            email = email_document(document=document, actor=request.user)
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
        else:
            amount = money_label(document.amount, document.currency)
            messages.success(
                request,
                f"{document.number} ({amount}) is being emailed to {email.to_address}; "
                "Customer emails shows when it is sent.",
            )
        return go_to(request, document.get_absolute_url())


class DocumentEmailRetryView(DocumentViewMixin, View):
    http_method_names = ["post"]
    permission_required = perms.EMAIL_DOCUMENTS

    def post(self, request, number: str, email_id: int) -> HttpResponse:
        document = self.get_document(number)
        email = get_object_or_404(document.emails, pk=email_id)
        try:
            email = retry_document_email(email=email, actor=request.user)
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
        else:
            messages.success(
                request, f"{document.number} is being emailed to {email.to_address} again."
            )
        return go_to(request, document.get_absolute_url())


class InvoiceDocumentMixin(DocumentViewMixin):
    def get_document(self, number: str) -> Invoice:
        return get_object_or_404(
            Invoice.objects.select_related("account", "currency"), number=number
        )


class InvoicePdfView(InvoiceDocumentMixin, DocumentPdfView):
    permission_required = perms.VIEW_INVOICES


class InvoiceEmailView(InvoiceDocumentMixin, DocumentEmailView):
    pass


class InvoiceEmailRetryView(InvoiceDocumentMixin, DocumentEmailRetryView):
    pass
