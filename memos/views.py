"""Memo pages."""

from __future__ import annotations

from django.db.models import Prefetch
from django.views.generic import DetailView

from billing import permissions as perms
from billing.listing import FilteredListView
from billing.permissions import PermissionMixin
from memos.filters import MemoFilterSet
from memos.models import Memo, MemoItem


class MemoListView(FilteredListView):
    permission_required = perms.VIEW_MEMOS
    template_name = "memos/memo_list.html"
    filterset_class = MemoFilterSet
    sort_fields = {"number": "Number", "memo_date": "Memo Date", "amount": "Amount"}
    default_sort = "-memo_date"

    def get_queryset(self):
        return Memo.objects.select_related("account", "currency", "reason_code")


class MemoDetailView(PermissionMixin, DetailView):
    permission_required = perms.VIEW_MEMOS
    template_name = "memos/memo_detail.html"
    context_object_name = "memo"
    slug_field = "number"
    slug_url_kwarg = "number"

    def get_queryset(self):
        return Memo.objects.select_related(
            "account", "currency", "invoice", "bill_run", "reason_code"
        ).prefetch_related(
            Prefetch(
                "items",
                queryset=MemoItem.objects.select_related("tax_code").order_by("sort_order", "id"),
            )
        )
