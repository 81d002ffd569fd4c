"""Reads that need more than a queryset: derived balances and the lists' base querysets."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from django.db.models import (
    DecimalField,
    ExpressionWrapper,
    F,
    OuterRef,
    Prefetch,
    Q,
    QuerySet,
    Subquery,
    Sum,
    Value,
)
from django.db.models.functions import Coalesce

from billing.models import Account, BillRun, Invoice, InvoiceItem, InvoiceStatus
from billing.money import MONEY_DIGITS, MONEY_PLACES

MONEY_OUTPUT = DecimalField(max_digits=MONEY_DIGITS + 4, decimal_places=MONEY_PLACES)
# Typed search text longer than this matches nothing (names are at most 255 characters) and is
# never sent to the database: SQLite refuses a LIKE pattern over 50,000 bytes with an error.
SEARCH_MAX_LENGTH = 255


def _sum_per_account(queryset: QuerySet, column: str) -> Coalesce:
    total = (
        queryset.filter(account=OuterRef("pk"))
        .order_by()
        .values("account")
        .annotate(total=Sum(column))
        .values("total")
    )
    return Coalesce(
        Subquery(total, output_field=MONEY_OUTPUT),
        Value(Decimal("0"), output_field=MONEY_OUTPUT),
        output_field=MONEY_OUTPUT,
    )


def accounts_with_balance(queryset: QuerySet | None = None) -> QuerySet:
    """Accounts annotated with `balance` (DOMAIN.md section 1): posted invoice balances +
    posted debit memo balances - posted credit memo unapplied amounts.
    """
    from memos.models import Memo, MemoStatus, MemoType

    queryset = Account.objects.all() if queryset is None else queryset
    posted_memos = Memo.objects.filter(status=MemoStatus.POSTED)
    return queryset.annotate(
        invoice_balance=_sum_per_account(
            Invoice.objects.filter(status=InvoiceStatus.POSTED), "balance"
        ),
        debit_balance=_sum_per_account(posted_memos.filter(memo_type=MemoType.DEBIT), "balance"),
        credit_unapplied=_sum_per_account(
            posted_memos.filter(memo_type=MemoType.CREDIT), "unapplied_amount"
        ),
    ).annotate(
        balance=ExpressionWrapper(
            F("invoice_balance") + F("debit_balance") - F("credit_unapplied"),
            output_field=MONEY_OUTPUT,
        )
    )


def account_balance(account: Account) -> Decimal:
    return (
        accounts_with_balance(Account.objects.filter(pk=account.pk))
        .values_list("balance", flat=True)
        .get()
    )


def search_accounts(query: str, *, limit: int = 20) -> list[Account]:
    """Accounts whose number starts with, or whose name contains, `query` (the account
    pickers' search), by number; none for an empty query."""
    query = query.strip()
    if not query or len(query) > SEARCH_MAX_LENGTH:
        return []
    return list(
        Account.objects.filter(Q(number__istartswith=query) | Q(name__icontains=query))
        .select_related("currency")
        .order_by("number")[:limit]
    )


# --- the lists and pages the UI and the API share ---------------------------------------------


@dataclass(frozen=True)
class ListSorts:
    """A list's sorts, as its page and its API endpoint offer them: `fields` by URL key (with
    their labels), the columns a key orders by where they are not the key's own, the default."""

    fields: dict[str, str]
    default: str
    columns: dict[str, tuple[str, ...]] = field(default_factory=dict)


ACCOUNT_SORTS = ListSorts(
    fields={"number": "Account Number", "name": "Name", "bill_cycle_day": "Bill Cycle Day"},
    default="number",
)
INVOICE_SORTS = ListSorts(
    fields={
        "number": "Invoice Number",
        "invoice_date": "Invoice Date",
        "due_date": "Due Date",
        "amount": "Amount",
        "balance": "Balance",
    },
    # As on the memo list: amounts of different currencies never interleave.
    columns={"amount": ("currency", "amount"), "balance": ("currency", "balance")},
    default="-invoice_date",
)
BILL_RUN_SORTS = ListSorts(
    fields={
        "number": "Bill Run Number",
        "invoice_date": "Invoice Date",
        "target_date": "Target Date",
        "created_at": "Created",
    },
    default="-created_at",
)


def account_rows() -> QuerySet:
    """Accounts with their balance summary: the account list's rows and one account's page."""
    return accounts_with_balance(Account.objects.select_related("currency"))


def invoice_rows() -> QuerySet:
    return Invoice.objects.select_related("account", "currency")


def invoice_with_items(*, with_applications: bool = False) -> QuerySet:
    """Invoices with their items (and, for who may see memos, the credit applied to them)."""
    queryset = Invoice.objects.select_related("account", "currency", "bill_run").prefetch_related(
        Prefetch(
            "items",
            queryset=InvoiceItem.objects.select_related("tax_code").order_by("sort_order", "id"),
        )
    )
    if with_applications:
        from memos.models import MemoApplication

        # The credit applied to (and unapplied from) an invoice, in one query however many.
        queryset = queryset.prefetch_related(
            Prefetch(
                "applications",
                queryset=MemoApplication.objects.select_related(
                    "credit_memo", "created_by"
                ).order_by("created_at", "id"),
            )
        )
    return queryset


def bill_run_rows() -> QuerySet:
    return BillRun.objects.select_related("account")


def bill_run_page() -> QuerySet:
    return BillRun.objects.select_related("account", "created_by", "retry_of")
