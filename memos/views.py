"""Memo pages."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from decimal import Decimal
from urllib.parse import urlencode

from django.db.models import Prefetch, QuerySet
from django.http import HttpResponse, HttpResponseBadRequest, StreamingHttpResponse
from django.urls import reverse
from django.utils import timezone
from django.views.generic import DetailView

from billing import permissions as perms
from billing.listing import FilteredListView
from billing.money import format_money
from billing.permissions import PermissionMixin
from memos.filters import MemoFilterSet
from memos.models import (
    Memo,
    MemoApplication,
    MemoEvent,
    MemoItem,
    MemoStatus,
    Refund,
    TransferStatus,
)
from memos.services.lifecycle import unpost_refusal


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


# --- CSV export ---------------------------------------------------------------------------------

EXPORT_COLUMNS = [
    "Number",
    "Memo Type",
    "Customer Account",
    "Account Name",
    "Related Invoice",
    "Source",
    "Memo Date",
    "Status",
    "Reversed",
    "Reason Code",
    "Currency",
    "Amount",
    "Tax",
    "Unapplied Amount",
    "Refund Amount",
    "Balance",
    "Transferred to Accounting",
    "Created At",
]
EXPORT_CHUNK_SIZE = 2000
# Rows per piece of the streamed body: one write per row would be a syscall per row.
EXPORT_ROWS_PER_WRITE = 500


def plain_money(amount: Decimal | None, currency) -> str:
    """format_money without thousands separators: spreadsheets and ledgers read "1234.50"."""
    return format_money(amount, currency).replace(",", "")


FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_safe(text: str) -> str:
    # Typed text that starts like a formula would run as one when the file is opened in a
    # spreadsheet, which skips leading blanks and line breaks before it decides; a leading
    # apostrophe makes it plain text there.
    if text[:1] in FORMULA_STARTS or text.lstrip(" \t\r\n")[:1] in FORMULA_STARTS[:4]:
        return f"'{text}"
    return text


def memo_csv_row(memo: Memo) -> list[str]:
    """One memo as a CSV row; amounts that do not apply to the memo type are left empty."""
    cur = memo.currency
    return [
        memo.number,
        memo.get_memo_type_display(),
        memo.account.number,
        spreadsheet_safe(memo.account.name),
        memo.invoice.number if memo.invoice else "",
        memo.bill_run.number if memo.bill_run else "",
        memo.memo_date.isoformat(),
        memo.get_status_display(),
        ("Yes" if memo.reversed else "No") if memo.is_credit else "",
        spreadsheet_safe(memo.reason_code.name),
        cur.code,
        plain_money(memo.amount, cur),
        plain_money(memo.tax_amount, cur),
        plain_money(memo.unapplied_amount, cur) if memo.is_credit else "",
        plain_money(memo.refund_amount, cur) if memo.is_credit else "",
        plain_money(memo.balance, cur) if memo.is_debit else "",
        memo.get_transferred_to_accounting_display(),
        timezone.localtime(memo.created_at).isoformat(timespec="seconds"),
    ]


def memo_csv(queryset: QuerySet) -> Iterator[str]:
    """The CSV text in pieces, reading the rows in chunks: never every row in memory at once."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(EXPORT_COLUMNS)
    for index, memo in enumerate(queryset.iterator(chunk_size=EXPORT_CHUNK_SIZE), start=1):
        writer.writerow(memo_csv_row(memo))
        if index % EXPORT_ROWS_PER_WRITE == 0:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()


def filter_errors_text(filterset) -> str:
    fields = filterset.form.fields
    lines = ["Nothing was exported: fix these filters first."]
    for name, errors in filterset.errors.items():
        label = fields[name].label if name in fields else ""
        lines.extend(f"{label}: {error}" if label else str(error) for error in errors)
    return "\n".join(lines) + "\n"


