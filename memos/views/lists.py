"""The memo list."""

from __future__ import annotations

from urllib.parse import urlencode

from django.urls import reverse

from billing import permissions as perms
from billing.listing import FilteredListView
from memos.filters import MemoFilterSet
from memos.models import (
    MemoStatus,
    TransferStatus,
)
from memos.selectors import MEMO_SORTS, memo_rows


class MemoListView(FilteredListView):
    permission_required = perms.VIEW_MEMOS
    template_name = "memos/memo_list.html"
    filterset_class = MemoFilterSet
    sort_fields = MEMO_SORTS.fields
    sort_columns = MEMO_SORTS.columns
    default_sort = MEMO_SORTS.default

    def get_queryset(self):
        return memo_rows()

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
