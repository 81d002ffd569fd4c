"""Shared by the hostile-input tests: what a refused request must leave as it was."""

from __future__ import annotations

import html

from billing.models import Invoice, NumberSeries
from memos.models import Memo, MemoApplication, MemoApplicationItem, MemoEvent, MemoItem, Refund


def db_state() -> dict:
    """Row counts and the figures a settlement moves: equal before and after a refused request."""
    return {
        "memos": Memo.objects.count(),
        "items": MemoItem.objects.count(),
        "applications": MemoApplication.objects.count(),
        "application_items": MemoApplicationItem.objects.count(),
        "refunds": Refund.objects.count(),
        "events": MemoEvent.objects.count(),
        "numbers": dict(NumberSeries.objects.values_list("key", "last_number")),
        "memo_figures": sorted(
            Memo.objects.values_list(
                "number", "status", "amount", "balance", "unapplied_amount", "refund_amount"
            )
        ),
        "transfer": sorted(Memo.objects.values_list("number", "transferred_to_accounting")),
        "invoice_balances": sorted(Invoice.objects.values_list("number", "balance")),
    }


def text_of(response) -> str:
    """The response body as a person reads it (entities decoded)."""
    return html.unescape(response.content.decode())


def messages_of(response) -> list[str]:
    return [str(m) for m in response.context["messages"]] if response.context else []
