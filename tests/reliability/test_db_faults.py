"""Database faults: a busy database is a clear "try again" (503), never a 500 or half a change.

What it proves:
- PostgreSQL, for real: while another connection holds a row lock (the memo, its invoice, a
  number counter, the bill run) and the web request's connection has a short `lock_timeout`,
  every write endpoint retries a bounded number of times, then answers 503 "The database is
  busy; nothing was changed. Try again." (htmx: the message out of band into #messages, nothing
  else swapped), and wrote nothing: every memo, item, application, refund, history event,
  invoice, number counter and bill run is as it was. Once the lock is released the same request
  succeeds; a lock released while the request is retrying is waited out (the retry succeeds).
- Both databases: the SQLite "database is locked" error, and any busy error raised inside an
  outer transaction (which cannot be retried), get the same 503; an error that is not about a
  busy database is not hidden.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import re
import threading
from decimal import Decimal

import pytest
from django.db import OperationalError, connection, transaction
from django.test import Client
from django.urls import reverse

from billing import busy
from billing.factories import BillRunFactory, UserFactory
from billing.models import BillRun, BillRunStatus, Invoice, NumberSeries
from memos.models import Memo, MemoStatus, MemoType
from memos.services import lifecycle
from tests.reliability import counts, web
from tests.reliability.invariants import assert_invariants, read_state
from tests.reliability.world import INVOICE_DATE, build_world, charges_memo

D = Decimal
TODAY = dt.date(2026, 11, 29)
LOCK_TIMEOUT_MS = 50
CM, DM = NumberSeries.Key.CREDIT_MEMO, NumberSeries.Key.DEBIT_MEMO
BR = "billing:bill_run"


@pytest.fixture
def quick_retries(settings):
    settings.DATABASE_BUSY_ATTEMPTS = 3
    settings.DATABASE_BUSY_BACKOFF_SECONDS = 0.01


@contextlib.contextmanager
def row_locked(model, pk):
    """Another connection holds SELECT ... FOR UPDATE on the row until the block ends."""
    locked, release, errors = threading.Event(), threading.Event(), []

    def hold():
        try:
            with transaction.atomic():
                model.objects.select_for_update().get(pk=pk)
                locked.set()
                release.wait(30)
        except BaseException as exc:  # reported by the test
            errors.append(exc)
            locked.set()
        finally:
            connection.close()

    holder = threading.Thread(target=hold, daemon=True)
    holder.start()
    assert locked.wait(10), "the lock holder did not start"
    try:
        yield release
    finally:
        release.set()
        holder.join(10)
    assert not errors, errors


@contextlib.contextmanager
def lock_timeout(ms: int):
    with connection.cursor() as cursor:
        cursor.execute(f"SET lock_timeout = '{int(ms)}ms'")
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute("RESET lock_timeout")


def assert_busy(response, *, htmx: bool, what: str = "") -> None:
    if response.status_code != 503:
        text = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", response.content.decode()))
        shown = [m for m in re.findall(r"[^.]*(?:error|cannot|must|Enter)[^.]*\.", text)][:3]
        raise AssertionError(f"{what}: {response.status_code}, not 503: {shown}")
    body = response.content.decode()
    assert busy.BUSY_MESSAGE in body
    assert response["Retry-After"] == "1"
    if htmx:
        assert response["HX-Reswap"] == "none"
        assert 'id="messages"' in body and 'hx-swap-oob="innerHTML"' in body
    else:
        assert "<h1>" in body


def fault_cases(world: dict) -> list[tuple[str, type, int, tuple[str, dict], bool]]:
    """(what, locked model, locked row, request, htmx): every write endpoint meets a row
    another transaction holds, at the point of its transaction where it locks it."""
    actor = world["actor"]
    memo, draft, debit = world["memo"], world["draft"], world["debit"]
    fresh = charges_memo(world["account"], MemoType.CREDIT, "15.00", actor=actor)
    invoice, application = world["invoice"], world["application"]
    second = Invoice.objects.filter(account=world["account"]).exclude(pk=invoice.pk).first()
    counter = {key: NumberSeries.objects.get(key=key).pk for key in (CM, DM)}
    run_obj = BillRunFactory(status=BillRunStatus.COMPLETED)
    run, run_pk = run_obj.number, run_obj.pk
    item = invoice.items.order_by("sort_order").first()
    numbers = [memo.number, debit.number]
    from_invoice = web.create_from_invoice(invoice, {item.pk: D("1.00")}, TODAY)
    from_charges = web.create_from_charges(
        world["account"], "credit", D("3.00"), item.charge, TODAY
    )
    five, one = D("5.00"), D("1.00")
    reverse_fresh = web.action(fresh, "reverse")
    return [
        ("post", Memo, draft.pk, web.action(draft, "post"), False),
        ("post (htmx)", Memo, draft.pk, web.action(draft, "post"), True),
        ("recalculate tax", Memo, draft.pk, web.action(draft, "recalculate_tax"), False),
        ("cancel", Memo, draft.pk, web.action(draft, "cancel"), False),
        ("unpost", Memo, debit.pk, web.action(debit, "unpost"), False),
        ("apply, invoice locked", Invoice, second.pk, web.apply(memo, second, five, TODAY), False),
        ("apply (htmx)", Memo, memo.pk, web.apply(memo, second, five, TODAY), True),
        ("unapply", Invoice, invoice.pk, web.unapply(application, one, TODAY), False),
        ("refund", Memo, memo.pk, web.refund(memo, one, TODAY), False),
        ("reverse, DM counter locked", NumberSeries, counter[DM], reverse_fresh, False),
        ("write off", Memo, fresh.pk, web.action(fresh, "write_off"), False),
        ("transfer", Memo, memo.pk, web.transfer(memo, "processing"), False),
        ("transfer (htmx, in place)", Memo, memo.pk, web.transfer(memo, "processing"), True),
        ("bulk transfer", Memo, debit.pk, web.bulk_transfer(numbers, "yes"), False),
        ("edit", Memo, memo.pk, web.edit(memo, "busy?"), False),
        ("create from invoice", Invoice, invoice.pk, from_invoice, False),
        ("create from charges, CM counter locked", NumberSeries, counter[CM], from_charges, False),
        (
            "bill run post",
            BillRun,
            run_pk,
            (reverse("billing:bill_run_post", args=[run]), {}),
            False,
        ),
        (
            "bill run cancel",
            BillRun,
            run_pk,
            (reverse("billing:bill_run_cancel", args=[run]), {}),
            False,
        ),
    ]


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_every_write_endpoint_answers_a_lock_timeout_with_a_retryable_503(quick_retries):
    world = build_world()
    client = Client(raise_request_exception=False)
    client.force_login(UserFactory(username="faults", is_staff=True, is_superuser=True))
    cases = fault_cases(world)
    for what, model, pk, (url, data), htmx in cases:
        before = read_state()
        headers = {"HX-Request": "true"} if htmx else {}
        with row_locked(model, pk), lock_timeout(LOCK_TIMEOUT_MS):
            response = client.post(url, data, headers=headers)
        assert_busy(response, htmx=htmx, what=what)
        after = read_state()
        assert after.fingerprint() == before.fingerprint(), f"{what}: wrote while busy"
    counts.add("db faults injected", len(cases))
    assert_invariants()
    # Nothing was half done: once the locks are gone the same requests go through.
    for what, _model, _pk, (url, data), htmx in cases[:2] + cases[5:6]:
        response = client.post(url, data, headers={"HX-Request": "true"} if htmx else {})
        assert response.status_code in (200, 302), (what, response.status_code)
    assert Memo.objects.get(pk=world["draft"].pk).status == MemoStatus.POSTED
    assert_invariants()


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_lock_released_while_retrying_is_waited_out(settings, caplog):
    settings.DATABASE_BUSY_ATTEMPTS = 4
    settings.DATABASE_BUSY_BACKOFF_SECONDS = 0.05
    caplog.set_level(logging.INFO, logger="billing.busy")
    world = build_world()
    draft = world["draft"]
    client = Client(raise_request_exception=False)
    client.force_login(world["actor"])
    url, data = web.action(draft, "post")
    with row_locked(Memo, draft.pk) as release, lock_timeout(100):
        threading.Timer(0.15, release.set).start()
        response = client.post(url, data)
    assert response.status_code == 302
    assert ("success", f"{draft.number} was posted.") in web.messages_of(response)
    assert Memo.objects.get(pk=draft.pk).status == MemoStatus.POSTED
    retries = [r for r in caplog.records if "retry" in r.getMessage()]
    assert retries, "the first attempt should have met the lock"
    counts.add("db faults injected", 1)
    assert_invariants()


# --- both databases: the handler and the retry, with the error raised on purpose ---------------
def locked_then(real, failures: list[int]):
    """lock_memo raising SQLite's busy error `failures[0]` times, then the real one."""

    def lock(memo):
        if failures[0] > 0:
            failures[0] -= 1
            raise OperationalError("database is locked")
        return real(memo)

    return lock


