"""The memo CSV export at scale (/memos/export.csv): it writes rows from plain values, through a
non-holdable server-side cursor on PostgreSQL, with a bounded number of queries, and writes
exactly the bytes the model-based rows wrote (the reference below), on both databases.

The columns, filters and order are tested in test_memo_list.py."""

from __future__ import annotations

import csv
import datetime as dt
import io
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from billing.factories import AccountFactory, BillRunFactory, InvoiceFactory, currency
from billing.money import format_money
from memos.factories import MemoFactory, ReasonCodeFactory
from memos.models import (
    Memo,
    MemoSource,
    MemoStatus,
    MemoType,
    ReasonCode,
    ReasonCodeType,
    TransferStatus,
)
from memos.views import export as memo_views

pytestmark = pytest.mark.django_db

EXPORT = "/memos/export.csv"


@pytest.fixture
def client(client, viewer):
    client.force_login(viewer)
    return client


def body(response) -> bytes:
    assert response.status_code == 200
    return b"".join(response.streaming_content)


# --- the reference: the row as the export wrote it from model instances -------------------------
def plain_money(amount, currency) -> str:
    return format_money(amount, currency).replace(",", "")


def model_row(memo: Memo) -> list[str]:
    cur = memo.currency
    return [
        memo.number,
        memo.get_memo_type_display(),
        memo.account.number,
        memo_views.spreadsheet_safe(memo.account.name),
        memo.invoice.number if memo.invoice else "",
        memo.bill_run.number if memo.bill_run else "",
        memo.memo_date.isoformat(),
        memo.get_status_display(),
        ("Yes" if memo.reversed else "No") if memo.is_credit else "",
        memo_views.spreadsheet_safe(memo.reason_code.name),
        cur.code,
        plain_money(memo.amount, cur),
        plain_money(memo.tax_amount, cur),
        plain_money(memo.unapplied_amount, cur) if memo.is_credit else "",
        plain_money(memo.refund_amount, cur) if memo.is_credit else "",
        plain_money(memo.balance, cur) if memo.is_debit else "",
        memo.get_transferred_to_accounting_display(),
        timezone.localtime(memo.created_at).isoformat(timespec="seconds"),
    ]


def model_based_export() -> bytes:
    """What the export wrote before, for every memo in the list's default order."""
    memos = Memo.objects.select_related(
        "account", "currency", "reason_code", "invoice", "bill_run"
    ).order_by("-memo_date", "-id")
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(memo_views.EXPORT_COLUMNS)
    writer.writerows(model_row(memo) for memo in memos)
    return buffer.getvalue().encode()


NAMES = ["Acme", "=HYPERLINK(1)", " -2+3", "\n=1", 'Quote "me", please', "Line\nbreak", ""]
CREATED = [
    dt.datetime(2026, 3, 8, 6, 59, 59, 999_999, tzinfo=dt.UTC),  # New York's clocks go forward
    dt.datetime(2026, 11, 1, 5, 30, 0, 500_000, tzinfo=dt.UTC),  # in the hour that repeats
    dt.datetime(2026, 11, 1, 6, 30, 0, tzinfo=dt.UTC),
    dt.datetime(1999, 12, 31, 23, 59, 59, 1, tzinfo=dt.UTC),
]


