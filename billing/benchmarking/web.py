"""Pages measured through the real views: django.test.Client, signed in as a billing operator.

Each timed figure: warm-up requests (templates compiled, caches filled), one request under
CaptureQueriesContext for the statement count, the database time of the request (the sum of its
statements' times) and its main statement (the slowest one, timed again with EXPLAIN ANALYZE
when it is a SELECT), then `requests` timed requests (median and 95th percentile).
"""

from __future__ import annotations

import datetime as dt
import math
import re
import resource
import statistics
import time
import uuid
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass

from django.db import connection
from django.http import HttpResponse
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from billing.benchmarking import statements
from billing.benchmarking.data import APPLY_ITEMS, APPLY_TARGETS, Documents
from billing.keyset import encode_cursor
from billing.models import Invoice
from memos.insight import VIEWS as INSIGHT_VIEWS
from memos.models import Memo, MemoType, ReasonCode, ReasonCodeType

PLAN_LINES = 80
SQL_CHARS = 400


class BenchmarkError(Exception):
    """A request did not do what the figure measures (a failed create, a 500, ...)."""


def percentile(samples: list[float], fraction: float) -> float:
    """Nearest-rank percentile (p95 of 30 samples is the 29th smallest)."""
    ordered = sorted(samples)
    return ordered[max(math.ceil(fraction * len(ordered)), 1) - 1]


def explain(sql: str) -> dict:
    """EXPLAIN ANALYZE of a captured SELECT: its execution time and its plan."""
    body = statements.CURSOR.sub("", sql)
    if not body.lstrip().upper().startswith("SELECT"):
        return {}
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN (ANALYZE, BUFFERS) {body}")
        lines = [row[0] for row in cursor.fetchall()]
    found = [re.search(r"Execution Time: ([\d.]+) ms", line) for line in lines]
    execution = next((float(m.group(1)) for m in found if m), None)
    return {"explain_ms": execution, "plan": lines[:PLAN_LINES]}


TRANSACTION_CONTROL = {"BEGIN", "COMMIT", "ROLLBACK"}


@dataclass
class Captured:
    queries: int
    sql_ms: float
    main_sql_ms: float
    main_sql: str
    top_statements: list[dict]

    @classmethod
    def of(cls, context: CaptureQueriesContext, log: statements.StatementLog) -> Captured:
        """The count as CaptureQueriesContext has it (transaction control included); times from
        the log, plus the commits', which only the context sees (to the millisecond)."""
        timed = list(log.entries) + [
            (float(q["time"]) * 1000, q["sql"])
            for q in context.captured_queries
            if q["sql"] in TRANSACTION_CONTROL
        ]
        main_ms, main_sql = max(timed, default=(0.0, ""))
        return cls(
            queries=len(context.captured_queries),
            sql_ms=round(sum(ms for ms, _ in timed), 1),
            main_sql_ms=round(main_ms, 1),
            main_sql=main_sql,
            top_statements=statements.top([(sql, ms) for ms, sql in timed]),
        )

    def figure(self, *, with_plan: bool = True) -> dict:
        out = {
            "queries": self.queries,
            "sql_ms": self.sql_ms,
            "main_sql_ms": self.main_sql_ms,
            "main_sql": self.main_sql[:SQL_CHARS],
            "top_statements": self.top_statements,
        }
        if with_plan:
            out.update(explain(self.main_sql))
        return out


class Capture:
    result: Captured  # set when the `capture()` block ends


@contextmanager
def capture():
    """Count and time the statements of what runs inside the block."""
    log, held = statements.StatementLog(), Capture()
    with CaptureQueriesContext(connection) as context, connection.execute_wrapper(log):
        yield held
    # Read now: the next request's request_started signal empties the queries log again.
    held.result = Captured.of(context, log)


