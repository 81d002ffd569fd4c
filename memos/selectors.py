"""Reads of memos that need more than a queryset."""

from __future__ import annotations

import datetime as dt

from django.db.models import Count, Q

from memos.models import Memo, MemoStatus, TaxStatus, TransferStatus

DRAFT_AGE = dt.timedelta(days=1)


def attention_counts(*, now: dt.datetime) -> dict[str, int]:
    """What the home page asks an operator to look at, counted in one query."""
    return Memo.objects.aggregate(
        old_drafts=Count("pk", filter=Q(status=MemoStatus.DRAFT, created_at__lt=now - DRAFT_AGE)),
        tax_errors=Count(
            "pk", filter=Q(tax_status=TaxStatus.ERROR) & ~Q(status=MemoStatus.CANCELED)
        ),
        awaiting_transfer=Count(
            "pk",
            filter=Q(status=MemoStatus.POSTED, transferred_to_accounting=TransferStatus.NO),
        ),
    )