def mixed_memos(count: int = 28) -> None:
    """Credit and debit memos in every status and transfer status, in USD, JPY and KWD, with and
    without an invoice and a bill run, names that look like formulas or need quoting, amounts
    that round half up, and creation times around daylight-saving changes."""
    currencies = [currency(code) for code in ("USD", "JPY", "KWD")]
    runs = [None, BillRunFactory()]
    for index in range(count):
        cur = currencies[index % 3]
        account = AccountFactory(currency=cur, name=NAMES[index % len(NAMES)])
        credit = index % 3 != 1
        amount = [Decimal("1234.505"), Decimal("0.125"), Decimal("1000"), Decimal("7.5")][index % 4]
        amount = amount.quantize(Decimal(1).scaleb(-cur.minor_unit))
        memo = MemoFactory(
            memo_type=MemoType.CREDIT if credit else MemoType.DEBIT,
            account=account,
            status=list(MemoStatus)[index % 3],
            source=MemoSource.INVOICE if index % 2 else MemoSource.CHARGES,
            invoice=InvoiceFactory(account=account) if index % 2 else None,
            bill_run=runs[index % 2] if credit and not index % 2 else None,
            memo_date=dt.date(2026, 1, 1) + dt.timedelta(days=index % 5),
            amount_excl_tax=amount,
            tax_amount=Decimal(index % 2),
            applied_amount=Decimal(1) if credit and index % 4 == 0 else Decimal(0),
            reversed=credit and index % 5 == 0,
            transferred_to_accounting=list(TransferStatus)[index % len(TransferStatus)],
            reason_code=ReasonCodeFactory(
                code_type=ReasonCodeType.CREDIT_MEMO if credit else ReasonCodeType.DEBIT_MEMO,
                name=f"{NAMES[index % len(NAMES)]} {index}",
            ),
        )
        Memo.objects.filter(pk=memo.pk).update(created_at=CREATED[index % len(CREATED)])


@pytest.mark.parametrize("time_zone", ["UTC", "America/New_York", "Asia/Kolkata"])
def test_the_export_writes_the_bytes_the_model_based_rows_wrote(client, settings, time_zone):
    settings.TIME_ZONE = time_zone
    mixed_memos()
    expected = model_based_export()
    assert expected.count(b"\r\n") > 28  # the rows, plus the names with line breaks

    assert body(client.get(EXPORT)) == expected


def test_the_export_queries_are_bounded_however_many_chunks_it_reads(client, monkeypatch):
    """Reading in many chunks and writing many pieces adds no query: the reason codes and
    currencies are read once, the rows in one (chunked) query."""
    mixed_memos(1)
    client.get(EXPORT)
    with CaptureQueriesContext(connection) as one:
        body(client.get(EXPORT))
    mixed_memos(40)
    monkeypatch.setattr(memo_views, "EXPORT_CHUNK_SIZE", 3)
    monkeypatch.setattr(memo_views, "EXPORT_ROWS_PER_WRITE", 2)
    with CaptureQueriesContext(connection) as many:
        response = client.get(EXPORT)
        pieces = list(response.streaming_content)
    assert len(pieces) > 20
    assert len(many) == len(one), [q["sql"][:80] for q in many.captured_queries]
    assert len(one) <= 12


def test_a_reason_code_created_while_the_export_runs_is_read_again():
    """The reason codes are read when the first row needs them; a row naming one created since
    reads them again (one more query, only then)."""
    lookup = memo_views.ReferenceLookup(lambda: ReasonCode.objects.values_list("pk", "name"))
    first = ReasonCode.objects.first()
    with CaptureQueriesContext(connection) as read:
        assert lookup[first.pk] == first.name
        assert lookup[first.pk] == first.name
    assert len(read) == 1
    later = ReasonCodeFactory(name="Created meanwhile")
    with CaptureQueriesContext(connection) as again:
        assert lookup[later.pk] == "Created meanwhile"
    assert len(again) == 1
    with pytest.raises(KeyError):
        lookup[-1]


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_the_export_streams_from_a_cursor_that_is_not_held_past_its_transaction(
    client, monkeypatch
):
    """Outside a transaction Django declares its cursor WITH HOLD, and PostgreSQL then runs the
    whole query before the first row comes: the export reads inside a transaction."""
    mixed_memos(5)
    monkeypatch.setattr(memo_views, "EXPORT_ROWS_PER_WRITE", 2)
    response = client.get(EXPORT)
    pieces = iter(response.streaming_content)
    next(pieces)  # the first piece: the rows' cursor is open
    with connection.cursor() as cursor:
        cursor.execute("SELECT is_holdable FROM pg_cursors WHERE name LIKE '_django_curs_%%'")
        assert [row[0] for row in cursor.fetchall()] == [False]
    assert connection.in_atomic_block
    rest = b"".join(pieces)
    response.close()
    assert not connection.in_atomic_block
    assert rest.count(b"\r\n") == 3  # the header and 2 rows came first
