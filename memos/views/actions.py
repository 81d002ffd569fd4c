"""POST-only endpoints for what a user does to one memo (DOMAIN.md 2.1, 2.4, 2.5).

Each is permission-checked (the page hides buttons a user may not use, and these refuse them
anyway), calls one service, and answers with the memo page and a message: a redirect, or
HX-Redirect for htmx. The Transferred to Accounting control answers htmx with itself, so a
reviewer changes it in place from the list or the memo page.
"""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.cache import patch_vary_headers
from django.views import View
from django_htmx.http import HttpResponseClientRedirect, trigger_client_event

from billing import permissions as perms
from billing.http import safe_next_url
from billing.permissions import PermissionMixin
from memos.models import Memo
from memos.services import lifecycle
from memos.services.creation import recalculate_tax


def go_to(request, url: str) -> HttpResponse:
    return HttpResponseClientRedirect(url) if request.htmx else redirect(url)


class MemoActionView(PermissionMixin, View):
    """Run `service(memo=..., actor=...)` on the memo and go back to its page with a message."""

    http_method_names = ["post"]
    service = None
    success = ""

    def post(self, request, number: str) -> HttpResponse:
        memo = get_object_or_404(Memo, number=number)
        try:
            type(self).service(memo=memo, actor=request.user)
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
        else:
            messages.success(request, self.success.format(number=memo.number))
            return go_to(request, self.success_url(memo))
        return go_to(request, memo.get_absolute_url())

    def success_url(self, memo: Memo) -> str:
        return memo.get_absolute_url()


class PostMemoView(MemoActionView):
    permission_required = perms.PROCESS_MEMO
    service = staticmethod(lifecycle.post_memo)
    success = "{number} was posted."


class UnpostMemoView(MemoActionView):
    permission_required = perms.PROCESS_MEMO
    service = staticmethod(lifecycle.unpost_memo)
    success = "The post of {number} was canceled: it is a draft again."


class CancelMemoView(MemoActionView):
    permission_required = perms.PROCESS_MEMO
    service = staticmethod(lifecycle.cancel_memo)
    success = "{number} was canceled."


class DeleteMemoView(MemoActionView):
    permission_required = perms.DELETE_MEMO
    service = staticmethod(lifecycle.delete_memo)
    success = "{number} was deleted."

    def success_url(self, memo: Memo) -> str:
        return reverse("memos:memo_list")


class RecalculateTaxView(MemoActionView):
    permission_required = perms.PROCESS_MEMO
    service = staticmethod(recalculate_tax)
    success = "The tax of {number} was recalculated."


class TransferStatusView(PermissionMixin, View):
    """Change Transferred to Accounting; htmx gets the control back, changed in place."""

    http_method_names = ["post"]
    permission_required = perms.CHANGE_TRANSFER
    template_name = "memos/_transfer_control.html"

    def post(self, request, number: str) -> HttpResponse:
        memo = get_object_or_404(Memo, number=number)
        value = request.POST.get("transferred_to_accounting", "")
        error = ""
        try:
            memo = lifecycle.set_transferred_to_accounting(
                memo=memo,
                value=value,
                actor=request.user,
                may_override=request.user.has_perm(perms.OVERRIDE_TRANSFER),
            )
        except ValidationError as exc:
            error = " ".join(exc.messages)
            memo.refresh_from_db()
        if not request.htmx:
            if error:
                messages.error(request, error)
            else:
                value = memo.get_transferred_to_accounting_display()
                messages.success(
                    request, f"{memo.number}: Transferred to Accounting is now {value}."
                )
            return redirect(safe_next_url(request, memo.get_absolute_url()))
        response = TemplateResponse(
            request,
            self.template_name,
            {"memo": memo, "transfer_error": error, "transfer_saved": not error},
        )
        patch_vary_headers(response, ("HX-Request",))
        return trigger_client_event(response, "memoChanged", {"number": memo.number})
