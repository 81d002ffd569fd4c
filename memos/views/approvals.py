"""POST-only endpoints of the approval workflow (DOMAIN.md 8): submit, approve, reject.

Submitting needs the permission to post (it is what Post becomes above the threshold); approving
and rejecting need "approve memos", and the services refuse the memo's creator and submitter
whatever their role. Each answers with the memo page and a message, like the other actions.
"""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.shortcuts import get_object_or_404
from django.views import View

from billing import permissions as perms
from billing.http import safe_next_url
from billing.permissions import PermissionMixin
from memos.forms.approvals import ApproveMemoForm, RejectMemoForm
from memos.models import Memo
from memos.services import approvals
from memos.views.actions import MemoActionView, go_to


class SubmitMemoView(MemoActionView):
    permission_required = perms.PROCESS_MEMO
    service = staticmethod(approvals.submit_memo_for_approval)
    success = "{number} was submitted for approval."


class ApprovalDecisionView(PermissionMixin, View):
    """Approve or reject with the dialog's form; a refusal is a message on the memo page (or on
    the page that sent the form: a bill run's exception queue)."""

    http_method_names = ["post"]
    permission_required = perms.APPROVE_MEMOS
    form_class = None

    def decide(self, memo: Memo, user, data: dict) -> str:
        raise NotImplementedError

    def post(self, request, number: str):
        memo = get_object_or_404(Memo, number=number)
        back = safe_next_url(request, memo.get_absolute_url())
        form = self.form_class(request.POST)
        if not form.is_valid():
            errors = [e for field_errors in form.errors.values() for e in field_errors]
            messages.error(request, f"{memo.number} was not changed: " + " ".join(errors))
            return go_to(request, back)
        try:
            text = self.decide(memo, request.user, form.cleaned_data)
        except PermissionDenied as exc:
            messages.error(request, str(exc) or "You may not do that.")
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
        else:
            messages.success(request, text)
        return go_to(request, back)


class ApproveMemoView(ApprovalDecisionView):
    form_class = ApproveMemoForm

    def decide(self, memo, user, data) -> str:
        approvals.approve_memo(memo=memo, actor=user, comment=data["comment"])
        return f"{memo.number} was approved and posted."


class RejectMemoView(ApprovalDecisionView):
    form_class = RejectMemoForm

    def decide(self, memo, user, data) -> str:
        approvals.reject_memo(memo=memo, actor=user, reason=data["reason"])
        return f"{memo.number} was rejected: it is a plain draft again."
