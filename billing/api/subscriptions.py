"""/api/v1/subscriptions/ (with their charges: create, update price, quantity and end dates,
read) and /api/v1/usage/ (usage records in bulk, from JSON or an uploaded CSV file, all or
nothing). Every write is a billing.services function."""

from __future__ import annotations

import csv
import io

import django_filters
from django.db.models import Prefetch
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import ValidationError
from rest_framework.parsers import MultiPartParser
from rest_framework.response import Response

from api.base import ActionViewSet, ResourceViewSet, post_action
from api.fields import IdField, NumberField, NumberOf
from api.idempotency import idempotent
from api.schema import ERRORS, WRITE_ERRORS
from billing import services
from billing.models import (
    Account,
    Charge,
    Subscription,
    SubscriptionCharge,
    SubscriptionStatus,
)
from billing.money import PRICE_COLUMN, QUANTITY_COLUMN
from billing.selectors import ListSorts

# An uploaded CSV file of usage: at most this large (10,000 rows are well under it).
MAX_CSV_BYTES = 4 * 1024 * 1024
USAGE_COLUMNS = ("subscription_charge", "usage_date", "quantity", "unit_of_measure")


class SubscriptionChargeSerializer(serializers.Serializer):
    id = serializers.IntegerField(help_text="What usage records and updates name.")
    charge = serializers.IntegerField(source="charge_id")
    charge_name = serializers.CharField(source="charge.name")
    charge_type = serializers.CharField(source="charge.charge_type")
    price = serializers.CharField()
    quantity = serializers.CharField()
    start_date = serializers.DateField()
    end_date = serializers.DateField(allow_null=True)
    charged_through_date = serializers.DateField(allow_null=True)


class SubscriptionSerializer(serializers.Serializer):
    number = serializers.CharField()
    account = NumberOf()
    start_date = serializers.DateField()
    end_date = serializers.DateField(allow_null=True)
    status = serializers.CharField()
    charges = SubscriptionChargeSerializer(many=True)


class NewChargeSerializer(serializers.Serializer):
    charge = IdField(help_text="A catalog charge's id.")
    price = NumberField(required=False, column=PRICE_COLUMN, help_text="Default: its list price.")
    quantity = NumberField(required=False, column=QUANTITY_COLUMN, min_value=0)
    start_date = serializers.DateField(required=False, help_text="Default: the subscription's.")
    end_date = serializers.DateField(required=False, allow_null=True)


class SubscriptionCreateSerializer(serializers.Serializer):
    account = serializers.CharField(max_length=32, help_text="The account's number.")
    start_date = serializers.DateField()
    end_date = serializers.DateField(required=False, allow_null=True)
    charges = NewChargeSerializer(many=True, max_length=500)


class ChargeChangeSerializer(serializers.Serializer):
    id = IdField(help_text="The subscription charge's id.")
    price = NumberField(required=False, column=PRICE_COLUMN)
    quantity = NumberField(required=False, column=QUANTITY_COLUMN, min_value=0)
    end_date = serializers.DateField(required=False)


class SubscriptionUpdateSerializer(serializers.Serializer):
    end_date = serializers.DateField(required=False, help_text="Ends its charges by then too.")
    charges = ChargeChangeSerializer(many=True, required=False, max_length=500)


class SubscriptionFilterSet(django_filters.FilterSet):
    account = django_filters.CharFilter(field_name="account__number", lookup_expr="iexact",
                                        max_length=32)  # fmt: skip
    status = django_filters.ChoiceFilter(choices=SubscriptionStatus.choices)

    class Meta:
        model = Subscription
        fields = ["account", "status"]


class SubscriptionViewSet(ResourceViewSet):
    resource = "subscriptions"
    filterset_class = SubscriptionFilterSet
    sorts = ListSorts(fields={"number": "Number", "start_date": "Start Date"}, default="number")
    list_serializer = SubscriptionSerializer
    detail_serializer = SubscriptionSerializer

    def list_queryset(self):
        charges = SubscriptionCharge.objects.select_related("charge").order_by("start_date", "id")
        return Subscription.objects.select_related("account").prefetch_related(
            Prefetch("charges", queryset=charges)
        )

    def target_queryset(self):
        return Subscription.objects.all()

    @extend_schema(
        request=SubscriptionCreateSerializer,
        responses={201: SubscriptionSerializer, **WRITE_ERRORS},
        summary="Subscribe an account to charges",
    )
    @idempotent
    def create(self, request):
        body = SubscriptionCreateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        account = Account.objects.filter(number=data["account"]).first()
        if account is None:
            raise ValidationError({"account": [f"No account {data['account']}."]})
        charges = Charge.objects.in_bulk({line["charge"] for line in data["charges"]})
        lines, errors = [], {}
        for index, line in enumerate(data["charges"]):
            charge = charges.get(line["charge"])
            if charge is None:
                errors[f"charges.{index}.charge"] = [f"No charge {line['charge']}."]
                continue
            lines.append(
                services.SubscribedCharge(
                    charge=charge,
                    price=line.get("price"),
                    quantity=line.get("quantity"),
                    start_date=line.get("start_date"),
                    end_date=line.get("end_date"),
                    key=f"charges.{index}",
                )
            )
        if errors:
            raise ValidationError(errors)
        subscription = self.act(
            services.create_subscription,
            takes_input=True,
            account=account,
            start_date=data["start_date"],
            end_date=data.get("end_date"),
            charges=lines,
        )
        return self.answer(subscription.number, status.HTTP_201_CREATED)

    @extend_schema(
        request=SubscriptionUpdateSerializer,
        responses={200: SubscriptionSerializer, **WRITE_ERRORS, 404: ERRORS},
        summary="Change a subscription's end date and its charges' price, quantity, end date",
    )
    def partial_update(self, request, number: str):
        body = SubscriptionUpdateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        changes = [
            services.ChargeChange(
                subscription_charge_id=line["id"],
                price=line.get("price"),
                quantity=line.get("quantity"),
                end_date=line.get("end_date"),
                key=f"charges.{index}",
            )
            for index, line in enumerate(data.get("charges") or [])
        ]
        self.act(
            services.update_subscription,
            takes_input=True,
            subscription=self.get_object(),
            end_date=data.get("end_date"),
            charges=changes,
        )
        return self.answer(number)


