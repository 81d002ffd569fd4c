"""The bill-run pages (DOMAIN.md section 4, UI.md "Long work"): the new-run form, the run's live
panel and tabs, its actions, who may use them, and the queries they cost."""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from billing.factories import (
    AccountFactory,
    AccountingPeriodFactory,
    BillRunErrorFactory,
    BillRunFactory,
    InvoiceFactory,
    SubscriptionChargeFactory,
)
from billing.models import BillRun, BillRunScope, BillRunStatus, InvoiceStatus, PeriodStatus
from memos.models import MemoStatus

pytestmark = pytest.mark.django_db

INVOICE_DATE = dt.date(2026, 11, 1)
NEW_URL = reverse("billing:bill_run_new")
LIST_URL = reverse("billing:bill_run_list")
HTMX = {"HX-Request": "true"}


def billable_account(price: str = "50", **kwargs):
    """An account with a monthly charge from October: a target date of Nov 1 bills two months
    (USD 110.00 with 10% tax at 50; a credit memo of USD 176.00 at -80)."""
    account = AccountFactory(**kwargs)
    SubscriptionChargeFactory(
        subscription__account=account,
        subscription__start_date=dt.date(2026, 10, 1),
        price=Decimal(price),
    )
    return account


def form_data(**overrides) -> dict:
    data = {
        "name": "November",
        "scope": "all",
        "batch": "",
        "bill_cycle_day": "",
        "account": "",
        "invoice_date": "2026-11-01",
        "target_date": "2026-11-01",
        "include_one_time": "on",
        "include_recurring": "on",
        "include_usage": "on",
    }
    data.update(overrides)
    return {key: value for key, value in data.items() if value is not None}


def action_url(name: str, run: BillRun) -> str:
    return reverse(f"billing:bill_run_{name}", args=[run.number])


def live(client, run: BillRun, **params):
    """The polling request the live panel sends."""
    return client.get(
        run.get_absolute_url(), params, headers={**HTMX, "HX-Target": "bill-run-live"}
    )


def completed_run(django_capture_on_commit_callbacks, **kwargs) -> BillRun:
    """A real run (the engine billed it): one invoice and one credit memo, in USD."""
    from billing.bill_runs.services import create_bill_run

    billable_account()
    billable_account(price="-80")
    with django_capture_on_commit_callbacks(execute=True):
        run = create_bill_run(
            actor=None, invoice_date=INVOICE_DATE, target_date=INVOICE_DATE, **kwargs
        )
    run.refresh_from_db()
    assert run.status == BillRunStatus.COMPLETED
    return run


@pytest.fixture
def admin_client(client, billing_admin):
    client.force_login(billing_admin)
    return client


@pytest.fixture
def viewer_client(client, viewer):
    client.force_login(viewer)
    return client


# --- the new-run form ---------------------------------------------------------------------------


def test_the_form_starts_with_todays_dates_all_accounts_and_every_charge_type(operator_client):
    from django.utils import timezone

    response = operator_client.get(NEW_URL)
    assert response.status_code == 200
    content = response.content.decode()
    today = timezone.localdate().isoformat()
    assert f'name="invoice_date" id="id_invoice_date" value="{today}"' in content
    assert f'name="target_date" id="id_target_date" value="{today}"' in content
    assert re.search(r'id="id_scope_all" value="all"\s+checked', content)
    for name in ("include_one_time", "include_recurring", "include_usage"):
        assert re.search(rf'name="{name}" id="id_{name}"\s+checked', content), name
    assert not re.search(r'name="auto_post" id="id_auto_post"\s+checked', content)
    assert 'list="account-options"' in content
    for n in (1, 50):
        assert f'<option value="Batch{n}">Batch{n}</option>' in content


def test_a_valid_form_creates_a_pending_run_and_goes_to_its_page(operator_client, operator):
    billable_account()
    response = operator_client.post(NEW_URL, form_data())
    run = BillRun.objects.get()
    assert response.status_code == 302
    assert response.url == run.get_absolute_url()
    assert run.status == BillRunStatus.PENDING  # its task starts when the transaction commits
    assert (run.name, run.invoice_date, run.target_date) == ("November", INVOICE_DATE, INVOICE_DATE)
    assert run.scope == BillRunScope.ALL and run.created_by == operator
    assert not run.auto_post
    page = operator_client.get(response.url).content.decode()
    assert f"{run.number} was created" in page


