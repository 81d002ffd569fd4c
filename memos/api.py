"""The memos resource of the REST API (/api/v1/memos/): the list with the UI's filters and
sorts, one memo with everything its page shows, creation from an invoice or from charges, and
post / unpost / cancel / delete. Every write calls the service the UI calls."""

from __future__ import annotations

from django.core.exceptions import ValidationError as DjangoValidationError
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema, extend_schema_field
from rest_framework import serializers, status
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response

from api.base import ApiViewSet
from api.errors import IdempotencyKeyReused, conflict
from api.fields import IdField, MoneyField, NumberField, NumberOf
from api.filters import UiFilterBackend
from api.idempotency import created_or_replayed, idempotent, memo_key
from api.pagination import KeysetPagination, SortedList
from api.schema import ACTION_ERRORS, LIST_ERRORS, READ_ERRORS, WRITE_ERRORS
from billing.api import CustomerDocumentActions
from billing.models import Account, Charge, Invoice
from billing.money import QUANTITY_COLUMN
from memos import services
from memos.filters import MemoFilterSet
from memos.forms.charges import ChargeRowForm
from memos.models import Memo, MemoType, ReasonCode
from memos.services import idempotency, lifecycle
from memos.services.common import REASON_CODE_TYPE
from memos.views import creation as creation_views
from memos.views.detail import MemoDetailView
from memos.views.lists import MemoListView

# --- what a memo reads as ------------------------------------------------------------------


class MemoSummarySerializer(serializers.Serializer):
    number = serializers.CharField()
    memo_type = serializers.CharField()
    status = serializers.CharField()
    source = serializers.CharField()
    account = NumberOf()
    account_name = serializers.CharField(source="account.name")
    currency = serializers.CharField(source="currency_id")
    memo_date = serializers.DateField()
    amount_excl_tax = MoneyField()
    tax_amount = MoneyField()
    amount = MoneyField()
    applied_amount = MoneyField()
    refund_amount = MoneyField()
    unapplied_amount = MoneyField()
    balance = MoneyField()
    reason_code = serializers.CharField(source="reason_code.name", allow_null=True)
    invoice = NumberOf()
    bill_run = NumberOf()
    reversed = serializers.BooleanField()
    transferred_to_accounting = serializers.CharField()
    tax_status = serializers.CharField()
    created_at = serializers.DateTimeField()
    posted_at = serializers.DateTimeField(allow_null=True)


class MemoItemSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    invoice_item = serializers.IntegerField(source="invoice_item_id", allow_null=True)
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
    amount_excl_tax = MoneyField(currency_from="memo.currency")
    tax_amount = MoneyField(currency_from="memo.currency")
    amount = MoneyField(currency_from="memo.currency")
    applied_amount = MoneyField(currency_from="memo.currency")
    refund_amount = MoneyField(currency_from="memo.currency")
    balance = MoneyField(currency_from="memo.currency")


class ApplicationSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    kind = serializers.CharField()
    credit_memo = NumberOf()
    invoice = NumberOf()
    debit_memo = NumberOf()
    amount = MoneyField(currency_from="credit_memo.currency")
    effective_date = serializers.DateField()
    created_by = serializers.CharField(source="created_by.username", allow_null=True, default=None)
    created_at = serializers.DateTimeField()


class RefundSerializer(serializers.Serializer):
    number = serializers.CharField()
    amount = MoneyField(currency_from="credit_memo.currency")
    method = serializers.CharField()
    refund_date = serializers.DateField()
    reason_code = serializers.CharField(source="reason_code.name")
    comment = serializers.CharField()
    created_by = serializers.CharField(source="created_by.username", allow_null=True, default=None)
    created_at = serializers.DateTimeField()


class EventSerializer(serializers.Serializer):
    kind = serializers.CharField()
    at = serializers.DateTimeField()
    actor = serializers.CharField(source="actor.username", allow_null=True, default=None)
    message = serializers.CharField()
    before = serializers.JSONField()
    after = serializers.JSONField()


