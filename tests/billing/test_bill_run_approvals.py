"""A bill run's post holds its credit memos at or above the approval threshold (DOMAIN.md 8):
everything else posts; a held memo and its coupled invoice (rules 3 and 4) stay Draft until it
is approved, and then post together; the run counts what it held."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from billing.bill_runs import services
from billing.factories import currency
from billing.models import ApprovalRule, BillRunStatus, GenerationRule, InvoiceStatus
from memos.insight import InsightFilter, credit_insight, month_end
from memos.models import ApprovalStatus, MemoEvent, MemoStatus
from memos.services.approvals import approve_memo, reject_memo
from memos.services.lifecycle import cancel_memo, post_memo
from tests.billing.bill_run_helpers import (
    D,
    bill,
    invoices_of,
    memos_of,
    new_account,
    post,
    subscribe,
    use_rule,
)

pytestmark = pytest.mark.django_db


@pytest.fixture(
    params=[GenerationRule.NEGATIVE_CHARGES, GenerationRule.NEGATIVE_AND_ZERO_CHARGES],
    ids=["rule-3", "rule-4"],
)
def run_with_one_large_credit(request, operator):
    use_rule(request.param)
    ApprovalRule.objects.create(memo_type="credit", currency=currency("USD"), threshold=D(1000))
    large, small, plain = new_account(), new_account(), new_account()
    subscribe(large, "50", name="Plan")
    subscribe(large, "-1500", name="Goodwill credit")
    subscribe(small, "50", name="Plan")
    subscribe(small, "-10", name="Credit")
    subscribe(plain, "80", name="Plan")
    run = bill(operator)
    return run, large, small, plain


def test_posting_holds_the_large_credit_memo_and_its_coupled_invoice(
    run_with_one_large_credit, operator, approver
):
    run, large, small, plain = run_with_one_large_credit
    assert (run.invoices_generated, run.credit_memos_generated) == (3, 2)
    run = post(run, operator)
    assert run.status == BillRunStatus.POSTED
    assert run.credit_memos_held == 1
    [held] = memos_of(run, large)
    [waiting] = invoices_of(run, large)
    assert held.coupled_invoice == waiting
    assert (held.amount, held.status, held.approval_status) == (
        D(1500),
        MemoStatus.DRAFT,
        ApprovalStatus.AWAITING,
    )
    assert held.submitted_by == operator
    assert waiting.status == InvoiceStatus.DRAFT
    # Everything else posted.
    [small_memo] = memos_of(run, small)
    assert small_memo.status == MemoStatus.POSTED
    assert {i.status for i in invoices_of(run, small) + invoices_of(run, plain)} == {
        InvoiceStatus.POSTED
    }
    event = held.events.latest("id")
    assert (event.kind, event.actor) == (MemoEvent.Kind.SUBMITTED, operator)
    assert event.message == f"Held for approval when bill run {run.number} was posted"
    # Posting the held memo or its invoice directly is refused: it waits for an approver.
    with pytest.raises(ValidationError, match="awaiting approval"):
        post_memo(memo=held, actor=operator)
    with pytest.raises(ValidationError, match="awaiting approval"):
        services.post_generated_invoice(invoice=waiting, actor=operator)
    # The run's poster submitted it: someone else approves; the pair posts together.
    approve_memo(memo=held, actor=approver)
    held.refresh_from_db()
    waiting.refresh_from_db()
    assert held.status == MemoStatus.POSTED
    assert waiting.status == InvoiceStatus.POSTED and waiting.balance == D(50)
    # The credit insight counted the run's memos as they posted: the small one with the run,
    # the held one once approved.
    where = InsightFilter(
        start=run.invoice_date.replace(day=1),
        end=month_end(run.invoice_date),
        currency=currency("USD"),
    )
    [from_runs] = credit_insight("source", where).rows
    assert (from_runs.label, from_runs.memo_count, from_runs.amount) == ("Bill runs", 2, D(1510))


def test_a_rejected_held_memo_is_a_plain_draft_that_can_be_canceled_with_its_invoice(
    run_with_one_large_credit, operator, approver
):
    run, large, *_ = run_with_one_large_credit
    run = post(run, operator)
    [held] = memos_of(run, large)
    reject_memo(memo=held, actor=approver, reason="Credit too large for a goodwill gesture")
    held.refresh_from_db()
    assert (held.status, held.approval_status) == (MemoStatus.DRAFT, ApprovalStatus.NONE)
    cancel_memo(memo=held, actor=operator)
    [invoice] = invoices_of(run, large)
    assert invoice.status == InvoiceStatus.CANCELED


def test_a_run_under_the_threshold_holds_nothing(operator):
    ApprovalRule.objects.create(memo_type="credit", currency=currency("USD"), threshold=D(1000))
    account = new_account()
    subscribe(account, "-999.99", name="Credit")
    run = post(bill(operator), operator)
    assert run.credit_memos_held == 0
    [memo] = memos_of(run)
    assert memo.status == MemoStatus.POSTED


def test_the_run_page_lists_the_held_memo_as_an_exception_queue(
    run_with_one_large_credit, operator, approver, client
):
    run, large, *_ = run_with_one_large_credit
    run = post(run, operator)
    [held] = memos_of(run, large)
    [waiting] = invoices_of(run, large)
    client.force_login(operator)
    html = client.get(run.get_absolute_url()).content.decode()
    assert 'id="count-held">1<' in html
    assert f'data-testid="held-{held.number}"' in html
    # The operator posted the run (its submitter) and is no approver: no buttons for them.
    assert f'id="approve-{held.number}"' not in html
    client.force_login(approver)
    html = client.get(run.get_absolute_url()).content.decode()
    assert f'id="approve-{held.number}"' in html and f'id="reject-{held.number}"' in html
    response = client.post(
        reverse("memos:memo_approve", args=[held.number]),
        {"next": run.get_absolute_url()},
    )
    assert response.status_code == 302 and response.url == run.get_absolute_url()
    held.refresh_from_db()
    waiting.refresh_from_db()
    assert (held.status, waiting.status) == (MemoStatus.POSTED, InvoiceStatus.POSTED)
    html = client.get(run.get_absolute_url()).content.decode()
    assert "Every held credit memo has been approved or rejected." in html
