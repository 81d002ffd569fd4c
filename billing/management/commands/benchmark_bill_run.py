"""`manage.py benchmark_bill_run --accounts 5000 [--chunk-size 200] [--workers N]`: how fast a
bill run bills synthetic accounts on this database.

It writes synthetic data, so it refuses to run on a database that has accounts unless --yes is
given: run it on a scratch database (createdb, migrate, benchmark, dropdb).

Every synthetic account is in USD and active, with one subscription started on the first day of
the month before the run's date: a monthly recurring charge (two periods due), a one-time charge,
a usage charge with USAGE_RECORDS records, and on every CREDIT_EVERY-th account a monthly credit
charge large enough to make the account's total negative, so it gets a credit memo. The data is
written with bulk inserts (and analyzed, on PostgreSQL).

The run is created by billing.bill_runs.services.create_bill_run, like an operator's; then this
command bills it itself: runner.plan_chunks, then runner.work in --workers processes (forked; or
threads with --threads). The start task that create_bill_run enqueues finds the run started and
does nothing, should a worker ever pick it up. The timing covers planning, billing and finishing
(not the data generation), and the statement count is every SQL statement the workers ran.
"""

from __future__ import annotations

import datetime as dt
import multiprocessing
import threading
import time
import traceback
from decimal import Decimal

from django.core.management.base import BaseCommand, CommandError
from django.db import connection, connections, transaction
from django.db.models import Count, Sum
from django.test.utils import override_settings
from django.utils import timezone

from billing.bill_runs import runner, services
from billing.factories import standard_tax_code
from billing.models import (
    Account,
    AccountStatus,
    BillingPeriod,
    BillRun,
    BillRunStatus,
    Charge,
    ChargeModel,
    ChargePrice,
    ChargeType,
    Invoice,
    NumberSeries,
    Product,
    Subscription,
    SubscriptionCharge,
    UsageRecord,
)
from billing.numbering import allocate_numbers
from billing.periods import add_months

CREDIT_EVERY = 10
USAGE_RECORDS = 3
BATCH = 2000

# name: (charge type, charge model, price, unit of measure)
CATALOG = {
    "Benchmark subscription": (ChargeType.RECURRING, ChargeModel.FLAT_FEE, "50", ""),
    "Benchmark setup fee": (ChargeType.ONE_TIME, ChargeModel.FLAT_FEE, "20", ""),
    "Benchmark storage": (ChargeType.USAGE, ChargeModel.PER_UNIT, "2", "GB"),
    "Benchmark loyalty credit": (ChargeType.RECURRING, ChargeModel.FLAT_FEE, "-300", ""),
}


def benchmark_catalog() -> dict[str, Charge]:
    """The benchmark's product and its four charges (made on first use), by charge type; the
    credit charge is under "credit"."""
    tax_code = standard_tax_code()
    product, _ = Product.objects.get_or_create(
        name="Benchmark plan", defaults={"sku": "BENCH-PLAN"}
    )
    charges = {}
    for name, (charge_type, model, price, unit) in CATALOG.items():
        recurring = charge_type == ChargeType.RECURRING
        charge, _ = Charge.objects.get_or_create(
            product=product,
            name=name,
            defaults={
                "charge_type": charge_type,
                "charge_model": model,
                "unit_of_measure": unit,
                "billing_period": BillingPeriod.MONTH if recurring else "",
                "taxable": True,
                "tax_code": tax_code,
            },
        )
        ChargePrice.objects.get_or_create(
            charge=charge, currency_id="USD", defaults={"list_price": Decimal(price)}
        )
        key = "credit" if Decimal(price) < 0 else charge_type
        charges[key] = charge
    return charges


def subscription_start(day: dt.date) -> dt.date:
    """The first day of the month before `day`: two monthly periods are due on `day`."""
    return add_months(day.replace(day=1), -1)


