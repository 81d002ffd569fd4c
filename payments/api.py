"""The payments resources of the REST API (/api/v1/payments/, /api/v1/payment-runs/): the lists
with the UI's filters and sorts, one payment or run, recording a payment (optionally applied at
once), applying, unapplying and canceling one, starting a payment run and retrying its failures;
an account's payment methods (/api/v1/accounts/<number>/payment-methods/: list, add, make default,
remove) and its Auto-Pay (/api/v1/accounts/<number>/auto-pay/).
Every write calls the service the UI calls; POSTs honour Idempotency-Key (api.idempotency)."""

from __future__ import annotations

from django.core.exceptions import ValidationError as DjangoValidationError
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.response import Response

from api.base import ActionViewSet, ApiViewSet, post_action
from api.errors import conflict
from api.fields import MoneyField, NumberField, NumberOf
from api.filters import UiFilterBackend
from api.idempotency import idempotent
from api.pagination import KeysetPagination, SortedList
from api.schema import ACTION_ERRORS, ERRORS, LIST_ERRORS, READ_ERRORS, WRITE_ERRORS
from billing.models import Account, Invoice
from memos.models import Memo, MemoType
from memos.services.settlement import ApplicationTarget
from payments.models import (
    EXTERNAL_PAYMENT_TYPES,
    PaymentApplication,
    PaymentMethod,
    PaymentMethodType,
    PaymentRunScope,
)
from payments.runs import services as run_services
from payments.services.methods import (
    add_payment_method,
    make_default_payment_method,
    remove_payment_method,
    set_auto_pay,
)
from payments.services.settlement import (
    apply_payment,
    cancel_payment,
    record_payment,
    unapply_payment,
)
from payments.views.payments import PaymentDetailView, PaymentListView
from payments.views.runs import PaymentRunDetailView, PaymentRunListView


class PaymentApplicationSerializer(serializers.Serializer):
    id = serializers.IntegerField(help_text="What an unapply names as application.")
    kind = serializers.CharField()
    document = serializers.CharField(source="target.number")
    amount = MoneyField(currency_from="payment.currency")
    effective_date = serializers.DateField()


class PaymentSerializer(serializers.Serializer):
    number = serializers.CharField()
    account = NumberOf()
    currency = serializers.CharField(source="currency_id")
    amount = MoneyField()
    applied_amount = MoneyField()
    unapplied_amount = MoneyField()
    payment_date = serializers.DateField()
    method = serializers.CharField()
    payment_method = serializers.CharField(source="payment_method.label", default=None)
    reference = serializers.CharField()
    status = serializers.CharField()
    gateway_reference = serializers.CharField()
    gateway_message = serializers.CharField()
    payment_run = NumberOf()
    created_at = serializers.DateTimeField()


class PaymentDetailSerializer(PaymentSerializer):
    applications = serializers.SerializerMethodField()

    def get_applications(self, payment) -> list[dict]:
        rows = payment.applications.select_related("invoice", "debit_memo").order_by("id")
        for row in rows:
            row.payment = payment
        return PaymentApplicationSerializer(rows, many=True).data


class ApplyToSerializer(serializers.Serializer):
    document = serializers.CharField(help_text="An invoice or debit memo number of the account.")
    amount = NumberField()


class RecordPaymentSerializer(serializers.Serializer):
    account = serializers.CharField()
    amount = NumberField()
    payment_date = serializers.DateField()
    method = serializers.ChoiceField(choices=EXTERNAL_PAYMENT_TYPES)
    reference = serializers.CharField(required=False, allow_blank=True, default="", max_length=100)
    comment = serializers.CharField(required=False, allow_blank=True, default="")
    apply_to = ApplyToSerializer(many=True, required=False, default=list)


class ApplyPaymentSerializer(serializers.Serializer):
    apply_to = ApplyToSerializer(many=True)
    effective_date = serializers.DateField()


class UnapplyPaymentSerializer(serializers.Serializer):
    application = serializers.IntegerField()
    amount = NumberField(required=False, help_text="Left out: what is left of the application.")
    effective_date = serializers.DateField()


