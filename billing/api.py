"""The billing resources of the REST API: accounts (with their balance and bill-to contact),
invoices (with their items: the ids a memo from an invoice names) and the product catalog. The
lists take the UI lists' filters and sorts. Customer documents (DOMAIN.md 7): every invoice's and
memo's PDF, and emailing it to the customer (CustomerDocumentActions, which memos/api.py uses
too)."""

from __future__ import annotations

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import Prefetch
from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_field
from rest_framework import renderers, serializers, status
from rest_framework.decorators import action
from rest_framework.response import Response

from api.base import ApiViewSet
from api.errors import conflict
from api.fields import MoneyField, NumberOf
from api.filters import UiFilterBackend
from api.idempotency import idempotent
from api.pagination import KeysetPagination, SortedList
from api.schema import ACTION_ERRORS, LIST_ERRORS, READ_ERRORS
from billing.document_views import pdf_response
from billing.documents.emails import email_document, retry_document_email
from billing.models import Charge, ChargePrice, DocumentEmail, Invoice, Product
from billing.views import AccountDetailView, AccountListView, InvoiceDetailView, InvoiceListView


class AccountSerializer(serializers.Serializer):
    number = serializers.CharField()
    name = serializers.CharField()
    currency = serializers.CharField(source="currency_id")
    bill_cycle_day = serializers.IntegerField()
    batch = serializers.CharField()
    status = serializers.CharField()
    created_at = serializers.DateTimeField()
    # The bill-to contact (DOMAIN.md 7): who documents are addressed and emailed to.
    bill_to_name = serializers.CharField()
    bill_to_email = serializers.CharField()
    bill_to_address = serializers.CharField()
    # The balance summary of the account page (billing.selectors.accounts_with_balance).
    balance = MoneyField()
    invoice_balance = MoneyField()
    debit_balance = MoneyField()
    credit_unapplied = MoneyField()


class InvoiceSummarySerializer(serializers.Serializer):
    number = serializers.CharField()
    account = NumberOf()
    account_name = serializers.CharField(source="account.name")
    currency = serializers.CharField(source="currency_id")
    invoice_date = serializers.DateField()
    due_date = serializers.DateField()
    status = serializers.CharField()
    amount_excl_tax = MoneyField()
    tax_amount = MoneyField()
    amount = MoneyField()
    balance = MoneyField()
    created_at = serializers.DateTimeField()
    posted_at = serializers.DateTimeField(allow_null=True)


class InvoiceItemSerializer(serializers.Serializer):
    id = serializers.IntegerField(help_text="What a memo from this invoice names as invoice_item.")
    charge = serializers.IntegerField(source="charge_id", allow_null=True)
    charge_name = serializers.CharField()
    description = serializers.CharField()
    service_start = serializers.DateField(allow_null=True)
    service_end = serializers.DateField(allow_null=True)
    quantity = serializers.CharField()
    unit_of_measure = serializers.CharField()
    unit_price = serializers.CharField()
    tax_code = serializers.CharField(source="tax_code.code", allow_null=True, default=None)
    tax_mode = serializers.CharField()
    amount_excl_tax = MoneyField(currency_from="invoice.currency")
    tax_amount = MoneyField(currency_from="invoice.currency")
    amount = MoneyField(currency_from="invoice.currency")
    balance = MoneyField(currency_from="invoice.currency")


class InvoiceSerializer(InvoiceSummarySerializer):
    bill_run = NumberOf()
    items = serializers.SerializerMethodField()

    @extend_schema_field(InvoiceItemSerializer(many=True))
    def get_items(self, invoice) -> list:
        items = list(invoice.items.all())
        for item in items:
            item.invoice = invoice  # its currency without a query per item
        return InvoiceItemSerializer(items, many=True).data


class PriceSerializer(serializers.Serializer):
    currency = serializers.CharField(source="currency_id")
    list_price = serializers.CharField()


class ChargeSerializer(serializers.Serializer):
    id = serializers.IntegerField(help_text="What a memo from charges names as charge.")
    name = serializers.CharField()
    charge_type = serializers.CharField()
    charge_model = serializers.CharField()
    unit_of_measure = serializers.CharField()
    billing_period = serializers.CharField()
    taxable = serializers.BooleanField()
    tax_code = serializers.CharField(source="tax_code.code", allow_null=True, default=None)
    active = serializers.BooleanField()
    prices = PriceSerializer(many=True)


class ProductSerializer(serializers.Serializer):
    sku = serializers.CharField()
    name = serializers.CharField()
    description = serializers.CharField()
    charges = ChargeSerializer(many=True)


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
    # Errors are JSON here too (api.base).
    **{(code, "application/json"): response for code, response in READ_ERRORS.items()},
}


