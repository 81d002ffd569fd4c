"""Gapless document numbers (DOMAIN.md 2.7): prefix + 8-digit zero-padded counter.

The counter row is locked (SELECT ... FOR UPDATE) inside the caller's transaction, so a number is
only consumed if the document that takes it commits, and two transactions never get the same
one; the documents' unique constraints are the backstop.
"""

from __future__ import annotations

from django.db import transaction
from django.db.models import F

from billing.models import NumberSeries

DIGITS = 8


def format_number(prefix: str, number: int) -> str:
    return f"{prefix}{number:0{DIGITS}d}"


def allocate_numbers(key: str, count: int = 1) -> list[str]:
    """Take the next `count` numbers of a series; call inside the creating transaction."""
    if count < 1:
        return []
    # Nested in the caller's transaction this is a savepoint: the lock is held until it commits.
    with transaction.atomic():
        series = NumberSeries.objects.select_for_update().get(key=key)
        first = series.last_number + 1
        NumberSeries.objects.filter(pk=series.pk).update(last_number=F("last_number") + count)
    return [format_number(series.prefix, n) for n in range(first, first + count)]


def next_number(key: str) -> str:
    return allocate_numbers(key, 1)[0]
