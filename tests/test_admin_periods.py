"""Accounting periods in the Django admin (DOMAIN.md 1 and 5): every save, delete, close and
reopen goes through billing.period_services, refusals read as sentences, and the history shows.
"""

from __future__ import annotations

import datetime as dt

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.admin.models import LogEntry
from django.contrib.auth.models import Permission
from django.contrib.messages import get_messages
from django.urls import reverse

from billing import factories as bf
from billing.models import AccountingPeriod, AccountingPeriodEvent, PeriodStatus
from billing.period_services import close_accounting_period, create_accounting_period
from memos import factories as mf
from memos.models import Memo, MemoStatus
from tests.test_admin import admin_url, change_url, form_data

pytestmark = pytest.mark.django_db

Kind = AccountingPeriodEvent.Kind
JUL_1, JUL_15, JUL_31 = dt.date(2026, 7, 1), dt.date(2026, 7, 15), dt.date(2026, 7, 31)
CONSTRAINT_NAMES = ("accounting_period_", "constraint", "IntegrityError")


@pytest.fixture
def admin_client(client, superuser):
    client.force_login(superuser)
    return client


def july(actor, name="2026-07", start=JUL_1, end=JUL_31) -> AccountingPeriod:
    return create_accounting_period(actor=actor, name=name, start_date=start, end_date=end)


def closed_july(actor) -> AccountingPeriod:
    return close_accounting_period(period=july(actor), actor=actor, reason="Month end")


def state() -> list:
    return [
        list(AccountingPeriod.objects.order_by("pk").values_list()),
        list(AccountingPeriodEvent.objects.order_by("pk").values_list("pk", "kind")),
        LogEntry.objects.count(),
    ]


def shown_messages(response) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request)]


def page_text(response) -> str:
    return response.content.decode()


def assert_in_words(text: str) -> None:
    for word in CONSTRAINT_NAMES:
        assert word not in text


def action(client, name: str, *periods, **data):
    return client.post(
        admin_url(AccountingPeriod, "changelist"),
        {"action": name, ACTION_CHECKBOX_NAME: [p.pk for p in periods], **data},
    )


# --- the change form ---------------------------------------------------------------------------


def test_status_is_read_only_and_a_closed_periods_dates_too(admin_client, superuser):
    period = july(superuser)
    page = page_text(admin_client.get(change_url(period)))
    assert 'name="status"' not in page
    assert 'name="start_date"' in page and 'name="end_date"' in page

    close_accounting_period(period=period, actor=superuser, reason="Month end")
    page = page_text(admin_client.get(change_url(period)))
    for field in ["status", "start_date", "end_date"]:
        assert f'name="{field}"' not in page
    assert 'name="name"' in page


def test_the_probe_shrinking_a_closed_period_to_post_into_it_is_refused(
    admin_client, superuser, operator
):
    """The probe: shrink a Closed 2026-07 in the admin, post a memo dated 2026-07-15 inside it,
    put the dates back. The dates do not move, so the memo is refused and nothing changed."""
    period = closed_july(superuser)
    memo = mf.MemoFactory(memo_date=JUL_15)
    mf.MemoItemFactory(memo=memo)
    before = state()
    url = change_url(period)
    data = form_data(admin_client.get(url))

    response = admin_client.post(
        url, data | {"start_date": "2026-07-16", "end_date": "2026-07-31", "_save": "Save"}
    )

    assert response.status_code == 302
    period.refresh_from_db()
    assert (period.start_date, period.end_date, period.status) == (
        JUL_1,
        JUL_31,
        PeriodStatus.CLOSED,
    )
    assert AccountingPeriodEvent.objects.filter(kind=Kind.UPDATED).count() == 0
    operator_client = admin_client
    operator_client.force_login(operator)
    response = operator_client.post(reverse("memos:memo_post", args=[memo.number]), follow=True)
    assert "is in the closed accounting period 2026-07" in page_text(response)
    assert Memo.objects.get(pk=memo.pk).status == MemoStatus.DRAFT
    assert state()[:2] == before[:2]


