"""The benchmark's data: memos at scale, and the documents the create and apply figures use.

Memos, their items, accounts and invoices are written by INSERT ... SELECT over generate_series,
not by the ORM row by row (100,000 memos with everything around them, vacuumed and analyzed, in
about 10 s on a busy 2-core machine). Every value comes from a hash of the row's index, so a
scale always gives the same data. What the lists see:

- accounts: `accounts` of them, 60% USD, the rest EUR, GBP, CAD, JPY (0 decimals) and KWD
  (3 decimals); batches Batch1-Batch48 (Batch49 and Batch50 are the bill runs'), 2% inactive.
- memos: 70% credit, 30% debit; 8% Draft, 85% Posted, 7% Canceled; spread over accounts
  unevenly (account k of A gets a share ~ 1/sqrt(k), as real books have a few big customers);
  memo dates over the last two years in id order with a few days' jitter; every active reason
  code of the type; Transferred to Accounting mostly Yes/No on posted memos; 5% taxed by the
  third-party engine (some with tax errors); applied, refunded and open amounts on credit memos
  and balances on debit memos as settlement leaves them. Sources: 45% of memos come from an
  invoice of the same account from the two months before, 12% (credit) from a monthly bill run.
- one item per memo (from-invoice memos point at the invoice's item), one per invoice.
- invoices: a quarter as many as memos, posted, with item and balance.
- 24 posted monthly bill runs, the source of the bill-run credit memos.

No history events are generated for these memos (no figure reads them).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

from django.db import connection, transaction

from billing.factories import standard_tax_code
from billing.models import (
    Account,
    AccountStatus,
    BillRun,
    Invoice,
    InvoiceItem,
    InvoiceStatus,
    NumberSeries,
    TaxMode,
)
from billing.numbering import allocate_numbers
from memos.models import (
    Memo,
    MemoItem,
    MemoSource,
    MemoStatus,
    MemoType,
    ReasonCode,
    ReasonCodeType,
)
from memos.services.bill_runs import bill_run_reason_code

DAYS = 730  # memo and invoice dates span the two years before today
BILL_RUNS = 24
INVOICES_PER_MEMO = 0.25
INVOICE_WINDOW = 60  # days: a memo from an invoice is from one of the last two months
LIST_BATCHES = 48  # Batch49 and Batch50 hold the bill-run benchmark's accounts

# Scalar helpers the INSERT ... SELECTs share; pg_temp functions live as long as the session.
HELPERS = """
CREATE OR REPLACE FUNCTION pg_temp.u(i bigint, salt int) RETURNS double precision
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS
$$ SELECT (hashint8(i * 1000 + salt)::bigint + 2147483648) / 4294967296.0 $$;
"""

CURRENCY_BY_ACCOUNT = """
CASE WHEN k %% 20 < 12 THEN 'USD' WHEN k %% 20 < 15 THEN 'EUR' WHEN k %% 20 < 17 THEN 'GBP'
     WHEN k %% 20 < 18 THEN 'CAD' WHEN k %% 20 < 19 THEN 'JPY' ELSE 'KWD' END
