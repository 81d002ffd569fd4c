"""The memo models in the Django admin (DOMAIN.md 2.4, 2.8, 5): a memo's change form saves
through the same service as the memo edit page, with the same history; only what that service
allows this memo and this user is editable; deletes go through the delete service; refunds and
reason codes are written by services too, and every refusal reads as a sentence.
"""

from __future__ import annotations

import datetime as dt
import threading

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.admin.models import LogEntry
from django.contrib.auth.models import Permission
from django.contrib.messages import get_messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection
from django.urls import reverse

from billing import factories as bf
from billing.models import BillingSettings, PeriodStatus
from memos import factories as mf
from memos.models import (
    Memo,
    MemoEvent,
    MemoItem,
    MemoSource,
    MemoStatus,
    MemoType,
    ReasonCode,
    ReasonCodeType,
    Refund,
)
from memos.services.reason_codes import create_reason_code, update_reason_code
from tests.test_admin import admin_url, change_url, form_data

pytestmark = pytest.mark.django_db

CREDIT, DEBIT = MemoType.CREDIT, MemoType.DEBIT
HEADER = {
    "comments",
    "memo_date",
    "reason_code",
    "auto_pay",
    "apply_to_invoice_on_post",
    "exclude_from_auto_apply",
}
NOT_WORDS = ("reason_code_", "memo_", "constraint", "IntegrityError")


@pytest.fixture
def admin_client(client, superuser):
    client.force_login(superuser)
    return client


def staff(*codenames: str, username: str = "staff"):
    user = bf.UserFactory(username=username, is_staff=True)
    labels = [codename.split(".") for codename in codenames]
    user.user_permissions.set(
        Permission.objects.get(content_type__app_label=app, codename=codename)
        for app, codename in labels
    )
    return user


def editable(page) -> set[str]:
    html = page.content.decode()
    return {name for name in HEADER if f'name="{name}"' in html}


def shown_messages(response) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request)]


def save(client, obj, **changes):
    url = change_url(obj)
    return client.post(url, form_data(client.get(url)) | changes | {"_save": "Save"})


def memo_state(memo: Memo) -> tuple:
    return (
        Memo.objects.filter(pk=memo.pk).values().get(),
        list(MemoEvent.objects.filter(memo_id=memo.pk).values_list("pk", flat=True)),
        LogEntry.objects.count(),
    )


# --- edits go through lifecycle.update_memo_header ---------------------------------------------


def test_an_admin_edit_of_comments_writes_the_same_history_event_as_the_ui(
    admin_client, superuser, operator_client, operator
):
    in_ui = mf.MemoFactory(status=MemoStatus.POSTED, comments="Old note")
    in_admin = mf.MemoFactory(status=MemoStatus.POSTED, comments="Old note")

    operator_client.post(
        reverse("memos:memo_edit", args=[in_ui.number]), {"comments": "Customer called"}
    )
    admin_client.force_login(superuser)
    response = save(admin_client, in_admin, comments="Customer called")

    assert response.status_code == 302
    (ui_event,) = in_ui.events.all()
    (admin_event,) = in_admin.events.all()
    shape = ("kind", "message", "before", "after")
    assert [getattr(admin_event, f) for f in shape] == [getattr(ui_event, f) for f in shape]
    assert admin_event.message == "Edited Comments"
    assert (ui_event.actor, admin_event.actor) == (operator, superuser)
    in_admin.refresh_from_db()
    assert in_admin.comments == "Customer called"


def test_line_breaks_sent_back_as_they_were_are_no_change(admin_client):
    memo = mf.MemoFactory(status=MemoStatus.POSTED, comments="Line one\nLine two")
    response = save(admin_client, memo, comments="Line one\r\nLine two")
    assert response.status_code == 302
    assert not memo.events.exists()


def test_an_admin_edit_the_service_refuses_changes_nothing(admin_client):
    bf.AccountingPeriodFactory(
        name="2026-07",
        start_date=dt.date(2026, 7, 1),
        end_date=dt.date(2026, 7, 31),
        status=PeriodStatus.CLOSED,
    )
    memo = mf.MemoFactory(comments="Kept")
    before = memo_state(memo)

    response = save(admin_client, memo, memo_date="2026-07-15", comments="Not saved either")

    assert response.status_code == 302 and response.url == change_url(memo)
    assert shown_messages(response) == [
        "Memo Date 2026-07-15 is in the closed accounting period 2026-07 "
        "(2026-07-01 to 2026-07-31)."
    ]
    assert memo_state(memo) == before