def test_add_goes_through_the_service_and_is_recorded(admin_client, superuser):
    response = admin_client.post(
        admin_url(AccountingPeriod, "add"),
        {"name": "2026-08", "start_date": "2026-08-01", "end_date": "2026-08-31",
         "status": "closed", "_save": "Save"},
    )  # fmt: skip
    assert response.status_code == 302
    period = AccountingPeriod.objects.get(name="2026-08")
    assert period.status == PeriodStatus.OPEN
    (event,) = period.events.all()
    assert (event.kind, event.actor) == (Kind.CREATED, superuser)


def test_editing_an_open_periods_dates_is_recorded(admin_client, superuser):
    period = july(superuser)
    url = change_url(period)
    response = admin_client.post(
        url, form_data(admin_client.get(url)) | {"end_date": "2026-08-02", "_save": "Save"}
    )
    assert response.status_code == 302
    period.refresh_from_db()
    assert period.end_date == dt.date(2026, 8, 2)
    event = period.events.get(kind=Kind.UPDATED)
    assert event.actor == superuser
    assert event.after == {"End": "2026-08-02"}


@pytest.mark.parametrize(
    "fields, text",
    [
        (
            {"name": "Mid July", "start_date": "2026-07-10", "end_date": "2026-08-10"},
            "These dates overlap the accounting period 2026-07 (2026-07-01 to 2026-07-31); "
            "accounting periods never overlap.",
        ),
        (
            {"name": "Backwards", "start_date": "2026-09-30", "end_date": "2026-09-01"},
            "The end date cannot be before the start date.",
        ),
        (
            {"name": "2026-07", "start_date": "2026-09-01", "end_date": "2026-09-30"},
            "There is already an accounting period 2026-07.",
        ),
    ],
    ids=["overlap", "end-before-start", "same-name"],
)
def test_add_refusals_read_as_sentences(admin_client, superuser, fields, text):
    july(superuser)
    before = state()
    response = admin_client.post(admin_url(AccountingPeriod, "add"), fields | {"_save": "Save"})
    assert response.status_code == 200
    page = page_text(response)
    assert text in page
    assert_in_words(page)
    assert state() == before


def test_change_refusals_read_as_sentences(admin_client, superuser):
    july(superuser)
    august = july(superuser, name="2026-08", start=dt.date(2026, 8, 1), end=dt.date(2026, 8, 31))
    before = state()
    url = change_url(august)
    response = admin_client.post(
        url, form_data(admin_client.get(url)) | {"start_date": "2026-07-31", "_save": "Save"}
    )
    assert response.status_code == 200
    assert "overlap the accounting period 2026-07 (2026-07-01 to 2026-07-31)" in page_text(response)
    assert_in_words(page_text(response))
    assert state() == before


def test_a_staff_user_without_configure_settings_is_refused_in_words(client, superuser):
    period = july(superuser)
    staff = bf.UserFactory(username="clerk", is_staff=True)
    staff.user_permissions.set(
        Permission.objects.filter(
            content_type__app_label="billing",
            codename__in=[
                "view_accountingperiod",
                "change_accountingperiod",
                "delete_accountingperiod",
            ],
        )
    )
    client.force_login(staff)
    before = state()
    url = change_url(period)
    response = client.post(
        url, form_data(client.get(url)) | {"name": "Renamed", "_save": "Save"}, follow=True
    )
    assert "You need the “configure settings” permission to change an accounting period." in (
        shown_messages(response)
    )
    response = client.post(admin_url(AccountingPeriod, "delete", period.pk), {"post": "yes"})
    assert state() == before
    # Closing and reopening are not even offered.
    page = page_text(client.get(admin_url(AccountingPeriod, "changelist")))
    assert "close_periods" not in page and "reopen_periods" not in page


# --- close and reopen actions -------------------------------------------------------------------


def test_close_asks_for_a_reason_then_closes_and_records_it(admin_client, superuser):
    period = july(superuser)

    response = action(admin_client, "close_periods", period)
    assert response.status_code == 200
    page = page_text(response)
    assert 'name="reason"' in page and "2026-07" in page
    assert AccountingPeriod.objects.get().status == PeriodStatus.OPEN

    response = action(admin_client, "close_periods", period, apply="Close", reason="")
    assert response.status_code == 200
    assert "This field is required." in page_text(response)
    assert AccountingPeriod.objects.get().status == PeriodStatus.OPEN

    response = action(admin_client, "close_periods", period, apply="Close", reason="Month end")
    assert response.status_code == 302
    assert "Closed 2026-07." in shown_messages(response)
    period.refresh_from_db()
    assert period.status == PeriodStatus.CLOSED
    event = period.events.get(kind=Kind.CLOSED)
    assert (event.actor, event.reason) == (superuser, "Month end")