def test_the_created_run_completes_with_invoices(
    operator_client, django_capture_on_commit_callbacks
):
    accounts = [billable_account() for _ in range(3)]
    with django_capture_on_commit_callbacks(execute=True):
        response = operator_client.post(NEW_URL, form_data())
    response = operator_client.get(response.url)
    run = BillRun.objects.get()
    assert run.status == BillRunStatus.COMPLETED
    assert run.accounts_in_scope == run.accounts_processed == 3
    assert run.invoices_generated == 3
    assert {i.account for i in run.invoices.all()} == set(accounts)
    content = response.content.decode()
    assert 'id="count-invoices">3<' in content
    assert "3 of 3 accounts" in content
    assert 'hx-trigger="every' not in content


def test_auto_post_posts_the_run_when_it_completes(
    operator_client, django_capture_on_commit_callbacks
):
    billable_account()
    with django_capture_on_commit_callbacks(execute=True):
        operator_client.post(NEW_URL, form_data(auto_post="on"))
    run = BillRun.objects.get()
    assert run.auto_post and run.status == BillRunStatus.POSTED
    assert run.invoices.get().status == InvoiceStatus.POSTED


def test_a_single_account_run_bills_only_that_account(
    operator_client, django_capture_on_commit_callbacks
):
    chosen = billable_account(name="Chosen Ltd")
    billable_account()
    with django_capture_on_commit_callbacks(execute=True):
        # What the search list fills in: the number, maybe followed by the name.
        operator_client.post(
            NEW_URL, form_data(scope="account", account=f"{chosen.number} Chosen Ltd")
        )
    run = BillRun.objects.get()
    assert run.scope == BillRunScope.ACCOUNT and run.account == chosen
    assert [invoice.account for invoice in run.invoices.all()] == [chosen]


def test_a_batch_run_keeps_batch_and_bill_cycle_day(operator_client):
    operator_client.post(NEW_URL, form_data(scope="batch", batch="Batch7", bill_cycle_day="15"))
    run = BillRun.objects.get()
    assert (run.scope, run.batch, run.bill_cycle_day) == (BillRunScope.BATCH, "Batch7", 15)


def test_fields_of_another_scope_are_ignored(operator_client):
    # Left over from switching scope: hidden on the page, so never an error or a setting.
    operator_client.post(
        NEW_URL, form_data(scope="all", batch="Batch99", bill_cycle_day="x", account="nobody")
    )
    run = BillRun.objects.get()
    assert (run.scope, run.batch, run.bill_cycle_day, run.account) == ("all", "", None, None)


@pytest.mark.parametrize(
    ("overrides", "field", "message"),
    [
        ({"invoice_date": ""}, "invoice_date", "Enter the invoice date."),
        ({"target_date": ""}, "target_date", "Enter the target date."),
        ({"invoice_date": "2026-02-30"}, "invoice_date", "Enter a valid date."),
        (
            {"include_one_time": None, "include_recurring": None, "include_usage": None},
            "include_recurring",
            "Include at least one charge type.",
        ),
        ({"scope": "account"}, "account", "Choose the account to bill."),
        ({"scope": "account", "account": "A99999999"}, "account", "Choose an account from"),
        ({"scope": "batch"}, "batch", "Choose a batch, a bill cycle day, or both."),
        ({"scope": "batch", "bill_cycle_day": "32"}, "bill_cycle_day", "A bill cycle day is 1"),
        ({"scope": "retry"}, "scope", "Select a valid choice."),
    ],
)
def test_invalid_input_shows_the_error_beside_the_field_and_creates_nothing(
    operator_client, overrides, field, message
):
    response = operator_client.post(NEW_URL, form_data(**overrides))
    assert response.status_code == 200
    assert not BillRun.objects.exists()
    form = response.context["form"]
    assert any(message in error for error in form.errors[field]), form.errors
    assert message in response.content.decode()
    # Nothing typed is lost.
    assert 'value="November"' in response.content.decode()