class Pages:
    """The measured requests, on one signed-in client."""

    def __init__(self, *, operator, requests: int, warmup: int = 2):
        self.client = Client()
        self.client.force_login(operator)
        self.requests = requests
        self.warmup = warmup

    # --- plumbing ----------------------------------------------------------------------------
    def get(self, url: str, expect: int = 200) -> HttpResponse:
        # secure: the production settings redirect plain HTTP to HTTPS.
        return self.check(self.client.get(url, secure=True), expect, url)

    def post(self, url: str, data: dict, expect: int = 302) -> HttpResponse:
        return self.check(self.client.post(url, data, secure=True), expect, url)

    @staticmethod
    def check(response: HttpResponse, expect: int, url: str) -> HttpResponse:
        if response.status_code != expect:
            body = b"" if response.streaming else response.content
            errors = re.findall(rb'class="[^"]*invalid-feedback[^"]*"[^>]*>([^<]+)', body)
            detail = b"; ".join(errors).decode() or body[:300].decode(errors="replace")
            raise BenchmarkError(f"{url} answered {response.status_code}, not {expect}: {detail}")
        return response

    def timed(self, request: Callable[[], object], *, with_plan: bool = True) -> dict:
        """Warm up, capture one request, time `requests` more."""
        for _ in range(self.warmup):
            request()
        # Captured right after a warm-up: the session's last-seen time (written at most once a
        # minute) is fresh then, so its write does not land in one figure's count and not another's.
        with capture() as captured:
            request()
        samples = []
        for _ in range(self.requests):
            began = time.perf_counter()
            request()
            samples.append((time.perf_counter() - began) * 1000)
        return {
            "p50_ms": round(statistics.median(samples), 1),
            "p95_ms": round(percentile(samples, 0.95), 1),
            "requests": len(samples),
            **captured.result.figure(with_plan=with_plan),
        }

    def captured(self, request: Callable[[], object]) -> Captured:
        with capture() as captured:
            request()
        return captured.result

    # --- the figures -------------------------------------------------------------------------
    def lists(self) -> dict[str, dict]:
        memo_list = reverse("memos:memo_list")
        count = Memo.objects.count()
        deep = int(count * 0.9)
        # The cursor of the row 90% down the default order (-memo_date, -id): the page a
        # "next" link chain would reach there.
        memo_date, pk = Memo.objects.order_by("-memo_date", "-id").values_list("memo_date", "pk")[
            deep
        ]
        account_number, account_memos = typical_account()
        number = Memo.objects.order_by("pk").values_list("number", flat=True)[count // 2]
        figures = {
            "list_first_page": self.timed(lambda: self.get(memo_list)),
            "list_deep_page": self.timed(
                lambda: self.get(f"{memo_list}?after={encode_cursor(memo_date, pk)}")
            ),
            "list_account": self.timed(lambda: self.get(f"{memo_list}?account={account_number}")),
            "list_amount_sort": self.timed(lambda: self.get(f"{memo_list}?sort=-amount")),
            "list_number_search": self.timed(lambda: self.get(f"{memo_list}?number={number}")),
        }
        figures["list_deep_page"]["rows_before"] = deep
        figures["list_account"].update(account=account_number, account_memos=account_memos)
        figures["list_number_search"]["number"] = number
        self.get(memo_list)  # (a fresh last-seen time, as above)
        one_row = self.captured(lambda: self.get(f"{memo_list}?number={number}"))
        full_page = self.captured(lambda: self.get(memo_list))
        figures["list_queries"] = {
            "value": max(one_row.queries, full_page.queries),
            "queries": full_page.queries,
            "queries_50_rows": full_page.queries,
            "queries_1_row": one_row.queries,
        }
        return figures

    def home(self) -> dict:
        return self.timed(lambda: self.get(reverse("home")))

    def insight(self, today: dt.date) -> dict[str, dict]:
        """The credit insight (DOMAIN.md 8) over the last 24 months in USD: the whole page (its
        six views, charts and tables) and each view alone (its CSV), all batches and one."""
        start = (today.replace(day=1) - dt.timedelta(days=700)).replace(day=1)
        period = f"start={start:%Y-%m}&end={today:%Y-%m}&currency=USD"
        page = reverse("memos:credit_insight")
        figures = {"insight_page": self.timed(lambda: self.get(f"{page}?{period}"))}
        figures["insight_page_batch"] = self.timed(
            lambda: self.get(f"{page}?{period}&batch=Batch7")
        )
        for key in INSIGHT_VIEWS:
            url = reverse("memos:credit_insight_csv", args=[key]) + f"?{period}"
            figures[f"insight_{key}"] = self.timed(lambda url=url: self.get(url))
        return figures

    def create_from_invoice(self, documents: Documents, today: dt.date) -> dict:
        invoice = documents.create_invoice
        url = reverse("memos:memo_create_from_invoice", args=[invoice.number]) + "?type=credit"
        reason = ReasonCode.objects.get(code_type=ReasonCodeType.CREDIT_MEMO, is_default=True)
        # The form's fields as the page posts them: every item selected at its net amount.
        rows = {}
        for item in invoice.items.order_by("sort_order", "id"):
            rows[f"item-{item.pk}-selected"] = "on"
            rows[f"item-{item.pk}-amount"] = str(item.amount_excl_tax)
            rows[f"item-{item.pk}-description"] = ""

        def create():
            data = {
                "memo_date": today.isoformat(),
                "reason_code": str(reason.pk),
                "comments": "",
                "tax_auto_calculation": "on",
                "idempotency_key": uuid.uuid4().hex,  # a new memo each time, as a new form
                **rows,
            }
            self.post(url, data)

        before = Memo.objects.filter(invoice=invoice).count()
        figure = self.timed(create, with_plan=False)
        made = Memo.objects.filter(invoice=invoice, memo_type=MemoType.CREDIT).count() - before
        figure.update(items=len(rows) // 3, memos_created=made)
        return figure

    def apply(self, documents: Documents, today: dt.date) -> dict:
        """Apply 1.00 to each of the account's APPLY_TARGETS invoices per request (header
        amounts, split over the invoices' items by the application rule)."""

        def applier(memo: Memo) -> Callable[[], None]:
            url = reverse("memos:memo_apply", args=[memo.number])
            invoices = Invoice.objects.filter(account=memo.account_id).order_by("pk")
            data = {f"invoice-{pk}-amount": "1.00" for pk in invoices.values_list("pk", flat=True)}
            data["effective_date"] = today.isoformat()
            return lambda: self.post(url, data)

        figure = self.timed(applier(documents.credit_memo), with_plan=False)
        one_item = applier(documents.credit_memo_one_item_targets)
        one_item()  # warm
        flat = self.captured(one_item)
        figure.update(
            targets=APPLY_TARGETS,
            items_per_target=APPLY_ITEMS,
            queries_1_item_per_target=flat.queries,
        )
        return figure

    def export(self) -> dict:
        """One export of every memo, read as a browser would: time to the first piece, rows per
        second over the whole body, and this process's resident memory while it streams."""
        url = reverse("memos:memo_export")
        with capture() as captured:
            began = time.perf_counter()
            response = self.get(url)
            first_byte = None
            lines = 0
            samples = []  # (lines so far, RSS in MB)
            for piece in response.streaming_content:
                if first_byte is None:
                    first_byte = time.perf_counter() - began
                lines += piece.count(b"\n")
                samples.append((lines, rss_mb()))
            elapsed = time.perf_counter() - began
            response.close()
        rows = lines - 1  # the header
        half = [rss for n, rss in samples if n <= lines / 2] or [samples[0][1]]
        rest = [rss for n, rss in samples if n > lines / 2] or half
        return {
            "rows": rows,
            "rows_per_s": round(rows / elapsed),
            "first_byte_ms": round((first_byte or elapsed) * 1000, 1),
            "elapsed_s": round(elapsed, 2),
            "rss_start_mb": round(samples[0][1], 1),
            "rss_peak_first_half_mb": round(max(half), 1),
            "rss_peak_second_half_mb": round(max(rest), 1),
            **captured.result.figure(),
        }


def typical_account() -> tuple[str, int]:
    """The account with the median number of memos (most accounts are small), and its count."""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT a.number, c.n FROM (
                SELECT account_id, count(*) AS n FROM memos_memo GROUP BY account_id
            ) AS c JOIN billing_account a ON a.id = c.account_id
            ORDER BY c.n, a.id
            OFFSET (SELECT count(DISTINCT account_id) / 2 FROM memos_memo) LIMIT 1
            """
        )
        return cursor.fetchone()


def rss_mb() -> float:
    """This process's resident set size now."""
    with open("/proc/self/statm") as statm:
        pages = int(statm.read().split()[1])
    return pages * resource.getpagesize() / 2**20