@transaction.atomic
def build_accounts(
    count: int,
    *,
    day: dt.date,
    credit_every: int = CREDIT_EVERY,
    name: str = "Benchmark",
    batch: str = "Batch1",
) -> list[int]:
    """`count` accounts of the shape described above, due for billing on `day`, written with bulk
    inserts; returns their ids. Account i (from 0) gets the credit charge when i % credit_every
    is 0 (credit_every 0: none does)."""
    charges = benchmark_catalog()
    start = subscription_start(day)
    numbers = allocate_numbers(NumberSeries.Key.ACCOUNT, count)
    accounts = Account.objects.bulk_create(
        (
            Account(
                number=number,
                name=f"{name} customer {index + 1}",
                currency_id="USD",
                bill_cycle_day=1,
                batch=batch,
                status=AccountStatus.ACTIVE,
            )
            for index, number in enumerate(numbers)
        ),
        batch_size=BATCH,
    )
    subscriptions = Subscription.objects.bulk_create(
        (
            Subscription(number=number, account=account, start_date=start)
            for account, number in zip(
                accounts,
                allocate_numbers(NumberSeries.Key.SUBSCRIPTION, count),
                strict=True,
            )
        ),
        batch_size=BATCH,
    )

    def sub_charge(subscription, key, price, **fields):
        return SubscriptionCharge(
            subscription=subscription,
            charge=charges[key],
            price=Decimal(price),
            quantity=Decimal(1),
            start_date=start,
            **fields,
        )

    sub_charges = []
    usage_charges = []
    for index, subscription in enumerate(subscriptions):
        usage = sub_charge(subscription, ChargeType.USAGE, CATALOG["Benchmark storage"][2])
        usage_charges.append(usage)
        sub_charges += [
            sub_charge(subscription, ChargeType.RECURRING, "50"),
            sub_charge(subscription, ChargeType.ONE_TIME, "20"),
            usage,
        ]
        if credit_every and index % credit_every == 0:
            sub_charges.append(sub_charge(subscription, "credit", "-300"))
    SubscriptionCharge.objects.bulk_create(sub_charges, batch_size=BATCH)
    UsageRecord.objects.bulk_create(
        (
            UsageRecord(
                subscription_charge=usage,
                usage_date=start + dt.timedelta(days=4 + 10 * n),
                quantity=Decimal(5),
                unit_of_measure="GB",
            )
            for usage in usage_charges
            for n in range(USAGE_RECORDS)
        ),
        batch_size=BATCH,
    )
    return [account.pk for account in accounts]


def analyze() -> None:
    """Give the planner statistics of the tables just bulk loaded, as a database in use has
    (autovacuum would, some time later); without them it plans for empty tables."""
    if connection.vendor != "postgresql":
        return
    tables = [model._meta.db_table for model in (Account, Subscription, SubscriptionCharge)]
    with connection.cursor() as cursor:
        for table in (*tables, UsageRecord._meta.db_table):
            cursor.execute(f'ANALYZE "{table}"')


class StatementCounter:
    """Counts the SQL statements run through a connection (an execute wrapper: no log kept)."""

    def __init__(self):
        self.count = 0

    def __call__(self, execute, sql, params, many, context):
        self.count += 1
        return execute(sql, params, many, context)


def work_and_count(bill_run_id: int) -> tuple[int, int]:
    """runner.work with every statement counted: (chunks billed, statements)."""
    counter = StatementCounter()
    try:
        with connection.execute_wrapper(counter):
            chunks = runner.work(bill_run_id)
    finally:
        connection.close()
    return chunks, counter.count


def _work_and_report(bill_run_id: int, report) -> None:
    """A worker's body: report (chunks, statements), or the traceback of what went wrong."""
    try:
        report(work_and_count(bill_run_id))
    except BaseException:
        report(traceback.format_exc())


