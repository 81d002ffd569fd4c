"""Customer documents in the REST API (DOMAIN.md 7, docs/documents.md): the PDF of an invoice or
memo, Email to customer, the document's emails and Retry, for the invoices and memos resources
(CustomerDocumentActions). The same services, rules and permissions as the documents' pages."""

from __future__ import annotations

from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import exceptions, renderers, serializers
from rest_framework.decorators import action
from rest_framework.response import Response

from api.base import post_action
from api.fields import NumberOf
from api.schema import ERRORS, READ_ERRORS
from billing.document_views import pdf_response
from billing.documents.emails import email_document, retry_document_email
from billing.documents.pdf import PdfUnavailable
from billing.models import DocumentEmail, Invoice


class DocumentEmailSerializer(serializers.Serializer):
    id = serializers.IntegerField(help_text="What .../emails/<id>/retry/ names.")
    number = serializers.CharField(help_text="The document's number.")
    kind = serializers.CharField()
    to = serializers.CharField(source="to_address")
    subject = serializers.CharField()
    status = serializers.CharField(help_text="queued, sent or failed")
    error = serializers.CharField()
    attempts = serializers.IntegerField()
    bill_run = NumberOf()
    created_at = serializers.DateTimeField()
    sent_at = serializers.DateTimeField(allow_null=True)


class PdfRenderer(renderers.BaseRenderer):
    """Lets a client ask for application/pdf (the PDF actions answer it themselves)."""

    media_type = "application/pdf"
    format = "pdf"
    charset = None
    render_style = "binary"

    def render(self, data, accepted_media_type=None, renderer_context=None):
        return data


PDF_RESPONSES = {
    (200, "application/pdf"): OpenApiResponse(OpenApiTypes.BINARY, description="The PDF."),
    # Errors are JSON here too (api.base); 503: this server cannot make PDFs (no Pango).
    **{
        (code, "application/json"): response
        for code, response in {**READ_ERRORS, 503: ERRORS}.items()
    },
}


class ServiceUnavailable(exceptions.APIException):
    status_code = 503
    default_code = "unavailable"


# pdf, email, emails and retry_email for a ResourceViewSet whose get_object() (its
# target_queryset) is the URL's invoice or memo. (A comment, not a docstring: the schema would
# take a docstring for every operation's description.)
class CustomerDocumentActions:
    @extend_schema(
        responses=PDF_RESPONSES,
        summary="The customer document as a PDF",
        description=(
            "What the customer receives (docs/documents.md): seller, bill-to contact, dates, "
            "items and totals in the currency's format; a DRAFT watermark on drafts."
        ),
    )
    @action(
        detail=True,
        methods=["get"],
        url_path="pdf",
        url_name="pdf",
        renderer_classes=[PdfRenderer, renderers.JSONRenderer],
    )
    def pdf(self, request, number: str):
        try:
            return pdf_response(self.get_object())
        except PdfUnavailable as exc:
            raise ServiceUnavailable(str(exc)) from exc

    @post_action(
        path="email",
        responses=DocumentEmailSerializer,
        status_code=202,
        summary="Email the posted document's PDF to the account's bill-to email (queued; 409 "
        "when not posted or without a bill-to email, nothing queued)",
    )
    def email(self, request, number: str):
        email = self.act(email_document, document=self.get_object())
        return Response(DocumentEmailSerializer(email).data, status=202)

    @extend_schema(
        responses={200: DocumentEmailSerializer(many=True), **READ_ERRORS},
        summary="Every email of the document to the customer, oldest first",
        description="Each with its status (queued, sent, failed), address and failure reason.",
    )
    @action(detail=True, methods=["get"], url_path="emails", url_name="emails")
    def emails(self, request, number: str):
        rows = self.get_object().emails.select_related("bill_run").order_by("created_at", "id")
        return Response(DocumentEmailSerializer(rows, many=True).data)

    @post_action(
        path=r"emails/(?P<email_id>[0-9]{1,18})/retry",
        name="retry-email",
        responses=DocumentEmailSerializer,
        status_code=202,
        summary="Send a failed email again, to the address it was for (409 unless it failed)",
    )
    def retry_email(self, request, number: str, email_id: str):
        document = self.get_object()
        link = {"invoice": document} if isinstance(document, Invoice) else {"memo": document}
        email = get_object_or_404(DocumentEmail, pk=int(email_id), **link)
        email = self.act(retry_document_email, email=email)
        return Response(DocumentEmailSerializer(email).data, status=202)
