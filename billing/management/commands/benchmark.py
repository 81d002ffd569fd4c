"""`manage.py benchmark [--quick | --memos N --accounts N] [--json PATH] [--keep]`: every figure
of the performance issue, measured in one run on a scratch PostgreSQL database.

It never touches the configured database: it creates `<configured name>_benchmark` beside it
(CREATE DATABASE on the same server), migrates it, builds the data there at the chosen scale and
drops it at the end (unless --keep). On SQLite it stops: the figures are PostgreSQL's.

What it measures (billing/benchmarking/ has the details of each):

- the memo list (first page, 90% deep, one account, sorted by amount, a number search), the
  home page, creating a memo from a 200-item invoice and applying a credit memo to 100 invoices:
  through the real views with django.test.Client as a signed-in billing operator: warm-ups, one
  captured request (statements, their database time, the slowest one and its EXPLAIN ANALYZE),
  then --requests timed requests (median, 95th percentile);
- the CSV export of every memo: rows per second, time to the first byte, memory while streaming;
- a bill run of --accounts accounts with 1 worker process, another with 2, the workers' peak
  RSS, and COPY of the rows the first run inserted into empty copies of the same tables;
- the load average before, between the phases and after (other work on the machine shows here).

It prints a table (figure, value, goal, met?) and, with --json, writes
{"figures": {name: {...}}, "load": [...], "scale": {...}, "server": {...}, "phases_s": {...}}.
Settings for the run: DEBUG off (as in production), static files from the finders' storage (no
collectstatic needed), and the test client's host allowed.
"""

from __future__ import annotations

import logging
import os
import time
import warnings
from contextlib import contextmanager

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import connection
from django.test.utils import override_settings
from django.utils import timezone

from billing import roles
from billing.benchmarking import bill_runs, data, report, scratch, web
from billing.factories import UserFactory
from memos.services.insight import rebuild_credit_insight

DEFAULT_MEMOS = 1_000_000
DEFAULT_ACCOUNTS = 20_000
QUICK_MEMOS = 5_000
QUICK_ACCOUNTS = 400
DEFAULT_REQUESTS = 30
QUICK_REQUESTS = 3
NEEDS_POSTGRES = (
    "manage.py benchmark measures PostgreSQL, the production database; this one is {vendor}. "
    "Run it with DATABASE_URL=postgres://USER@HOST:PORT/NAME (it creates and drops a scratch "
    "database NAME_benchmark beside NAME, and never writes to NAME)."
)


def loadavg(when: str) -> dict:
    one, five, fifteen = os.getloadavg()
    return {"when": when, "1m": round(one, 2), "5m": round(five, 2), "15m": round(fifteen, 2)}


