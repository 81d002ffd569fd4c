"""Accounting periods (DOMAIN.md section 1) through their services: periods never overlap, a
Closed period's dates never change and it is never deleted, closing and reopening need "configure
settings" and a reason and are recorded, and a period a document is dated in cannot be deleted.
"""

from __future__ import annotations

import datetime as dt
import threading
import time

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, connection, transaction

from billing import factories as bf
from billing.models import AccountingPeriod, AccountingPeriodEvent, PeriodStatus
from billing.period_services import (
    close_accounting_period,
    create_accounting_period,
    delete_accounting_period,
    reopen_accounting_period,
    update_accounting_period,
)
from memos import factories as mf
from memos.models import Memo, MemoStatus
from memos.services.lifecycle import post_memo

pytestmark = pytest.mark.django_db

Kind = AccountingPeriodEvent.Kind
JUL_1, JUL_15, JUL_31 = dt.date(2026, 7, 1), dt.date(2026, 7, 15), dt.date(2026, 7, 31)


def july(actor, **kwargs) -> AccountingPeriod:
    return create_accounting_period(
        actor=actor,
        name=kwargs.pop("name", "2026-07"),
        start_date=kwargs.pop("start_date", JUL_1),
        end_date=kwargs.pop("end_date", JUL_31),
    )


def closed_july(actor) -> AccountingPeriod:
    return close_accounting_period(period=july(actor), actor=actor, reason="Month end")


def state() -> list[tuple]:
    """Every period as stored, and its history: what a refused change must leave as it was."""
    return [
        list(AccountingPeriod.objects.order_by("pk").values_list()),
        list(AccountingPeriodEvent.objects.order_by("pk").values_list("pk", "kind", "reason")),
    ]


def message(exc: pytest.ExceptionInfo) -> str:
    return " ".join(exc.value.messages)


# --- create and update ---------------------------------------------------------------------------


def test_create_records_who_and_when(billing_admin):
    period = july(billing_admin)
    assert (period.name, period.start_date, period.end_date) == ("2026-07", JUL_1, JUL_31)
    assert period.status == PeriodStatus.OPEN
    (event,) = period.events.all()
    assert (event.kind, event.actor, event.period_name) == (Kind.CREATED, billing_admin, "2026-07")
    assert event.after == {"Name": "2026-07", "Start": "2026-07-01", "End": "2026-07-31"}


@pytest.mark.parametrize(
    "start, end",
    [
        (dt.date(2026, 7, 31), dt.date(2026, 8, 31)),  # shares its last day
        (dt.date(2026, 6, 1), dt.date(2026, 7, 1)),  # shares its first day
        (dt.date(2026, 7, 10), dt.date(2026, 7, 12)),  # inside it
        (dt.date(2026, 6, 1), dt.date(2026, 8, 31)),  # around it
    ],
)
def test_overlapping_period_is_refused_naming_the_other(billing_admin, start, end):
    july(billing_admin)
    before = state()
    with pytest.raises(ValidationError) as exc:
        create_accounting_period(actor=billing_admin, name="Other", start_date=start, end_date=end)
    assert message(exc) == (
        "These dates overlap the accounting period 2026-07 (2026-07-01 to 2026-07-31); "
        "accounting periods never overlap."
    )
    assert state() == before


def test_adjacent_periods_are_fine(billing_admin):
    july(billing_admin)
    june = create_accounting_period(
        actor=billing_admin, name="2026-06", start_date=dt.date(2026, 6, 1), end_date=JUL_1 - ONE
    )
    august = create_accounting_period(
        actor=billing_admin, name="2026-08", start_date=JUL_31 + ONE, end_date=dt.date(2026, 8, 31)
    )
    assert AccountingPeriod.objects.count() == 3
    assert june.end_date < JUL_1 < JUL_31 < august.start_date


ONE = dt.timedelta(days=1)


