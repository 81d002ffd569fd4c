"""GET /api/v1/insights/credit/: the credit insight's figures as JSON (DOMAIN.md 8)."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response

from api.base import ApiView
from api.schema import LIST_ERRORS
from billing.money import format_money
from memos.forms.insight import insight_form
from memos.insight import VIEWS as INSIGHT_VIEWS
from memos.insight import credit_insight


class InsightQuerySerializer(serializers.Serializer):
    start = serializers.CharField(
        required=False, help_text="First month, YYYY-MM (default: 11 months ago)"
    )
    end = serializers.CharField(required=False, help_text="Last month, YYYY-MM (default: now)")
    currency = serializers.CharField(required=False, help_text="ISO 4217 code (default: USD)")
    batch = serializers.CharField(required=False, help_text="Batch1..Batch50 (default: all)")
    view = serializers.ChoiceField(choices=list(INSIGHT_VIEWS), required=False)


class InsightRowSerializer(serializers.Serializer):
    label = serializers.CharField()
    memo_count = serializers.IntegerField()
    amount_excl_tax = serializers.CharField()
    amount = serializers.CharField()
    share = serializers.CharField(allow_null=True)
    memo_list_url = serializers.CharField()


class InsightViewSerializer(serializers.Serializer):
    key = serializers.CharField()
    title = serializers.CharField()
    dimension = serializers.CharField()
    currency = serializers.CharField()
    total = serializers.CharField()
    rows = InsightRowSerializer(many=True)


class CreditInsightApiView(ApiView):
    """GET /api/v1/insights/credit/: the figures of /insights/credit/ (every view, or ?view=),
    for the same filters, money as strings in the currency's decimals."""

    resource = "insights"

    @extend_schema(
        parameters=[InsightQuerySerializer],
        responses={200: InsightViewSerializer(many=True), **LIST_ERRORS},
    )
    def get(self, request):
        form = insight_form(request.query_params)
        if not form.is_valid():
            raise ValidationError({key: list(errors) for key, errors in form.errors.items()})
        view = request.query_params.get("view", "")
        if view and view not in INSIGHT_VIEWS:
            raise ValidationError({"view": [f"One of {', '.join(INSIGHT_VIEWS)}."]})
        where = form.insight_filter()

        def money(amount) -> str:
            return format_money(amount, where.currency).replace(",", "")

        data = []
        for key in [view] if view else INSIGHT_VIEWS:
            result = credit_insight(key, where)
            rows = [
                {
                    "label": row.label,
                    "memo_count": row.memo_count,
                    "amount_excl_tax": money(row.amount_excl_tax),
                    "amount": money(row.amount),
                    "share": f"{row.share:.1f}" if row.share is not None else None,
                    "memo_list_url": row.url,
                }
                for row in result.rows
            ]
            data.append(
                {
                    "key": result.key,
                    "title": result.title,
                    "dimension": result.dimension,
                    "currency": where.currency.pk,
                    "total": money(result.total),
                    "rows": rows,
                }
            )
        return Response(data)
