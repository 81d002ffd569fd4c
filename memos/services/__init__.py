"""Every write to memos goes through a function here (DESIGN.md rule 1)."""

from memos.services.availability import available_to_credit, check_available_to_credit
from memos.services.creation import (
    MAX_ITEMS,
    ChargeLine,
    InvoiceItemLine,
    check_memo_totals,
    create_memo_from_charges,
    create_memo_from_invoice,
    recalculate_tax,
)
from memos.services.pricing import (
    PricedLine,
    price_invoice_item_line,
    price_line,
    taxed_by_third_party_engine,
)

__all__ = [
    "MAX_ITEMS",
    "ChargeLine",
    "InvoiceItemLine",
    "PricedLine",
    "available_to_credit",
    "check_available_to_credit",
    "check_memo_totals",
    "create_memo_from_charges",
    "create_memo_from_invoice",
    "price_invoice_item_line",
    "price_line",
    "recalculate_tax",
    "taxed_by_third_party_engine",
]