@pytest.mark.parametrize(
    "fields, field, text",
    [
        ({"end_date": JUL_1 - ONE}, "end_date", "The end date cannot be before the start date."),
        ({"name": "  "}, "name", "Give the period a name."),
    ],
)
def test_create_refuses_a_bad_period(billing_admin, fields, field, text):
    with pytest.raises(ValidationError) as exc:
        july(billing_admin, **fields)
    assert exc.value.message_dict == {field: [text]}
    assert not AccountingPeriod.objects.exists()


def test_names_are_unique(billing_admin):
    july(billing_admin)
    with pytest.raises(ValidationError) as exc:
        july(billing_admin, start_date=dt.date(2027, 7, 1), end_date=dt.date(2027, 7, 31))
    assert exc.value.message_dict == {"name": ["There is already an accounting period 2026-07."]}


def test_update_an_open_period_is_recorded(billing_admin):
    period = july(billing_admin)
    updated = update_accounting_period(
        period=period, actor=billing_admin, name="July", end_date=dt.date(2026, 8, 2)
    )
    assert (updated.name, updated.end_date) == ("July", dt.date(2026, 8, 2))
    event = period.events.get(kind=Kind.UPDATED)
    assert event.actor == billing_admin
    assert event.before == {"Name": "2026-07", "End": "2026-07-31"}
    assert event.after == {"Name": "July", "End": "2026-08-02"}


def test_update_refuses_an_overlap(billing_admin):
    period = july(billing_admin)
    august = create_accounting_period(
        actor=billing_admin, name="2026-08", start_date=JUL_31 + ONE, end_date=dt.date(2026, 8, 31)
    )
    before = state()
    with pytest.raises(ValidationError) as exc:
        update_accounting_period(period=august, actor=billing_admin, start_date=JUL_15)
    assert "overlap the accounting period 2026-07 (2026-07-01 to 2026-07-31)" in message(exc)
    assert state() == before
    # Its own dates are no overlap.
    assert update_accounting_period(period=period, actor=billing_admin, start_date=JUL_1)


def test_the_dates_of_a_closed_period_never_change(billing_admin):
    period = closed_july(billing_admin)
    before = state()
    for change in ({"start_date": JUL_15}, {"end_date": JUL_15}, {"end_date": dt.date(2026, 8, 9)}):
        with pytest.raises(ValidationError) as exc:
            update_accounting_period(period=period, actor=billing_admin, **change)
        assert message(exc) == (
            "2026-07 is Closed: its dates cannot change. Reopen it first (with a reason)."
        )
    assert state() == before
    # Its name may change: no date moves in or out of it.
    renamed = update_accounting_period(period=period, actor=billing_admin, name="July 2026")
    assert renamed.name == "July 2026" and renamed.status == PeriodStatus.CLOSED


def test_the_probe_shrinking_a_closed_period_to_post_into_it_is_refused(billing_admin, operator):
    """The probe: shrink a Closed 2026-07 past the 15th, post a memo dated 2026-07-15, put the
    dates back. The shrink is refused, so the post is too, and nothing changed."""
    period = closed_july(billing_admin)
    memo = mf.MemoFactory(memo_date=JUL_15)
    mf.MemoItemFactory(memo=memo)
    before = state()

    with pytest.raises(ValidationError):
        update_accounting_period(
            period=period, actor=billing_admin, start_date=dt.date(2026, 7, 16)
        )
    with pytest.raises(ValidationError) as exc:
        post_memo(memo=memo, actor=operator)

    assert "is in the closed accounting period 2026-07" in message(exc)
    assert state() == before
    assert Memo.objects.get(pk=memo.pk).status == MemoStatus.DRAFT