def test_a_reason_code_change_is_checked_and_recorded_by_the_service(admin_client):
    memo = mf.MemoFactory()
    other = ReasonCode.objects.get(code_type=ReasonCodeType.CREDIT_MEMO, name="Charge Dispute")
    response = save(admin_client, memo, reason_code=str(other.pk))
    assert response.status_code == 302
    (event,) = memo.events.all()
    assert event.message == "Edited Reason Code"
    assert event.after == {"Reason Code": "Charge Dispute"}

    # A debit memo code is not even offered for a credit memo.
    debit_code = ReasonCode.objects.get(code_type=ReasonCodeType.DEBIT_MEMO, name="Ad hoc Debit")
    page = admin_client.get(change_url(memo)).content.decode()
    assert f'<option value="{debit_code.pk}"' not in page
    response = save(admin_client, memo, reason_code=str(debit_code.pk))
    assert response.status_code == 200  # the form refuses a choice it did not offer
    assert Memo.objects.get(pk=memo.pk).reason_code == other


def bill_run_draft() -> Memo:
    run = bf.BillRunFactory()
    return mf.MemoFactory(source=MemoSource.BILL_RUN, bill_run=run)


@pytest.mark.parametrize(
    "make, expected",
    [
        (lambda: mf.MemoFactory(), {"comments", "memo_date", "reason_code",
                                    "exclude_from_auto_apply"}),
        (bill_run_draft, {"comments", "reason_code", "exclude_from_auto_apply"}),
        (lambda: mf.MemoFactory(memo_type=DEBIT, status=MemoStatus.POSTED),
         {"comments", "reason_code", "auto_pay"}),
        (lambda: mf.MemoFactory(memo_type=DEBIT, status=MemoStatus.POSTED, balance=0),
         {"comments", "reason_code"}),
        (lambda: mf.MemoFactory(status=MemoStatus.CANCELED), {"comments"}),
    ],
    ids=["draft-credit", "bill-run-draft", "posted-debit", "paid-debit", "canceled"],
)  # fmt: skip
def test_only_what_the_service_allows_is_editable(admin_client, make, expected):
    assert editable(admin_client.get(change_url(make()))) == expected


def test_a_from_invoice_credit_memo_offers_apply_to_invoice(admin_client):
    invoice = bf.InvoiceFactory()
    memo = mf.MemoFactory(account=invoice.account, invoice=invoice, source=MemoSource.INVOICE)
    assert "apply_to_invoice_on_post" in editable(admin_client.get(change_url(memo)))


def test_reason_code_is_read_only_without_its_permission(client):
    user = staff("memos.view_memo", "memos.change_memo", "memos.process_memo")
    client.force_login(user)
    memo = mf.MemoFactory()
    assert editable(client.get(change_url(memo))) == {
        "comments",
        "memo_date",
        "exclude_from_auto_apply",
    }
    other = ReasonCode.objects.get(code_type=ReasonCodeType.CREDIT_MEMO, name="Charge Dispute")
    response = save(client, memo, reason_code=str(other.pk), comments="Only this")
    assert response.status_code == 302
    memo.refresh_from_db()
    assert memo.comments == "Only this" and memo.reason_code.name == "Correcting Invoice Error"
    (event,) = memo.events.all()
    assert event.actor == user


def test_editing_needs_the_ui_edit_permission_too(client):
    """The admin's own change permission is not enough: the edit page needs "process memo"."""
    client.force_login(staff("memos.view_memo", "memos.change_memo"))
    memo = mf.MemoFactory(comments="Kept")
    assert editable(client.get(change_url(memo))) == set()
    response = client.post(change_url(memo), {"comments": "Changed", "_save": "Save"})
    assert response.status_code == 403
    assert Memo.objects.get(pk=memo.pk).comments == "Kept"