"""

FIRST_WORDS = [
    "Acme", "Globex", "Initech", "Umbrella", "Stark", "Wayne", "Wonka", "Hooli", "Vandelay",
    "Soylent", "Tyrell", "Cyberdyne", "Aperture", "Gringotts", "Oscorp", "Monarch", "Nakatomi",
    "Zorg", "Virtucon", "Massive",
]  # fmt: skip
SECOND_WORDS = [
    "Logistics", "Foods", "Systems", "Analytics", "Holdings", "Retail", "Media", "Pharma",
    "Energy", "Labs", "Travel", "Robotics", "Finance", "Textiles", "Motors", "Games", "Health",
    "Studios", "Telecom", "Partners", "Farms", "Marine", "Security", "Software", "Hotels",
]  # fmt: skip
SUFFIXES = ["Inc", "Ltd", "GmbH", "LLC", "SA", "BV", "Pty", "KK"]


@dataclass
class Reserved:
    prefix: str
    last: int  # the series' last number before the reservation


def _lock_series(cursor, key: str) -> Reserved:
    cursor.execute(
        "SELECT prefix, last_number FROM billing_numberseries WHERE key = %s FOR UPDATE", [key]
    )
    prefix, last = cursor.fetchone()
    return Reserved(prefix, last)


def _advance_series(cursor, key: str, count: int) -> None:
    cursor.execute(
        "UPDATE billing_numberseries SET last_number = last_number + %s WHERE key = %s",
        [count, key],
    )


def _max_id(cursor, table: str) -> int:
    cursor.execute(f'SELECT COALESCE(MAX(id), 0) FROM "{table}"')
    return cursor.fetchone()[0]


def _sync_sequence(cursor, table: str) -> None:
    """Explicit ids were inserted: move the identity sequence past them."""
    cursor.execute(
        f"SELECT setval(pg_get_serial_sequence('\"{table}\"', 'id'), "
        f'GREATEST((SELECT MAX(id) FROM "{table}"), 1))'
    )


def _can_skip_foreign_key_checks(cursor) -> bool:
    cursor.execute("SELECT current_setting('is_superuser') = 'on'")
    return cursor.fetchone()[0]


@dataclass
class MemoData:
    accounts: int
    invoices: int
    memos: int
    bill_runs: int
    credit_memos: int
    debit_memos: int
    foreign_key_checks: bool


def build_memo_data(*, memos: int, accounts: int, today: dt.date, operator_id: int) -> MemoData:
    """Write the list data described above; returns what was written."""
    invoices = max(int(memos * INVOICES_PER_MEMO), 1)
    start = today - dt.timedelta(days=DAYS)
    tax_code_id = standard_tax_code().pk
    credit_codes = list(
        ReasonCode.objects.filter(code_type=ReasonCodeType.CREDIT_MEMO, active=True)
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    debit_codes = list(
        ReasonCode.objects.filter(code_type=ReasonCodeType.DEBIT_MEMO, active=True)
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    bill_run_code = bill_run_reason_code().pk
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(HELPERS)
        checks = not _can_skip_foreign_key_checks(cursor)
        if not checks:
            # The rows are generated consistent; checking millions of deferred foreign keys at
            # commit would only make loading slower (and needs superuser to skip).
            cursor.execute("SET LOCAL session_replication_role = replica")
        cursor.execute("SET LOCAL synchronous_commit = off")
        base_account = _insert_accounts(cursor, accounts, start)
        base_run = _insert_bill_runs(cursor, start, today)
        base_invoice, base_invoice_item = _insert_invoices(
            cursor, invoices, accounts, base_account, start, today, tax_code_id
        )
        counts = _insert_memos(
            cursor,
            memos=memos,
            accounts=accounts,
            invoices=invoices,
            base_account=base_account,
            base_run=base_run,
            base_invoice=base_invoice,
            base_invoice_item=base_invoice_item,
            start=start,
            today=today,
            operator_id=operator_id,
            credit_codes=credit_codes,
            debit_codes=debit_codes,
            bill_run_code=bill_run_code,
            tax_code_id=tax_code_id,
        )
        for table in (
            Account._meta.db_table,
            BillRun._meta.db_table,
            Invoice._meta.db_table,
            InvoiceItem._meta.db_table,
            Memo._meta.db_table,
            MemoItem._meta.db_table,
        ):
            _sync_sequence(cursor, table)
    vacuum_analyze()
    return MemoData(
        accounts=accounts,
        invoices=invoices,
        memos=memos,
        bill_runs=BILL_RUNS,
        credit_memos=counts[MemoType.CREDIT],
        debit_memos=counts[MemoType.DEBIT],
        foreign_key_checks=checks,
    )


def vacuum_analyze() -> None:
    """What autovacuum would have done to tables this old: statistics for the planner, and a
    visibility map and hint bits, so the first reads do not pay for the bulk load."""
    tables = [
        model._meta.db_table for model in (Account, BillRun, Invoice, InvoiceItem, Memo, MemoItem)
    ]
    with connection.cursor() as cursor:
        for table in tables:
            cursor.execute(f'VACUUM (ANALYZE) "{table}"')


def _insert_accounts(cursor, count: int, start: dt.date) -> int:
    base = _max_id(cursor, Account._meta.db_table)
    series = _lock_series(cursor, NumberSeries.Key.ACCOUNT)
    cursor.execute(
        f"""
        INSERT INTO billing_account
            (id, number, name, currency_id, bill_cycle_day, batch, status, created_at)
        SELECT %(base)s + 1 + k,
               %(prefix)s || lpad((%(last)s + 1 + k)::text, 8, '0'),
               (%(first)s::text[])[1 + k %% 20] || ' '
                   || (%(second)s::text[])[1 + (k / 20) %% 25] || ' '
                   || (k + 1)::text || ' ' || (%(suffixes)s::text[])[1 + (k / 7) %% 8],
               {CURRENCY_BY_ACCOUNT},
               1 + k %% 28,
               'Batch' || (1 + k %% {LIST_BATCHES}),
               CASE WHEN k %% 50 = 49 THEN %(inactive)s ELSE %(active)s END,
               %(start)s::timestamptz - make_interval(days => k %% 365)
        FROM generate_series(0, %(count)s - 1) AS k
        """,
        {
            "base": base,
            "prefix": series.prefix,
            "last": series.last,
            "first": FIRST_WORDS,
            "second": SECOND_WORDS,
            "suffixes": SUFFIXES,
            "inactive": AccountStatus.INACTIVE,
            "active": AccountStatus.ACTIVE,
            "start": start,
            "count": count,
        },
    )
    _advance_series(cursor, NumberSeries.Key.ACCOUNT, count)
    return base


def _insert_bill_runs(cursor, start: dt.date, today: dt.date) -> int:
    base = _max_id(cursor, BillRun._meta.db_table)
    series = _lock_series(cursor, NumberSeries.Key.BILL_RUN)
    cursor.execute(
        """
        INSERT INTO billing_billrun
            (id, number, name, invoice_date, target_date, scope, batch, include_one_time,
             include_recurring, include_usage, auto_post, generation_rule, status,
             accounts_in_scope, accounts_processed, accounts_failed, invoices_generated,
             credit_memos_generated, zero_total_invoices, message, created_at, started_at,
             finished_at)
        SELECT %(base)s + 1 + r,
               %(prefix)s || lpad((%(last)s + 1 + r)::text, 8, '0'),
               'Monthly run ' || (r + 1),
               d, d, 'all', '', true, true, true, false, 'net_negative_ungrouped', 'posted',
               0, 0, 0, 0, 0, 0, '', d::timestamptz, d::timestamptz,
               d::timestamptz + interval '1 hour'
        FROM (SELECT r, LEAST(%(start)s::date + r * 30 + 15, %(today)s::date) AS d
              FROM generate_series(0, %(runs)s - 1) AS r) AS runs
        """,
        {
            "base": base,
            "prefix": series.prefix,
            "last": series.last,
            "start": start,
            "today": today,
            "runs": BILL_RUNS,
        },
    )
    _advance_series(cursor, NumberSeries.Key.BILL_RUN, BILL_RUNS)
    return base


# An amount in the account's currency: 1 to 5,000 units of two-decimal currencies, scaled for
# the currency's minor unit (JPY x100, KWD x0.3) and rounded to it.
NET = """round((1 + pg_temp.u({i}, {salt}) * 4999)::numeric
               * CASE c.minor_unit WHEN 0 THEN 100 WHEN 3 THEN 0.3 ELSE 1 END, c.minor_unit)"""


def _insert_invoices(cursor, count, accounts, base_account, start, today, tax_code_id):
    base = _max_id(cursor, Invoice._meta.db_table)
    base_item = _max_id(cursor, InvoiceItem._meta.db_table)
    series = _lock_series(cursor, NumberSeries.Key.INVOICE)
    cursor.execute(
        f"""
        INSERT INTO billing_invoice
            (id, number, account_id, currency_id, invoice_date, due_date, status,
             amount_excl_tax, tax_amount, amount, balance, created_at, posted_at)
        SELECT id, number, account_id, currency_id, invoice_date, invoice_date + 30, 'posted',
               net, tax, net + tax,
               CASE WHEN u_balance < 0.6 THEN 0 WHEN u_balance < 0.9 THEN net + tax
                    ELSE round((net + tax) / 2, minor_unit) END,
               invoice_date::timestamptz, invoice_date::timestamptz + interval '1 hour'
        FROM (
            SELECT %(base)s + 1 + j AS id,
                   %(prefix)s || lpad((%(last)s + 1 + j)::text, 8, '0') AS number,
                   a.id AS account_id, a.currency_id, c.minor_unit,
                   LEAST(%(start)s::date + (j * {DAYS}::bigint / %(count)s)::int, %(today)s::date)
                       AS invoice_date,
                   {NET.format(i="j", salt=3)} AS net,
                   round({NET.format(i="j", salt=3)} * 0.1, c.minor_unit) AS tax,
                   pg_temp.u(j, 4) AS u_balance
            FROM generate_series(0, %(count)s - 1) AS j
            JOIN billing_account a
              ON a.id = %(base_account)s + 1
                        + floor(%(accounts)s * pg_temp.u(j, 1) ^ 2)::bigint
            JOIN billing_currency c ON c.code = a.currency_id
        ) AS rows
        """,
        {
            "base": base,
            "prefix": series.prefix,
            "last": series.last,
            "start": start,
            "today": today,
            "count": count,
            "base_account": base_account,
            "accounts": accounts,
        },
    )
    _advance_series(cursor, NumberSeries.Key.INVOICE, count)
    cursor.execute(
        """
        INSERT INTO billing_invoiceitem
            (id, invoice_id, sort_order, charge_name, description, service_start, service_end,
             quantity, unit_of_measure, unit_price, amount_excl_tax, tax_code_id, tax_mode,
             tax_amount, amount, balance)
        SELECT %(base_item)s + (i.id - %(base)s), i.id, 1, 'Subscription fee', '',
               i.invoice_date, i.invoice_date + 29, 1, '', i.amount_excl_tax, i.amount_excl_tax,
               %(tax_code)s, %(exclusive)s, i.tax_amount, i.amount, i.balance
        FROM billing_invoice i
        WHERE i.id > %(base)s
        """,
        {
            "base": base,
            "base_item": base_item,
            "tax_code": tax_code_id,
            "exclusive": TaxMode.EXCLUSIVE,
        },
    )
    return base, base_item


def _insert_memos(
    cursor,
    *,
    memos,
    accounts,
    invoices,
    base_account,
    base_run,
    base_invoice,
    base_invoice_item,
    start,
    today,
    operator_id,
    credit_codes,
    debit_codes,
    bill_run_code,
    tax_code_id,
) -> dict[str, int]:
    base = _max_id(cursor, Memo._meta.db_table)
    base_item = _max_id(cursor, MemoItem._meta.db_table)
    credit = _lock_series(cursor, NumberSeries.Key.CREDIT_MEMO)
    debit = _lock_series(cursor, NumberSeries.Key.DEBIT_MEMO)
    # Per row: its type, source, status and amounts from independent hashes; the account from
    # the invoice (from-invoice memos) or the skewed draw; numbers per type in id order.
    cursor.execute(
        f"""
        INSERT INTO memos_memo
            (id, memo_type, number, account_id, currency_id, status, source, invoice_id,
             bill_run_id, memo_date, amount_excl_tax, tax_amount, amount, applied_amount,
             refund_amount, balance, reversed, auto_pay, apply_to_invoice_on_post,
             exclude_from_auto_apply, reason_code_id, comments, transferred_to_accounting,
             tax_auto_calculation, taxed_by_third_party, tax_status, tax_message, tax_reference,
             tax_maybe_committed, idempotency_digest, created_by_id, created_at, updated_at,
             posted_at)
        SELECT id, memo_type,
               CASE memo_type
                    WHEN 'credit' THEN %(cm_prefix)s || lpad((%(cm_last)s + n)::text, 8, '0')
                    ELSE %(dm_prefix)s || lpad((%(dm_last)s + n)::text, 8, '0') END,
               account_id, currency_id, status, source, invoice_id, bill_run_id, memo_date,
               net, tax, net + tax,
               CASE WHEN memo_type = 'credit' AND status = 'posted' THEN
                    CASE WHEN u_settle < 0.35 THEN 0 WHEN u_settle < 0.7 THEN net + tax
                         WHEN u_settle < 0.9 THEN round((net + tax) / 2, minor_unit) ELSE 0 END
                    ELSE 0 END,
               CASE WHEN memo_type = 'credit' AND status = 'posted'
                         AND u_settle >= 0.9 AND u_settle < 0.95 THEN net + tax ELSE 0 END,
               CASE WHEN memo_type = 'debit' AND status = 'posted' THEN
                    CASE WHEN u_settle < 0.4 THEN net + tax WHEN u_settle < 0.8 THEN 0
                         ELSE round((net + tax) / 2, minor_unit) END
                    ELSE 0 END,
               false, true, false, false,
               CASE WHEN source = 'bill_run' THEN %(bill_run_code)s
                    WHEN memo_type = 'credit'
                    THEN (%(credit_codes)s::bigint[])[1 + floor(u_code * %(n_credit)s)::int]
                    ELSE (%(debit_codes)s::bigint[])[1 + floor(u_code * %(n_debit)s)::int] END,
               '',
               CASE WHEN status <> 'posted' THEN 'no' WHEN u_transfer < 0.55 THEN 'yes'
                    WHEN u_transfer < 0.85 THEN 'no' WHEN u_transfer < 0.9 THEN 'processing'
                    WHEN u_transfer < 0.95 THEN 'error' ELSE 'ignore' END,
               true, third_party,
               CASE WHEN NOT third_party THEN ''
                    WHEN status = 'canceled' THEN 'voided'
                    WHEN status = 'draft' AND u_tax < 0.02 THEN 'error' ELSE 'complete' END,
               CASE WHEN third_party AND status = 'draft' AND u_tax < 0.02
                    THEN 'Address could not be validated' ELSE '' END,
               CASE WHEN third_party THEN 'bench-' || id ELSE '' END,
               false, '',
               CASE WHEN source = 'bill_run' THEN NULL ELSE %(operator)s END,
               created_at, created_at,
               CASE WHEN status = 'posted' THEN created_at + interval '1 hour' END
        FROM (
            SELECT rows.*,
                   row_number() OVER (PARTITION BY memo_type ORDER BY id) AS n,
                   {NET.format(i="i", salt=20)} AS net,
                   round({NET.format(i="i", salt=20)} * 0.1, c.minor_unit) AS tax,
                   c.minor_unit,
                   memo_date::timestamptz
                       + make_interval(mins => floor(pg_temp.u(i, 21) * 600)::int) AS created_at
            FROM (
                SELECT g.*, COALESCE(inv.account_id, a.id) AS account_id,
                       COALESCE(inv.currency_id, a.currency_id) AS currency_id,
                       inv.id AS invoice_id, br.id AS bill_run_id,
                       CASE WHEN inv.id IS NOT NULL THEN GREATEST(g.day, inv.invoice_date)
                            WHEN br.id IS NOT NULL THEN br.invoice_date ELSE g.day END AS memo_date
                FROM (
                    SELECT i, %(base)s + 1 + i AS id, memo_type, source,
                           CASE WHEN source = 'bill_run' OR u_status BETWEEN 0.08 AND 0.93
                                THEN 'posted' WHEN u_status < 0.08 THEN 'draft'
                                ELSE 'canceled' END AS status,
                           day, u_settle, u_code, u_transfer, u_tax,
                           source <> 'bill_run' AND u_tax < 0.05 AS third_party,
                           -- an invoice from the INVOICE_WINDOW days before the memo
                           CASE WHEN source = 'invoice' THEN LEAST(GREATEST(
                                floor((i::double precision / %(memos)s
                                       - pg_temp.u(i, 9) * {INVOICE_WINDOW} / {DAYS})
                                      * %(invoices)s)::bigint, 0), %(invoices)s - 1) END AS j,
                           floor(%(accounts)s * pg_temp.u(i, 1) ^ 2)::bigint AS k
                    FROM (
                        SELECT i,
                               CASE WHEN pg_temp.u(i, 2) < 0.7 THEN 'credit' ELSE 'debit' END
                                   AS memo_type,
                               CASE WHEN pg_temp.u(i, 2) < 0.7 THEN
                                        CASE WHEN pg_temp.u(i, 3) < 0.43 THEN 'invoice'
                                             WHEN pg_temp.u(i, 3) < 0.83 THEN 'charges'
                                             ELSE 'bill_run' END
                                    ELSE CASE WHEN pg_temp.u(i, 3) < 0.5 THEN 'invoice'
                                              ELSE 'charges' END END AS source,
                               pg_temp.u(i, 4) AS u_status,
                               LEAST(%(start)s::date + (i * {DAYS}::bigint / %(memos)s)::int
                                     + floor(pg_temp.u(i, 5) * 7)::int - 3,
                                     %(today)s::date) AS day,
                               pg_temp.u(i, 6) AS u_settle, pg_temp.u(i, 7) AS u_code,
                               pg_temp.u(i, 8) AS u_transfer, pg_temp.u(i, 10) AS u_tax
                        FROM generate_series(0, %(memos)s - 1) AS i
                    ) AS draws
                ) AS g
                LEFT JOIN billing_invoice inv ON inv.id = %(base_invoice)s + 1 + g.j
                LEFT JOIN billing_account a ON g.j IS NULL AND a.id = %(base_account)s + 1 + g.k
                LEFT JOIN billing_billrun br
                       ON g.source = 'bill_run'
                      AND br.id = %(base_run)s + 1
                                  + LEAST(GREATEST(g.day - %(start)s::date, 0) * {BILL_RUNS}
                                          / {DAYS}, {BILL_RUNS} - 1)
            ) AS rows
            JOIN billing_currency c ON c.code = rows.currency_id
        ) AS memos
        """,
        {
            "base": base,
            "cm_prefix": credit.prefix,
            "cm_last": credit.last,
            "dm_prefix": debit.prefix,
            "dm_last": debit.last,
            "bill_run_code": bill_run_code,
            "credit_codes": credit_codes,
            "debit_codes": debit_codes,
            "n_credit": len(credit_codes),
            "n_debit": len(debit_codes),
            "operator": operator_id,
            "invoices": invoices,
            "accounts": accounts,
            "start": start,
            "today": today,
            "memos": memos,
            "base_invoice": base_invoice,
            "base_account": base_account,
            "base_run": base_run,
        },
    )
    cursor.execute(
        "SELECT memo_type, count(*) FROM memos_memo WHERE id > %s GROUP BY memo_type", [base]
    )
    counts = {MemoType.CREDIT: 0, MemoType.DEBIT: 0, **dict(cursor.fetchall())}
    _advance_series(cursor, NumberSeries.Key.CREDIT_MEMO, counts[MemoType.CREDIT])
    _advance_series(cursor, NumberSeries.Key.DEBIT_MEMO, counts[MemoType.DEBIT])
    cursor.execute(
        """
        INSERT INTO memos_memoitem
            (id, memo_id, sort_order, invoice_item_id, charge_name, description, quantity,
             unit_of_measure, unit_price, amount_excl_tax, tax_code_id, tax_mode, tax_amount,
             amount, applied_amount, refund_amount, balance)
        SELECT %(base_item)s + (m.id - %(base)s), m.id, 1,
               %(base_invoice_item)s + (m.invoice_id - %(base_invoice)s),
               CASE m.source WHEN 'invoice' THEN 'Subscription fee'
                    WHEN 'bill_run' THEN 'Loyalty credit' ELSE 'Service credit' END,
               '', 1, '', m.amount_excl_tax, m.amount_excl_tax, %(tax_code)s, %(exclusive)s,
               m.tax_amount, m.amount, m.applied_amount, m.refund_amount, m.balance
        FROM memos_memo m
        WHERE m.id > %(base)s
        """,
        {
            "base": base,
            "base_item": base_item,
            "base_invoice": base_invoice,
            "base_invoice_item": base_invoice_item,
            "tax_code": tax_code_id,
            "exclusive": TaxMode.EXCLUSIVE,
        },
    )
    return counts


# --- The documents of the create and apply figures ---------------------------------------------
CREATE_ITEMS = 200
APPLY_TARGETS = 100
APPLY_ITEMS = 5  # items per target invoice; the flat-in-items check uses 1
ITEM_NET = Decimal("100.00")
ITEM_TAX = Decimal("10.00")  # STD is 10%


@dataclass
class Documents:
    create_invoice: Invoice  # posted, CREATE_ITEMS items
    credit_memo: Memo  # posted, unapplied amount for every apply request
    credit_memo_one_item_targets: Memo  # the same, on an account whose invoices have 1 item


def _documents_account(name: str) -> Account:
    number = allocate_numbers(NumberSeries.Key.ACCOUNT, 1)[0]
    return Account.objects.create(
        number=number, name=name, currency_id="USD", bill_cycle_day=1, batch="Batch1"
    )


def _posted_invoices(account: Account, count: int, items: int, day: dt.date) -> list[Invoice]:
    tax_code = standard_tax_code()
    total = (ITEM_NET + ITEM_TAX) * items
    invoices = Invoice.objects.bulk_create(
        Invoice(
            number=number,
            account=account,
            currency_id=account.currency_id,
            invoice_date=day,
            due_date=day + dt.timedelta(days=30 + n),
            status=InvoiceStatus.POSTED,
            amount_excl_tax=ITEM_NET * items,
            tax_amount=ITEM_TAX * items,
            amount=total,
            balance=total,
        )
        for n, number in enumerate(allocate_numbers(NumberSeries.Key.INVOICE, count))
    )
    InvoiceItem.objects.bulk_create(
        InvoiceItem(
            invoice=invoice,
            sort_order=n,
            charge_name=f"Benchmark service {n}",
            service_start=day,
            service_end=day + dt.timedelta(days=29),
            unit_price=ITEM_NET,
            amount_excl_tax=ITEM_NET,
            tax_code=tax_code,
            tax_amount=ITEM_TAX,
            amount=ITEM_NET + ITEM_TAX,
            balance=ITEM_NET + ITEM_TAX,
        )
        for invoice in invoices
        for n in range(1, items + 1)
    )
    return invoices


def _posted_credit_memo(account: Account, amount: Decimal, day: dt.date, operator) -> Memo:
    memo = Memo.objects.create(
        memo_type=MemoType.CREDIT,
        number=allocate_numbers(NumberSeries.Key.CREDIT_MEMO, 1)[0],
        account=account,
        currency_id=account.currency_id,
        status=MemoStatus.POSTED,
        source=MemoSource.CHARGES,
        memo_date=day,
        amount_excl_tax=amount,
        amount=amount,
        reason_code=ReasonCode.objects.get(code_type=ReasonCodeType.CREDIT_MEMO, is_default=True),
        created_by=operator,
    )
    MemoItem.objects.create(
        memo=memo,
        sort_order=1,
        charge_name="Goodwill credit",
        unit_price=amount,
        amount_excl_tax=amount,
        amount=amount,
    )
    return Memo.objects.get(pk=memo.pk)  # with its generated unapplied amount


@transaction.atomic
def build_documents(*, today: dt.date, operator) -> Documents:
    """A posted invoice of CREATE_ITEMS items to create memos from, and two posted credit memos
    with ample unapplied amounts, each on an account with APPLY_TARGETS posted invoices that
    have balances (APPLY_ITEMS items each on one account, 1 on the other)."""
    day = today - dt.timedelta(days=10)
    create_account = _documents_account("Benchmark create-from-invoice customer")
    (create_invoice,) = _posted_invoices(create_account, 1, CREATE_ITEMS, day)
    memos = []
    for items in (APPLY_ITEMS, 1):
        account = _documents_account(f"Benchmark apply customer ({items} items per invoice)")
        _posted_invoices(account, APPLY_TARGETS, items, day)
        memos.append(_posted_credit_memo(account, Decimal("1000000.00"), day, operator))
    return Documents(create_invoice, *memos)