# --- usage ------------------------------------------------------------------------------------


class UsageRowSerializer(serializers.Serializer):
    subscription_charge = IdField(help_text="The subscription charge's id.")
    usage_date = serializers.DateField()
    quantity = NumberField(column=QUANTITY_COLUMN)
    unit_of_measure = serializers.CharField(
        required=False, allow_blank=True, default="", max_length=32,
        help_text="Default: the charge's.",
    )  # fmt: skip


class UsageBatchSerializer(serializers.Serializer):
    rows = UsageRowSerializer(many=True, allow_empty=False, max_length=services.USAGE_BATCH_LIMIT)


class UsageFileSerializer(serializers.Serializer):
    file = serializers.FileField(
        help_text="CSV with a header row: subscription_charge, usage_date, quantity and "
        "(optional) unit_of_measure; UTF-8."
    )


class UsageCreatedSerializer(serializers.Serializer):
    created = serializers.IntegerField()


def service_rows(rows: list[dict]) -> list[services.UsageRow]:
    return [
        services.UsageRow(
            subscription_charge_id=row["subscription_charge"],
            usage_date=row["usage_date"],
            quantity=row["quantity"],
            unit_of_measure=row.get("unit_of_measure") or "",
        )
        for row in rows
    ]


def rows_of_csv(upload) -> list[dict]:
    """The CSV file's rows as dicts of USAGE_COLUMNS (the header names them, in any order)."""
    if upload.size > MAX_CSV_BYTES:
        raise ValidationError({"file": [f"At most {MAX_CSV_BYTES // 1024 // 1024} MB."]})
    try:
        text = upload.read().decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ValidationError({"file": ["The file is not UTF-8 text."]}) from exc
    if "\x00" in text:
        raise ValidationError({"file": ["The file is not a CSV text file."]})
    reader = csv.DictReader(io.StringIO(text, newline=""))
    header = [name.strip() for name in reader.fieldnames or []]
    missing = [name for name in USAGE_COLUMNS[:3] if name not in header]
    if missing:
        raise ValidationError({"file": [f"The header row lacks {', '.join(missing)}."]})
    reader.fieldnames = header
    rows = []
    try:
        for row in reader:
            if len(rows) >= services.USAGE_BATCH_LIMIT:
                raise ValidationError(
                    {"file": [f"At most {services.USAGE_BATCH_LIMIT:,} rows at once."]}
                )
            rows.append({name: (row.get(name) or "").strip() for name in USAGE_COLUMNS})
    except csv.Error as exc:
        raise ValidationError({"file": [f"Not a CSV file: {exc}"]}) from exc
    if not rows:
        raise ValidationError({"file": ["The file has no rows."]})
    return rows


class UsageViewSet(ActionViewSet):
    """Usage records are written here, read on the account and bill-run pages (no list)."""

    resource = "usage"
    serializer_class = UsageCreatedSerializer

    @post_action(
        detail=False,
        path="bulk",
        name="bulk",
        request=UsageBatchSerializer,
        responses=UsageCreatedSerializer,
        status_code=201,
        summary="Record up to 10,000 usage rows, all or nothing (errors keyed rows.<n>.<field>)",
    )
    def bulk(self, request):
        body = UsageBatchSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        return self.record(body.validated_data["rows"])

    @post_action(
        detail=False,
        path="csv",
        parser_classes=[MultiPartParser],
        name="csv",
        request={"multipart/form-data": UsageFileSerializer},
        responses=UsageCreatedSerializer,
        status_code=201,
        summary="Record usage from a CSV file, all or nothing (errors keyed rows.<n>.<field>, "
        "n counting data rows from 0)",
    )
    def csv_upload(self, request):
        body = UsageFileSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        rows = UsageRowSerializer(data=rows_of_csv(body.validated_data["file"]), many=True)
        if not rows.is_valid():
            raise ValidationError({"rows": rows.errors})
        return self.record(rows.validated_data)

    def record(self, rows: list[dict]) -> Response:
        created = self.act(services.record_usage, takes_input=True, rows=service_rows(rows))
        return Response({"created": created}, status=status.HTTP_201_CREATED)