@pytest.mark.django_db(transaction=True)
def test_a_busy_database_is_retried_and_the_request_succeeds(monkeypatch, quick_retries, caplog):
    caplog.set_level(logging.INFO, logger="billing.busy")
    world = build_world()
    draft = world["draft"]
    monkeypatch.setattr(lifecycle, "lock_memo", locked_then(lifecycle.lock_memo, [2]))
    client = Client(raise_request_exception=False)
    client.force_login(world["actor"])
    response = client.post(*web.action(draft, "post"))
    assert response.status_code == 302
    assert Memo.objects.get(pk=draft.pk).status == MemoStatus.POSTED
    assert len([r for r in caplog.records if "retry" in r.getMessage()]) == 2
    counts.add("db faults injected", 2)


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("htmx", [False, True], ids=["page", "htmx"])
def test_an_exhausted_retry_is_a_503_that_changed_nothing(monkeypatch, quick_retries, htmx):
    world = build_world()
    draft = world["draft"]
    monkeypatch.setattr(lifecycle, "lock_memo", locked_then(lifecycle.lock_memo, [99]))
    client = Client(raise_request_exception=False)
    client.force_login(world["actor"])
    before = read_state()
    response = client.post(
        *web.action(draft, "post"), headers={"HX-Request": "true"} if htmx else {}
    )
    assert_busy(response, htmx=htmx)
    assert read_state().fingerprint() == before.fingerprint()
    counts.add("db faults injected", 3)