def test_an_invoice_date_in_a_closed_period_is_refused(operator_client):
    AccountingPeriodFactory(
        name="Oct-Nov 2026",
        start_date=dt.date(2026, 10, 1),
        end_date=dt.date(2026, 11, 30),
        status=PeriodStatus.CLOSED,
    )
    response = operator_client.post(NEW_URL, form_data())
    assert response.status_code == 200
    assert not BillRun.objects.exists()
    errors = response.context["form"].errors["invoice_date"]
    assert errors == [
        "Invoice date 2026-11-01 is in the closed accounting period Oct-Nov 2026 "
        "(2026-10-01 to 2026-11-30)."
    ]
    content = response.content.decode()
    assert "is in the closed accounting period Oct-Nov 2026" in content
    assert 'id="id_invoice_date" value="2026-11-01"' in content


def test_the_charge_type_error_sits_under_the_charge_types(operator_client):
    response = operator_client.post(
        NEW_URL, form_data(include_one_time=None, include_recurring=None, include_usage=None)
    )
    content = response.content.decode()
    errors = content.split('id="charge-types-errors"')[1].split("</div></div>")[0]
    assert "Include at least one charge type." in errors
    assert content.count("Include at least one charge type.") == 1


def test_the_account_search_lists_matching_accounts(operator_client):
    acme = AccountFactory(name="Acme Widgets")
    AccountFactory(name="Globex")
    response = operator_client.get(
        NEW_URL,
        {"account": "acme"},
        headers={**HTMX, "HX-Trigger-Name": "account", "HX-Target": "account-options"},
    )
    content = response.content.decode()
    assert content.strip().startswith('<datalist id="account-options">')
    assert f'<option value="{acme.number}">Acme Widgets (USD' in content
    assert "Globex" not in content
    assert "HX-Request" in response["Vary"]
    by_number = operator_client.get(
        NEW_URL, {"account": acme.number}, headers={**HTMX, "HX-Trigger-Name": "account"}
    )
    assert acme.number in by_number.content.decode()


def test_an_account_in_the_url_preselects_single_account_scope(operator_client):
    account = AccountFactory()
    content = operator_client.get(NEW_URL, {"account": account.number}).content.decode()
    assert re.search(r'id="id_scope_account" value="account"\s+checked', content)
    assert f'value="{account.number}"' in content


def test_htmx_submit_answers_with_a_client_redirect(operator_client):
    response = operator_client.post(NEW_URL, form_data(), headers=HTMX)
    assert response["HX-Redirect"] == BillRun.objects.get().get_absolute_url()


# --- the run's page and its live panel ----------------------------------------------------------


def test_the_page_shows_settings_counts_totals_and_duration(
    viewer_client, django_capture_on_commit_callbacks
):
    run = completed_run(django_capture_on_commit_callbacks)
    response = viewer_client.get(run.get_absolute_url())
    assert response.status_code == 200
    content = response.content.decode()
    assert 'id="bill-run-status" data-status="completed"' in content
    assert "<dt>Invoice Date</dt><dd>2026-11-01</dd>" in content
    assert "<dt>Scope</dt><dd>All accounts</dd>" in content
    assert "<dt>Charge types</dt><dd>One-time, Recurring, Usage</dd>" in content
    assert 'role="progressbar"' in content
    assert 'aria-valuenow="2" aria-valuemin="0" aria-valuemax="2"' in content
    assert "2 of 2 accounts" in content
    for count_id, value in [
        ("count-accounts-in-scope", 2),
        ("count-accounts-processed", 2),
        ("count-accounts-failed", 0),
        ("count-invoices", 1),
        ("count-credit-memos", 1),
        ("count-zero-total-invoices", 0),
    ]:
        assert f'id="{count_id}">{value}<' in content, count_id
    totals = content.split('id="bill-run-totals"')[1].split("</table>")[0]
    assert '<th scope="row">USD</th>' in totals
    assert "110.00" in totals and "176.00" in totals
    assert re.search(
        r'<dt>Duration</dt><dd class="num text-start" id="bill-run-duration">\d', content
    )
    assert 'hx-trigger="every' not in content