class Command(BaseCommand):
    help = "Measure every figure of the performance issue on a scratch PostgreSQL database."

    def add_arguments(self, parser):
        parser.add_argument(
            "--quick",
            action="store_true",
            help=f"a small scale that only shows it all runs ({QUICK_MEMOS:,} memos, "
            f"{QUICK_ACCOUNTS} accounts, {QUICK_REQUESTS} requests per figure)",
        )
        parser.add_argument("--memos", type=int, help=f"default {DEFAULT_MEMOS:,}")
        parser.add_argument(
            "--accounts",
            type=int,
            help=f"accounts the memos spread over, and accounts per bill run "
            f"(default {DEFAULT_ACCOUNTS:,})",
        )
        parser.add_argument(
            "--requests", type=int, help=f"timed requests per figure (default {DEFAULT_REQUESTS})"
        )
        parser.add_argument(
            "--chunk-size", type=int, default=200, help="bill-run accounts per chunk (200)"
        )
        parser.add_argument("--json", metavar="PATH", help="also write the figures as JSON")
        parser.add_argument(
            "--keep", action="store_true", help="keep the scratch database (to look at plans)"
        )

    def handle(self, *args, quick, memos, accounts, requests, chunk_size, json, keep, **options):
        if connection.vendor != "postgresql":
            raise CommandError(NEEDS_POSTGRES.format(vendor=connection.vendor))
        memos = memos or (QUICK_MEMOS if quick else DEFAULT_MEMOS)
        accounts = accounts or (QUICK_ACCOUNTS if quick else DEFAULT_ACCOUNTS)
        requests = requests or (QUICK_REQUESTS if quick else DEFAULT_REQUESTS)
        if memos < 100 or accounts < 10 or requests < 1 or chunk_size < 1:
            raise CommandError(
                "--memos must be at least 100, --accounts 10, --requests and --chunk-size 1."
            )
        self.phases: dict[str, float] = {}
        self.load = [loadavg("before")]
        began = time.perf_counter()
        figures: dict[str, dict] = {}
        scale = {
            "memos": memos,
            "accounts": accounts,
            "requests": requests,
            "chunk_size": chunk_size,
            "quick": quick,
        }
        with self.benchmark_settings(), scratch.scratch_database(keep=keep, log=self.say) as name:
            self.phases["migrate"] = round(time.perf_counter() - began, 1)
            self.say(f"Scratch database {name} migrated.")
            server = scratch.server_facts()
            try:
                self.measure(figures, scale, memos=memos, accounts=accounts, requests=requests,
                             chunk_size=chunk_size)  # fmt: skip
            except (web.BenchmarkError, bill_runs.WorkerFailed) as exc:
                # A figure that could not be measured (a refused create, a failed worker): say
                # what happened, without a traceback; the scratch database is dropped all the same.
                raise CommandError(f"Could not measure: {exc}") from exc
        self.load.append(loadavg("after"))
        self.phases["total"] = round(time.perf_counter() - began, 1)

        report.judge(figures)
        scope = f"{memos:,} memos, {accounts:,} accounts, {requests} requests per figure"
        self.stdout.write(f"\nBenchmark on PostgreSQL {server['server_version']} ({scope}):")
        for line in report.table(figures):
            self.stdout.write(line)
        self.stdout.write("\nWhere the time goes (one captured request; bill run: its worker):")
        for line in report.breakdown(figures):
            self.stdout.write(f"  {line}")
        loads = ", ".join(f"{entry['when']} {entry['1m']}" for entry in self.load)
        self.stdout.write(f"\nLoad average (1 min): {loads} on {os.cpu_count()} CPUs")
        self.stdout.write(
            "Phases (s): " + ", ".join(f"{name} {s:g}" for name, s in self.phases.items())
        )
        if json:
            report.write_json(
                json,
                {
                    "figures": figures,
                    "load": self.load,
                    "scale": scale,
                    "server": server,
                    "phases_s": self.phases,
                    "cpus": os.cpu_count(),
                },
            )
            self.stdout.write(f"Wrote {json}")

    def measure(self, figures, scale, *, memos, accounts, requests, chunk_size) -> None:
        today = timezone.localdate()
        operator = UserFactory(username="benchmark-operator", roles=[roles.BILLING_OPERATOR])
        with self.phase("data"):
            built = data.build_memo_data(
                memos=memos, accounts=accounts, today=today, operator_id=operator.pk
            )
            documents = data.build_documents(today=today, operator=operator)
        with self.phase("insight_rebuild"):
            # The memos were written in bulk, not through the services that keep the credit
            # insight's sums: computed once from them, as after an import.
            rebuild_credit_insight()
        scale.update(
            invoices=built.invoices,
            credit_memos=built.credit_memos,
            debit_memos=built.debit_memos,
            bulk_load_foreign_key_checks=built.foreign_key_checks,
        )
        self.say(f"Built {memos:,} memos over {accounts:,} accounts, {built.invoices:,} invoices.")
        self.load.append(loadavg("after data"))

        pages = web.Pages(operator=operator, requests=requests, warmup=1 if requests < 10 else 2)
        with self.phase("lists"):
            figures.update(pages.lists())
        with self.phase("home"):
            figures["home"] = pages.home()
        with self.phase("insight"):
            figures.update(pages.insight(today))
        with self.phase("create"):
            figures["create_from_invoice_200"] = pages.create_from_invoice(documents, today)
        with self.phase("apply"):
            figures["apply_100_targets"] = pages.apply(documents, today)
        with self.phase("export"):
            figures["export_1m"] = pages.export()
        self.load.append(loadavg("after pages"))

        runs = []
        for workers, batch in ((1, "Batch49"), (2, "Batch50")):
            with self.phase(f"bill_run_{workers}w"):
                runs.append(
                    bill_runs.bill_run(
                        accounts=accounts,
                        workers=workers,
                        batch=batch,
                        day=today,
                        chunk_size=chunk_size,
                    )
                )
            self.say(
                f"Bill run with {workers} worker(s): {runs[-1].accounts_per_s:,.0f} accounts/s "
                f"(accounts built in {runs[-1].build_seconds:.1f} s)."
            )
        one, two = runs
        figures["bill_run_1w"] = one.figure()
        figures["bill_run_2w_speedup"] = {
            "value": round(two.accounts_per_s / one.accounts_per_s, 2),
            "accounts_per_s_1w": round(one.accounts_per_s),
            "accounts_per_s_2w": round(two.accounts_per_s),
            "run_2w": two.figure(),
        }
        with self.phase("copy"):
            figures["bill_run_copy_ratio"] = bill_runs.copy_ratio(one)
        figures["worker_rss_mb"] = bill_runs.worker_rss(runs)
        self.load.append(loadavg("after bill runs"))

    @contextmanager
    def phase(self, name: str):
        self.say(f"{name}...")
        began = time.perf_counter()
        yield
        self.phases[name] = round(time.perf_counter() - began, 1)

    def say(self, text: str) -> None:
        self.stdout.write(text)
        self.stdout.flush()

    @contextmanager
    def benchmark_settings(self):
        storages = {
            **settings.STORAGES,
            "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
        }
        axes = logging.getLogger("axes")
        level = axes.level
        axes.setLevel(logging.WARNING)  # no line per sign-in of the test client
        try:
            with (
                warnings.catch_warnings(),
                override_settings(
                    DEBUG=False,
                    ALLOWED_HOSTS=[*settings.ALLOWED_HOSTS, "testserver"],
                    STORAGES=storages,
                ),
            ):
                # whitenoise's, when nothing was collected: the benchmark serves no static file.
                warnings.filterwarnings("ignore", message="No directory at")
                yield
        finally:
            axes.setLevel(level)
