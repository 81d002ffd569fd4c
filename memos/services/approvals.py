"""Maker-checker approvals of large memos (DOMAIN.md 8): submit, approve (which posts), reject;
and the bill run's hold of its large credit memos.

A memo at or above its type's threshold in its currency (billing.ApprovalRule) posts only once
approved: post_memo refuses it otherwise (memos.services.approval_rules), so no path gets round
this module. Nobody approves or rejects a memo they created or submitted, whatever their role:
that is checked here, not only by hiding a button. Every step is on the memo's history.
"""

from __future__ import annotations

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone

from billing import permissions as perms
from billing.busy import retry_when_busy
from billing.models import BillRun
from billing.money import money_label
from memos.models import ApprovalStatus, Memo, MemoEvent, MemoStatus, MemoType
from memos.services.approval_rules import (
    approval_columns,
    approval_threshold,
    clear_approval,
    needing_approval,
    needs_approval,
)
from memos.services.common import history_event, record_event
from memos.services.lifecycle import lock_memo, post_memo

REASON_MAX_LENGTH = 400


def _threshold_words(memo: Memo) -> str:
    return money_label(approval_threshold(memo.memo_type, memo.currency_id), memo.currency)


def approver_refusal(memo: Memo, user) -> str | None:
    """Why `user` may not approve or reject this memo, or None: the permission, and never one's
    own memo (created or submitted), whatever the role. The memo page asks it to show the
    buttons; the services ask it again under the memo's lock."""
    if not getattr(user, "is_authenticated", False) or not user.has_perm(perms.APPROVE_MEMOS):
        return "Approving memos needs the permission to approve memos."
    if memo.created_by_id is not None and memo.created_by_id == user.pk:
        return f"You created {memo.number}: someone else must approve it."
    if memo.submitted_by_id is not None and memo.submitted_by_id == user.pk:
        return f"You submitted {memo.number} for approval: someone else must approve it."
    return None


def _check_awaiting(memo: Memo, verb: str) -> None:
    if memo.status != MemoStatus.DRAFT or memo.approval_status != ApprovalStatus.AWAITING:
        state = (
            memo.get_status_display()
            if memo.status != MemoStatus.DRAFT
            else "not awaiting approval"
        )
        raise ValidationError(f"{memo.number} is {state}: it cannot be {verb}.", code="state")


def _check_approver(memo: Memo, actor) -> None:
    refusal = approver_refusal(memo, actor)
    if refusal:
        raise PermissionDenied(refusal)


@retry_when_busy
@transaction.atomic
def submit_memo_for_approval(*, memo: Memo, actor) -> Memo:
    """Draft -> Awaiting approval (still Draft), for a memo at or above its threshold."""
    locked = lock_memo(memo)
    if locked.status != MemoStatus.DRAFT:
        raise ValidationError(
            f"{locked.number} is {locked.get_status_display()}: only drafts are submitted.",
            code="state",
        )
    if locked.approval_status == ApprovalStatus.AWAITING:
        raise ValidationError(f"{locked.number} is already awaiting approval.", code="state")
    if not needs_approval(locked):
        raise ValidationError(
            f"{locked.number} is below its approval threshold: post it.", code="no_approval"
        )
    now = timezone.now()
    clear_approval(locked)
    locked.approval_status = ApprovalStatus.AWAITING
    locked.submitted_by = actor if getattr(actor, "is_authenticated", False) else None
    locked.submitted_at = now
    locked.save(update_fields=[*approval_columns(locked), "updated_at"])
    record_event(
        locked,
        MemoEvent.Kind.SUBMITTED,
        actor=actor,
        message=f"Submitted for approval (threshold {_threshold_words(locked)})",
        before={"Approval": "-"},
        after={"Approval": "Awaiting approval"},
    )
    return locked


@retry_when_busy
@transaction.atomic
def approve_memo(*, memo: Memo, actor, comment: str = "") -> Memo:
    """Approve a memo awaiting approval and post it in the same transaction. Every posting rule
    is re-checked by post_memo (open period, tax, available to credit): if one refuses, nothing
    is approved and the memo is still awaiting approval. Concurrent approvals of one memo queue
    on its row lock; the first posts it, the others find it Posted and are refused."""
    locked = lock_memo(memo)
    _check_awaiting(locked, "approved")
    _check_approver(locked, actor)
    locked.approval_status = ApprovalStatus.APPROVED
    locked.approved_by = actor
    locked.approved_at = timezone.now()
    locked.save(update_fields=["approval_status", "approved_by", "approved_at", "updated_at"])
    comment = (comment or "").strip()[:REASON_MAX_LENGTH]
    record_event(
        locked,
        MemoEvent.Kind.APPROVED,
        actor=actor,
        message="Approved" + (f": {comment}" if comment else ""),
        before={"Approval": "Awaiting approval"},
        after={"Approval": "Approved"},
    )
    return post_memo(memo=locked, actor=actor)


@retry_when_busy
@transaction.atomic
def reject_memo(*, memo: Memo, actor, reason: str) -> Memo:
    """Awaiting approval -> plain Draft, with the reason (required) on the memo's history."""
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError({"reason": "Say why the memo is rejected."}, code="required")
    if len(reason) > REASON_MAX_LENGTH:
        raise ValidationError(
            {"reason": f"At most {REASON_MAX_LENGTH} characters ({len(reason)} typed)."}
        )
    locked = lock_memo(memo)
    _check_awaiting(locked, "rejected")
    _check_approver(locked, actor)
    clear_approval(locked)
    locked.save(update_fields=[*approval_columns(locked), "updated_at"])
    record_event(
        locked,
        MemoEvent.Kind.REJECTED,
        actor=actor,
        message=f"Rejected: {reason}",
        before={"Approval": "Awaiting approval"},
        after={"Approval": "-", "Reason": reason},
    )
    return locked


def hold_bill_run_credit_memos(*, bill_run: BillRun, memo_ids: list[int], actor) -> list[int]:
    """Of the run's draft credit memos `memo_ids` (locked by the caller, who is posting the run),
    submit for approval those at or above their threshold and not approved, and return their
    ids: the run posts everything else (DOMAIN.md 8). Set-based, like the run's post."""
    if not memo_ids:
        return []
    held = list(
        needing_approval(
            Memo.objects.filter(
                pk__in=memo_ids, memo_type=MemoType.CREDIT, status=MemoStatus.DRAFT
            ).exclude(approval_status=ApprovalStatus.APPROVED)
        )
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    if not held:
        return []
    # One an operator submitted already keeps its submitter; the others are submitted by
    # whoever posts the run.
    to_submit = list(
        Memo.objects.filter(pk__in=held)
        .exclude(approval_status=ApprovalStatus.AWAITING)
        .values_list("pk", flat=True)
    )
    submitter = actor if getattr(actor, "is_authenticated", False) else None
    now = timezone.now()
    Memo.objects.filter(pk__in=to_submit).update(
        approval_status=ApprovalStatus.AWAITING,
        submitted_by=submitter,
        submitted_at=now,
        approved_by=None,
        approved_at=None,
        updated_at=now,
    )
    message = f"Held for approval when bill run {bill_run.number} was posted"
    MemoEvent.objects.bulk_create(
        history_event(
            Memo(pk=pk),
            MemoEvent.Kind.SUBMITTED,
            actor=actor,
            message=message,
            before={"Approval": "-"},
            after={"Approval": "Awaiting approval"},
        )
        for pk in to_submit
    )
    return held