def targets_of(account, rows) -> list[ApplicationTarget]:
    """ApplyToSerializer rows as application targets of `account`'s documents (400 otherwise)."""
    targets, errors = [], {}
    for index, row in enumerate(rows):
        number = row["document"]
        invoice = Invoice.objects.filter(number=number, account=account).first()
        memo = None if invoice else (
            Memo.objects.filter(number=number, account=account, memo_type=MemoType.DEBIT).first()
        )  # fmt: skip
        if invoice is None and memo is None:
            errors[f"apply_to.{index}.document"] = [
                f"{number} is not an invoice or debit memo of {account.number}."
            ]
            continue
        targets.append(
            ApplicationTarget(
                invoice=invoice, debit_memo=memo, amount=row["amount"], key=f"apply_to.{index}"
            )
        )
    if errors:
        raise ValidationError(errors)
    return targets


class PaymentViewSet(SortedList, ApiViewSet):
    resource = "payments"
    pagination_class = KeysetPagination
    filter_backends = [UiFilterBackend]
    filterset_class = PaymentListView.filterset_class
    sort_fields = PaymentListView.sort_fields
    sort_columns = PaymentListView.sort_columns
    default_sort = PaymentListView.default_sort
    serializer_class = PaymentDetailSerializer

    def get_queryset(self):
        if self.action == "list":
            return PaymentListView().get_queryset()
        return PaymentDetailView().get_queryset()

    def answer(self, number: str, status_code=status.HTTP_200_OK) -> Response:
        payment = get_object_or_404(PaymentDetailView().get_queryset(), number=number)
        return Response(PaymentDetailSerializer(payment).data, status=status_code)

    @extend_schema(responses={200: PaymentSerializer(many=True), **LIST_ERRORS})
    def list(self, request):
        rows = self.paginate_queryset(self.filter_queryset(self.get_queryset()))
        return self.get_paginated_response(PaymentSerializer(rows, many=True).data)

    @extend_schema(responses={200: PaymentDetailSerializer, **READ_ERRORS})
    def retrieve(self, request, number: str):
        return self.answer(number)

    @extend_schema(
        request=RecordPaymentSerializer,
        responses={201: PaymentDetailSerializer, **WRITE_ERRORS},
        summary="Record a payment received outside the gateway, optionally applied at once",
    )
    @idempotent
    def create(self, request):
        body = RecordPaymentSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        account = Account.objects.select_related("currency").filter(number=data["account"]).first()
        if account is None:
            raise ValidationError({"account": [f"No account {data['account']}."]})
        targets = targets_of(account, data["apply_to"])
        payment = record_payment(
            account=account,
            amount=data["amount"],
            payment_date=data["payment_date"],
            method=data["method"],
            reference=data["reference"],
            comment=data["comment"],
            targets=targets,
            actor=request.user,
        )
        return self.answer(payment.number, status.HTTP_201_CREATED)

    @extend_schema(request=None, responses={200: PaymentDetailSerializer, **ACTION_ERRORS})
    @action(detail=True, methods=["post"], url_path="cancel", url_name="cancel")
    @idempotent
    def cancel_payment(self, request, number: str):
        payment = get_object_or_404(self.get_queryset(), number=number)
        try:
            cancel_payment(payment=payment, actor=request.user)
        except DjangoValidationError as exc:
            raise conflict(exc) from exc
        return self.answer(number)

    @extend_schema(
        request=ApplyPaymentSerializer, responses={200: PaymentDetailSerializer, **ACTION_ERRORS}
    )
    @action(detail=True, methods=["post"], url_path="apply", url_name="apply")
    @idempotent
    def apply(self, request, number: str):
        payment = get_object_or_404(self.get_queryset(), number=number)
        body = ApplyPaymentSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        apply_payment(
            payment=payment,
            targets=targets_of(payment.account, body.validated_data["apply_to"]),
            effective_date=body.validated_data["effective_date"],
            actor=request.user,
        )
        return self.answer(number)

    @extend_schema(
        request=UnapplyPaymentSerializer, responses={200: PaymentDetailSerializer, **ACTION_ERRORS}
    )
    @action(detail=True, methods=["post"], url_path="unapply", url_name="unapply")
    @idempotent
    def unapply(self, request, number: str):
        payment = get_object_or_404(self.get_queryset(), number=number)
        body = UnapplyPaymentSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        application = payment.applications.filter(
            pk=data["application"], kind=PaymentApplication.Kind.APPLY
        ).first()
        if application is None:
            raise ValidationError(
                {"application": [f"{payment.number} has no application {data['application']}."]}
            )
        unapply_payment(
            application=application,
            effective_date=data["effective_date"],
            amount=data.get("amount"),
            actor=request.user,
        )
        return self.answer(number)


