"""/memos/<number>/edit/: the memo header edits of DOMAIN.md 2.4.

The form shows only what the memo's status and type, and the user's permissions, allow; the
service (lifecycle.update_memo_header) enforces every rule again and its errors are shown beside
the fields they concern.
"""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db.models import Q
from django.http import HttpResponse
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.utils.cache import patch_vary_headers
from django.views import View

from billing import permissions as perms
from billing.models import AccountingPeriod, PeriodStatus
from billing.permissions import PermissionMixin
from memos.forms import DateInput
from memos.models import Memo, MemoStatus, MemoType, ReasonCode
from memos.services import lifecycle
from memos.services.common import REASON_CODE_TYPE
from memos.views.actions import go_to

# The fields the service compares to see whether anything changed.
HEADER_FIELDS = (
    "comments",
    "memo_date",
    "reason_code_id",
    "auto_pay",
    "apply_to_invoice_on_post",
    "exclude_from_auto_apply",
)


def one_newline(text: str) -> str:
    # Browsers send a textarea's line breaks as CRLF: stored text keeps plain LF.
    return text.replace("\r\n", "\n")


def memo_date_help(memo: Memo) -> str:
    rule = (
        f"Cannot be before the invoice date {memo.invoice.invoice_date:%Y-%m-%d} "
        "or in a closed accounting period."
        if memo.invoice_id
        else "Cannot be in a closed accounting period."
    )
    closed = (
        AccountingPeriod.objects.filter(status=PeriodStatus.CLOSED).order_by("-end_date").first()
    )
    if closed is not None:
        rule += (
            f" The latest closed period is {closed.name} "
            f"({closed.start_date:%Y-%m-%d} to {closed.end_date:%Y-%m-%d})."
        )
    return rule


class MemoEditForm(forms.Form):
    """Only the header fields this memo and this user allow now (DOMAIN.md 2.4)."""

    memo_date = forms.DateField(label="Memo Date", widget=DateInput())
    reason_code = forms.ModelChoiceField(
        label="Reason Code", queryset=ReasonCode.objects.none(), empty_label=None
    )
    auto_pay = forms.BooleanField(label="Auto-Pay", required=False)
    apply_to_invoice_on_post = forms.BooleanField(
        label="Auto Apply: Apply to this invoice upon posting", required=False
    )
    exclude_from_auto_apply = forms.BooleanField(
        label="Auto Apply: Exclude from auto apply rules", required=False
    )
    comments = forms.CharField(
        label="Comments", required=False, widget=forms.Textarea(attrs={"rows": 3})
    )

    def __init__(self, *args, memo: Memo, may_change_reason_code: bool, **kwargs):
        kwargs.setdefault(
            "initial",
            {
                "memo_date": memo.memo_date,
                "reason_code": memo.reason_code_id,
                "auto_pay": memo.auto_pay,
                "apply_to_invoice_on_post": memo.apply_to_invoice_on_post,
                "exclude_from_auto_apply": memo.exclude_from_auto_apply,
                "comments": memo.comments,
            },
        )
        super().__init__(*args, **kwargs)
        self.memo = memo
        canceled = memo.status == MemoStatus.CANCELED
        hidden = set()
        if memo.status != MemoStatus.DRAFT:
            hidden.add("memo_date")
        else:
            self.fields["memo_date"].help_text = memo_date_help(memo)
            if memo.invoice_id:
                self.fields["memo_date"].widget.attrs["min"] = memo.invoice.invoice_date.isoformat()
        if canceled or not may_change_reason_code:
            hidden.add("reason_code")
        else:
            # The memo's own code stays a choice even once deactivated, so sending the form back
            # unchanged is never a change.
            self.fields["reason_code"].queryset = ReasonCode.objects.filter(
                Q(code_type=REASON_CODE_TYPE[memo.memo_type], active=True)
                | Q(pk=memo.reason_code_id)
            ).order_by("name")
        flags_open = not canceled and not lifecycle.is_fully_settled(memo)
        if not flags_open or memo.memo_type != MemoType.DEBIT:
            hidden.add("auto_pay")
        if not flags_open or memo.memo_type != MemoType.CREDIT:
            hidden.update({"apply_to_invoice_on_post", "exclude_from_auto_apply"})
        elif not memo.invoice_id:
            hidden.add("apply_to_invoice_on_post")
        for name in hidden:
            del self.fields[name]

    @property
    def flag_fields(self) -> list:
        names = ("auto_pay", "apply_to_invoice_on_post", "exclude_from_auto_apply")
        return [self[name] for name in names if name in self.fields]

    def service_kwargs(self) -> dict:
        """The shown fields' values; None (leave as it is) for the rest."""
        data = self.cleaned_data
        kwargs = {name: data[name] for name in self.fields}
        comments = one_newline(data["comments"])
        # Text sent back as it was (line breaks aside) is no change.
        kwargs["comments"] = None if comments == one_newline(self.memo.comments) else comments
        return kwargs


def header_values(memo: Memo) -> tuple:
    return tuple(getattr(memo, name) for name in HEADER_FIELDS)


class MemoEditView(PermissionMixin, View):
    """Edit a memo's header: comments always, the rest as DOMAIN.md 2.4 allows."""

    permission_required = perms.PROCESS_MEMO
    template_name = "memos/memo_edit.html"

    def get_memo(self, number: str) -> Memo:
        return get_object_or_404(
            Memo.objects.select_related("account", "currency", "invoice", "reason_code"),
            number=number,
        )

    def get_form(self, memo: Memo, data=None) -> MemoEditForm:
        return MemoEditForm(
            data,
            memo=memo,
            may_change_reason_code=self.request.user.has_perm(perms.CHANGE_REASON_CODE),
        )

    def get(self, request, number: str) -> HttpResponse:
        memo = self.get_memo(number)
        return self.render(memo, self.get_form(memo))

    def post(self, request, number: str) -> HttpResponse:
        memo = self.get_memo(number)
        form = self.get_form(memo, request.POST)
        if form.is_valid():
            before = header_values(memo)
            try:
                updated = lifecycle.update_memo_header(
                    memo=memo,
                    actor=request.user,
                    may_change_reason_code=request.user.has_perm(perms.CHANGE_REASON_CODE),
                    **form.service_kwargs(),
                )
            except ValidationError as exc:
                for field, errors in getattr(
                    exc, "message_dict", {"__all__": exc.messages}
                ).items():
                    for error in errors:
                        form.add_error(field if field in form.fields else None, error)
            else:
                if header_values(updated) == before:
                    messages.info(request, "Nothing changed.")
                else:
                    messages.success(request, f"{memo.number} was updated.")
                return go_to(request, memo.get_absolute_url())
        return self.render(memo, form)

    def render(self, memo: Memo, form: MemoEditForm) -> HttpResponse:
        htmx = self.request.htmx
        partial = htmx and not htmx.history_restore_request
        template = f"{self.template_name}#edit-form" if partial else self.template_name
        response = TemplateResponse(
            self.request,
            template,
            {
                "memo": memo,
                "cur": memo.currency,
                "form": form,
                "fully_settled": lifecycle.is_fully_settled(memo),
            },
        )
        patch_vary_headers(response, ("HX-Request",))
        return response
