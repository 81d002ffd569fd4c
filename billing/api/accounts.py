"""/api/v1/accounts/: the account list (the UI's filters and sorts) and one account with its
balance summary; create and update (billing.services, the admin's validation); and "generate
billing documents" for one account: a single-account bill run executed at once."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response

from api.base import ResourceViewSet, post_action
from api.fields import MoneyField, NumberOf
from api.idempotency import idempotent
from api.schema import ERRORS, WRITE_ERRORS
from billing import selectors, services
from billing.api.bill_runs import BillRunSerializer
from billing.api.catalog import InvoiceSerializer
from billing.bill_runs import services as bill_run_services
from billing.filters import AccountFilterSet
from billing.models import Account, Currency, batch_choices


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


class AccountWriteSerializer(serializers.Serializer):
    """What the admin's account form takes; the number is given from the account series."""

    name = serializers.CharField(max_length=255)
    currency = serializers.CharField(max_length=3, help_text="A currency code, e.g. USD.")
    bill_cycle_day = serializers.IntegerField(min_value=1, max_value=31)
    batch = serializers.ChoiceField(choices=batch_choices(), default="Batch1")
    bill_to_name = serializers.CharField(max_length=255, required=False, allow_blank=True)
    bill_to_email = serializers.EmailField(required=False, allow_blank=True)
    bill_to_address = serializers.CharField(required=False, allow_blank=True)

    def validate_currency(self, value: str) -> Currency:
        currency = Currency.objects.filter(code=value.upper()).first()
        if currency is None:
            raise serializers.ValidationError(f"No currency {value}.")
        return currency


class AccountUpdateSerializer(serializers.Serializer):
    """Name, bill cycle day and batch; the currency is fixed once the account exists."""

    name = serializers.CharField(max_length=255, required=False)
    bill_cycle_day = serializers.IntegerField(min_value=1, max_value=31, required=False)
    batch = serializers.ChoiceField(choices=batch_choices(), required=False)
    bill_to_name = serializers.CharField(max_length=255, required=False, allow_blank=True)
    bill_to_email = serializers.EmailField(required=False, allow_blank=True)
    bill_to_address = serializers.CharField(required=False, allow_blank=True)


class BillingDocumentsRequestSerializer(serializers.Serializer):
    target_date = serializers.DateField(help_text="Charges due on or before it are billed.")
    invoice_date = serializers.DateField(required=False, help_text="Default: today.")
    include_one_time = serializers.BooleanField(default=True)
    include_recurring = serializers.BooleanField(default=True)
    include_usage = serializers.BooleanField(default=True)
    auto_post = serializers.BooleanField(
        default=False, help_text="Post the documents before answering."
    )


class GeneratedMemoSerializer(serializers.Serializer):
    """A credit memo a bill run made (its full record: GET /api/v1/memos/<number>/)."""

    number = serializers.CharField()
    status = serializers.CharField()
    currency = serializers.CharField(source="currency_id")
    memo_date = serializers.DateField()
    amount_excl_tax = MoneyField()
    tax_amount = MoneyField()
    amount = MoneyField()
    invoice = NumberOf()


class BillingDocumentsSerializer(serializers.Serializer):
    bill_run = BillRunSerializer()
    invoices = InvoiceSerializer(many=True)
    credit_memos = GeneratedMemoSerializer(many=True)


class AccountViewSet(ResourceViewSet):
    resource = "accounts"
    filterset_class = AccountFilterSet
    sorts = selectors.ACCOUNT_SORTS
    list_serializer = AccountSerializer
    detail_serializer = AccountSerializer

    def list_queryset(self):
        return selectors.account_rows()

    @extend_schema(
        request=AccountWriteSerializer,
        responses={201: AccountSerializer, **WRITE_ERRORS},
        summary="Create an account",
    )
    @idempotent
    def create(self, request):
        body = AccountWriteSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        account = self.act(services.create_account, takes_input=True, **body.validated_data)
        return self.answer(account.number, status.HTTP_201_CREATED)

    @extend_schema(
        request=AccountUpdateSerializer,
        responses={200: AccountSerializer, **WRITE_ERRORS, 404: ERRORS},
        summary="Change an account's name, bill cycle day, batch or bill-to contact",
    )
    def partial_update(self, request, number: str):
        body = AccountUpdateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        account = self.get_object()
        self.act(services.update_account, takes_input=True, account=account,
                 **body.validated_data)  # fmt: skip
        return self.answer(number)

    def target_queryset(self):
        return Account.objects.select_related("currency")

    @post_action(
        path="billing-documents",
        name="billing_documents",
        request=BillingDocumentsRequestSerializer,
        responses=BillingDocumentsSerializer,
        status_code=201,
        summary="Generate billing documents for the account (a single-account bill run, "
        "executed before answering)",
    )
    def billing_documents(self, request, number: str):
        body = BillingDocumentsRequestSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        run = self.act(
            bill_run_services.generate_billing_documents,
            takes_input=True,
            account=self.get_object(),
            **body.validated_data,
        )
        invoices = selectors.invoice_with_items().filter(bill_run=run).order_by("number")
        answer = {
            "bill_run": run,
            "invoices": list(invoices),
            "credit_memos": list(run.credit_memos.select_related("invoice").order_by("number")),
        }
        return Response(BillingDocumentsSerializer(answer).data, status=status.HTTP_201_CREATED)
