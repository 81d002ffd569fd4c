"""Which memos need approval before they post (DOMAIN.md 8), and withdrawing a submission.

Below the lifecycle services, which ask it: post_memo refuses a memo that needs approval and is
not approved, and every edit withdraws a submission. The workflow itself (submit, approve, reject)
is memos.services.approvals, above the lifecycle.
"""

from __future__ import annotations

from decimal import Decimal

from django.db.models import Exists, OuterRef, Q, QuerySet

from billing.models import ApprovalRule
from billing.money import money_label
from memos.models import ApprovalStatus, Memo, MemoEvent, MemoStatus
from memos.services.common import record_event


def approval_threshold(memo_type: str, currency) -> Decimal | None:
    """The threshold at or above which a memo of this type and currency needs approval."""
    currency_id = getattr(currency, "pk", currency)
    return (
        ApprovalRule.objects.filter(memo_type=memo_type, currency_id=currency_id)
        .values_list("threshold", flat=True)
        .first()
    )


def needs_approval(memo: Memo) -> bool:
    """Whether the memo's total is at or above its type's threshold in its currency."""
    threshold = approval_threshold(memo.memo_type, memo.currency_id)
    return threshold is not None and memo.amount >= threshold


def needing_approval(memos: QuerySet[Memo]) -> QuerySet[Memo]:
    """The memos of `memos` at or above their threshold, in one query."""
    rule = ApprovalRule.objects.filter(
        memo_type=OuterRef("memo_type"),
        currency_id=OuterRef("currency_id"),
        threshold__lte=OuterRef("amount"),
    )
    return memos.filter(Exists(rule))


def approval_refusal(memo: Memo) -> str | None:
    """Why post_memo must refuse this Draft memo for want of approval, or None."""
    if memo.approval_status == ApprovalStatus.APPROVED or not needs_approval(memo):
        return None
    threshold = approval_threshold(memo.memo_type, memo.currency_id)
    if memo.approval_status == ApprovalStatus.AWAITING:
        return f"{memo.number} is awaiting approval: it posts when an approver approves it."
    return (
        f"{memo.number} needs approval before it is posted (its total is at or above the "
        f"{money_label(threshold, memo.currency)} threshold): submit it for approval."
    )


def withdraw_submission(memo: Memo, *, actor, why: str) -> bool:
    """Take back the submission (or approval) of a Draft memo the caller has locked and is
    changing: what the approver saw is no longer what would post. True if one was withdrawn."""
    if memo.status != MemoStatus.DRAFT or memo.approval_status == ApprovalStatus.NONE:
        return False
    before = ApprovalStatus(memo.approval_status).label
    clear_approval(memo)
    Memo.objects.filter(pk=memo.pk).update(**approval_columns(memo))
    record_event(
        memo,
        MemoEvent.Kind.WITHDRAWN,
        actor=actor,
        message=f"Submission withdrawn: {why}",
        before={"Approval": before},
        after={"Approval": "-"},
    )
    return True


def clear_approval(memo: Memo) -> None:
    memo.approval_status = ApprovalStatus.NONE
    memo.submitted_by = None
    memo.submitted_at = None
    memo.approved_by = None
    memo.approved_at = None


APPROVAL_FIELDS = ["approval_status", "submitted_by", "submitted_at", "approved_by", "approved_at"]


def approval_columns(memo: Memo) -> dict:
    return {field: getattr(memo, field) for field in APPROVAL_FIELDS}


def awaiting_approval_of(user) -> Q:
    """Memos awaiting approval that `user` may approve: not created or submitted by them."""
    return (
        Q(approval_status=ApprovalStatus.AWAITING, status=MemoStatus.DRAFT)
        & ~Q(created_by=user)
        & ~Q(submitted_by=user)
    )