class MemoExportView(MemoListView):
    """/memos/export.csv: exactly the rows the list shows for the same filters, in its order.

    The same FilterSet and sort as MemoListView; the body is streamed from a chunked iterator,
    so an export of every memo never holds them all in memory. Invalid filters get a 400 with
    the errors, never a full export.
    """

    http_method_names = ["get", "head", "options"]

    def get(self, request, *args, **kwargs) -> HttpResponse:
        filterset = self.get_filterset()
        if filterset.is_bound and not filterset.is_valid():
            return HttpResponseBadRequest(
                filter_errors_text(filterset), content_type="text/plain; charset=utf-8"
            )
        queryset = filterset.qs.order_by(*self.get_ordering(filterset.qs))
        response = StreamingHttpResponse(memo_csv(queryset), content_type="text/csv; charset=utf-8")
        filename = f"memos-{timezone.localdate():%Y%m%d}.csv"
        response["Content-Disposition"] = f'attachment; filename="{filename}"'
        return response


class MemoDetailView(PermissionMixin, DetailView):
    permission_required = perms.VIEW_MEMOS
    template_name = "memos/memo_detail.html"
    context_object_name = "memo"
    slug_field = "number"
    slug_url_kwarg = "number"

    def get_queryset(self):
        return Memo.objects.select_related(
            "account", "currency", "invoice", "bill_run", "reason_code", "created_by"
        ).prefetch_related(
            Prefetch(
                "items",
                queryset=MemoItem.objects.select_related("tax_code").order_by("sort_order", "id"),
            ),
            Prefetch(
                "applications",
                queryset=MemoApplication.objects.select_related(
                    "invoice", "debit_memo", "created_by"
                ).order_by("created_at", "id"),
            ),
            Prefetch(
                "credit_applications",
                queryset=MemoApplication.objects.select_related(
                    "credit_memo", "created_by"
                ).order_by("created_at", "id"),
            ),
            Prefetch(
                "refunds",
                queryset=Refund.objects.select_related("reason_code", "created_by").order_by(
                    "created_at", "id"
                ),
            ),
            Prefetch(
                "events", queryset=MemoEvent.objects.select_related("actor").order_by("at", "id")
            ),
        )

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["actions"] = memo_actions(self.object, self.request.user)
        return context


def memo_actions(memo: Memo, user) -> dict[str, bool | str]:
    """What this user may do to this memo now: the page shows only these buttons.

    An action the user may take but the memo's state refuses, where the rule is known before the
    click, comes with its reason (`<action>_refused`): the page shows it disabled, saying why.
    """
    draft, posted = memo.status == MemoStatus.DRAFT, memo.status == MemoStatus.POSTED
    may_process = user.has_perm(perms.PROCESS_MEMO)
    open_credit = posted and memo.is_credit and memo.unapplied_amount > 0
    untouched = open_credit and not memo.applied_amount and not memo.refund_amount
    may_reverse = untouched and not memo.reversed and user.has_perm(perms.REVERSE_CREDIT_MEMO)
    unpost_refused = ""
    if posted and may_process:
        refusal = unpost_refusal(memo)
        unpost_refused = refusal.messages[0] if refusal else ""
    return {
        "apply": open_credit and user.has_perm(perms.SETTLE_CREDIT_MEMO),
        "refund": open_credit and user.has_perm(perms.SETTLE_CREDIT_MEMO),
        "unapply": posted and memo.is_credit and user.has_perm(perms.SETTLE_CREDIT_MEMO),
        "reverse": may_reverse,
        "write_off": may_reverse,
        "post": draft and may_process,
        "recalculate_tax": draft and may_process and memo.tax_auto_calculation,
        "cancel": draft and may_process,
        "unpost": posted and may_process and not unpost_refused,
        "unpost_refused": unpost_refused,
        "delete": memo.status == MemoStatus.CANCELED and user.has_perm(perms.DELETE_MEMO),
        # Header edits (DOMAIN.md 2.4): comments on any status, the rest as the status allows.
        "edit": may_process,
    }