def test_period_writes_need_the_configure_settings_permission(billing_admin, operator):
    period = july(billing_admin)
    before = state()
    attempts = [
        lambda: july(operator, name="Other", start_date=dt.date(2027, 1, 1)),
        lambda: update_accounting_period(period=period, actor=operator, name="X"),
        lambda: close_accounting_period(period=period, actor=operator, reason="Month end"),
        lambda: reopen_accounting_period(period=period, actor=operator, reason="Fix"),
        lambda: delete_accounting_period(period=period, actor=operator),
    ]
    for attempt in attempts:
        with pytest.raises(PermissionDenied) as exc:
            attempt()
        assert "configure settings" in str(exc.value)
    assert state() == before


# --- close and reopen ----------------------------------------------------------------------------


def test_close_and_reopen_record_who_when_and_why(billing_admin):
    period = july(billing_admin)
    closed = close_accounting_period(period=period, actor=billing_admin, reason=" Month end ")
    assert closed.status == PeriodStatus.CLOSED
    reopened = reopen_accounting_period(
        period=period, actor=billing_admin, reason="Late invoice from the 30th"
    )
    assert reopened.status == PeriodStatus.OPEN
    events = list(period.events.exclude(kind=Kind.CREATED).order_by("id"))
    assert [(e.kind, e.actor, e.reason) for e in events] == [
        (Kind.CLOSED, billing_admin, "Month end"),
        (Kind.REOPENED, billing_admin, "Late invoice from the 30th"),
    ]
    assert events[0].before == {"Status": "Open"} and events[0].after == {"Status": "Closed"}
    assert all(e.at is not None for e in events)


@pytest.mark.parametrize("reason", ["", "   "])
def test_close_and_reopen_need_a_reason(billing_admin, reason):
    period = july(billing_admin)
    with pytest.raises(ValidationError) as exc:
        close_accounting_period(period=period, actor=billing_admin, reason=reason)
    assert exc.value.message_dict == {"reason": ["Say why 2026-07 is being closed."]}
    period = close_accounting_period(period=period, actor=billing_admin, reason="Month end")
    with pytest.raises(ValidationError) as exc:
        reopen_accounting_period(period=period, actor=billing_admin, reason=reason)
    assert exc.value.message_dict == {"reason": ["Say why 2026-07 is being reopened."]}
    assert AccountingPeriod.objects.get().status == PeriodStatus.CLOSED


def test_close_and_reopen_recheck_the_status_under_the_lock(billing_admin):
    period = july(billing_admin)
    stale = AccountingPeriod.objects.get(pk=period.pk)
    close_accounting_period(period=period, actor=billing_admin, reason="Month end")
    with pytest.raises(ValidationError) as exc:
        close_accounting_period(period=stale, actor=billing_admin, reason="Again")
    assert message(exc) == "2026-07 is already Closed."
    reopen_accounting_period(period=period, actor=billing_admin, reason="Fix")
    with pytest.raises(ValidationError) as exc:
        reopen_accounting_period(period=period, actor=billing_admin, reason="Again")
    assert message(exc) == "2026-07 is already Open."
    assert period.events.filter(kind__in=[Kind.CLOSED, Kind.REOPENED]).count() == 2


def test_a_closed_period_refuses_documents_and_a_reopened_one_takes_them(billing_admin, operator):
    memo = mf.MemoFactory(memo_date=JUL_15)
    mf.MemoItemFactory(memo=memo)
    period = closed_july(billing_admin)
    with pytest.raises(ValidationError):
        post_memo(memo=memo, actor=operator)
    reopen_accounting_period(period=period, actor=billing_admin, reason="Late credit")
    assert post_memo(memo=memo, actor=operator).status == MemoStatus.POSTED


# --- delete --------------------------------------------------------------------------------------


def test_delete_an_open_period_without_documents_keeps_its_history(billing_admin):
    period = july(billing_admin)
    assert delete_accounting_period(period=period, actor=billing_admin) == "2026-07"
    assert not AccountingPeriod.objects.exists()
    created, deleted = AccountingPeriodEvent.objects.order_by("id")
    assert (created.kind, deleted.kind) == (Kind.CREATED, Kind.DELETED)
    assert deleted.period is None and deleted.period_name == "2026-07"
    assert deleted.actor == billing_admin
    assert deleted.before == {"Name": "2026-07", "Start": "2026-07-01", "End": "2026-07-31"}


