"""The memo list as CSV, streamed."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterable, Iterator
from contextlib import nullcontext
from datetime import datetime
from decimal import Decimal
from itertools import islice

from django.db import connection, transaction
from django.db.models import BigIntegerField, Func, QuerySet
from django.http import HttpResponse, HttpResponseBadRequest, StreamingHttpResponse
from django.utils import timezone

from billing.models import Currency
from billing.money import ROUNDING
from memos.models import (
    MemoStatus,
    MemoType,
    ReasonCode,
    TransferStatus,
)
from memos.views.lists import MemoListView

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


FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
# A text that starts with none of these is left alone by spreadsheet_safe (it strips only these
# blanks before it looks): the export checks this first, as nearly every name passes it.
MAYBE_FORMULA = frozenset((*FORMULA_STARTS, " ", "\n"))


def spreadsheet_safe(text: str) -> str:
    # Typed text that starts like a formula would run as one when the file is opened in a
    # spreadsheet, which skips leading blanks and line breaks before it decides; a leading
    # apostrophe makes it plain text there.
    if text[:1] in FORMULA_STARTS or text.lstrip(" \t\r\n")[:1] in FORMULA_STARTS[:4]:
        return f"'{text}"
    return text


class EpochSeconds(Func):
    """Whole seconds since 1970 of a stored date and time. The export reads Created At so:
    psycopg reads timestamps through Django's Python-level time-zone loader, the slowest part
    of a row, and the row writes the time to the second only."""

    output_field = BigIntegerField()
    template = "floor(extract(epoch from %(expressions)s))::bigint"
    # Both databases return an int already: no converter call per row.
    convert_value = staticmethod(Func._convert_value_noop)

    def as_sqlite(self, compiler, connection, **extra_context):
        # Django stores UTC text there, "YYYY-MM-DD HH:MM:SS[.ffffff]": its first 19 characters
        # are the whole seconds (strftime would round a fraction up). '%%%%s' is strftime's %s
        # once the template and then the SQLite backend have unescaped it.
        template = "CAST(strftime('%%%%s', substr(%(expressions)s, 1, 19)) AS INTEGER)"
        return self.as_sql(compiler, connection, template=template, **extra_context)


# Exactly the values a row writes, in one query: the account's, invoice's and bill run's
# numbers and names come from joins, so no model instance is built per row (five per row, with
# select_related, cost more than the rest of the export together). Currencies and reason codes
# (small reference tables) are read once into lookups instead: joined per row they cost the
# database a fifth of its time.
EXPORT_VALUES = (
    "number",
    "memo_type",
    "account__number",
    "account__name",
    "invoice__number",
    "bill_run__number",
    "memo_date",
    "status",
    "reversed",
    "reason_code_id",
    "currency_id",
    "amount",
    "tax_amount",
    "unapplied_amount",
    "refund_amount",
    "balance",
    "transferred_to_accounting",
    "created_epoch",
)
MEMO_TYPE_LABELS = dict(MemoType.choices)
STATUS_LABELS = dict(MemoStatus.choices)
TRANSFER_LABELS = dict(TransferStatus.choices)


class ReferenceLookup(dict):
    """key -> value of a small reference table, read on first use and read again should a row
    name a key added since (a reason code created while the export runs)."""

    def __init__(self, load: Callable[[], Iterable[tuple]]):
        super().__init__()
        self.load = load

    def __missing__(self, key):
        self.update(self.load())
        if key not in self:
            raise KeyError(key)
        return dict.__getitem__(self, key)


def export_rows(rows: Iterable[tuple]) -> Iterator[list[str]]:
    """The CSV cells of EXPORT_VALUES rows, with plain string operations (no model instance,
    no helper call per value): amounts in plain digits rounded to the currency's minor unit as
    format_money rounds them ("1234.50", never "1,234.50"), and left empty where they do not
    apply to the memo's type; choices by their labels; typed names spreadsheet_safe; Created
    At in the current time zone to the second."""
    reason_codes = ReferenceLookup(
        lambda: (
            (pk, spreadsheet_safe(name))
            for pk, name in ReasonCode.objects.values_list("pk", "name")
        )
    )
    # Per currency: its code and the quantum of its minor unit. A Decimal quantized to at most
    # 3 places prints in plain digits, as format_money's f"{:.{places}f}" would.
    currencies = ReferenceLookup(
        lambda: (
            (code, (code, Decimal(1).scaleb(-places)))
            for code, places in Currency.objects.values_list("code", "minor_unit")
        )
    )
    tz = timezone.get_current_timezone()
    credit, debit = MemoType.CREDIT, MemoType.DEBIT
    maybe_formula = MAYBE_FORMULA
    for (
        number,
        memo_type,
        account_number,
        account_name,
        invoice_number,
        bill_run_number,
        memo_date,
        status,
        reversed_,
        reason_code_id,
        currency_id,
        amount,
        tax_amount,
        unapplied_amount,
        refund_amount,
        balance,
        transferred,
        created_epoch,
    ) in rows:
        currency, quantum = currencies[currency_id]
        is_credit, is_debit = memo_type == credit, memo_type == debit
        yield [
            number,
            MEMO_TYPE_LABELS.get(memo_type, memo_type),
            account_number,
            spreadsheet_safe(account_name) if account_name[:1] in maybe_formula else account_name,
            invoice_number or "",
            bill_run_number or "",
            memo_date.isoformat(),
            STATUS_LABELS.get(status, status),
            ("Yes" if reversed_ else "No") if is_credit else "",
            reason_codes[reason_code_id],
            currency,
            str(amount.quantize(quantum, ROUNDING)),
            str(tax_amount.quantize(quantum, ROUNDING)),
            str(unapplied_amount.quantize(quantum, ROUNDING)) if is_credit else "",
            str(refund_amount.quantize(quantum, ROUNDING)) if is_credit else "",
            str(balance.quantize(quantum, ROUNDING)) if is_debit else "",
            TRANSFER_LABELS.get(transferred, transferred),
            datetime.fromtimestamp(created_epoch, tz).isoformat(),
        ]


def export_transaction():
    """PostgreSQL: the rows come through a server-side cursor. Outside a transaction Django
    declares it WITH HOLD, and PostgreSQL then runs the whole query (a million-row join) to the
    end before the first row arrives; inside one the cursor is a plain one, rows flow as the
    query makes them, and the planner prefers a plan that starts fast. SQLite reads lazily
    anyway, and a transaction there (IMMEDIATE mode) would hold the write lock throughout."""
    if connection.vendor == "postgresql":
        return transaction.atomic()
    return nullcontext()


def memo_csv(queryset: QuerySet) -> Iterator[str]:
    """The CSV text in pieces, reading the rows in chunks: never every row in memory at once.

    A generator: the response iterates it after the view has returned, so the transaction
    the cursor needs is opened here, on the first piece, and closed with the last (or when
    the response is closed early)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(EXPORT_COLUMNS)
    with export_transaction():
        values = (
            queryset.annotate(created_epoch=EpochSeconds("created_at"))
            .values_list(*EXPORT_VALUES)
            .iterator(chunk_size=EXPORT_CHUNK_SIZE)
        )
        rows = export_rows(values)
        while piece := list(islice(rows, EXPORT_ROWS_PER_WRITE)):
            writer.writerows(piece)
            if len(piece) < EXPORT_ROWS_PER_WRITE:
                break  # the last rows go with the final piece
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
