"""Relative updates of money columns stay exact on SQLite, which keeps decimals as binary floats:
10.01 - 10.00 there is 0.009999999999999787, and taking 0.01 more leaves -2e-16, which the
"applied amount >= 0" check refuses. The stateful suite found it as an unapply refused by the
database (a 500) after applications of 10.01 and 10.00 were undone."""

from __future__ import annotations

from decimal import Decimal

import pytest

from billing.bulk import add_to_columns
from memos.factories import MemoFactory, MemoItemFactory
from memos.models import MemoItem, MemoStatus, MemoType

pytestmark = pytest.mark.django_db
D = Decimal


def test_adding_and_taking_back_cents_lands_on_zero_exactly():
    item = MemoItemFactory(
        memo=MemoFactory(
            memo_type=MemoType.CREDIT,
            status=MemoStatus.POSTED,
            amount=D(80),
            amount_excl_tax=D(80),
            tax_amount=D(0),
        ),
        amount=D(80),
        amount_excl_tax=D(80),
        tax_amount=D(0),
    )
    for delta in ("10.01", "-10.00", "-0.01"):
        add_to_columns(MemoItem, {item.pk: {"applied_amount": D(delta)}})
    item.refresh_from_db()
    assert item.applied_amount == 0
    # Read back raw: no float residue left in the column to trip the next check.
    assert MemoItem.objects.filter(pk=item.pk, applied_amount=0).exists()