# --- deletes go through lifecycle.delete_memo ----------------------------------------------------


def test_the_admin_deletes_a_canceled_memo_through_the_service(admin_client):
    memo = mf.MemoFactory(status=MemoStatus.CANCELED)
    mf.MemoItemFactory(memo=memo)
    mf.MemoEventFactory(memo=memo)
    url = admin_url(Memo, "delete", memo.pk)
    assert admin_client.get(url).status_code == 200
    response = admin_client.post(url, {"post": "yes"})
    assert response.status_code == 302
    assert not Memo.objects.filter(pk=memo.pk).exists()
    assert not MemoItem.objects.filter(memo_id=memo.pk).exists()


@pytest.mark.parametrize("status", [MemoStatus.DRAFT, MemoStatus.POSTED])
def test_deleting_a_memo_that_is_not_canceled_is_refused_in_words(admin_client, status):
    memo = mf.MemoFactory(status=status)
    before = memo_state(memo)
    text = f"{memo.number} is {status.label}: only canceled memos can be deleted."
    url = admin_url(Memo, "delete", memo.pk)
    response = admin_client.get(url, follow=True)
    assert response.redirect_chain == [(change_url(memo), 302)]
    assert [str(m) for m in response.context["messages"]] == [text]
    response = admin_client.post(url, {"post": "yes"})
    assert shown_messages(response) == [text]
    assert memo_state(memo) == before


def test_the_bulk_delete_deletes_canceled_memos_only(admin_client):
    canceled = mf.MemoFactory(status=MemoStatus.CANCELED)
    draft = mf.MemoFactory()
    response = admin_client.post(
        admin_url(Memo, "changelist"),
        {"action": "delete_selected", ACTION_CHECKBOX_NAME: [canceled.pk, draft.pk], "post": "yes"},
    )
    assert response.status_code == 302
    assert shown_messages(response) == [
        f"{draft.number} is Draft: only canceled memos can be deleted.",
        f"Deleted 1 memo: {canceled.number}.",
    ]
    assert list(Memo.objects.values_list("pk", flat=True)) == [draft.pk]


def test_without_the_delete_permission_nothing_is_deleted(client):
    client.force_login(staff("memos.view_memo", "memos.change_memo", "memos.process_memo"))
    memo = mf.MemoFactory(status=MemoStatus.CANCELED)
    assert client.get(admin_url(Memo, "delete", memo.pk)).status_code == 403
    assert Memo.objects.filter(pk=memo.pk).exists()


# --- refunds, read-only history ------------------------------------------------------------------


def test_a_refund_comment_edit_is_recorded_on_its_memo(admin_client, superuser):
    refund = mf.RefundFactory(comment="Cheque 1")
    page = admin_client.get(change_url(refund)).content.decode()
    for field in ["amount", "refund_date", "method", "reason_code", "number"]:
        assert f'name="{field}"' not in page
    response = save(admin_client, refund, comment="Cheque 1021, posted")
    assert response.status_code == 302
    assert Refund.objects.get(pk=refund.pk).comment == "Cheque 1021, posted"
    (event,) = refund.credit_memo.events.all()
    assert (event.kind, event.actor) == (MemoEvent.Kind.UPDATED, superuser)
    assert event.message == f"Edited refund {refund.number} Comment"
    assert event.after == {f"Refund {refund.number} Comment": "Cheque 1021, posted"}


@pytest.mark.parametrize("model", [MemoEvent, MemoItem])
def test_history_and_items_cannot_be_changed(admin_client, model):
    obj = mf.MemoEventFactory() if model is MemoEvent else mf.MemoItemFactory()
    page = admin_client.get(change_url(obj)).content.decode()
    assert 'name="_save"' not in page
    assert admin_client.post(change_url(obj), {"message": "x"}).status_code == 403


# --- reason codes --------------------------------------------------------------------------------


def reason(name: str, code_type=ReasonCodeType.CREDIT_MEMO) -> ReasonCode:
    return ReasonCode.objects.get(code_type=code_type, name=name)