class PaymentRunSerializer(serializers.Serializer):
    number = serializers.CharField()
    status = serializers.CharField()
    target_date = serializers.DateField()
    scope = serializers.CharField()
    batch = serializers.CharField()
    bill_cycle_day = serializers.IntegerField(allow_null=True)
    account = NumberOf()
    apply_credit_memos = serializers.BooleanField()
    collect_payments = serializers.BooleanField()
    retry_of = NumberOf()
    accounts_in_scope = serializers.IntegerField()
    accounts_processed = serializers.IntegerField()
    accounts_failed = serializers.IntegerField()
    credit_applications = serializers.IntegerField()
    documents_collected = serializers.IntegerField()
    declines = serializers.IntegerField()
    errors_count = serializers.IntegerField()
    created_at = serializers.DateTimeField()
    started_at = serializers.DateTimeField(allow_null=True)
    finished_at = serializers.DateTimeField(allow_null=True)


class CreatePaymentRunSerializer(serializers.Serializer):
    target_date = serializers.DateField()
    scope = serializers.ChoiceField(
        choices=[c for c in PaymentRunScope.choices if c[0] != PaymentRunScope.RETRY],
        default=PaymentRunScope.ALL,
    )
    batch = serializers.CharField(required=False, allow_blank=True, default="")
    bill_cycle_day = serializers.IntegerField(required=False, allow_null=True, default=None)
    account = serializers.CharField(required=False, allow_blank=True, default="")
    apply_credit_memos = serializers.BooleanField(default=True)
    collect_payments = serializers.BooleanField(default=True)


class PaymentRunViewSet(SortedList, ApiViewSet):
    resource = "payment_runs"
    pagination_class = KeysetPagination
    filter_backends = [UiFilterBackend]
    filterset_class = PaymentRunListView.filterset_class
    sort_fields = PaymentRunListView.sort_fields
    sort_columns = PaymentRunListView.sort_columns
    default_sort = PaymentRunListView.default_sort
    serializer_class = PaymentRunSerializer

    def get_queryset(self):
        return PaymentRunDetailView().get_queryset()

    @extend_schema(responses={200: PaymentRunSerializer(many=True), **LIST_ERRORS})
    def list(self, request):
        rows = self.paginate_queryset(self.filter_queryset(self.get_queryset()))
        return self.get_paginated_response(PaymentRunSerializer(rows, many=True).data)

    @extend_schema(responses={200: PaymentRunSerializer, **READ_ERRORS})
    def retrieve(self, request, number: str):
        run = get_object_or_404(self.get_queryset(), number=number)
        return Response(PaymentRunSerializer(run).data)

    @extend_schema(
        request=CreatePaymentRunSerializer,
        responses={201: PaymentRunSerializer, **WRITE_ERRORS},
        summary="Start a payment run (in the background)",
    )
    @idempotent
    def create(self, request):
        body = CreatePaymentRunSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = dict(body.validated_data)
        number = data.pop("account")
        account = None
        if number:
            account = Account.objects.filter(number=number).first()
            if account is None:
                raise ValidationError({"account": [f"No account {number}."]})
        run = run_services.create_payment_run(actor=request.user, account=account, **data)
        return Response(PaymentRunSerializer(run).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=None, responses={201: PaymentRunSerializer, **ACTION_ERRORS})
    @action(detail=True, methods=["post"], url_path="retry", url_name="retry")
    @idempotent
    def retry(self, request, number: str):
        run = get_object_or_404(self.get_queryset(), number=number)
        try:
            retry = run_services.retry_failed(payment_run=run, actor=request.user)
        except DjangoValidationError as exc:
            raise conflict(exc) from exc
        return Response(PaymentRunSerializer(retry).data, status=status.HTTP_201_CREATED)


# --- an account's payment methods and Auto-Pay -------------------------------------------------
class PaymentMethodSerializer(serializers.Serializer):
    """A payment method as pages show it: never its gateway token."""

    id = serializers.IntegerField(help_text="What make-default and remove name.")
    account = NumberOf()
    method_type = serializers.CharField()
    label = serializers.CharField()
    is_default = serializers.BooleanField()
    active = serializers.BooleanField(help_text="False once removed.")
    created_at = serializers.DateTimeField()


