"""Where a request's or a worker's database time goes: statements grouped by verb and table.

Pure Python (no Django import): the spawned workers use it before Django is set up.
"""

from __future__ import annotations

import re
import time
from collections import defaultdict

TOP = 6
TABLE = re.compile(r'\b(?:FROM|INTO|UPDATE)\s+"?([\w.]+)"?', re.I)
CURSOR = re.compile(
    r"^\s*DECLARE\s+\S+\s+.*?CURSOR\s+(?:WITH(?:OUT)?\s+HOLD\s+)?FOR\s+", re.I | re.S
)


def shape(sql: str) -> str:
    """ "UPDATE memos_memoitem", "SELECT billing_invoiceitem", "SAVEPOINT", ..."""
    sql = CURSOR.sub("", sql)
    verb = sql.lstrip().split(None, 1)[0].upper() if sql.strip() else "?"
    table = TABLE.search(sql)
    return (
        f"{verb} {table.group(1)}"
        if table and verb in {"SELECT", "INSERT", "UPDATE", "DELETE"}
        else verb
    )


def top(timings: list[tuple[str, float]], limit: int = TOP) -> list[dict]:
    """The shapes that took the most time: [{"shape", "count", "ms"}], slowest first."""
    timer = StatementTimer()
    for sql, ms in timings:
        timer.add(sql, ms)
    return timer.top(limit)


class StatementTimer:
    """An execute wrapper that adds up count and time per statement shape as it goes (nothing
    kept per statement: cheap, and no memory of its own in a worker whose memory is measured)."""

    def __init__(self):
        self.totals: dict[str, list] = defaultdict(lambda: [0, 0.0])

    def __call__(self, execute, sql, params, many, context):
        began = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            self.add(sql, (time.perf_counter() - began) * 1000)

    def add(self, sql: str, ms: float) -> None:
        entry = self.totals[shape(sql)]
        entry[0] += 1
        entry[1] += ms

    @property
    def total_ms(self) -> float:
        return sum(ms for _, ms in self.totals.values())

    def top(self, limit: int = TOP) -> list[dict]:
        ranked = sorted(self.totals.items(), key=lambda item: -item[1][1])[:limit]
        return [{"shape": name, "count": n, "ms": round(ms, 1)} for name, (n, ms) in ranked]


class StatementLog:
    """An execute wrapper that keeps every statement of one request: (ms, SQL as sent, with
    its parameters), timed to the microsecond. (CaptureQueriesContext rounds each statement's
    time to the millisecond, which makes a thousand 0.4 ms statements add up to nothing.)"""

    def __init__(self):
        self.entries: list[tuple[float, str]] = []

    def __call__(self, execute, sql, params, many, context):
        began = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            ms = (time.perf_counter() - began) * 1000
            connection, cursor = context["connection"], context["cursor"].cursor
            self.entries.append((ms, connection.ops.last_executed_query(cursor, sql, params)))