def test_a_processing_run_polls_every_two_seconds(viewer_client):
    run = BillRunFactory(
        status=BillRunStatus.PROCESSING,
        accounts_in_scope=10,
        accounts_processed=3,
        accounts_failed=1,
        started_at=dt.datetime(2026, 11, 1, tzinfo=dt.UTC),
    )
    page = viewer_client.get(run.get_absolute_url()).content.decode()
    assert 'hx-trigger="every 2s"' in page
    assert f'hx-get="{run.get_absolute_url()}?seen=processing"' in page
    assert "<dt>Elapsed</dt>" in page

    response = live(viewer_client, run, seen="processing")
    assert response.status_code == 200
    assert "HX-Refresh" not in response
    assert "HX-Request" in response["Vary"]
    panel = response.content.decode()
    assert "<html" not in panel and 'id="bill-run-tabs"' not in panel
    assert panel.strip().startswith('<section class="card card-body mb-3" id="bill-run-live"')
    assert 'hx-trigger="every 2s"' in panel and 'hx-swap="outerHTML"' in panel
    assert 'aria-valuenow="4" aria-valuemin="0" aria-valuemax="10"' in panel
    assert "4 of 10 accounts" in panel
    assert 'data-progress="40"' in panel
    # The tab counts follow out of band.
    assert '<span id="tab-count-errors" hx-swap-oob="true">1</span>' in panel
    # The progress in words, into the live region that stays (the panel itself is replaced).
    assert (
        '<p id="bill-run-announcer" hx-swap-oob="innerHTML">Processing: 4 of 10 accounts done, '
        "1 failed.</p>"
    ) in panel
    assert 'id="bill-run-announcer" role="status" aria-live="polite">Processing: 4 of 10' in page


def test_polling_stops_and_the_page_reloads_once_the_status_changed(viewer_client):
    run = BillRunFactory(status=BillRunStatus.PROCESSING, accounts_in_scope=2)
    assert 'hx-trigger="every 2s"' in live(viewer_client, run, seen="pending").content.decode()
    assert live(viewer_client, run, seen="pending")["HX-Refresh"] == "true"

    BillRun.objects.filter(pk=run.pk).update(
        status=BillRunStatus.COMPLETED, accounts_processed=2, invoices_generated=2
    )
    response = live(viewer_client, run, seen="processing")
    assert response["HX-Refresh"] == "true"
    panel = response.content.decode()
    assert "hx-trigger" not in panel and "hx-get" not in panel.split(">")[0]
    assert 'data-running="false"' in panel
    assert "2 of 2 accounts" in panel
    page = viewer_client.get(run.get_absolute_url()).content.decode()
    assert 'hx-trigger="every' not in page


@pytest.mark.parametrize(
    "status",
    [BillRunStatus.PENDING, BillRunStatus.POST_IN_PROGRESS, BillRunStatus.CANCEL_IN_PROGRESS],
)
def test_every_running_status_polls(viewer_client, status):
    run = BillRunFactory(status=status)
    assert 'hx-trigger="every 2s"' in live(viewer_client, run).content.decode()


@pytest.mark.parametrize(
    "status",
    [BillRunStatus.COMPLETED, BillRunStatus.ERROR, BillRunStatus.CANCELED, BillRunStatus.POSTED],
)
def test_a_finished_run_does_not_poll(viewer_client, status):
    run = BillRunFactory(status=status)
    assert "hx-trigger" not in live(viewer_client, run).content.decode()
    assert "hx-trigger" not in live(viewer_client, run, seen=status).content.decode()


def test_the_run_message_is_shown(viewer_client):
    run = BillRunFactory(message="Not posted: Invoice date 2026-11-01 is in a closed period.")
    content = viewer_client.get(run.get_absolute_url()).content.decode()
    assert 'id="bill-run-message">Not posted: Invoice date 2026-11-01' in content


