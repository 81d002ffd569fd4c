"""The memo page."""

from __future__ import annotations

from django.views.generic import DetailView

from billing import permissions as perms
from billing.permissions import PermissionMixin
from memos.forms.approvals import ApproveMemoForm, RejectMemoForm
from memos.models import (
    ApprovalStatus,
    Memo,
    MemoStatus,
)
from memos.selectors import memo_page
from memos.services.approval_rules import approval_threshold, needs_approval
from memos.services.approvals import approver_refusal
from memos.services.lifecycle import unpost_refusal


class MemoDetailView(PermissionMixin, DetailView):
    permission_required = perms.VIEW_MEMOS
    template_name = "memos/memo_detail.html"
    context_object_name = "memo"
    slug_field = "number"
    slug_url_kwarg = "number"

    def get_queryset(self):
        return memo_page()

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["actions"] = memo_actions(self.object, self.request.user)
        if context["actions"]["approve"]:
            context["approve_form"] = ApproveMemoForm()
            context["reject_form"] = RejectMemoForm()
        memo = self.object
        if memo.status == MemoStatus.DRAFT and memo.approval_status:
            context["approval_threshold"] = approval_threshold(memo.memo_type, memo.currency_id)
        return context


def memo_actions(memo: Memo, user) -> dict[str, bool | str]:
    """What this user may do to this memo now: the page shows only these buttons.

    An action the user may take but the memo's state refuses, where the rule is known before the
    click, comes with its reason (`<action>_refused`): the page shows it disabled, saying why.
    """
    draft, posted = memo.status == MemoStatus.DRAFT, memo.status == MemoStatus.POSTED
    may_process = user.has_perm(perms.PROCESS_MEMO)
    open_credit = posted and memo.is_credit and memo.unapplied_amount > 0
    untouched = open_credit and not memo.applied_amount and not memo.refund_amount
    may_reverse = untouched and not memo.reversed and user.has_perm(perms.REVERSE_CREDIT_MEMO)
    # DOMAIN.md 8: at or above the threshold, Post becomes "Submit for approval"; a memo awaiting
    # approval shows Approve and Reject to those who may (never its creator or submitter).
    awaiting = draft and memo.approval_status == ApprovalStatus.AWAITING
    approval_needed = draft and not awaiting and memo.approval_status != ApprovalStatus.APPROVED
    approval_needed = approval_needed and needs_approval(memo)
    approval_refused = ""
    may_decide = False
    if awaiting and user.has_perm(perms.APPROVE_MEMOS):
        approval_refused = approver_refusal(memo, user) or ""
        may_decide = not approval_refused
    unpost_refused = ""
    if posted and may_process:
        refusal = unpost_refusal(memo)
        unpost_refused = refusal.messages[0] if refusal else ""
    return {
        "apply": open_credit and user.has_perm(perms.SETTLE_CREDIT_MEMO),
        "refund": open_credit and user.has_perm(perms.SETTLE_CREDIT_MEMO),
        "unapply": posted and memo.is_credit and user.has_perm(perms.SETTLE_CREDIT_MEMO),
        "reverse": may_reverse,
        "write_off": may_reverse,
        "post": draft and may_process and not approval_needed and not awaiting,
        "submit": approval_needed and may_process,
        "approve": may_decide,
        "reject": may_decide,
        "approval_refused": approval_refused,
        "recalculate_tax": draft and may_process and memo.tax_auto_calculation,
        "cancel": draft and may_process,
        "unpost": posted and may_process and not unpost_refused,
        "unpost_refused": unpost_refused,
        "delete": memo.status == MemoStatus.CANCELED and user.has_perm(perms.DELETE_MEMO),
        # Header edits (DOMAIN.md 2.4): comments on any status, the rest as the status allows.
        "edit": may_process,
    }
