"""The approval workflow on the pages (DOMAIN.md 8): the memo page's "Submit for approval"
instead of Post, its "Awaiting approval" banner, Approve and Reject (reason required) only for
those who may, "Save and post" submitting instead, the home page's "Awaiting your approval" and
the memo list's approval filter."""

from __future__ import annotations

import re
from html import unescape

import pytest
from django.urls import reverse

from billing import roles
from billing.factories import UserFactory, currency
from billing.models import ApprovalRule
from memos.models import ApprovalStatus, Memo, MemoEvent, MemoStatus, ReasonCode
from memos.services.approvals import submit_memo_for_approval
from tests.memos.creation_helpers import D, from_invoice, items_of, posted_invoice, row

pytestmark = pytest.mark.django_db


@pytest.fixture
def large_draft(operator):
    ApprovalRule.objects.create(memo_type="credit", currency=currency("USD"), threshold=D(1000))
    invoice = posted_invoice("5000", taxable=False)
    [item] = items_of(invoice)
    return from_invoice(invoice, [row(item, "1500")], actor=operator)


def page(client, memo) -> str:
    return client.get(memo.get_absolute_url()).content.decode()


def test_the_memo_page_offers_submit_instead_of_post(client, operator, large_draft):
    client.force_login(operator)
    html = page(client, large_draft)
    assert "Submit for approval" in html
    assert reverse("memos:memo_post", args=[large_draft.number]) not in html
    response = client.post(reverse("memos:memo_submit", args=[large_draft.number]), follow=True)
    html = response.content.decode()
    assert "was submitted for approval" in html
    assert 'data-testid="approval-banner"' in html
    assert "Awaiting approval" in html and operator.get_full_name() in html
    # The operator may not approve: no buttons.
    assert reverse("memos:memo_approve", args=[large_draft.number]) not in html


def test_the_submitter_sees_why_they_may_not_approve_even_as_admin(
    client, billing_admin, large_draft
):
    submit_memo_for_approval(memo=large_draft, actor=billing_admin)
    client.force_login(billing_admin)
    html = page(client, large_draft)
    assert reverse("memos:memo_approve", args=[large_draft.number]) not in html
    assert "You submitted" in html
    # And the endpoint refuses it too.
    client.post(reverse("memos:memo_approve", args=[large_draft.number]))
    assert Memo.objects.get(pk=large_draft.pk).status == MemoStatus.DRAFT


def test_an_approver_approves_from_the_page(client, operator, approver, large_draft):
    submit_memo_for_approval(memo=large_draft, actor=operator)
    client.force_login(approver)
    html = page(client, large_draft)
    assert 'data-bs-target="#confirm-approve"' in html and 'id="confirm-reject"' in html
    response = client.post(
        reverse("memos:memo_approve", args=[large_draft.number]), {"comment": "ok"}, follow=True
    )
    assert "was approved and posted" in response.content.decode()
    memo = Memo.objects.get(pk=large_draft.pk)
    assert (memo.status, memo.approved_by) == (MemoStatus.POSTED, approver)


def test_reject_needs_a_reason(client, operator, approver, large_draft):
    submit_memo_for_approval(memo=large_draft, actor=operator)
    client.force_login(approver)
    url = reverse("memos:memo_reject", args=[large_draft.number])
    response = client.post(url, {"reason": "  "}, follow=True)
    assert "Say why the memo is rejected." in response.content.decode()
    assert Memo.objects.get(pk=large_draft.pk).approval_status == ApprovalStatus.AWAITING
    client.post(url, {"reason": "Duplicate of CM00000001"})
    memo = Memo.objects.get(pk=large_draft.pk)
    assert memo.approval_status == ApprovalStatus.NONE
    assert memo.events.filter(
        kind=MemoEvent.Kind.REJECTED, message="Rejected: Duplicate of CM00000001"
    ).exists()
    assert "Rejected: Duplicate of CM00000001" in page(client, memo)


def test_save_and_post_submits_a_large_memo(client, operator):
    ApprovalRule.objects.create(memo_type="credit", currency=currency("USD"), threshold=D(100))
    invoice = posted_invoice("500", taxable=False)
    client.force_login(operator)
    url = reverse("memos:memo_create_from_invoice", args=[invoice.number]) + "?type=credit"
    [item] = items_of(invoice)
    data = {
        "type": "credit",
        "memo_date": "2025-03-20",
        "reason_code": ReasonCode.objects.get(code_type="credit_memo", is_default=True).pk,
        "tax_auto_calculation": "on",
        "idempotency_key": "key-approval",
        f"item-{item.pk}-selected": "on",
        f"item-{item.pk}-amount": "150",
        "action": "post",
    }
    response = client.post(url, data, follow=True)
    memo = Memo.objects.get(invoice=invoice)
    assert (memo.status, memo.amount) == (MemoStatus.DRAFT, D(150))
    assert memo.approval_status == ApprovalStatus.AWAITING and memo.submitted_by == operator
    assert "submitted for approval" in response.content.decode()


def awaiting_figure(html: str) -> tuple[int, str] | None:
    count = re.search(r'data-testid="attention-awaiting_your_approval">([\d,]+)<', html)
    if not count:
        return None
    link = re.search(
        r'<a href="([^"]+)" aria-describedby="attention-awaiting_your_approval"', html
    ).group(1)
    return int(count.group(1).replace(",", "")), unescape(link)


def test_home_awaiting_your_approval_excludes_your_own(client, operator, approver, large_draft):
    other = from_invoice(large_draft.invoice, [row(items_of(large_draft.invoice)[0], "1200")])
    mine = from_invoice(
        large_draft.invoice, [row(items_of(large_draft.invoice)[0], "1100")], actor=approver
    )
    submit_memo_for_approval(memo=large_draft, actor=operator)
    submit_memo_for_approval(memo=other, actor=approver)  # submitted by the approver
    submit_memo_for_approval(memo=mine, actor=operator)  # created by the approver
    client.force_login(approver)
    count, link = awaiting_figure(client.get("/").content.decode())
    assert count == 1
    response = client.get(link)
    assert [m.number for m in response.context["rows"]] == [large_draft.number]
    assert "Awaiting your approval" in response.content.decode()  # the chip
    # The list's "Awaiting approval" shows all three.
    response = client.get(reverse("memos:memo_list"), {"approval": "awaiting"})
    assert len(response.context["rows"]) == 3
    # Operators (who may not approve) see no such figure.
    client.force_login(operator)
    assert awaiting_figure(client.get("/").content.decode()) is None


def test_approvers_role_sees_memos_but_cannot_post(client, large_draft):
    user = UserFactory(username="checker", roles=[roles.BILLING_APPROVER])
    client.force_login(user)
    assert client.get(large_draft.get_absolute_url()).status_code == 200
    assert client.post(reverse("memos:memo_submit", args=[large_draft.number])).status_code == 403