def test_a_pending_run_says_it_waits(viewer_client):
    run = BillRunFactory(status=BillRunStatus.PENDING)
    content = viewer_client.get(run.get_absolute_url()).content.decode()
    assert "Waiting to start" in content
    assert 'id="bill-run-duration">Not started<' in content


# --- tabs ---------------------------------------------------------------------------------------


def test_tabs_list_the_generated_documents_and_errors(
    viewer_client, django_capture_on_commit_callbacks
):
    run = completed_run(django_capture_on_commit_callbacks)
    invoice, memo = run.invoices.get(), run.credit_memos.get()
    failed = AccountFactory(name="Broken Co")
    BillRunErrorFactory(bill_run=run, account=failed, reason="No price in EUR")
    BillRun.objects.filter(pk=run.pk).update(accounts_failed=1)
    url = run.get_absolute_url()

    page = viewer_client.get(url).content.decode()
    assert 'id="tab-invoices"' in page and 'aria-current="page"' in page
    assert 'Invoices (<span id="tab-count-invoices">1</span>)' in page
    assert 'Credit memos (<span id="tab-count-credit_memos">1</span>)' in page
    assert 'Errors (<span id="tab-count-errors">1</span>)' in page
    panel = page.split('id="bill-run-tab-panel"')[1]
    assert f'<a href="{invoice.get_absolute_url()}">{invoice.number}</a>' in panel
    assert invoice.account.number in panel and "110.00" in panel
    assert memo.number not in panel

    memos = viewer_client.get(url, {"tab": "credit_memos"}).content.decode()
    panel = memos.split('id="bill-run-tab-panel"')[1]
    assert f'<a href="{memo.get_absolute_url()}">{memo.number}</a>' in panel
    assert "176.00" in panel and invoice.number not in panel

    # A tab link swaps only the tabs in place (and pushes ?tab= to the address bar).
    response = viewer_client.get(
        url, {"tab": "errors"}, headers={**HTMX, "HX-Target": "bill-run-tabs"}
    )
    errors = response.content.decode()
    assert errors.strip().startswith('<section class="mb-4" id="bill-run-tabs"')
    assert 'id="bill-run-live"' not in errors
    assert f'<a href="{failed.get_absolute_url()}">{failed.number}</a>' in errors
    assert "No price in EUR" in errors
    assert 'hx-push-url="true"' in errors


def test_an_unknown_tab_shows_the_invoices(viewer_client):
    run = BillRunFactory()
    response = viewer_client.get(run.get_absolute_url(), {"tab": "bogus"})
    assert response.context["tab"] == "invoices"


def test_a_tab_shows_fifty_rows_and_says_how_many_there_are(viewer_client):
    run = BillRunFactory(invoices_generated=55)
    account = AccountFactory()
    for _ in range(55):
        InvoiceFactory(bill_run=run, account=account, status=InvoiceStatus.DRAFT)
    response = viewer_client.get(run.get_absolute_url())
    assert len(response.context["tab_rows"]) == 50
    assert "Showing the first 50 of 55." in response.content.decode()


# --- queries ------------------------------------------------------------------------------------


def count_queries(client, url: str, headers: dict) -> int:
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url, headers=headers)
    assert response.status_code == 200
    return len(captured)


@pytest.mark.parametrize(
    "headers",
    [{}, {**HTMX, "HX-Target": "bill-run-live"}, {**HTMX, "HX-Target": "bill-run-tabs"}],
    ids=["page", "live", "tabs"],
)
def test_queries_do_not_grow_with_the_documents(operator_client, headers):
    run = BillRunFactory(status=BillRunStatus.PROCESSING, accounts_in_scope=20)
    url = run.get_absolute_url() + "?seen=processing"

    def add_invoices(count: int) -> None:
        for _ in range(count):
            InvoiceFactory(bill_run=run, account=AccountFactory(), status=InvoiceStatus.DRAFT)
        BillRun.objects.filter(pk=run.pk).update(
            invoices_generated=run.invoices.count(), accounts_processed=run.invoices.count()
        )

    add_invoices(1)
    operator_client.get(url, headers=headers)  # warm up: session, content types
    one = count_queries(operator_client, url, headers)
    add_invoices(19)
    assert count_queries(operator_client, url, headers) == one