def test_reopen_records_who_and_why(admin_client, superuser):
    period = closed_july(superuser)
    response = action(admin_client, "reopen_periods", period, apply="Reopen", reason="Late invoice")
    assert response.status_code == 302
    assert "Reopened 2026-07." in shown_messages(response)
    period.refresh_from_db()
    assert period.status == PeriodStatus.OPEN
    event = period.events.get(kind=Kind.REOPENED)
    assert (event.actor, event.reason) == (superuser, "Late invoice")


def test_close_of_an_already_closed_period_says_so(admin_client, superuser):
    closed = closed_july(superuser)
    august = july(superuser, name="2026-08", start=dt.date(2026, 8, 1), end=dt.date(2026, 8, 31))
    response = action(
        admin_client, "close_periods", closed, august, apply="Close", reason="Month end"
    )
    assert shown_messages(response) == ["2026-07 is already Closed.", "Closed 2026-08."]
    assert AccountingPeriod.objects.filter(status=PeriodStatus.CLOSED).count() == 2


def test_the_history_shows_on_the_period(admin_client, superuser):
    period = closed_july(superuser)
    page = page_text(admin_client.get(change_url(period)))
    assert "Month end" in page and "Closed" in page and "Created" in page
    # ...read-only: no inputs for it.
    assert 'name="events-0-reason"' not in page


# --- delete --------------------------------------------------------------------------------------


def test_delete_of_an_open_empty_period_goes_through_the_service(admin_client, superuser):
    period = july(superuser)
    response = admin_client.post(admin_url(AccountingPeriod, "delete", period.pk), {"post": "yes"})
    assert response.status_code == 302
    assert not AccountingPeriod.objects.exists()
    deleted = AccountingPeriodEvent.objects.get(kind=Kind.DELETED)
    assert (deleted.period_name, deleted.actor) == ("2026-07", superuser)


def test_delete_of_a_closed_period_is_refused_in_words(admin_client, superuser):
    period = closed_july(superuser)
    before = state()
    url = admin_url(AccountingPeriod, "delete", period.pk)
    text = "2026-07 is Closed: a closed accounting period cannot be deleted."

    response = admin_client.get(url, follow=True)
    assert response.redirect_chain == [(change_url(period), 302)]
    assert [str(m) for m in response.context["messages"]] == [text]

    response = admin_client.post(url, {"post": "yes"})
    assert response.status_code == 302 and response.url == change_url(period)
    assert shown_messages(response) == [text]
    assert state() == before


def test_delete_of_a_period_a_document_is_dated_in_is_refused(admin_client, superuser):
    period = july(superuser)
    invoice = bf.InvoiceFactory(invoice_date=JUL_15)
    before = state()
    response = admin_client.post(admin_url(AccountingPeriod, "delete", period.pk), {"post": "yes"})
    assert shown_messages(response) == [
        f"2026-07 cannot be deleted: invoice {invoice.number} is dated 2026-07-15 in it."
    ]
    assert state() == before


def test_bulk_delete_goes_through_the_service_one_by_one(admin_client, superuser):
    closed = closed_july(superuser)
    empty = july(superuser, name="2026-08", start=dt.date(2026, 8, 1), end=dt.date(2026, 8, 31))

    response = action(admin_client, "delete_selected", closed, empty)
    assert response.status_code == 200  # Django's confirmation page
    response = action(admin_client, "delete_selected", closed, empty, post="yes")

    assert response.status_code == 302
    assert shown_messages(response) == [
        "2026-07 is Closed: a closed accounting period cannot be deleted.",
        "Deleted 1 accounting period: 2026-08.",
    ]
    assert list(AccountingPeriod.objects.values_list("name", flat=True)) == ["2026-07"]
    assert AccountingPeriodEvent.objects.filter(kind=Kind.DELETED).count() == 1
    assert LogEntry.objects.filter(object_repr="2026-08").count() == 1
    assert not LogEntry.objects.filter(object_repr="2026-07").exists()
