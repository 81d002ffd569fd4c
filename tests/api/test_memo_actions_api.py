"""/api/v1/memos/<number>/...: edit the header, recalculate tax, apply (header amount or per
item, many targets), unapply, refund, reverse, write off, Transferred to Accounting on one memo
and in bulk. Each with the permission of the memo page's button; refusals change nothing."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from billing.models import Invoice
from memos.models import Memo, MemoApplication, MemoStatus, Refund, TransferStatus
from memos.services import lifecycle
from tests.api.conftest import token_client
from tests.api.test_memos_api import assert_errors
from tests.memos.creation_helpers import D, from_invoice, items_of, posted_invoice, row

pytestmark = pytest.mark.django_db
MEMOS = "/api/v1/memos/"


def full_state() -> tuple:
    """Everything an action could change."""
    return (
        list(
            Memo.objects.order_by("pk").values_list(
                "pk", "status", "amount", "tax_amount", "unapplied_amount", "balance",
                "comments", "transferred_to_accounting", "updated_at",
            )
        ),
        list(Invoice.objects.order_by("pk").values_list("pk", "balance")),
        MemoApplication.objects.count(),
        Refund.objects.count(),
    )  # fmt: skip


@pytest.fixture
def credit(operator):
    """A posted credit memo of 55.00 (50 net) from a 110.00 invoice, nothing applied yet."""
    invoice = posted_invoice("100", "100")
    memo = from_invoice(invoice, [row(items_of(invoice)[0], "50")], actor=operator)
    memo = lifecycle.post_memo(memo=memo, actor=operator)
    memo.source_invoice = invoice
    return memo


def apply_body(memo, amount="20.00") -> dict:
    return {"targets": [{"invoice": memo.source_invoice.number, "amount": amount}]}


# (action, url suffix, body, roles permitted) - every action of this file, for the role tests.
ACTIONS = [
    ("apply", "apply/", lambda m: apply_body(m), {"operator", "billing_admin"}),
    ("refund", "refund/", lambda m: {"amount": "5", "method": "check"}, {"operator", "billing_admin"}),  # noqa: E501
    ("reverse", "reverse/", lambda m: {}, {"billing_admin"}),
    ("write-off", "write-off/", lambda m: {}, {"billing_admin"}),
    ("transfer", "transferred-to-accounting/", lambda m: {"transferred_to_accounting": "yes"},
     {"reviewer", "billing_admin"}),
]  # fmt: skip
ROLES = ["operator", "reviewer", "viewer", "billing_admin"]


@pytest.mark.parametrize(
    ("name", "suffix", "body", "allowed"), ACTIONS, ids=[a[0] for a in ACTIONS]
)
@pytest.mark.parametrize("role", ROLES)
def test_each_action_takes_the_permission_of_its_button(
    request, credit, role, name, suffix, body, allowed
):  # noqa: E501
    api = token_client(request.getfixturevalue(role))
    before = full_state()
    response = api.post(f"{MEMOS}{credit.number}/{suffix}", body(credit), format="json")
    if role in allowed:
        assert response.status_code == 200, response.content
        assert response.json()["number"] == credit.number
        assert full_state() != before
    else:
        assert_errors(response, 403, "__all__")
        assert full_state() == before


@pytest.mark.parametrize(
    ("name", "suffix", "body", "allowed"), ACTIONS, ids=[a[0] for a in ACTIONS]
)
def test_anonymous_and_revoked_get_401_and_nothing_changes(
    credit, revoked_client, name, suffix, body, allowed
):  # noqa: E501
    before = full_state()
    for client in (APIClient(), revoked_client):
        response = client.post(f"{MEMOS}{credit.number}/{suffix}", body(credit), format="json")
        assert_errors(response, 401, "__all__")
    assert full_state() == before


def test_apply_a_header_amount_then_unapply_part_of_it(operator, credit):
    api = token_client(operator)
    body = api.post(f"{MEMOS}{credit.number}/apply/", apply_body(credit, "20"), format="json")
    assert body.status_code == 200, body.content
    memo = body.json()
    assert memo["applied_amount"] == "20.00" and memo["unapplied_amount"] == "35.00"
    [application] = memo["applications"]
    assert application["invoice"] == credit.source_invoice.number
    assert Invoice.objects.get(pk=credit.source_invoice.pk).balance == D("200")
    url = f"{MEMOS}{credit.number}/applications/{application['id']}/unapply/"
    undone = api.post(url, {"amount": "5.00"}, format="json")
    assert undone.status_code == 200, undone.content
    assert undone.json()["unapplied_amount"] == "40.00"
    assert Invoice.objects.get(pk=credit.source_invoice.pk).balance == D("205")


def test_apply_per_item_to_many_targets(operator, credit):
    other = posted_invoice("30", on_account=credit.account)
    first_item = items_of(credit.source_invoice)[1]
    body = {
        "targets": [
            {
                "invoice": credit.source_invoice.number,
                "items": [{"item": first_item.pk, "amount": "10"}],
            },
            {"invoice": other.number, "amount": "33"},
        ]
    }  # fmt: skip
    response = token_client(operator).post(f"{MEMOS}{credit.number}/apply/", body, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["unapplied_amount"] == "12.00"
    assert Invoice.objects.get(pk=other.pk).balance == D("0")
    assert items_of(credit.source_invoice)[1].balance == first_item.balance - D("10")


@pytest.mark.parametrize(
    ("body", "key"),
    [
        ({"targets": []}, "targets"),
        ({"targets": [{"invoice": "INV99999999", "amount": "1"}]}, "targets.0.invoice"),
        ({"targets": [{"amount": "1"}]}, "targets.0"),
        ({"targets": "x"}, "targets"),
        ({"targets": [{"invoice": "{inv}", "amount": "1e3"}]}, "targets.0.amount"),
        ({"targets": [{"invoice": "{inv}", "amount": "99"}]}, "__all__"),  # over the unapplied
        ({"targets": [{"invoice": "{inv}", "amount": "-1"}]}, "targets.0"),
        ({"targets": [{"invoice": "{inv}", "amount": "1"}], "effective_date": "2000-01-01"},
         "effective_date"),
    ],
)  # fmt: skip
def test_invalid_applies_are_400_keyed_and_change_nothing(operator, credit, body, key):
    for target in body["targets"] if isinstance(body["targets"], list) else []:
        if target.get("invoice") == "{inv}":
            target["invoice"] = credit.source_invoice.number
    before = full_state()
    response = token_client(operator).post(f"{MEMOS}{credit.number}/apply/", body, format="json")
    assert_errors(response, 400, key)
    assert full_state() == before


def test_applying_a_draft_is_409_and_changes_nothing(operator):
    invoice = posted_invoice("100")
    memo = from_invoice(invoice, actor=operator)
    before = full_state()
    body = {"targets": [{"invoice": invoice.number, "amount": "1"}]}
    response = token_client(operator).post(f"{MEMOS}{memo.number}/apply/", body, format="json")
    assert_errors(response, 409, "__all__")
    assert full_state() == before


def test_refund_the_rest_with_the_default_reason_code(operator, credit):
    response = token_client(operator).post(
        f"{MEMOS}{credit.number}/refund/", {"amount": "55.00", "method": "wire_transfer"},
        format="json",
    )  # fmt: skip
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["refund_amount"] == "55.00" and body["unapplied_amount"] == "0.00"
    assert body["refunds"][0]["method"] == "wire_transfer"
    assert body["refunds"][0]["reason_code"]


@pytest.mark.parametrize(
    ("body", "key"),
    [
        ({"amount": "56", "method": "check"}, "amount"),
        ({"amount": "5", "method": "pigeon"}, "method"),
        ({"amount": "5", "method": "check", "reason_code": "Nope"}, "reason_code"),
        ({"method": "check"}, "amount"),
    ],
)
def test_invalid_refunds_are_400_keyed_and_change_nothing(operator, credit, body, key):
    before = full_state()
    response = token_client(operator).post(f"{MEMOS}{credit.number}/refund/", body, format="json")
    assert_errors(response, 400, key)
    assert full_state() == before


@pytest.mark.parametrize(
    ("suffix", "verb"), [("reverse/", "Reversal"), ("write-off/", "Write-off")]
)
def test_reverse_and_write_off_mirror_the_memo_with_a_debit_memo(
    billing_admin, credit, suffix, verb
):  # noqa: E501
    response = token_client(billing_admin).post(f"{MEMOS}{credit.number}/{suffix}")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["reversed"] is (verb == "Reversal") and body["unapplied_amount"] == "0.00"
    debit = Memo.objects.get(number=body["applications"][0]["debit_memo"])
    assert debit.amount == credit.amount and debit.status == MemoStatus.POSTED
    # Once reversed, again is a 409.
    again = token_client(billing_admin).post(f"{MEMOS}{credit.number}/{suffix}")
    assert_errors(again, 409, "__all__")


def test_edit_the_header_of_a_draft(operator):
    invoice = posted_invoice("100")
    memo = from_invoice(invoice, actor=operator)
    api = token_client(operator)
    response = api.patch(
        f"{MEMOS}{memo.number}/", {"comments": "Checked", "memo_date": "2025-03-21"}, format="json"
    )
    assert response.status_code == 200, response.content
    assert response.json()["comments"] == "Checked"
    assert response.json()["memo_date"] == "2025-03-21"
    assert response.json()["history"][-1]["kind"] == "updated"


def test_editing_refusals(operator, billing_admin, credit):
    before = full_state()
    api = token_client(operator)
    # A posted memo's date is not edited (DOMAIN.md 2.4): the service's refusal, nothing changed.
    dated = api.patch(f"{MEMOS}{credit.number}/", {"memo_date": "2025-03-25"}, format="json")
    assert dated.status_code in (400, 409) and list(dated.json()) == ["errors"]
    # The reason code needs its own permission (the admin's).
    coded = api.patch(f"{MEMOS}{credit.number}/", {"reason_code": "Write-off"}, format="json")
    assert_errors(coded, 403, "__all__")
    assert_errors(
        token_client(billing_admin).patch(
            f"{MEMOS}{credit.number}/", {"reason_code": "No such code"}, format="json"
        ),
        400,
        "reason_code",
    )
    assert_errors(
        api.patch(f"{MEMOS}{credit.number}/", {"auto_pay": "maybe"}, format="json"),
        400,
        "auto_pay",
    )
    assert full_state() == before


@pytest.mark.parametrize("role", ["reviewer", "viewer"])
def test_edit_and_recalculate_need_the_process_permission(request, role, operator):
    memo = from_invoice(posted_invoice("100"), actor=operator)
    api = token_client(request.getfixturevalue(role))
    before = full_state()
    assert_errors(api.patch(f"{MEMOS}{memo.number}/", {"comments": "x"}, format="json"), 403)
    assert_errors(api.post(f"{MEMOS}{memo.number}/recalculate-tax/"), 403)
    assert full_state() == before


def test_recalculate_tax_of_a_draft_and_refuse_a_posted_memo(operator, credit):
    draft = from_invoice(posted_invoice("100"), actor=operator)
    api = token_client(operator)
    response = api.post(f"{MEMOS}{draft.number}/recalculate-tax/")
    assert response.status_code == 200, response.content
    assert response.json()["tax_amount"] == "10.00"
    before = full_state()
    assert_errors(api.post(f"{MEMOS}{credit.number}/recalculate-tax/"), 409, "__all__")
    assert full_state() == before


def test_transfer_one_memo_and_leaving_yes_needs_the_override(reviewer, billing_admin, credit):
    url = f"{MEMOS}{credit.number}/transferred-to-accounting/"
    api = token_client(reviewer)
    assert api.post(url, {"transferred_to_accounting": "yes"}, format="json").status_code == 200
    before = full_state()
    assert_errors(api.post(url, {"transferred_to_accounting": "no"}, format="json"), 409)
    assert_errors(api.post(url, {"transferred_to_accounting": "maybe"}, format="json"), 400,
                  "transferred_to_accounting")  # fmt: skip
    assert full_state() == before
    admin = token_client(billing_admin)
    assert admin.post(url, {"transferred_to_accounting": "no"}, format="json").status_code == 200


def test_bulk_transfer_reports_per_memo(reviewer, operator, credit):
    draft = from_invoice(posted_invoice("100"), actor=operator)
    body = {
        "numbers": [credit.number, draft.number, "CM99999999"],
        "transferred_to_accounting": "processing",
    }
    response = token_client(reviewer).post(
        f"{MEMOS}transferred-to-accounting/", body, format="json"
    )
    assert response.status_code == 200, response.content
    outcome = response.json()
    assert outcome["changed"] == [credit.number]
    assert outcome["not_posted"] == [f"{draft.number} (Draft)"]
    assert outcome["not_found"] == ["CM99999999"]
    credit.refresh_from_db()
    assert credit.transferred_to_accounting == TransferStatus.PROCESSING


@pytest.mark.parametrize(
    ("body", "key"),
    [
        ({"numbers": [], "transferred_to_accounting": "yes"}, "numbers"),
        ({"numbers": ["CM1"], "transferred_to_accounting": "no"}, "transferred_to_accounting"),
        ({"numbers": ["CM1"] * 501, "transferred_to_accounting": "yes"}, "numbers"),
    ],
)
def test_bulk_transfer_refusals(reviewer, operator, credit, body, key):
    before = full_state()
    url = f"{MEMOS}transferred-to-accounting/"
    assert_errors(token_client(reviewer).post(url, body, format="json"), 400, key)
    good = {"numbers": [credit.number], "transferred_to_accounting": "yes"}
    assert_errors(token_client(operator).post(url, good, format="json"), 403, "__all__")
    assert_errors(APIClient().post(url, good, format="json"), 401, "__all__")
    assert full_state() == before


@pytest.mark.parametrize("role", ROLES)
def test_unapply_per_role(request, operator, credit, role):
    token_client(operator).post(f"{MEMOS}{credit.number}/apply/", apply_body(credit), format="json")
    application = MemoApplication.objects.get(credit_memo=credit)
    url = f"{MEMOS}{credit.number}/applications/{application.pk}/unapply/"
    before = full_state()
    response = token_client(request.getfixturevalue(role)).post(url, {}, format="json")
    if role in ("operator", "billing_admin"):
        assert response.status_code == 200, response.content
        assert response.json()["unapplied_amount"] == "55.00"
    else:
        assert_errors(response, 403, "__all__")
        assert full_state() == before


def test_unapply_refusals(operator, credit):
    api = token_client(operator)
    api.post(f"{MEMOS}{credit.number}/apply/", apply_body(credit), format="json")
    application = MemoApplication.objects.get(credit_memo=credit)
    url = f"{MEMOS}{credit.number}/applications/{application.pk}/unapply/"
    before = full_state()
    assert_errors(api.post(url, {"amount": "21"}, format="json"), 400, "amount")
    assert_errors(api.post(url, {"effective_date": "2000-01-01"}, format="json"), 400,
                  "effective_date")  # fmt: skip
    other = f"{MEMOS}{credit.number}/applications/{application.pk + 1000}/unapply/"
    assert_errors(api.post(other, {}, format="json"), 404, "__all__")
    assert_errors(APIClient().post(url, {}, format="json"), 401, "__all__")
    assert full_state() == before


@pytest.mark.parametrize("role", ["operator", "viewer"])
def test_marking_transferred_needs_the_reviewers_permission(request, role, credit):
    before = full_state()
    api = token_client(request.getfixturevalue(role))
    url = f"{MEMOS}{credit.number}/transferred-to-accounting/"
    assert_errors(api.post(url, {"transferred_to_accounting": "yes"}, format="json"), 403)
    bulk = {"numbers": [credit.number], "transferred_to_accounting": "yes"}
    assert_errors(api.post(f"{MEMOS}transferred-to-accounting/", bulk, format="json"), 403)
    assert full_state() == before
