"""Reads of memos that need more than a queryset."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from types import SimpleNamespace
from urllib.parse import urlencode

from django.conf import settings
from django.db.models import Prefetch, QuerySet
from django.urls import reverse

from billing import permissions as perms
from billing.keyset import CappedCount
from billing.selectors import ListSorts
from memos.filters import APPROVAL_YOURS, MemoFilterSet
from memos.models import (
    Memo,
    MemoApplication,
    MemoEvent,
    MemoItem,
    MemoStatus,
    Refund,
    TaxStatus,
    TransferStatus,
)

DRAFT_AGE = dt.timedelta(days=1)

MEMO_SORTS = ListSorts(
    fields={"number": "Number", "memo_date": "Memo Date", "amount": "Amount"},
    # Amounts in different currencies are not comparable: the amount sort groups by currency
    # (an index on (currency, amount, id) serves it).
    columns={"amount": ("currency", "amount")},
    default="-memo_date",
)


def memo_rows() -> QuerySet:
    """The memo list's rows: everything a row shows (and the export writes) in the same query,
    so a page costs the same for 1 row and 50."""
    return Memo.objects.select_related("account", "currency", "reason_code", "invoice", "bill_run")


def memo_page() -> QuerySet:
    """One memo with everything its page shows: items, applications (a credit memo's, or the
    credit applied to a debit memo), refunds and history, one query each."""
    return Memo.objects.select_related(
        "account",
        "currency",
        "invoice",
        "bill_run",
        "reason_code",
        "created_by",
        "submitted_by",
        "approved_by",
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
            queryset=MemoApplication.objects.select_related("credit_memo", "created_by").order_by(
                "created_at", "id"
            ),
        ),
        Prefetch(
            "refunds",
            queryset=Refund.objects.select_related("reason_code", "created_by").order_by(
                "created_at", "id"
            ),
        ),
        Prefetch("events", queryset=MemoEvent.objects.select_related("actor").order_by("at", "id")),
    )


@dataclass(frozen=True)
class AttentionItem:
    key: str
    title: str
    link_label: str
    count: int
    url: str
    # More rows match than `count` (the cap): the page says "More than 1,000", as the list does.
    capped: bool = False


def attention_items(*, today: dt.date, user=None) -> list[AttentionItem]:
    """What the home page asks an operator to look at.

    Each figure is counted through the memo list's own FilterSet with the very filters its link
    opens, so the count and the list behind the link always agree; and capped like the list's
    total (APPROXIMATE_COUNT_LIMIT), so the page costs the same however many memos wait.
    """
    items = [
        (
            "old_drafts",
            "Draft memos older than a day",
            "Review drafts",
            {"status": MemoStatus.DRAFT, "memo_date_before": (today - DRAFT_AGE).isoformat()},
        ),
        (
            "tax_errors",
            "Draft memos with Tax Status Error",
            "Review tax errors",
            # Posting is refused until tax is recalculated, so only drafts can carry the error.
            {"status": MemoStatus.DRAFT, "tax_status": TaxStatus.ERROR},
        ),
        (
            "awaiting_transfer",
            "Posted memos not transferred to accounting",
            "Review transfers",
            {"status": MemoStatus.POSTED, "transferred_to_accounting": TransferStatus.NO},
        ),
    ]
    if user is not None and user.has_perm(perms.APPROVE_MEMOS):
        # DOMAIN.md 8: only for those who may approve, without what they created or submitted.
        items.insert(
            0,
            (
                "awaiting_your_approval",
                "Awaiting your approval",
                "Review approvals",
                {"approval": APPROVAL_YOURS},
            ),
        )
    list_url = reverse("memos:memo_list")
    cap = settings.APPROXIMATE_COUNT_LIMIT
    counts = {}
    request = SimpleNamespace(user=user)
    for key, _, _, params in items:
        filterset = MemoFilterSet(params, queryset=Memo.objects.all(), request=request)
        if not filterset.is_valid():  # a programming error: the filters above are fixed
            raise ValueError(filterset.errors)
        counts[key] = CappedCount(filterset.qs, cap + 1)
    # The counts in one statement: SQL needs a FROM, so they ride on one memo row (with no
    # memo at all there is no row, and every count is 0).
    row = Memo.objects.order_by().annotate(**counts).values(*counts).first() or {}
    return [
        AttentionItem(
            key=key,
            title=title,
            link_label=link_label,
            count=min(row.get(key, 0), cap),
            capped=row.get(key, 0) > cap,
            url=f"{list_url}?{urlencode(params)}",
        )
        for key, title, link_label, params in items
    ]
