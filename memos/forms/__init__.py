"""Forms of the memo pages: the header (common), the grid rows of each create page, settlement."""

from memos.forms.charges import (
    AccountChoiceForm,
    ChargeChoiceField,
    ChargeGrid,
    ChargeRowForm,
)
from memos.forms.common import DateInput, MemoHeaderForm, MoneyInput, RowFields
from memos.forms.invoice import InvoiceRowForm

__all__ = [
    "AccountChoiceForm",
    "ChargeChoiceField",
    "ChargeGrid",
    "ChargeRowForm",
    "DateInput",
    "InvoiceRowForm",
    "MemoHeaderForm",
    "MoneyInput",
    "RowFields",
]