# --- actions ------------------------------------------------------------------------------------


def test_a_completed_run_offers_post_and_cancel_with_what_they_do(
    operator_client, django_capture_on_commit_callbacks
):
    run = completed_run(django_capture_on_commit_callbacks)
    content = operator_client.get(run.get_absolute_url()).content.decode()
    assert 'id="bill-run-post"' in content and 'id="bill-run-cancel"' in content
    assert 'id="bill-run-delete"' not in content and 'id="bill-run-retry"' not in content
    assert f'action="{action_url("post", run)}"' in content
    assert (
        f"Post 1 invoice and 1 credit memo of {run.number}? Posted documents cannot be changed."
    ) in content
    # The dialog's table: per currency, how many of each and their totals; the danger style.
    post = " ".join(content.split('id="confirm-post"')[1].split("</form>")[0].split())
    assert (
        '<tr><th scope="row">USD</th> <td class="num">1</td> <td class="num">110.00</td> '
        '<td class="num">1</td> <td class="num">176.00</td></tr>'
    ) in post
    assert 'class="btn btn-danger">Post</button>' in post
    assert f"Cancel {run.number}: its draft documents (1 invoice and 1 credit memo)" in content


@pytest.mark.parametrize(
    ("status", "failed", "expected"),
    [
        (BillRunStatus.PENDING, 0, {"cancel"}),
        (BillRunStatus.PROCESSING, 0, set()),
        (BillRunStatus.COMPLETED, 0, {"post", "cancel"}),
        (BillRunStatus.COMPLETED, 2, {"post", "cancel", "retry"}),
        (BillRunStatus.POST_IN_PROGRESS, 0, set()),
        (BillRunStatus.POSTED, 0, set()),
        (BillRunStatus.POSTED, 1, {"retry"}),
        (BillRunStatus.ERROR, 3, {"delete", "retry"}),
        (BillRunStatus.CANCELED, 0, {"delete"}),
    ],
)
def test_the_page_shows_the_actions_the_state_allows(
    client, operator, viewer, status, failed, expected
):
    run = BillRunFactory(status=status, accounts_failed=failed)
    client.force_login(operator)
    content = client.get(run.get_absolute_url()).content.decode()
    shown = {
        name for name in ("post", "cancel", "delete", "retry") if f"#confirm-{name}" in content
    }
    assert shown == expected
    for name in expected:
        assert f'id="bill-run-{name}"' in content and f'id="confirm-{name}"' in content
    client.force_login(viewer)
    content = client.get(run.get_absolute_url()).content.decode()
    assert 'data-testid="bill-run-actions"' not in content


def test_post_posts_the_documents(operator_client, django_capture_on_commit_callbacks):
    run = completed_run(django_capture_on_commit_callbacks)
    with django_capture_on_commit_callbacks(execute=True):
        response = operator_client.post(action_url("post", run))
    assert response.status_code == 302 and response.url == run.get_absolute_url()
    run.refresh_from_db()
    assert run.status == BillRunStatus.POSTED
    assert run.invoices.get().status == InvoiceStatus.POSTED
    assert run.credit_memos.get().status == MemoStatus.POSTED
    page = operator_client.get(response.url).content.decode()
    assert f"{run.number} is being posted." in page


def test_post_is_refused_unless_completed(operator_client):
    run = BillRunFactory(status=BillRunStatus.PENDING)
    response = operator_client.post(action_url("post", run), follow=True)
    run.refresh_from_db()
    assert run.status == BillRunStatus.PENDING
    assert f"{run.number} is Pending: only Completed runs can be posted." in (
        response.content.decode()
    )


def test_cancel_a_pending_run(operator_client):
    run = BillRunFactory(status=BillRunStatus.PENDING)
    response = operator_client.post(action_url("cancel", run), follow=True)
    run.refresh_from_db()
    assert run.status == BillRunStatus.CANCELED
    assert f"{run.number} was canceled." in response.content.decode()


