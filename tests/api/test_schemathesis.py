"""Schemathesis over every operation of /api/v1/schema/ (DESIGN.md: API fuzzing), on PostgreSQL.

The schema is read from the running application (the WSGI app, in process, as a token's user
reads it), and every operation gets generated requests: valid ones and, for each parameter and
body, values at and past its edges. Every answer must be something other than a 500, and must
be what the schema says the operation answers: a documented status code, content type and body.

Bounded: API_FUZZ_EXAMPLES cases per operation and kind of data (default 20: 1,520 cases, about
100 s on a quiet 2-core machine) and API_FUZZ_SECONDS in all (default 200). Every operation gets
its valid data first, then its invalid data while the time lasts (CI runs the PostgreSQL and
SQLite suites side by side, so a busy machine may cut the second pass short: that is said, not
failed); the number of generated cases is printed.
"""

from __future__ import annotations

import os
import time

import pytest
from django.core.handlers.wsgi import WSGIHandler
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from hypothesis import HealthCheck, Phase, given
from hypothesis import settings as hypothesis_settings

from api.tokens import create_api_token
from billing.factories import ChargePriceFactory, ProductFactory
from billing.models import BillRun, ChargeType
from memos.services import lifecycle
from tests.billing.bill_run_helpers import DAY, subscribe
from tests.memos.creation_helpers import from_invoice, posted_invoice

schemathesis = pytest.importorskip("schemathesis")
from schemathesis import GenerationMode  # noqa: E402
from schemathesis.checks import not_a_server_error  # noqa: E402
from schemathesis.specs.openapi.checks import (  # noqa: E402
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

pytestmark = [pytest.mark.postgres, pytest.mark.django_db]

EXAMPLES = int(os.environ.get("API_FUZZ_EXAMPLES", "20"))
BUDGET_SECONDS = float(os.environ.get("API_FUZZ_SECONDS", "200"))
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


@pytest.fixture
def in_process_app():
    """Django's WSGI app answering in this test's transaction: its per-request connection
    closing is switched off, as Django's own test client does."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        yield WSGIHandler()
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


def some_of_everything(user) -> None:
    """Documents of every kind, so that generated requests find some of what they name."""
    invoice = posted_invoice("100", "50")
    memo = lifecycle.post_memo(memo=from_invoice(invoice, actor=user), actor=user)
    from_invoice(posted_invoice("80"), actor=user)  # a draft
    usage = subscribe(invoice.account, "2", charge_type=ChargeType.USAGE)
    subscribe(invoice.account, "10", subscription=usage.subscription)
    ChargePriceFactory(charge__product=ProductFactory())
    BillRun.objects.create(number="BR00000001", invoice_date=DAY, target_date=DAY)
    assert memo.number


def test_every_operation_answers_as_its_schema_says(superuser, in_process_app, settings, capsys):
    settings.API_THROTTLE_RATE = None  # the fuzzing would be throttled, not fuzzed
    some_of_everything(superuser)
    _, secret = create_api_token(user=superuser, name="schemathesis")
    headers = {"Authorization": f"Bearer {secret}"}
    schema = schemathesis.openapi.from_wsgi(
        "/api/v1/schema/?format=json", in_process_app, headers=headers
    )
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 38  # every operation of the API (a lower count: one went missing)
    started = time.monotonic()
    counts: dict[str, int] = {}
    failures: list[str] = []

    skipped = 0
    for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
        for operation in operations:
            if mode == GenerationMode.NEGATIVE and time.monotonic() - started > BUDGET_SECONDS:
                skipped += 1
                continue
            label = f"{operation.label} ({mode.value})"
            counts[label] = 0
            try:
                fuzz(operation, mode, headers, counts, label)
            except (Exception, BaseExceptionGroup) as exc:  # noqa: BLE001 (reported below)
                failures.append(f"{label}: {exc}")

    total = sum(counts.values())
    with capsys.disabled():  # shown in `make test`'s output, not captured
        print(
            f"\nschemathesis: {total} generated cases, {len(operations)} operations "
            f"({len(counts)} runs of valid and invalid data"
            + (f"; {skipped} invalid-data runs left out: time budget" if skipped else "")
            + f") in {time.monotonic() - started:.0f} s"
        )
    assert not failures, "\n\n".join(failures)
    # Every operation had its valid-data run, and each run generated cases.
    assert len(counts) >= len(operations) and all(counts.values()), counts


def fuzz(operation, mode, headers: dict, counts: dict, label: str) -> None:
    """EXAMPLES generated requests to `operation`, each answer checked against the schema."""

    @given(case=operation.as_strategy(generation_mode=mode))
    @hypothesis_settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        derandomize=True,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    def run(case):
        counts[label] += 1
        case.call_and_validate(headers=headers, checks=CHECKS)

    run()
