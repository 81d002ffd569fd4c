"""The memo list."""

from __future__ import annotations

from urllib.parse import urlencode

from django.urls import reverse

from billing import permissions as perms
from billing.listing import FilteredListView
from memos.filters import MemoFilterSet
from memos.models import (
    Memo,
    MemoStatus,
    TransferStatus,
)


class MemoListView(FilteredListView):
    permission_required = perms.VIEW_MEMOS
    template_name = "memos/memo_list.html"
    filterset_class = MemoFilterSet
    sort_fields = {"number": "Number", "memo_date": "Memo Date", "amount": "Amount"}
    # Amounts in different currencies are not comparable: the amount sort groups by currency
    # (an index on (currency, amount, id) serves it).
    sort_columns = {"amount": ("currency", "amount")}
    default_sort = "-memo_date"

    def get_queryset(self):
        # Everything a row shows (and the export writes) comes in the same query, so a page costs
        # the same for 1 row and 50.
        return Memo.objects.select_related(
            "account", "currency", "reason_code", "invoice", "bill_run"
        )

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        # The export takes the filters and the sort, never the page: it writes every row.
        params = self.request.GET.copy()
        for param in ("after", "before"):
            params.pop(param, None)
        query = params.urlencode()
        context["export_url"] = reverse("memos:memo_export") + (f"?{query}" if query else "")
        # What a reviewer hands to the ledger (DOMAIN.md 2.5), whatever the list shows now.
        context["not_transferred_export_url"] = (
            reverse("memos:memo_export") + "?" + urlencode(NOT_TRANSFERRED_FILTERS)
        )
        # Reviewers select posted rows and mark them in bulk; the rows are already in memory and
        # the permission check is cached on the user, so this costs no query per row.
        may_transfer = self.request.user.has_perm(perms.CHANGE_TRANSFER)
        context["bulk_transfer"] = may_transfer
        context["bulk_transfer_rows"] = may_transfer and any(
            memo.status == MemoStatus.POSTED for memo in context["rows"]
        )
        return context


# Posted memos not yet transferred to accounting: the same filters as the home page's "Review
# transfers" link, so the export is exactly the list a reviewer lands on from there.
NOT_TRANSFERRED_FILTERS = {
    "status": MemoStatus.POSTED.value,
    "transferred_to_accounting": TransferStatus.NO.value,
}
