"""/api/v1/bill-runs/: the list (the UI's filters and sorts), one run with its live counts,
totals per currency and failed accounts, and the bill-run page's actions: create (every option
of the form), post, cancel, retry the failed accounts. Long work runs in the background, as
from the page: an action answers with the run in its new status; poll it for the counts."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema, extend_schema_field
from rest_framework import serializers, status
from rest_framework.exceptions import ValidationError

from api.base import ResourceViewSet, post_action
from api.fields import NumberOf
from api.idempotency import idempotent
from api.schema import WRITE_ERRORS
from billing import selectors
from billing.bill_runs import services
from billing.bill_runs.runner import totals_by_currency
from billing.filters import BillRunFilterSet
from billing.forms import SCOPE_CHOICES
from billing.models import Account, BillRun, batch_choices
from billing.money import format_money

# Failed accounts a run's answer lists (its `accounts_failed` counts them all).
ERRORS_SHOWN = 50


class BillRunSummarySerializer(serializers.Serializer):
    number = serializers.CharField()
    name = serializers.CharField()
    status = serializers.CharField()
    scope = serializers.CharField()
    batch = serializers.CharField()
    bill_cycle_day = serializers.IntegerField(allow_null=True)
    account = NumberOf()
    invoice_date = serializers.DateField()
    target_date = serializers.DateField()
    include_one_time = serializers.BooleanField()
    include_recurring = serializers.BooleanField()
    include_usage = serializers.BooleanField()
    auto_post = serializers.BooleanField()
    email_documents = serializers.BooleanField()
    # The live counts (the engine keeps them as chunks finish).
    accounts_in_scope = serializers.IntegerField()
    accounts_processed = serializers.IntegerField()
    accounts_failed = serializers.IntegerField()
    invoices_generated = serializers.IntegerField()
    credit_memos_generated = serializers.IntegerField()
    zero_total_invoices = serializers.IntegerField()
    message = serializers.CharField()
    created_at = serializers.DateTimeField()
    started_at = serializers.DateTimeField(allow_null=True)
    finished_at = serializers.DateTimeField(allow_null=True)


class CurrencyTotalsSerializer(serializers.Serializer):
    currency = serializers.CharField()
    invoices = serializers.CharField(help_text="Total of the run's invoices in this currency.")
    invoices_count = serializers.IntegerField()
    credit_memos = serializers.CharField()
    credit_memos_count = serializers.IntegerField()


class FailedAccountSerializer(serializers.Serializer):
    account = NumberOf()
    reason = serializers.CharField()


class BillRunSerializer(BillRunSummarySerializer):
    generation_rule = serializers.CharField()
    retry_of = NumberOf()
    created_by = serializers.CharField(source="created_by.username", allow_null=True, default=None)
    totals = serializers.SerializerMethodField()
    failed_accounts = serializers.SerializerMethodField(
        help_text=f"The first {ERRORS_SHOWN} accounts the run could not bill, and why."
    )

    @extend_schema_field(CurrencyTotalsSerializer(many=True))
    def get_totals(self, run) -> list:
        rows = []
        for entry in totals_by_currency(run):
            code = entry["currency"]
            rows.append(
                {
                    "currency": code,
                    "invoices": format_money(entry.get("invoices") or 0, code).replace(",", ""),
                    "invoices_count": entry.get("invoices_count", 0),
                    "credit_memos": format_money(entry.get("credit_memos") or 0, code).replace(
                        ",", ""
                    ),
                    "credit_memos_count": entry.get("credit_memos_count", 0),
                }
            )
        return CurrencyTotalsSerializer(rows, many=True).data

    @extend_schema_field(FailedAccountSerializer(many=True))
    def get_failed_accounts(self, run) -> list:
        rows = run.errors.select_related("account").order_by("id")[:ERRORS_SHOWN]
        return FailedAccountSerializer(rows, many=True).data


class BillRunCreateSerializer(serializers.Serializer):
    """The new-bill-run form (billing/forms.py BillRunForm), field for field."""

    name = serializers.CharField(max_length=255, required=False, allow_blank=True, default="")
    scope = serializers.ChoiceField(choices=SCOPE_CHOICES, default="all")
    batch = serializers.ChoiceField(
        choices=batch_choices(), required=False, help_text="Scope batch."
    )
    bill_cycle_day = serializers.IntegerField(
        required=False, allow_null=True, min_value=1, max_value=31, help_text="Scope batch."
    )
    account = serializers.CharField(
        required=False, max_length=32, help_text="An account number (scope account)."
    )
    invoice_date = serializers.DateField()
    target_date = serializers.DateField(help_text="Charges due on or before it are billed.")
    include_one_time = serializers.BooleanField(default=True)
    include_recurring = serializers.BooleanField(default=True)
    include_usage = serializers.BooleanField(default=True)
    auto_post = serializers.BooleanField(default=False, help_text="Post on completion.")
    email_documents = serializers.BooleanField(
        default=False,
        help_text="Email each document the run posts to its account's bill-to email (needs "
        '"email documents to customers").',
    )

    def service_kwargs(self) -> dict:
        data = dict(self.validated_data)
        scope = data["scope"]
        number = data.pop("account", None)
        data["account"] = None
        if scope == "account":
            if not number:
                raise ValidationError({"account": ["Name the account to bill."]})
            data["account"] = Account.objects.filter(number__iexact=number).first()
            if data["account"] is None:
                raise ValidationError({"account": [f"No account {number}."]})
        if scope != "batch":
            data["batch"], data["bill_cycle_day"] = "", None
        data["batch"] = data.get("batch") or ""
        data["name"] = data["name"].strip()
        return data


class BillRunViewSet(ResourceViewSet):
    resource = "bill_runs"
    filterset_class = BillRunFilterSet
    sorts = selectors.BILL_RUN_SORTS
    list_serializer = BillRunSummarySerializer
    detail_serializer = BillRunSerializer

    def list_queryset(self):
        return selectors.bill_run_rows()

    def detail_queryset(self):
        return selectors.bill_run_page()

    def target_queryset(self):
        return BillRun.objects.all()

    @extend_schema(
        request=BillRunCreateSerializer,
        responses={201: BillRunSerializer, **WRITE_ERRORS},
        summary="Create a bill run (it starts in the background)",
    )
    @idempotent
    def create(self, request):
        body = BillRunCreateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        run = self.act(services.create_bill_run, takes_input=True, **body.service_kwargs())
        return self.answer(run.number, status.HTTP_201_CREATED)

    @post_action(path="post", name="post", responses=BillRunSerializer, summary="Post a run")
    def post_run(self, request, number: str):
        self.act(services.request_post, bill_run=self.get_object())
        return self.answer(number)

    @post_action(path="cancel", name="cancel", responses=BillRunSerializer, summary="Cancel a run")
    def cancel_run(self, request, number: str):
        self.act(services.request_cancel, bill_run=self.get_object())
        return self.answer(number)

    @post_action(
        path="retry",
        name="retry",
        responses=BillRunSerializer,
        status_code=201,
        summary="Retry the failed accounts (a new run)",
    )
    def retry(self, request, number: str):
        run = self.act(services.retry_failed_accounts, bill_run=self.get_object())
        return self.answer(run.number, status.HTTP_201_CREATED)
