"""Reads of memos that need more than a queryset."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from types import SimpleNamespace
from urllib.parse import urlencode

from django.conf import settings
from django.urls import reverse

from billing import permissions as perms
from billing.keyset import CappedCount
from memos.filters import APPROVAL_YOURS, MemoFilterSet
from memos.models import Memo, MemoStatus, TaxStatus, TransferStatus

DRAFT_AGE = dt.timedelta(days=1)


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