@pytest.mark.django_db
def test_a_busy_error_inside_a_transaction_is_a_503_without_retrying(monkeypatch, quick_retries):
    """Inside an outer transaction (here the test's) nothing can be retried; still no 500."""
    world = build_world()
    calls = [5]
    monkeypatch.setattr(lifecycle, "lock_memo", locked_then(lifecycle.lock_memo, calls))
    client = Client(raise_request_exception=False)
    client.force_login(world["actor"])
    with transaction.atomic():
        response = client.post(*web.action(world["draft"], "post"))
    assert_busy(response, htmx=False)
    assert calls == [4], "retried inside a transaction"
    counts.add("db faults injected", 1)


@pytest.mark.django_db
def test_other_database_errors_are_not_hidden(monkeypatch):
    def broken(memo):
        raise OperationalError("disk I/O error")

    world = build_world()
    monkeypatch.setattr(lifecycle, "lock_memo", broken)
    client = Client(raise_request_exception=False)
    client.force_login(world["actor"])
    response = client.post(*web.action(world["draft"], "post"))
    assert response.status_code == 500


class FakeCause(Exception):
    def __init__(self, sqlstate):
        super().__init__(sqlstate)
        self.sqlstate = sqlstate


@pytest.mark.parametrize(
    ("sqlstate", "busy_"),
    [("40P01", True), ("40001", True), ("55P03", True), ("23505", False), ("57014", False)],
)
def test_which_errors_are_a_busy_database(sqlstate, busy_):
    error = OperationalError("...")
    error.__cause__ = FakeCause(sqlstate)
    assert busy.is_busy(error) is busy_
    assert busy.is_busy(OperationalError("database is locked"))
    assert not busy.is_busy(ValueError("database is locked"))


def test_the_first_attempt_is_not_delayed():
    assert busy.backoff(1) <= 2 * 0.05 * 2 + 1e-9
    assert INVOICE_DATE < TODAY
