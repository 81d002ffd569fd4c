"""The approval workflow and the credit insight through the REST API (DOMAIN.md 8): submit,
approve, reject with the same rules as the UI (the creator and submitter refused with 403, a
missing reason a 400, a refusal by state a 409), and the insight's figures as JSON."""

from __future__ import annotations

import datetime as dt

import pytest

from billing.factories import currency
from billing.models import ApprovalRule
from memos.insight import VIEWS, InsightFilter, credit_insight
from memos.models import ApprovalStatus, Memo, MemoStatus
from memos.services.lifecycle import post_memo
from tests.memos.creation_helpers import D, from_invoice, items_of, posted_invoice, row

pytestmark = pytest.mark.django_db

MEMOS = "/api/v1/memos/"


@pytest.fixture
def large_draft(operator):
    ApprovalRule.objects.create(memo_type="credit", currency=currency("USD"), threshold=D(1000))
    invoice = posted_invoice("5000", taxable=False)
    [item] = items_of(invoice)
    return from_invoice(invoice, [row(item, "1500")], actor=operator)


def test_submit_approve_through_the_api(api_as, operator, approver, large_draft):
    api = api_as(operator)
    refused = api.post(f"{MEMOS}{large_draft.number}/post/")
    assert refused.status_code == 409
    assert "needs approval" in str(refused.json()["errors"])
    response = api.post(f"{MEMOS}{large_draft.number}/submit/")
    assert response.status_code == 200, response.json()
    body = response.json()
    assert (body["approval_status"], body["submitted_by"]) == ("awaiting", "operator")
    # The submitter has no approve permission: 403; nor would they as an admin (the service).
    assert api.post(f"{MEMOS}{large_draft.number}/approve/", {}, format="json").status_code == 403
    response = api_as(approver).post(
        f"{MEMOS}{large_draft.number}/approve/", {"comment": "ok"}, format="json"
    )
    assert response.status_code == 200, response.json()
    assert (response.json()["status"], response.json()["approved_by"]) == ("posted", "approver")


def test_the_creator_is_refused_even_as_admin(api_as, billing_admin, operator):
    ApprovalRule.objects.create(memo_type="credit", currency=currency("USD"), threshold=D(100))
    invoice = posted_invoice("500", taxable=False)
    [item] = items_of(invoice)
    memo = from_invoice(invoice, [row(item, "300")], actor=billing_admin)
    api_as(operator).post(f"{MEMOS}{memo.number}/submit/")
    response = api_as(billing_admin).post(f"{MEMOS}{memo.number}/approve/", {}, format="json")
    assert response.status_code == 403
    assert Memo.objects.get(pk=memo.pk).status == MemoStatus.DRAFT


def test_reject_needs_a_reason(api_as, operator, approver, large_draft):
    api_as(operator).post(f"{MEMOS}{large_draft.number}/submit/")
    api = api_as(approver)
    response = api.post(f"{MEMOS}{large_draft.number}/reject/", {}, format="json")
    assert response.status_code == 400 and "reason" in response.json()["errors"]
    response = api.post(
        f"{MEMOS}{large_draft.number}/reject/", {"reason": "Wrong account"}, format="json"
    )
    assert response.status_code == 200
    assert response.json()["approval_status"] == ApprovalStatus.NONE
    # Not awaiting any more: approving it is refused by state.
    assert api.post(f"{MEMOS}{large_draft.number}/approve/", {}, format="json").status_code == 409


def test_the_insight_figures_as_json(api_as, viewer, operator):
    invoice = posted_invoice("1000", invoice_date=dt.date(2025, 3, 1), taxable=False)
    [item] = items_of(invoice)
    memo = from_invoice(invoice, [row(item, "250")], actor=operator, memo_date=dt.date(2025, 3, 5))
    post_memo(memo=memo, actor=operator)
    response = api_as(viewer).get(
        "/api/v1/insights/credit/", {"start": "2025-01", "end": "2025-12", "currency": "USD"}
    )
    assert response.status_code == 200, response.json()
    views = {view["key"]: view for view in response.json()}
    assert list(views) == list(VIEWS)
    where = InsightFilter(
        start=dt.date(2025, 1, 1), end=dt.date(2025, 12, 31), currency=currency("USD")
    )
    for key, view in views.items():
        expected = credit_insight(key, where)
        assert [(r["label"], r["amount"]) for r in view["rows"]] == [
            (r.label, f"{r.amount:.2f}") for r in expected.rows
        ]
    assert views["reason"]["total"] == "250.00"
    one = api_as(viewer).get("/api/v1/insights/credit/", {"view": "month", "currency": "USD"})
    assert one.status_code == 200 and [v["key"] for v in one.json()] == ["month"]
    bad = api_as(viewer).get("/api/v1/insights/credit/", {"currency": "XXX"})
    assert bad.status_code == 400