class MemoSerializer(MemoSummarySerializer):
    """One memo: every field of its page, with items, applications, refunds and history."""

    comments = serializers.CharField()
    auto_pay = serializers.BooleanField()
    apply_to_invoice_on_post = serializers.BooleanField()
    exclude_from_auto_apply = serializers.BooleanField()
    tax_auto_calculation = serializers.BooleanField()
    tax_message = serializers.CharField()
    created_by = serializers.CharField(source="created_by.username", allow_null=True, default=None)
    updated_at = serializers.DateTimeField()
    items = MemoItemSerializer(many=True)
    applications = serializers.SerializerMethodField()
    refunds = RefundSerializer(many=True)
    history = EventSerializer(source="events", many=True)

    @extend_schema_field(ApplicationSerializer(many=True))
    def get_applications(self, memo) -> list[dict]:
        # A credit memo's applications, or the credit applied to a debit memo.
        credit = memo.memo_type == MemoType.CREDIT
        rows = list(memo.applications.all() if credit else memo.credit_applications.all())
        for row in rows:
            # The credit memo of a credit memo's own application is the memo itself: no query.
            if row.credit_memo_id == memo.pk:
                row.credit_memo = memo
        return ApplicationSerializer(rows, many=True).data


# --- what a memo is made from ----------------------------------------------------------------


class MemoHeaderSerializer(serializers.Serializer):
    """The header of the create forms (memos/forms/common.py MemoHeaderForm)."""

    memo_type = serializers.ChoiceField(choices=MemoType.choices)
    memo_date = serializers.DateField(required=False, help_text="Default: today.")
    reason_code = serializers.CharField(
        required=False, max_length=100, help_text="A reason code's name. Default: the type's."
    )
    comments = serializers.CharField(required=False, allow_blank=True, default="")
    tax_auto_calculation = serializers.BooleanField(default=True)
    exclude_from_auto_apply = serializers.BooleanField(default=False, help_text="Credit memos.")
    auto_pay = serializers.BooleanField(default=True, help_text="Debit memos.")

    def service_kwargs(self) -> dict:
        data = self.validated_data
        memo_type = data["memo_type"]
        kwargs = {
            "memo_type": memo_type,
            "memo_date": data.get("memo_date"),
            "reason_code": None,
            "comments": data["comments"],
            "tax_auto_calculation": data["tax_auto_calculation"],
            "exclude_from_auto_apply": data["exclude_from_auto_apply"],
            "auto_pay": data["auto_pay"],
        }
        if data.get("reason_code"):
            code = ReasonCode.objects.filter(
                code_type=REASON_CODE_TYPE[memo_type], name=data["reason_code"], active=True
            ).first()
            if code is None:
                kind = MemoType(memo_type).label.lower()
                raise ValidationError(
                    {
                        "reason_code": [
                            f"No active {kind} reason code is named {data['reason_code']!r}."
                        ]
                    }
                )
            kwargs["reason_code"] = code
        return kwargs


class LineTaxSerializer(serializers.Serializer):
    amount = NumberField()
    tax_included = serializers.BooleanField(
        default=False, help_text="The amount includes tax (with tax auto-calculation on)."
    )
    tax_amount = NumberField(
        required=False, allow_null=True, help_text="With tax auto-calculation off."
    )
    description = serializers.CharField(required=False, allow_blank=True, default="")


class InvoiceLineSerializer(LineTaxSerializer):
    invoice_item = IdField(help_text="The invoice item's id.")


class ChargeLineSerializer(LineTaxSerializer):
    charge = IdField(help_text="The catalog charge's id.")
    quantity = NumberField(required=False, allow_null=True, column=QUANTITY_COLUMN, min_value=0)
    service_start = serializers.DateField(required=False, allow_null=True)
    service_end = serializers.DateField(required=False, allow_null=True)