def test_making_a_code_the_default_takes_it_from_the_old_one(admin_client):
    response = admin_client.post(
        admin_url(ReasonCode, "add"),
        {"code_type": "credit_memo", "name": "Goodwill", "is_default": "on", "active": "on",
         "_save": "Save"},
    )  # fmt: skip
    assert response.status_code == 302, response.content.decode()
    assert reason("Goodwill").is_default
    assert not reason("Correcting Invoice Error").is_default
    # One default per type: the other types keep theirs.
    assert ReasonCode.objects.filter(is_default=True).count() == 3

    response = save(admin_client, reason("Charge Dispute"), is_default="on")
    assert response.status_code == 302
    assert list(
        ReasonCode.objects.filter(code_type="credit_memo", is_default=True).values_list(
            "name", flat=True
        )
    ) == ["Charge Dispute"]


@pytest.mark.parametrize(
    "code, changes, text",
    [
        (
            "Correcting Invoice Error",
            {"active": ""},
            "Correcting Invoice Error is the default Credit memo reason code: make another code "
            "the default before deactivating it.",
        ),
        (
            "Correcting Invoice Error",
            {"is_default": ""},
            "Correcting Invoice Error is the default Credit memo reason code: make another code "
            "the default instead.",
        ),
        (
            "Write-off",
            {"is_default": "on", "active": ""},
            "A default reason code must be active.",
        ),
        (
            "Write-off",
            {"name": "Charge Dispute"},
            "There is already a Credit memo reason code named Charge Dispute.",
        ),
    ],
    ids=["deactivate-default", "undefault", "inactive-default", "same-name"],
)
def test_reason_code_refusals_read_as_sentences(admin_client, code, changes, text):
    obj = reason(code)
    before = list(ReasonCode.objects.order_by("pk").values_list())
    response = save(admin_client, obj, **changes)
    assert response.status_code == 200
    page = response.content.decode()
    assert text in page
    for word in NOT_WORDS:
        assert word not in page.split('id="content"')[1].split('id="footer"')[0]
    assert list(ReasonCode.objects.order_by("pk").values_list()) == before


def test_a_reason_codes_type_never_changes(admin_client):
    obj = reason("Write-off")
    page = admin_client.get(change_url(obj)).content.decode()
    assert 'name="code_type"' not in page
    save(admin_client, obj, code_type="refund")
    assert reason("Write-off").code_type == ReasonCodeType.CREDIT_MEMO


def test_reason_code_writes_need_configure_settings(operator, billing_admin):
    with pytest.raises(PermissionDenied):
        create_reason_code(actor=operator, code_type="refund", name="Fraud")
    with pytest.raises(PermissionDenied):
        update_reason_code(reason_code=reason("Write-off"), actor=operator, active=False)
    code = create_reason_code(actor=billing_admin, code_type="refund", name="Fraud")
    assert (code.code_type, code.name, code.active, code.is_default) == (
        "refund",
        "Fraud",
        True,
        False,
    )


def test_at_most_300_reason_codes(billing_admin):
    missing = BillingSettings.max_reason_codes - ReasonCode.objects.count()
    ReasonCode.objects.bulk_create(
        ReasonCode(code_type=ReasonCodeType.CREDIT_MEMO, name=f"Bulk {n}") for n in range(missing)
    )
    with pytest.raises(ValidationError) as exc:
        create_reason_code(actor=billing_admin, code_type="refund", name="One too many")
    assert exc.value.messages == [
        "There are already 300 reason codes, the most there can be: deactivate one instead."
    ]


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_admins_switching_the_default_at_once_leave_one_default(billing_admin):
    """Each switch locks the type's codes first, so the second waits and then takes the default
    from the first, instead of both passing the check and tripping the one-default constraint."""
    names = ["Charge Dispute", "Write-off", "Ad hoc Credit", "Service Unavailable"]
    barrier = threading.Barrier(len(names))
    errors: list[BaseException] = []

    def make_default(name: str) -> None:
        try:
            code = reason(name)
            barrier.wait(timeout=30)
            update_reason_code(reason_code=code, actor=billing_admin, is_default=True)
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=make_default, args=(name,)) for name in names]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors, errors
    defaults = ReasonCode.objects.filter(code_type=ReasonCodeType.CREDIT_MEMO, is_default=True)
    assert defaults.count() == 1 and defaults.get().name in names