def test_cancel_a_completed_run_cancels_its_drafts(
    operator_client, django_capture_on_commit_callbacks
):
    run = completed_run(django_capture_on_commit_callbacks)
    with django_capture_on_commit_callbacks(execute=True):
        operator_client.post(action_url("cancel", run))
    run.refresh_from_db()
    assert run.status == BillRunStatus.CANCELED
    assert run.invoices.get().status == InvoiceStatus.CANCELED
    assert run.credit_memos.get().status == MemoStatus.CANCELED


def test_cancel_is_refused_once_a_document_is_posted(
    operator_client, django_capture_on_commit_callbacks
):
    run = completed_run(django_capture_on_commit_callbacks)
    run.invoices.update(status=InvoiceStatus.POSTED)
    with django_capture_on_commit_callbacks(execute=True):
        response = operator_client.post(action_url("cancel", run), follow=True)
    run.refresh_from_db()
    assert run.status == BillRunStatus.COMPLETED
    assert run.credit_memos.get().status == MemoStatus.DRAFT
    content = response.content.decode()
    assert f"{run.number} has posted documents, so it cannot be canceled." in content
    assert "alert-danger" in content


def test_delete_a_canceled_run_goes_to_the_list(operator_client):
    run = BillRunFactory(status=BillRunStatus.CANCELED)
    response = operator_client.post(action_url("delete", run))
    assert response.status_code == 302 and response.url == LIST_URL
    assert not BillRun.objects.filter(pk=run.pk).exists()
    assert f"{run.number} was deleted." in operator_client.get(LIST_URL).content.decode()


def test_delete_is_refused_unless_canceled_or_error(operator_client):
    run = BillRunFactory(status=BillRunStatus.COMPLETED)
    response = operator_client.post(action_url("delete", run), follow=True)
    assert BillRun.objects.filter(pk=run.pk, status=BillRunStatus.COMPLETED).exists()
    assert "only Canceled or Error runs can be deleted" in response.content.decode()


def test_retry_starts_a_run_for_the_failed_accounts(
    operator_client, django_capture_on_commit_callbacks
):
    failed = billable_account()
    run = BillRunFactory(
        status=BillRunStatus.COMPLETED, invoice_date=INVOICE_DATE, target_date=INVOICE_DATE
    )
    BillRunErrorFactory(bill_run=run, account=failed)
    billable_account()  # billable, but it did not fail: not retried
    with django_capture_on_commit_callbacks(execute=True):
        response = operator_client.post(action_url("retry", run))
    retry = BillRun.objects.exclude(pk=run.pk).get()
    assert response.status_code == 302 and response.url == retry.get_absolute_url()
    assert retry.scope == BillRunScope.RETRY and retry.retry_of == run
    assert retry.status == BillRunStatus.COMPLETED
    assert [invoice.account for invoice in retry.invoices.all()] == [failed]
    page = operator_client.get(response.url).content.decode()
    assert f"{retry.number} was created to retry the failed accounts of {run.number}." in page
    assert f'Failed accounts of <a href="{run.get_absolute_url()}">{run.number}</a>' in page


def test_retry_is_refused_without_failed_accounts(operator_client):
    run = BillRunFactory(status=BillRunStatus.COMPLETED)
    response = operator_client.post(action_url("retry", run), follow=True)
    assert BillRun.objects.count() == 1
    assert "There are no failed accounts to retry." in response.content.decode()


@pytest.mark.parametrize("name", ["post", "cancel", "delete", "retry"])
def test_actions_are_post_only(operator_client, name):
    run = BillRunFactory(status=BillRunStatus.CANCELED)
    assert operator_client.get(action_url(name, run)).status_code == 405
    assert BillRun.objects.filter(pk=run.pk, status=BillRunStatus.CANCELED).exists()


def test_an_htmx_action_answers_with_a_client_redirect(operator_client):
    run = BillRunFactory(status=BillRunStatus.PENDING)
    response = operator_client.post(action_url("cancel", run), headers=HTMX)
    assert response["HX-Redirect"] == run.get_absolute_url()
    refused = operator_client.post(action_url("post", run), headers=HTMX)
    assert refused["HX-Redirect"] == run.get_absolute_url()


