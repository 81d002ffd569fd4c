"""The body of a bill-run worker process the benchmark spawns.

Spawned, not forked: a fork would start as a copy of the benchmark process (its test client,
its export buffers), and its resident memory would be the benchmark's, not a worker's. A spawned
process starts as `manage.py db_worker` does: a fresh interpreter that sets Django up. It
connects, says it is ready and waits for the go, so its start-up is not in the timing; then it
bills with benchmark_bill_run's work_and_count (runner.work, every statement counted), adding up
the time of its statements by verb and table, while a thread samples its resident memory.

Nothing of Django is imported at module level: the module is imported before Django is set up.
"""

from __future__ import annotations

import resource
import threading
import time
import traceback

READY_TIMEOUT = 300  # seconds a worker waits for the go
SAMPLE_EVERY = 0.05  # seconds between RSS samples


def rss_mb() -> float:
    with open("/proc/self/statm") as statm:
        pages = int(statm.read().split()[1])
    return pages * resource.getpagesize() / 2**20


def peak_rss_mb() -> float:
    """VmHWM: the peak of this process since it was exec'd. (getrusage's ru_maxrss would not
    do: Linux carries it over exec, so a spawned child reports its forking parent's size.)"""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return 0.0


class RssSampler(threading.Thread):
    """Samples this process's RSS until stopped: (seconds since start, MB)."""

    def __init__(self):
        super().__init__(daemon=True)
        self.samples: list[tuple[float, float]] = []
        self.done = threading.Event()
        self.began = time.perf_counter()

    def run(self):
        while not self.done.is_set():
            self.samples.append((time.perf_counter() - self.began, rss_mb()))
            self.done.wait(SAMPLE_EVERY)

    def stop(self) -> dict:
        self.done.set()
        self.join()
        self.samples.append((time.perf_counter() - self.began, rss_mb()))
        middle = self.samples[-1][0] / 2
        first = [mb for t, mb in self.samples if t <= middle]
        second = [mb for t, mb in self.samples if t > middle] or first
        return {
            "rss_start_mb": round(self.samples[0][1], 1),
            "rss_peak_first_half_mb": round(max(first), 1),
            "rss_peak_second_half_mb": round(max(second), 1),
            "peak_rss_mb": round(peak_rss_mb(), 1),  # start-up included
        }


def worker_main(database: str, bill_run_id: int, messages, go) -> None:
    """Set Django up on `database`, report ready, wait for `go`, bill, report the outcome."""
    import os

    try:
        import django

        django.setup()
        from django.conf import settings
        from django.db import connection

        settings.DATABASES["default"]["NAME"] = database
        connection.settings_dict["NAME"] = database
        connection.ensure_connection()
        from billing.benchmarking.statements import StatementTimer
        from billing.management.commands.benchmark_bill_run import work_and_count

        messages.put(("ready", os.getpid(), None))
        if not go.wait(READY_TIMEOUT):
            raise TimeoutError("no go from the benchmark")
        sampler = RssSampler()
        sampler.start()
        timer = StatementTimer()
        began = time.perf_counter()
        with connection.execute_wrapper(timer):
            chunks, statements = work_and_count(bill_run_id)
        outcome = {
            "chunks": chunks,
            "statements": statements,
            "seconds": round(time.perf_counter() - began, 2),
            "db_seconds": round(timer.total_ms / 1000, 2),
            "top_statements": timer.top(),
            **sampler.stop(),
        }
        messages.put(("done", os.getpid(), outcome))
    except BaseException:
        messages.put(("error", os.getpid(), traceback.format_exc()))