class AddPaymentMethodSerializer(serializers.Serializer):
    method_type = serializers.ChoiceField(choices=PaymentMethodType.choices)
    label = serializers.CharField(max_length=100, help_text="e.g. Visa ending 4242")
    gateway_token = serializers.CharField(
        max_length=255, write_only=True, help_text="Write-only: never answered back."
    )
    make_default = serializers.BooleanField(
        default=False, help_text="The account's first method is its default anyway."
    )


class AutoPaySerializer(serializers.Serializer):
    auto_pay = serializers.BooleanField()


class AutoPayStateSerializer(serializers.Serializer):
    account = serializers.CharField(source="number")
    auto_pay = serializers.BooleanField()
    default_payment_method = serializers.SerializerMethodField()

    def get_default_payment_method(self, account) -> str | None:
        method = PaymentMethod.objects.filter(account=account, is_default=True).first()
        return method.label if method else None


class AccountScopedMixin:
    """Routed under /api/v1/accounts/<account_number>/: the account, or the API's 404."""

    def account(self) -> Account:
        number = self.kwargs["account_number"]
        if len(number) > self.max_lookup_length or "\x00" in number:
            raise NotFound()
        return get_object_or_404(Account.objects.select_related("currency"), number=number)


class PaymentMethodViewSet(AccountScopedMixin, SortedList, ActionViewSet):
    """/api/v1/accounts/<account_number>/payment-methods/: the account's methods, removed ones
    included (active false), oldest first."""

    resource = "payment_methods"
    lookup_field = "pk"
    lookup_url_kwarg = "id"
    lookup_value_regex = r"[0-9]{1,18}"
    pagination_class = KeysetPagination
    sort_fields = {"id": "Id"}
    default_sort = "id"
    serializer_class = PaymentMethodSerializer

    def get_queryset(self):
        return PaymentMethod.objects.filter(account=self.account()).select_related("account")

    def method(self) -> PaymentMethod:
        return get_object_or_404(self.get_queryset(), pk=self.kwargs["id"])

    def answer_method(self, method: PaymentMethod, status_code=status.HTTP_200_OK) -> Response:
        fresh = PaymentMethod.objects.select_related("account").get(pk=method.pk)
        return Response(PaymentMethodSerializer(fresh).data, status=status_code)

    @extend_schema(responses={200: PaymentMethodSerializer(many=True), **LIST_ERRORS, 404: ERRORS})
    def list(self, request, account_number: str):
        rows = self.paginate_queryset(self.get_queryset())
        return self.get_paginated_response(PaymentMethodSerializer(rows, many=True).data)

    @extend_schema(
        request=AddPaymentMethodSerializer,
        responses={201: PaymentMethodSerializer, **ACTION_ERRORS},
        summary="Add a payment method to the account",
    )
    @idempotent
    def create(self, request, account_number: str):
        account = self.account()
        body = AddPaymentMethodSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        method = self.act(
            add_payment_method, takes_input=True, account=account, **body.validated_data
        )
        return self.answer_method(method, status.HTTP_201_CREATED)

    @post_action(
        path="default",
        name="default",
        responses=PaymentMethodSerializer,
        summary="Make the payment method the account's default",
    )
    def make_default(self, request, account_number: str, id: str):
        method = self.method()
        self.act(make_default_payment_method, payment_method=method)
        return self.answer_method(method)

    @post_action(
        path="remove",
        name="remove",
        responses=PaymentMethodSerializer,
        summary="Remove (deactivate) the payment method",
    )
    def remove(self, request, account_number: str, id: str):
        method = self.method()
        self.act(remove_payment_method, payment_method=method)
        return self.answer_method(method)


class AutoPayViewSet(ActionViewSet):
    """/api/v1/accounts/<number>/auto-pay/: set the account's Auto-Pay (billing's PATCH of an
    account cannot: turning it on needs a payment method, which billing does not know of)."""

    resource = "auto_pay"

    def get_queryset(self):
        return Account.objects.select_related("currency")

    @post_action(
        path="auto-pay",
        name="auto-pay",
        request=AutoPaySerializer,
        responses=AutoPayStateSerializer,
        summary="Turn the account's Auto-Pay on or off: with it on, payment runs charge the "
        "account's invoices to its default electronic payment method",
    )
    def auto_pay(self, request, number: str):
        account = get_object_or_404(self.get_queryset(), number=number)
        body = AutoPaySerializer(data=request.data)
        body.is_valid(raise_exception=True)
        account = self.act(set_auto_pay, takes_input=True, account=account, **body.validated_data)
        return Response(AutoPayStateSerializer(account).data)