# pdf, email, emails and retry_email for a viewset whose `document()` is the URL's invoice or
# memo: the same services and rules as the document's page. (A comment, not a docstring: the
# schema would take a docstring for every operation's description.)
class CustomerDocumentActions:
    def document(self):
        raise NotImplementedError

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
        return pdf_response(self.document())

    @extend_schema(
        request=None,
        responses={202: DocumentEmailSerializer, **ACTION_ERRORS},
        summary="Email the posted document's PDF to the account's bill-to email",
        description=(
            "Queues the email (sent in the background): 202 with it, status queued. 409 when "
            "the document is not posted or its account has no bill-to email (nothing queued). "
            "GET .../emails/ shows when it is sent or why it failed."
        ),
    )
    @action(detail=True, methods=["post"], url_path="email", url_name="email")
    @idempotent
    def email(self, request, number: str):
        try:
            email = email_document(document=self.document(), actor=request.user)
        except DjangoValidationError as exc:
            raise conflict(exc) from exc
        return Response(DocumentEmailSerializer(email).data, status=status.HTTP_202_ACCEPTED)

    @extend_schema(
        responses={200: DocumentEmailSerializer(many=True), **READ_ERRORS},
        summary="Every email of the document to the customer, oldest first",
        description="Each with its status (queued, sent, failed), address and failure reason.",
    )
    @action(detail=True, methods=["get"], url_path="emails", url_name="emails")
    def emails(self, request, number: str):
        rows = self.document().emails.select_related("bill_run").order_by("created_at", "id")
        return Response(DocumentEmailSerializer(rows, many=True).data)

    @extend_schema(
        request=None,
        responses={202: DocumentEmailSerializer, **ACTION_ERRORS},
        summary="Send a failed email again",
        description="To the address it was for; 409 unless the email failed.",
    )
    @action(
        detail=True,
        methods=["post"],
        url_path=r"emails/(?P<email_id>[0-9]{1,18})/retry",
        url_name="retry-email",
    )
    @idempotent
    def retry_email(self, request, number: str, email_id: str):
        email = get_object_or_404(DocumentEmail, pk=int(email_id), **self.email_link())
        try:
            email = retry_document_email(email=email, actor=request.user)
        except DjangoValidationError as exc:
            raise conflict(exc) from exc
        return Response(DocumentEmailSerializer(email).data, status=status.HTTP_202_ACCEPTED)

    def email_link(self) -> dict:
        document = self.document()
        return {"invoice": document} if isinstance(document, Invoice) else {"memo": document}


class AccountViewSet(SortedList, ApiViewSet):
    resource = "accounts"
    pagination_class = KeysetPagination
    filter_backends = [UiFilterBackend]
    filterset_class = AccountListView.filterset_class
    sort_fields = AccountListView.sort_fields
    sort_columns = AccountListView.sort_columns
    default_sort = AccountListView.default_sort
    serializer_class = AccountSerializer

    def get_queryset(self):
        return AccountListView().get_queryset()

    @extend_schema(responses={200: AccountSerializer(many=True), **LIST_ERRORS})
    def list(self, request):
        rows = self.paginate_queryset(self.filter_queryset(self.get_queryset()))
        return self.get_paginated_response(AccountSerializer(rows, many=True).data)

    @extend_schema(responses={200: AccountSerializer, **READ_ERRORS})
    def retrieve(self, request, number: str):
        view = AccountDetailView(kwargs={"number": number})
        return Response(AccountSerializer(view.get_object()).data)


class InvoiceViewSet(CustomerDocumentActions, SortedList, ApiViewSet):
    resource = "invoices"
    pagination_class = KeysetPagination
    filter_backends = [UiFilterBackend]
    filterset_class = InvoiceListView.filterset_class
    sort_fields = InvoiceListView.sort_fields
    sort_columns = InvoiceListView.sort_columns
    default_sort = InvoiceListView.default_sort
    serializer_class = InvoiceSerializer

    def get_queryset(self):
        return InvoiceListView().get_queryset()

    @extend_schema(responses={200: InvoiceSummarySerializer(many=True), **LIST_ERRORS})
    def list(self, request):
        rows = self.paginate_queryset(self.filter_queryset(self.get_queryset()))
        return self.get_paginated_response(InvoiceSummarySerializer(rows, many=True).data)

    @extend_schema(responses={200: InvoiceSerializer, **READ_ERRORS})
    def retrieve(self, request, number: str):
        # The invoice page's own queryset.
        view = InvoiceDetailView()
        view.request = request
        queryset = view.get_queryset()
        return Response(InvoiceSerializer(get_object_or_404(queryset, number=number)).data)

    def document(self) -> Invoice:
        queryset = Invoice.objects.select_related("account", "currency")
        return get_object_or_404(queryset, number=self.kwargs["number"])


class ProductViewSet(SortedList, ApiViewSet):
    resource = "products"
    lookup_field = "sku"
    lookup_value_regex = r"[^/]{1,64}"
    pagination_class = KeysetPagination
    sort_fields = {"name": "Name", "sku": "SKU"}
    default_sort = "name"
    serializer_class = ProductSerializer

    def get_queryset(self):
        charges = Charge.objects.select_related("tax_code").order_by("name", "id")
        prices = ChargePrice.objects.order_by("currency_id")
        return Product.objects.prefetch_related(
            Prefetch("charges", queryset=charges.prefetch_related(Prefetch("prices", prices)))
        )

    @extend_schema(responses={200: ProductSerializer(many=True), **LIST_ERRORS})
    def list(self, request):
        rows = self.paginate_queryset(self.get_queryset())
        return self.get_paginated_response(ProductSerializer(rows, many=True).data)

    @extend_schema(responses={200: ProductSerializer, **READ_ERRORS})
    def retrieve(self, request, sku: str):
        return Response(ProductSerializer(get_object_or_404(self.get_queryset(), sku=sku)).data)