# --- who may do what ----------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["viewer", "reviewer", "no_role_user"])
def test_only_operators_and_admins_manage_bill_runs(client, request, role):
    client.force_login(request.getfixturevalue(role))
    billable_account()
    assert client.get(NEW_URL).status_code == 403
    assert client.post(NEW_URL, form_data()).status_code == 403
    assert not BillRun.objects.exists()
    for name, status in [
        ("post", BillRunStatus.COMPLETED),
        ("cancel", BillRunStatus.PENDING),
        ("delete", BillRunStatus.CANCELED),
        ("retry", BillRunStatus.COMPLETED),
    ]:
        run = BillRunFactory(status=status)
        BillRunErrorFactory(bill_run=run)
        assert client.post(action_url(name, run)).status_code == 403, name
        assert BillRun.objects.filter(pk=run.pk, status=status).exists(), name
    assert BillRun.objects.count() == 4


@pytest.mark.parametrize("role", ["operator", "billing_admin"])
def test_operators_and_admins_create_and_cancel(client, request, role):
    client.force_login(request.getfixturevalue(role))
    assert client.get(NEW_URL).status_code == 200
    assert client.post(NEW_URL, form_data()).status_code == 302
    run = BillRun.objects.get()
    assert client.post(action_url("cancel", run)).status_code == 302
    run.refresh_from_db()
    assert run.status == BillRunStatus.CANCELED
    assert client.post(action_url("delete", run)).status_code == 302
    assert not BillRun.objects.exists()


def test_anonymous_htmx_requests_get_a_client_redirect_to_sign_in(client):
    run = BillRunFactory(status=BillRunStatus.PROCESSING)
    for url in (NEW_URL, run.get_absolute_url() + "?seen=processing"):
        response = client.get(url, headers={**HTMX, "HX-Target": "bill-run-live"})
        assert response.status_code == 200
        assert response["HX-Redirect"].startswith(reverse("login") + "?next=")
        assert b"<form" not in response.content
    response = client.post(action_url("cancel", run), headers=HTMX)
    assert response["HX-Redirect"].startswith(reverse("login"))


def test_the_list_offers_a_new_bill_run_only_to_who_may_create_one(client, operator, viewer):
    client.force_login(operator)
    assert 'id="new-bill-run"' in client.get(LIST_URL).content.decode()
    client.force_login(viewer)
    assert 'id="new-bill-run"' not in client.get(LIST_URL).content.decode()


# --- the list and the home page -----------------------------------------------------------------


def test_the_list_shows_each_run_with_its_scope_and_counts(viewer_client):
    account = AccountFactory()
    BillRunFactory(
        scope=BillRunScope.ACCOUNT,
        account=account,
        accounts_in_scope=1,
        accounts_processed=1,
        invoices_generated=1,
    )
    BillRunFactory(scope=BillRunScope.BATCH, batch="Batch3", bill_cycle_day=15)
    content = viewer_client.get(LIST_URL).content.decode()
    assert f'<a href="{account.get_absolute_url()}">{account.number}</a>' in content
    assert "Batch3 · Bill cycle day 15" in content
    for header in ("Accounts in scope", "Accounts processed", "Accounts failed", "Target Date"):
        assert header in content


def test_the_list_filters_by_target_date_and_scope(viewer_client):
    early = BillRunFactory(target_date=dt.date(2026, 9, 1))
    late = BillRunFactory(target_date=dt.date(2026, 12, 1), scope=BillRunScope.BATCH, batch="B")
    by_date = viewer_client.get(LIST_URL, {"target_date_before": "2026-10-01"})
    assert [run.number for run in by_date.context["rows"]] == [early.number]
    by_scope = viewer_client.get(LIST_URL, {"scope": "batch"})
    assert [run.number for run in by_scope.context["rows"]] == [late.number]


def test_home_lists_running_bill_runs(viewer_client):
    running = BillRunFactory(status=BillRunStatus.PROCESSING, accounts_in_scope=9)
    done = BillRunFactory(status=BillRunStatus.COMPLETED)
    content = viewer_client.get("/").content.decode()
    assert running.number in content and "0 of 9 accounts" in content
    assert done.number not in content
