"""The memo header edit page (DOMAIN.md 2.4): what it shows, what it changes, who may use it."""

import datetime as dt
import re
from decimal import Decimal

import pytest
from django.urls import reverse

from billing.factories import TODAY, AccountingPeriodFactory, InvoiceFactory
from billing.models import PeriodStatus
from memos.factories import MemoFactory, MemoItemFactory
from memos.models import (
    Memo,
    MemoEvent,
    MemoSource,
    MemoStatus,
    MemoType,
    ReasonCode,
    ReasonCodeType,
)

pytestmark = pytest.mark.django_db

FLAGS = ["auto_pay", "apply_to_invoice_on_post", "exclude_from_auto_apply"]


def edit_url(memo) -> str:
    return reverse("memos:memo_edit", args=[memo.number])


def from_invoice(memo_type=MemoType.CREDIT, **kwargs) -> Memo:
    invoice = InvoiceFactory(invoice_date=TODAY)
    memo = MemoFactory(
        memo_type=memo_type,
        account=invoice.account,
        invoice=invoice,
        source=MemoSource.INVOICE,
        **kwargs,
    )
    MemoItemFactory(memo=memo)
    return memo


def fields(html: str) -> set[str]:
    """The names of the form's inputs (csrf aside)."""
    form = html.split('id="memo-edit-form"')[1].split("</form>")[0]
    return set(re.findall(r'name="([a-z_]+)"', form)) - {"csrfmiddlewaretoken"}


def beside(html: str, name: str) -> str:
    """The markup of one field: its label, input, help and errors."""
    start = html.index(f'for="id_{name}"')
    end = min(i for i in (html.find("<label", start + 1), html.find("</form>", start)) if i > 0)
    return html[start:end]


def updates(memo) -> list[MemoEvent]:
    return list(memo.events.filter(kind=MemoEvent.Kind.UPDATED))


# --- comments, memo date ----------------------------------------------------------------------


def test_operator_edits_the_comments_of_a_posted_memo(operator_client, operator):
    memo = MemoFactory(status=MemoStatus.POSTED, comments="Old note")
    html = operator_client.get(edit_url(memo)).content.decode()
    assert fields(html) == {"comments", "exclude_from_auto_apply"}
    assert "Old note" in html and "<title>Edit " + memo.number in html
    response = operator_client.post(edit_url(memo), {"comments": "Customer called\r\nagain"})
    assert response.status_code == 302 and response.url == memo.get_absolute_url()
    memo.refresh_from_db()
    assert memo.comments == "Customer called\nagain"
    (event,) = updates(memo)
    assert event.actor == operator
    assert event.before == {"Comments": "Old note"}
    assert event.after == {"Comments": "Customer called\nagain"}
    page = operator_client.get(memo.get_absolute_url()).content.decode()
    assert f"{memo.number} was updated." in page


def test_sending_the_form_back_unchanged_changes_nothing(operator_client):
    memo = MemoFactory(status=MemoStatus.POSTED, comments="Line one\nLine two")
    response = operator_client.post(
        edit_url(memo), {"comments": "Line one\r\nLine two"}, follow=True
    )
    assert "Nothing changed." in response.content.decode()
    assert updates(memo) == []


def test_operator_changes_the_memo_date_of_a_draft(operator_client):
    memo = from_invoice()
    html = operator_client.get(edit_url(memo)).content.decode()
    help_text = beside(html, "memo_date")
    assert f"Cannot be before the invoice date {TODAY:%Y-%m-%d}" in help_text
    assert "closed accounting period" in help_text
    new_date = TODAY + dt.timedelta(days=3)
    response = operator_client.post(
        edit_url(memo),
        {"memo_date": new_date.isoformat(), "comments": "", "exclude_from_auto_apply": "on"},
    )
    assert response.status_code == 302
    memo.refresh_from_db()
    assert memo.memo_date == new_date and memo.exclude_from_auto_apply
    (event,) = updates(memo)
    assert event.after == {
        "Memo Date": new_date.isoformat(),
        "Auto Apply: Exclude from auto apply rules": True,
    }


def test_a_memo_date_before_the_invoice_date_is_refused_beside_the_field(operator_client):
    memo = from_invoice(comments="Kept")
    early = TODAY - dt.timedelta(days=1)
    response = operator_client.post(
        edit_url(memo), {"memo_date": early.isoformat(), "comments": "Typed, not lost"}
    )
    assert response.status_code == 200
    html = response.content.decode()
    memo_date = beside(html, "memo_date")
    assert "is-invalid" in memo_date
    assert f"Memo Date cannot be before the invoice date {TODAY:%Y-%m-%d}." in memo_date
    assert f'value="{early.isoformat()}"' in memo_date
    assert "Typed, not lost" in beside(html, "comments")
    memo.refresh_from_db()
    assert memo.memo_date == TODAY and memo.comments == "Kept"
    assert updates(memo) == []