def test_a_closed_period_cannot_be_deleted(billing_admin):
    period = closed_july(billing_admin)
    before = state()
    with pytest.raises(ValidationError) as exc:
        delete_accounting_period(period=period, actor=billing_admin)
    assert message(exc) == "2026-07 is Closed: a closed accounting period cannot be deleted."
    assert state() == before


@pytest.mark.parametrize(
    "make, text",
    [
        (
            lambda: bf.InvoiceFactory(invoice_date=JUL_31, number="INV00000042"),
            "invoice INV00000042",
        ),
        (lambda: mf.MemoFactory(memo_date=JUL_1, number="CM00000042"), "memo CM00000042"),
        (
            lambda: mf.RefundFactory(
                refund_date=JUL_15,
                number="R-00000042",
                credit_memo__memo_date=dt.date(2026, 6, 1),
            ),
            "refund R-00000042",
        ),
        # Whatever its status: a canceled document still carries its date.
        (
            lambda: mf.MemoFactory(memo_date=JUL_15, number="CM00000043", status="canceled"),
            "memo CM00000043",
        ),
    ],
    ids=["invoice", "memo", "refund", "canceled-memo"],
)
def test_a_period_a_document_is_dated_in_cannot_be_deleted(billing_admin, make, text):
    period = july(billing_admin)
    make()
    before = state()
    with pytest.raises(ValidationError) as exc:
        delete_accounting_period(period=period, actor=billing_admin)
    assert message(exc).startswith(f"2026-07 cannot be deleted: {text} is dated ")
    assert state() == before


def test_documents_outside_the_period_do_not_stop_its_deletion(billing_admin):
    period = july(billing_admin)
    bf.InvoiceFactory(invoice_date=JUL_1 - ONE)
    mf.MemoFactory(memo_date=JUL_31 + ONE)
    delete_accounting_period(period=period, actor=billing_admin)
    assert not AccountingPeriod.objects.exists()


# --- the database's own guarantee (PostgreSQL) ----------------------------------------------------


@pytest.mark.postgres
def test_the_database_refuses_overlapping_periods():
    """Writes that skip the service (a shell, a data fix) still cannot make periods overlap."""
    bf.AccountingPeriodFactory(name="A", start_date=JUL_1, end_date=JUL_31)
    with pytest.raises(IntegrityError, match="accounting_period_no_overlap"), transaction.atomic():
        bf.AccountingPeriodFactory(name="B", start_date=JUL_31, end_date=dt.date(2026, 8, 31))
    bf.AccountingPeriodFactory(name="C", start_date=JUL_31 + ONE, end_date=dt.date(2026, 8, 31))


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_creates_cannot_overlap(billing_admin):
    """The second create checks before the first commits, so only the database can stop it: it
    waits for the first, then is refused with the first one's name."""
    created, release = threading.Event(), threading.Event()
    errors: list[BaseException] = []

    def first():
        try:
            with transaction.atomic():
                july(billing_admin, name="First")
                created.set()
                release.wait(timeout=30)
        except BaseException as exc:
            errors.append(exc)
            created.set()
        finally:
            connection.close()

    thread = threading.Thread(target=first)
    thread.start()
    assert created.wait(timeout=30)
    # Let the first commit only once the second is waiting on the database.
    threading.Timer(0.5, release.set).start()
    started = time.monotonic()
    with pytest.raises(ValidationError) as exc:
        july(billing_admin, name="Second", start_date=JUL_15, end_date=dt.date(2026, 8, 15))
    thread.join(timeout=30)
    assert not errors, errors
    assert time.monotonic() - started >= 0.4, "the second create did not wait for the first"
    assert "overlap the accounting period First (2026-07-01 to 2026-07-31)" in message(exc)
    assert list(AccountingPeriod.objects.values_list("name", flat=True)) == ["First"]
