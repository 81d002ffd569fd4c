"""The performance issue's goals, one per figure, and how the benchmark shows and saves them."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass

RSS_NOISE_MB = 10  # "flat": the second half of a run peaks at most this much above the first


@dataclass(frozen=True)
class Goal:
    name: str  # the figure's JSON name
    label: str
    goal: str
    met: Callable[[dict], bool]
    shown: Callable[[dict], str]


def timed(f: dict) -> str:
    return f"p50 {f['p50_ms']:g} / p95 {f['p95_ms']:g} ms, {f['queries']} q, db {f['sql_ms']:g} ms"


def p50_below(ms: float) -> Callable[[dict], bool]:
    return lambda f: f["p50_ms"] < ms


def first_page_goal(f: dict) -> bool:
    return f["p50_ms"] < 40 and f["p95_ms"] < 100


def flat(f: dict) -> bool:
    return f["rss_peak_second_half_mb"] <= f["rss_peak_first_half_mb"] + RSS_NOISE_MB


GOALS = [
    Goal(
        "list_first_page", "memo list, first page", "p50 < 40, p95 < 100 ms", first_page_goal, timed
    ),
    Goal(
        "list_deep_page",
        "memo list, page 90% deep",
        "p50 < 40, p95 < 100 ms",
        first_page_goal,
        timed,
    ),
    Goal("list_account", "memo list, one account", "p50 < 50 ms", p50_below(50), timed),
    Goal("list_amount_sort", "memo list, sort by amount", "p50 < 50 ms", p50_below(50), timed),
    Goal("list_number_search", "memo list, number search", "p50 < 50 ms", p50_below(50), timed),
    Goal("home", "home page", "p50 < 50 ms", p50_below(50), timed),
    # DOMAIN.md 8: every view of the credit insight answers in under 500 ms at 1M memos.
    Goal("insight_page", "credit insight page (6 views)", "p50 < 500 ms", p50_below(500), timed),
    Goal(
        "insight_page_batch",
        "credit insight page, one batch",
        "p50 < 500 ms",
        p50_below(500),
        timed,
    ),
    *[
        Goal(
            f"insight_{key}", f"credit insight: {key} (CSV)", "p50 < 500 ms", p50_below(500), timed
        )
        for key in ("reason", "user", "charge", "month", "source", "accounts")
    ],
    Goal(
        "list_queries",
        "queries per list page",
        "<= 5, same for 1 and 50 rows",
        lambda f: f["value"] <= 5 and f["queries_1_row"] == f["queries_50_rows"],
        lambda f: f"{f['queries_50_rows']} (50 rows), {f['queries_1_row']} (1 row)",
    ),
    Goal(
        "create_from_invoice_200",
        "create memo from a 200-item invoice",
        "< 100 ms, <= 20 queries",
        lambda f: f["p50_ms"] < 100 and f["queries"] <= 20,
        timed,
    ),
    Goal(
        "apply_100_targets",
        "apply a credit memo to 100 invoices",
        "< 1 s, queries flat in items",
        lambda f: f["p50_ms"] < 1000 and f["queries"] == f["queries_1_item_per_target"],
        lambda f: f"{timed(f)}; {f['queries_1_item_per_target']} q with 1 item/invoice",
    ),
    Goal(
        "export_1m",
        "CSV export of every memo",
        ">= 50k rows/s, first byte < 1 s, flat memory",
        lambda f: f["rows_per_s"] >= 50_000 and f["first_byte_ms"] < 1000 and flat(f),
        lambda f: (
            f"{f['rows_per_s']:,} rows/s, first byte {f['first_byte_ms']:g} ms, RSS "
            f"{f['rss_peak_first_half_mb']:g} -> {f['rss_peak_second_half_mb']:g} MB"
        ),
    ),
    Goal(
        "bill_run_1w",
        "bill run, 1 worker",
        ">= 2,000 accounts/s",
        lambda f: f["accounts_per_s"] >= 2000,
        lambda f: (
            f"{f['accounts_per_s']:,} accounts/s ({f['accounts']:,} in {f['seconds']:g} s, "
            f"{f['statements_per_chunk']:g} statements/chunk)"
        ),
    ),
    Goal(
        "bill_run_2w_speedup",
        "bill run, 2 workers / 1 worker",
        ">= 1.8",
        lambda f: f["value"] >= 1.8,
        lambda f: f"{f['value']:g} ({f['accounts_per_s_2w']:,} accounts/s with 2)",
    ),
    Goal(
        "bill_run_copy_ratio",
        "bill-run inserted rows/s / COPY rows/s",
        ">= 0.40",
        lambda f: f["value"] >= 0.40,
        lambda f: (
            f"{f['value']:g} ({f['run_rows_per_s']:,} vs {f['copy_rows_per_s']:,} rows/s, "
            f"{f['rows']:,} rows)"
        ),
    ),
    Goal(
        "worker_rss_mb",
        "worker peak RSS",
        "flat, < 150 MB",
        lambda f: f["value"] < 150 and f["growth_second_half_mb"] <= RSS_NOISE_MB,
        lambda f: f"{f['value']:g} MB (second half +{f['growth_second_half_mb']:g} MB)",
    ),
]
NAMES = [goal.name for goal in GOALS]


def judge(figures: dict[str, dict]) -> None:
    """Mark each figure with its goal and whether it is met (in place)."""
    for goal in GOALS:
        figure = figures[goal.name]
        figure["goal"] = goal.goal
        figure["met"] = bool(goal.met(figure))


def table(figures: dict[str, dict]) -> list[str]:
    rows = [("Figure", "Value", "Goal", "Met?")]
    for goal in GOALS:
        figure = figures[goal.name]
        rows.append((goal.name, goal.shown(figure), goal.goal, "yes" if figure["met"] else "NO"))
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    lines = []
    for n, row in enumerate(rows):
        lines.append(
            "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=False)) + "  " + row[3]
        )
        if n == 0:
            lines.append("-" * (sum(widths) + 6 + 4))
    return lines


def breakdown(figures: dict[str, dict]) -> list[str]:
    """Where the time goes, per figure: database time against the whole, the main statement,
    and the statement shapes that took longest."""
    lines = []
    for goal in GOALS:
        f = figures[goal.name]
        if "top_statements" in f and "p50_ms" in f:
            whole = f"db {f['sql_ms']:g} ms of p50 {f['p50_ms']:g} ms"
        elif "top_statements" in f and "rows_per_s" in f:
            whole = f"db {f['sql_ms']:g} ms of {f['elapsed_s']:g} s"
        elif "db_seconds" in f:
            whole = f"db {f['db_seconds']:g} s of {f['worker_seconds']:g} s in the worker"
        else:
            continue
        main = ""
        if f.get("explain_ms") is not None:
            main = f"; main statement {f['main_sql_ms']:g} ms (EXPLAIN ANALYZE {f['explain_ms']:g})"
        top = ", ".join(
            f"{s['shape']} x{s['count']} {s['ms']:g} ms" for s in f["top_statements"][:3]
        )
        lines.append(f"{goal.name}: {whole}{main}; top: {top}")
    return lines


def write_json(path: str, document: dict) -> None:
    with open(path, "w") as out:
        json.dump(document, out, indent=2, default=str)
        out.write("\n")
