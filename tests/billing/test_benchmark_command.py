"""`manage.py benchmark`: it runs end to end at the quick scale, reports every figure of the
performance issue with its keys, and leaves no scratch database behind; on SQLite it stops with
a message that says what to do. Speed is not asserted here (DESIGN.md: the benchmark measures it).

The command runs as a separate process with the production settings, as an operator runs it:
its scratch database is created and dropped beside a configured name that does not even exist.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from django.conf import settings

from billing.benchmarking import report, scratch

TIMED = [
    "list_first_page",
    "list_deep_page",
    "list_account",
    "list_amount_sort",
    "list_number_search",
    "home",
    "create_from_invoice_200",
    "apply_100_targets",
]
VALUED = ["list_queries", "bill_run_2w_speedup", "bill_run_copy_ratio", "worker_rss_mb"]


def run_benchmark(database_url: str, *args: str) -> subprocess.CompletedProcess:
    environment = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "billing.settings",
        "DATABASE_URL": database_url,
        "DJANGO_SECRET_KEY": "benchmark-test-secret-key-" + "x" * 40,
        "PYTHONUNBUFFERED": "1",
    }
    environment.pop("DJANGO_DEBUG", None)
    return subprocess.run(
        [sys.executable, "manage.py", "benchmark", *args],
        cwd=settings.BASE_DIR,
        env=environment,
        capture_output=True,
        text=True,
        timeout=600,
    )


def postgres_url(name: str) -> str:
    db = settings.DATABASES["default"]
    credentials = db["USER"] + (f":{db['PASSWORD']}" if db["PASSWORD"] else "")
    port = f":{db['PORT']}" if db["PORT"] else ""
    return f"postgres://{credentials}@{db['HOST']}{port}/{name}"


@pytest.mark.postgres
def test_quick_run_reports_every_figure_and_drops_its_scratch_database(tmp_path):
    # A configured name of its own (never created): a benchmark someone runs on the configured
    # database at the same time has another scratch database.
    configured = settings.DATABASES["default"]["NAME"].removeprefix("test_") + "_t"
    output = tmp_path / "figures.json"

    done = run_benchmark(postgres_url(configured), "--quick", "--json", str(output))

    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert not scratch.database_exists(scratch.scratch_name(configured))
    assert not scratch.database_exists(configured)
    document = json.loads(output.read_text())
    figures = document["figures"]
    assert sorted(figures) == sorted(report.NAMES)
    for name in TIMED:
        assert {"p50_ms", "p95_ms", "queries"} <= figures[name].keys(), name
        assert figures[name]["p50_ms"] > 0
        assert figures[name]["queries"] > 0, name
    for name in VALUED:
        assert "value" in figures[name], name
    assert figures["list_queries"]["queries_1_row"] > 0
    assert figures["apply_100_targets"]["queries_1_item_per_target"] > 0
    assert figures["bill_run_1w"]["accounts_per_s"] > 0
    assert {"rows_per_s", "first_byte_ms"} <= figures["export_1m"].keys()
    # The export wrote every memo; the create and apply requests went through the real views.
    assert figures["export_1m"]["rows"] >= document["scale"]["memos"]
    assert figures["create_from_invoice_200"]["memos_created"] > 0
    assert figures["bill_run_1w"]["accounts"] == document["scale"]["accounts"]
    whens = [entry["when"] for entry in document["load"]]
    assert whens[0] == "before" and whens[-1] == "after"
    assert document["scale"]["quick"] is True
    for goal in report.GOALS:
        assert goal.name in done.stdout


def test_on_sqlite_the_benchmark_stops_with_a_clear_message(tmp_path):
    done = run_benchmark(f"sqlite:///{tmp_path / 'db.sqlite3'}", "--quick")

    assert done.returncode != 0
    assert "manage.py benchmark measures PostgreSQL" in done.stderr
    assert "DATABASE_URL=postgres://" in done.stderr
    assert "Traceback" not in done.stderr