def test_a_memo_date_in_a_closed_period_is_refused_beside_the_field(operator_client):
    AccountingPeriodFactory(
        name="Oct 2026",
        start_date=dt.date(2026, 10, 1),
        end_date=dt.date(2026, 10, 31),
        status=PeriodStatus.CLOSED,
    )
    memo = MemoFactory(memo_date=TODAY)
    html = operator_client.get(edit_url(memo)).content.decode()
    assert "The latest closed period is Oct 2026" in beside(html, "memo_date")
    response = operator_client.post(edit_url(memo), {"memo_date": "2026-10-15", "comments": ""})
    assert response.status_code == 200
    assert "closed accounting period Oct 2026" in beside(response.content.decode(), "memo_date")
    memo.refresh_from_db()
    assert memo.memo_date == TODAY


def test_the_memo_date_of_a_posted_memo_is_not_offered_nor_taken(operator_client):
    memo = MemoFactory(status=MemoStatus.POSTED, memo_type=MemoType.DEBIT)
    assert "memo_date" not in fields(operator_client.get(edit_url(memo)).content.decode())
    later = TODAY + dt.timedelta(days=2)
    operator_client.post(
        edit_url(memo), {"memo_date": later.isoformat(), "comments": "", "auto_pay": "on"}
    )
    memo.refresh_from_db()
    assert memo.memo_date == TODAY and updates(memo) == []


# --- reason code --------------------------------------------------------------------------------


def test_operator_neither_sees_nor_changes_the_reason_code(operator_client):
    memo = MemoFactory(status=MemoStatus.POSTED)
    original = memo.reason_code
    other = ReasonCode.objects.get(code_type=ReasonCodeType.CREDIT_MEMO, name="Charge Dispute")
    html = operator_client.get(edit_url(memo)).content.decode()
    assert "reason_code" not in fields(html) and "Reason Code" not in html
    response = operator_client.post(
        edit_url(memo), {"reason_code": other.pk, "comments": ""}, follow=True
    )
    assert "Nothing changed." in response.content.decode()
    memo.refresh_from_db()
    assert memo.reason_code == original and updates(memo) == []


def test_admin_changes_the_reason_code_from_the_types_active_codes(client, billing_admin):
    ReasonCode.objects.filter(code_type=ReasonCodeType.CREDIT_MEMO, name="Write-off").update(
        active=False
    )
    memo = MemoFactory(status=MemoStatus.POSTED)
    client.force_login(billing_admin)
    html = client.get(edit_url(memo)).content.decode()
    reason = beside(html, "reason_code")
    assert "Charge Dispute" in reason and "Ad hoc Credit" in reason
    assert "Write-off" not in reason and "Ad hoc Debit" not in reason  # inactive / other type
    other = ReasonCode.objects.get(code_type=ReasonCodeType.CREDIT_MEMO, name="Charge Dispute")
    response = client.post(edit_url(memo), {"reason_code": other.pk, "comments": ""})
    assert response.status_code == 302
    memo.refresh_from_db()
    assert memo.reason_code == other
    (event,) = updates(memo)
    assert event.before == {"Reason Code": "Correcting Invoice Error"}
    assert event.after == {"Reason Code": "Charge Dispute"}


def test_a_reason_code_of_the_other_type_is_refused_beside_the_field(client, billing_admin):
    memo = MemoFactory(status=MemoStatus.POSTED)
    debit_code = ReasonCode.objects.get(code_type=ReasonCodeType.DEBIT_MEMO, name="Ad hoc Debit")
    client.force_login(billing_admin)
    response = client.post(edit_url(memo), {"reason_code": debit_code.pk, "comments": ""})
    assert response.status_code == 200
    assert "is-invalid" in beside(response.content.decode(), "reason_code")
    assert updates(memo) == []


# --- Auto-Pay and the auto-apply flags ---------------------------------------------------------


def test_operator_turns_auto_pay_off_and_on_on_a_debit_memo(operator_client):
    memo = MemoFactory(status=MemoStatus.POSTED, memo_type=MemoType.DEBIT)
    html = operator_client.get(edit_url(memo)).content.decode()
    assert fields(html) == {"comments", "auto_pay"}
    assert "Auto-Pay" in beside(html, "auto_pay")
    operator_client.post(edit_url(memo), {"comments": ""})  # unchecked: not sent
    memo.refresh_from_db()
    assert memo.auto_pay is False
    operator_client.post(edit_url(memo), {"comments": "", "auto_pay": "on"})
    memo.refresh_from_db()
    assert memo.auto_pay is True
    assert [e.after for e in updates(memo)] == [{"Auto-Pay": False}, {"Auto-Pay": True}]