class Command(BaseCommand):
    help = "Bill synthetic accounts with a bill run and report accounts per second."

    def add_arguments(self, parser):
        parser.add_argument("--accounts", type=int, default=5000, help="default: %(default)s")
        parser.add_argument(
            "--chunk-size", type=int, default=200, help="accounts per chunk (default: %(default)s)"
        )
        parser.add_argument(
            "--workers", type=int, default=1, help="worker processes (default: %(default)s)"
        )
        parser.add_argument(
            "--threads", action="store_true", help="run the workers as threads, not processes"
        )
        parser.add_argument(
            "--date",
            type=dt.date.fromisoformat,
            default=None,
            help="invoice and target date, YYYY-MM-DD (default: today)",
        )
        parser.add_argument(
            "--yes",
            action="store_true",
            help="run even though the database has accounts: it adds synthetic ones, and the run "
            "bills every active account, the database's own ones too",
        )

    def handle(self, *args, accounts, chunk_size, workers, threads, date, yes, **options):
        if accounts < 1 or chunk_size < 1 or workers < 1:
            raise CommandError("--accounts, --chunk-size and --workers must be at least 1.")
        if not yes and Account.objects.exists():
            raise CommandError(
                "This database has accounts: the benchmark would add thousands of synthetic "
                "ones and bill them. Run it on a scratch database, or pass --yes."
            )
        day = date or timezone.localdate()
        write = self.stdout.write

        began = time.perf_counter()
        build_accounts(accounts, day=day)
        analyze()
        write(f"Created {accounts} accounts in {time.perf_counter() - began:.1f} s.")

        run = services.create_bill_run(
            actor=None, invoice_date=day, target_date=day, name="Benchmark"
        )
        began = time.perf_counter()
        with override_settings(BILL_RUN_CHUNK_SIZE=chunk_size):
            runner.plan_chunks(run.pk)
        chunks, statements = self.work(run.pk, workers, threads)
        runner.finish_if_done(run.pk)
        elapsed = time.perf_counter() - began

        run = BillRun.objects.get(pk=run.pk)
        if run.status != BillRunStatus.COMPLETED:
            raise CommandError(f"{run.number} ended {run.get_status_display()}, not Completed.")
        billed = Invoice.objects.filter(bill_run=run).aggregate(total=Sum("amount"))["total"]
        credited = run.credit_memos.aggregate(total=Sum("amount"))["total"]
        attempts = run.chunks.aggregate(n=Count("pk"), attempts=Sum("attempts"))
        mode = "in this process" if workers == 1 else ("threads" if threads else "processes")
        write(f"Bill run {run.number} on {connection.vendor}, {workers} worker(s) {mode}:")
        write(f"  accounts in scope   {run.accounts_in_scope}")
        write(f"  accounts processed  {run.accounts_processed} (failed {run.accounts_failed})")
        write(f"  invoices            {run.invoices_generated} (total {billed})")
        write(f"  credit memos        {run.credit_memos_generated} (total {credited})")
        write(
            f"  chunks              {attempts['n']} of up to {chunk_size} accounts "
            f"({attempts['attempts']} attempts)"
        )
        write(f"  SQL statements      {statements} ({statements / max(chunks, 1):.1f} per chunk)")
        write(f"  elapsed             {elapsed:.2f} s")
        write(f"  accounts/second     {run.accounts_in_scope / elapsed:.0f}")

    def work(self, bill_run_id: int, workers: int, threads: bool) -> tuple[int, int]:
        """Run `workers` workers on the run to the end; (chunks billed, statements) in all."""
        if workers == 1:
            results = [work_and_count(bill_run_id)]
        elif threads:
            results = []
            lock = threading.Lock()

            def report(outcome):
                with lock:
                    results.append(outcome)

            pool = [
                threading.Thread(target=_work_and_report, args=(bill_run_id, report))
                for _ in range(workers)
            ]
            for thread in pool:
                thread.start()
            for thread in pool:
                thread.join()
        else:
            connections.close_all()  # a forked child must not share the parent's connection
            context = multiprocessing.get_context("fork")
            queue = context.Queue()
            pool = [
                context.Process(target=_work_and_report, args=(bill_run_id, queue.put))
                for _ in range(workers)
            ]
            for process in pool:
                process.start()
            results = [queue.get() for _ in pool]
            for process in pool:
                process.join()
        failures = [outcome for outcome in results if isinstance(outcome, str)]
        if failures:
            raise CommandError("A worker failed:\n" + "\n".join(failures))
        return sum(r[0] for r in results), sum(r[1] for r in results)
