"""Concurrency mix (PostgreSQL): 200 random operations from 20 threads over 5 accounts, through
the real views (a signed-in test Client per thread, each on its own database connection).

What it proves: operators creating (from charges and from invoices), posting, unposting,
canceling, applying, unapplying, refunding and marking memos Transferred to Accounting at the
same time on the same accounts never get a server error: each answer is the operation done, a
refusal in words, or, when the database stayed busy through the retries (every connection has a
short lock_timeout, so waits turn into lock timeouts), the 503 "try again". Afterwards the
invariants of DOMAIN.md section 3 hold for every document and every account balance equals the
one recomputed from the documents.
"""

from __future__ import annotations

import datetime as dt
import logging
import random
import threading
from collections import Counter
from decimal import Decimal

import pytest
from django.db import connection
from django.test import Client

from billing import roles
from billing.factories import AccountFactory, ChargeFactory, UserFactory, currency
from billing.models import ChargeType, Invoice
from memos.models import Memo, MemoApplication, MemoStatus, MemoType
from tests.reliability import counts, web
from tests.reliability.invariants import assert_invariants
from tests.reliability.world import charges_memo, invoice

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

THREADS = 20
OPERATIONS = 200
ACCOUNTS = 5
TODAY = dt.date(2026, 11, 29)
LOCK_TIMEOUT_MS = 20
OPERATION_NAMES = [
    "create from charges",
    "create from invoice",
    "post",
    "post",
    "unpost",
    "cancel",
    "apply",
    "apply",
    "unapply",
    "refund",
    "transfer",
]


def request_for(operation: str, rng: random.Random, account, charge):
    """The request an operator would send for `operation` on `account`, from what the database
    shows now (None: nothing to do it to)."""
    memos = list(Memo.objects.filter(account=account).order_by("pk"))
    credits = [m for m in memos if m.memo_type == MemoType.CREDIT]
    posted = [m for m in memos if m.status == MemoStatus.POSTED]
    drafts = [m for m in memos if m.status == MemoStatus.DRAFT]
    amount = Decimal(rng.choice(["1.00", "2.50", "5.00", "10.00", "25.00"]))
    match operation:
        case "create from charges":
            kind = rng.choice(["credit", "debit"])
            return web.create_from_charges(account, kind, amount, charge, TODAY)
        case "create from invoice":
            inv = rng.choice(list(Invoice.objects.filter(account=account)))
            item = rng.choice(list(inv.items.all()))
            return web.create_from_invoice(inv, {item.pk: amount}, TODAY)
        case "post" | "cancel" if memos:  # mostly a draft; any memo when there is none
            return web.action(rng.choice(drafts or memos), operation)
        case "unpost" if memos:
            return web.action(rng.choice(posted or memos), "unpost")
        case "apply" if credits:
            targets = list(Invoice.objects.filter(account=account, balance__gt=0)) + [
                m for m in posted if m.memo_type == MemoType.DEBIT and m.balance > 0
            ]
            if targets:
                return web.apply(rng.choice(credits), rng.choice(targets), amount, TODAY)
        case "unapply":
            applications = list(
                MemoApplication.objects.filter(
                    credit_memo__account=account, kind=MemoApplication.Kind.APPLY
                ).select_related("credit_memo")
            )
            if applications:
                return web.unapply(rng.choice(applications), rng.choice([None, amount]), TODAY)
        case "refund" if credits:
            return web.refund(rng.choice(credits), amount, TODAY)
        case "transfer" if posted:
            return web.transfer(rng.choice(posted), rng.choice(["processing", "yes", "no"]))
    return None


def outcome_of(response) -> str:
    if response.status_code >= 500 and response.status_code != 503:
        return "server error"
    if response.status_code == 503:
        return "busy (503)"
    levels = {tag for tag, _ in web.messages_of(response)}
    if response.status_code == 302:
        return "refused" if "error" in levels else "done"
    return "refused" if response.status_code in (200, 400, 403, 404) else str(response.status_code)


class Retries(logging.Handler):
    """Counts the retries billing.busy logs, from every thread."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.count = 0

    def emit(self, record: logging.LogRecord) -> None:
        self.count += "retry" in record.getMessage()


@pytest.fixture
def retries():
    logger = logging.getLogger("billing.busy")
    handler, level = Retries(), logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    yield handler
    logger.removeHandler(handler)
    logger.setLevel(level)


def test_two_hundred_concurrent_operations_never_fail_and_keep_the_invariants(
    settings, caplog, retries
):
    settings.DATABASE_BUSY_ATTEMPTS = 4
    settings.DATABASE_BUSY_BACKOFF_SECONDS = 0.02
    caplog.set_level(logging.ERROR, logger="django.request")
    operator = UserFactory(username="mix", roles=[roles.BILLING_ADMIN])
    charge = ChargeFactory(charge_type=ChargeType.ONE_TIME, taxable=False)
    accounts = [AccountFactory(currency=currency("USD")) for _ in range(ACCOUNTS)]
    for account in accounts:
        invoice(account, "100.00", "60.00")
        invoice(account, "40.00")
        charges_memo(account, MemoType.CREDIT, "150.00", actor=operator)
        charges_memo(account, MemoType.DEBIT, "30.00", actor=operator)
    assert_invariants()

    outcomes: Counter[tuple[str, str]] = Counter()
    errors: list[str] = []
    lock = threading.Lock()
    start = threading.Barrier(THREADS)

    def operate(index: int) -> None:
        rng = random.Random(index)
        client = Client(raise_request_exception=False)
        client.force_login(operator)
        try:
            with connection.cursor() as cursor:
                cursor.execute(f"SET lock_timeout = '{LOCK_TIMEOUT_MS}ms'")
            start.wait(timeout=60)
            for _ in range(OPERATIONS // THREADS):
                operation = rng.choice(OPERATION_NAMES)
                account = accounts[rng.randrange(ACCOUNTS)]
                request = request_for(operation, rng, account, charge)
                if request is None:
                    with lock:
                        outcomes[(operation, "nothing to do it to")] += 1
                    continue
                url, data = request
                headers = {"HX-Request": "true"} if rng.random() < 0.3 else {}
                response = client.post(url, data, headers=headers)
                result = outcome_of(response)
                with lock:
                    outcomes[(operation, result)] += 1
                    if result == "server error":
                        exc = getattr(response, "exc_info", None)
                        errors.append(f"{operation} {url}: {exc[1] if exc else response}")
        except BaseException as exc:  # reported by the main thread
            with lock:
                errors.append(f"thread {index}: {exc!r}")
        finally:
            connection.close()

    threads = [threading.Thread(target=operate, args=(i,), daemon=True) for i in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    assert not any(thread.is_alive() for thread in threads), "a thread hung"

    total = sum(outcomes.values())
    by_result = Counter()
    for (_operation, result), n in outcomes.items():
        by_result[result] += n
    counts.add("concurrency operations", total)
    counts.add("concurrency retries after a busy database", retries.count)
    counts.add("concurrency 503s", by_result["busy (503)"])
    counts.add("concurrency 500s", by_result["server error"])
    print(f"concurrency: {dict(by_result)}, {retries.count} retries; {dict(outcomes)}")
    assert not errors, "\n".join(errors[:20])
    assert total == OPERATIONS
    assert by_result["done"] >= OPERATIONS // 8, by_result
    assert_invariants()