class MemoFromInvoiceSerializer(MemoHeaderSerializer):
    invoice = serializers.CharField(max_length=32, help_text="The posted invoice's number.")
    apply_to_invoice_on_post = serializers.BooleanField(default=False, help_text="Credit memos.")
    items = InvoiceLineSerializer(many=True)


class MemoFromChargesSerializer(MemoHeaderSerializer):
    account = serializers.CharField(max_length=32, help_text="The account's number.")
    lines = ChargeLineSerializer(many=True)


def line_tax(line: dict, auto_tax: bool) -> dict:
    """Tax-Included counts only with auto-calculation on, a typed tax only with it off: the
    create pages' rule (memos/views/creation.py tax_mode, typed_tax)."""
    return {
        "tax_mode": creation_views.tax_mode(line, auto_tax),
        "tax_amount": creation_views.typed_tax(line, auto_tax),
    }


# --- the resource ----------------------------------------------------------------------------


class MemoViewSet(CustomerDocumentActions, SortedList, ApiViewSet):
    resource = "memos"
    serializer_class = MemoSerializer
    pagination_class = KeysetPagination
    filter_backends = [UiFilterBackend]
    filterset_class = MemoFilterSet
    # The memo list page's sorts (memos/views/lists.py).
    sort_fields = MemoListView.sort_fields
    sort_columns = MemoListView.sort_columns
    default_sort = MemoListView.default_sort

    def get_queryset(self):
        if self.action == "list":
            return MemoListView().get_queryset()
        return MemoDetailView().get_queryset()

    def memo(self) -> Memo:
        return get_object_or_404(self.get_queryset(), number=self.kwargs["number"])

    def document(self) -> Memo:
        queryset = Memo.objects.select_related("account", "currency")
        return get_object_or_404(queryset, number=self.kwargs["number"])

    def answer(self, number: str, status_code=status.HTTP_200_OK) -> Response:
        memo = get_object_or_404(MemoDetailView().get_queryset(), number=number)
        return Response(MemoSerializer(memo).data, status=status_code)

    @extend_schema(responses={200: MemoSummarySerializer(many=True), **LIST_ERRORS})
    def list(self, request):
        queryset = self.filter_queryset(self.get_queryset())
        rows = self.paginate_queryset(queryset)
        return self.get_paginated_response(MemoSummarySerializer(rows, many=True).data)

    @extend_schema(responses={200: MemoSerializer, **READ_ERRORS})
    def retrieve(self, request, number: str):
        return Response(MemoSerializer(self.memo()).data)

    @extend_schema(
        request=MemoFromInvoiceSerializer,
        responses={201: MemoSerializer, **WRITE_ERRORS},
        summary="Create a credit or debit memo from items of a posted invoice",
    )
    @action(detail=False, methods=["post"], url_path="from-invoice")
    def from_invoice(self, request):
        body = MemoFromInvoiceSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        kwargs = body.service_kwargs()
        invoice = (
            Invoice.objects.select_related("account", "currency")
            .filter(number=data["invoice"])
            .first()
        )
        if invoice is None:
            raise ValidationError({"invoice": [f"No invoice {data['invoice']}."]})
        items = invoice.items.select_related("tax_code").in_bulk(
            {line["invoice_item"] for line in data["items"]}
        )
        auto_tax = kwargs["tax_auto_calculation"]
        lines, errors = [], {}
        for index, line in enumerate(data["items"]):
            item = items.get(line["invoice_item"])
            if item is None:
                errors[f"items.{index}.invoice_item"] = [
                    f"Invoice {invoice.number} has no item {line['invoice_item']}."
                ]
                continue
            lines.append(
                services.InvoiceItemLine(
                    invoice_item=item,
                    amount=line["amount"],
                    description=line["description"],
                    key=f"items.{index}",
                    **line_tax(line, auto_tax),
                )
            )
        if errors:
            raise ValidationError(errors)
        memo = self.create_memo(
            services.create_memo_from_invoice,
            invoice=invoice,
            lines=lines,
            apply_to_invoice_on_post=data["apply_to_invoice_on_post"],
            **kwargs,
        )
        return created_or_replayed(memo, self.answer(memo.number).data)

    @extend_schema(
        request=MemoFromChargesSerializer,
        responses={201: MemoSerializer, **WRITE_ERRORS},
        summary="Create a standalone credit or debit memo from catalog charges",
    )
    @action(detail=False, methods=["post"], url_path="from-charges")
    def from_charges(self, request):
        body = MemoFromChargesSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        kwargs = body.service_kwargs()
        account = Account.objects.select_related("currency").filter(number=data["account"]).first()
        if account is None:
            raise ValidationError({"account": [f"No account {data['account']}."]})
        # The charges the create page offers (active, not discounts), in one query.
        offered = ChargeRowForm.base_fields["charge"].queryset.select_related("tax_code")
        charges: dict[int, Charge] = offered.in_bulk({line["charge"] for line in data["lines"]})
        auto_tax = kwargs["tax_auto_calculation"]
        lines, errors = [], {}
        for index, line in enumerate(data["lines"]):
            charge = charges.get(line["charge"])
            if charge is None:
                errors[f"lines.{index}.charge"] = [f"No active charge {line['charge']}."]
                continue
            lines.append(
                services.ChargeLine(
                    charge=charge,
                    amount=line["amount"],
                    quantity=line.get("quantity"),
                    service_start=line.get("service_start"),
                    service_end=line.get("service_end"),
                    description=line["description"],
                    key=f"lines.{index}",
                    **line_tax(line, auto_tax),
                )
            )
        if errors:
            raise ValidationError(errors)
        memo = self.create_memo(
            services.create_memo_from_charges, account=account, lines=lines, **kwargs
        )
        return created_or_replayed(memo, self.answer(memo.number).data)

    def create_memo(self, service, **kwargs) -> Memo:
        """Run a create service with the request's Idempotency-Key, as the UI's forms do."""
        try:
            return service(
                actor=self.request.user, idempotency_key=memo_key(self.request), **kwargs
            )
        except DjangoValidationError as exc:
            if idempotency.is_conflict(exc):
                raise IdempotencyKeyReused() from exc
            raise

    def run(self, service, number: str) -> Response:
        memo = self.memo()
        try:
            service(memo=memo, actor=self.request.user)
        except DjangoValidationError as exc:
            raise conflict(exc) from exc
        return self.answer(number)

    @extend_schema(request=None, responses={200: MemoSerializer, **ACTION_ERRORS})
    @action(detail=True, methods=["post"], url_path="post", url_name="post")
    @idempotent
    def post_memo(self, request, number: str):
        return self.run(lifecycle.post_memo, number)

    @extend_schema(request=None, responses={200: MemoSerializer, **ACTION_ERRORS})
    @action(detail=True, methods=["post"], url_path="unpost", url_name="unpost")
    @idempotent
    def unpost_memo(self, request, number: str):
        return self.run(lifecycle.unpost_memo, number)

    @extend_schema(request=None, responses={200: MemoSerializer, **ACTION_ERRORS})
    @action(detail=True, methods=["post"], url_path="cancel", url_name="cancel")
    @idempotent
    def cancel_memo(self, request, number: str):
        return self.run(lifecycle.cancel_memo, number)

    @extend_schema(responses={204: None, **ACTION_ERRORS})
    @idempotent
    def destroy(self, request, number: str):
        memo = self.memo()
        try:
            lifecycle.delete_memo(memo=memo, actor=request.user)
        except DjangoValidationError as exc:
            raise conflict(exc) from exc
        return Response(status=status.HTTP_204_NO_CONTENT)