def test_the_flags_a_credit_memo_shows(operator_client):
    html = operator_client.get(edit_url(from_invoice())).content.decode()
    assert fields(html) == {
        "memo_date",
        "comments",
        "apply_to_invoice_on_post",
        "exclude_from_auto_apply",
    }
    assert "Auto Apply: Apply to this invoice upon posting" in html
    standalone = operator_client.get(edit_url(MemoFactory())).content.decode()
    assert fields(standalone) == {"memo_date", "comments", "exclude_from_auto_apply"}


@pytest.mark.parametrize("memo_type", [MemoType.CREDIT, MemoType.DEBIT])
def test_the_flags_are_hidden_and_ignored_once_fully_settled(operator_client, memo_type):
    memo = from_invoice(memo_type=memo_type, status=MemoStatus.POSTED, comments="")
    if memo_type == MemoType.CREDIT:
        Memo.objects.filter(pk=memo.pk).update(applied_amount=memo.amount)
    else:
        Memo.objects.filter(pk=memo.pk).update(balance=Decimal("0"))
    html = operator_client.get(edit_url(memo)).content.decode()
    assert fields(html) == {"comments"}
    assert "fully settled" in html
    before = Memo.objects.get(pk=memo.pk)
    operator_client.post(edit_url(memo), {flag: "on" for flag in FLAGS} | {"comments": ""})
    after = Memo.objects.get(pk=memo.pk)
    assert [getattr(after, f) for f in FLAGS] == [getattr(before, f) for f in FLAGS]
    assert updates(memo) == []


def test_a_canceled_memo_offers_only_its_comments(client, billing_admin):
    memo = MemoFactory(status=MemoStatus.CANCELED)
    client.force_login(billing_admin)
    html = client.get(edit_url(memo)).content.decode()
    assert fields(html) == {"comments"}
    response = client.post(edit_url(memo), {"comments": "Duplicate of another memo"})
    assert response.status_code == 302
    memo.refresh_from_db()
    assert memo.comments == "Duplicate of another memo"


# --- htmx ----------------------------------------------------------------------------------------


def test_htmx_gets_a_client_redirect_or_the_form_with_its_errors(operator_client):
    memo = from_invoice()
    headers = {"HX-Request": "true"}
    early = (TODAY - dt.timedelta(days=1)).isoformat()
    response = operator_client.post(
        edit_url(memo), {"memo_date": early, "comments": ""}, headers=headers
    )
    html = response.content.decode()
    assert response.status_code == 200 and "<html" not in html
    assert 'id="memo-edit-form"' in html and "cannot be before the invoice date" in html
    assert "HX-Request" in response["Vary"]
    data = {"memo_date": TODAY.isoformat(), "comments": "Via htmx"}
    response = operator_client.post(edit_url(memo), data, headers=headers)
    assert response["HX-Redirect"] == memo.get_absolute_url()
    memo.refresh_from_db()
    assert memo.comments == "Via htmx"


# --- who may use it ------------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["reviewer", "viewer"])
def test_reviewer_and_viewer_get_403(client, request, role):
    memo = MemoFactory(status=MemoStatus.POSTED, comments="Untouched")
    client.force_login(request.getfixturevalue(role))
    assert client.get(edit_url(memo)).status_code == 403
    assert client.post(edit_url(memo), {"comments": "Changed"}).status_code == 403
    memo.refresh_from_db()
    assert memo.comments == "Untouched" and updates(memo) == []


def test_anonymous_is_sent_to_the_login_page(client):
    memo = MemoFactory(comments="Untouched")
    for response in (client.get(edit_url(memo)), client.post(edit_url(memo), {"comments": "x"})):
        assert response.status_code == 302
        assert response.url.startswith(reverse("login"))
    memo.refresh_from_db()
    assert memo.comments == "Untouched"


def test_the_memo_page_links_to_edit_for_operators_only(client, operator, viewer):
    posted_debit = MemoFactory(status=MemoStatus.POSTED, memo_type=MemoType.DEBIT)
    draft = MemoFactory()
    canceled = MemoFactory(status=MemoStatus.CANCELED)
    link = 'href="{}"'
    client.force_login(operator)
    for memo in (posted_debit, draft, canceled):
        html = client.get(memo.get_absolute_url()).content.decode()
        assert link.format(edit_url(memo)) in html, memo.status
    # On a posted debit memo, editing is the main thing left to do: a button, not in "More".
    html = client.get(posted_debit.get_absolute_url()).content.decode()
    assert f'class="btn btn-primary" href="{edit_url(posted_debit)}">Edit</a>' in html
    client.force_login(viewer)
    for memo in (posted_debit, draft, canceled):
        html = client.get(memo.get_absolute_url()).content.decode()
        assert edit_url(memo) not in html
