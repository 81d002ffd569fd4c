"""What the two create pages share: rows, totals, tax mode and the answer to a create.

Each page is one view. Its branches: GET renders the page; an htmx POST with `preview` renders
the live totals (and each row's tax, total and error, out of band); a plain POST creates the memo.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpResponse
from django.shortcuts import redirect
from django_htmx.http import HttpResponseClientRedirect

from billing import permissions as perms
from billing.models import Account
from billing.money import ZERO, minor_unit
from memos import services
from memos.forms import AccountChoiceForm, MemoHeaderForm
from memos.models import ApprovalStatus, MemoStatus, MemoType, TaxStatus
from memos.services import lifecycle
from memos.services.approval_rules import needs_approval
from memos.services.approvals import submit_memo_for_approval

ACCOUNT_SEARCH_LIMIT = 20


@dataclass
class Row:
    """A row of an item grid: its key, form and what the preview computed for it."""

    key: str
    form: object
    invoice_item: object = None
    available: object = None  # an Available (credit memo from an invoice), or a Decimal
    nothing_left: bool = False
    net: Decimal | None = None
    tax: Decimal | None = None
    total: Decimal | None = None
    errors: list[str] = field(default_factory=list)

    def values(self) -> dict | None:
        """What the row holds: the cleaned input, or the defaults before anything was typed."""
        if not self.form.is_bound:
            return {
                name: self.form.get_initial_for_field(f, name)
                for name, f in self.form.fields.items()
            }
        return self.form.cleaned_data if self.form.is_valid() else None

    @property
    def messages(self) -> list[str]:
        """Form errors (bad input) and service errors (rules) of the row, in operator words."""
        out = []
        if self.form.is_bound and not self.form.is_valid():
            selected = self.form.cleaned_data.get("selected", True)
            if selected or "selected" not in self.form.fields:
                for name, errors in self.form.errors.items():
                    label = self.form.fields[name].label or name.replace("_", " ").capitalize()
                    out.extend(f"{label}: {e}" if name != "__all__" else e for e in errors)
        return out + self.errors


def chosen_account(account_form: AccountChoiceForm) -> Account | None:
    """The account typed in the form, or given in the page's URL (?account=A00000001)."""
    if account_form.is_bound:
        return account_form.cleaned_data.get("account") if account_form.is_valid() else None
    number = account_form.initial.get("account")
    return (
        Account.objects.select_related("currency").filter(number=number).first() if number else None
    )


def auto_tax_from(header: MemoHeaderForm) -> bool:
    if not header.is_bound:
        return header.fields["tax_auto_calculation"].initial
    return header.data.get("tax_auto_calculation") in ("on", "true", "1")


def memo_type_from(request) -> str:
    value = request.GET.get("type") or request.POST.get("type") or MemoType.CREDIT
    if value not in MemoType.values:
        raise Http404("Unknown memo type")
    return value


def wants_post(request) -> bool:
    """Whether the form was sent with "Save and post", which needs the permission of Post:
    refused before anything is created, so an operator without it never leaves a memo behind."""
    if request.POST.get("action") != "post":
        return False
    if not request.user.has_perm(perms.PROCESS_MEMO):
        raise PermissionDenied("Posting memos needs the permission to process them.")
    return True


def post_created(request, memo) -> HttpResponse:
    """After "Save and post": post the memo just created. A memo the post refuses (its tax
    could not be calculated, a closed period, credit taken meanwhile) stays a complete draft,
    and the operator is told why on its page."""
    label = f"{memo.get_memo_type_display()} {memo.number}"
    if memo.status == MemoStatus.POSTED:  # the same form sent again after it was posted
        messages.info(request, f"{label} was already created and posted from this form.")
    elif memo.approval_status == ApprovalStatus.AWAITING:  # sent again after it was submitted
        messages.info(request, f"{label} was already created and submitted for approval.")
    elif needs_approval(memo):
        # DOMAIN.md 8: at or above the threshold, "Save and post" submits for approval.
        try:
            submit_memo_for_approval(memo=memo, actor=request.user)
        except ValidationError as exc:
            messages.warning(
                request,
                f"{label} was saved as a draft but not submitted: {' '.join(exc.messages)}",
            )
        else:
            messages.success(
                request,
                f"{label} was created and submitted for approval: it is posted once an "
                "approver approves it.",
            )
    else:
        try:
            lifecycle.post_memo(memo=memo, actor=request.user)
        except ValidationError as exc:
            messages.warning(
                request,
                f"{label} was saved as a draft but not posted: {' '.join(exc.messages)}",
            )
        else:
            messages.success(request, f"{label} was created and posted.")
    url = memo.get_absolute_url()
    return HttpResponseClientRedirect(url) if request.htmx else redirect(url)


def respond_created(request, memo, *, post: bool = False) -> HttpResponse:
    if post and memo.tax_status != TaxStatus.ERROR:
        return post_created(request, memo)
    if memo.replayed:
        # The same form submitted again by the same user: nothing new was created.
        messages.info(
            request,
            f"{memo.get_memo_type_display()} {memo.number} was already created from this form.",
        )
    elif memo.tax_status == TaxStatus.ERROR:
        # Saved, but not postable until the tax is calculated: not a plain success.
        messages.warning(
            request,
            f"{memo.get_memo_type_display()} {memo.number} was created as a draft, but its tax "
            "could not be calculated; recalculate tax before posting it.",
        )
    else:
        messages.success(
            request, f"{memo.get_memo_type_display()} {memo.number} was created as a draft."
        )
    url = memo.get_absolute_url()
    return HttpResponseClientRedirect(url) if request.htmx else redirect(url)


def spread_errors(exc: ValidationError, header: MemoHeaderForm, rows: dict[str, Row]) -> list[str]:
    """Put a service's errors beside the field or row they are about; return the rest."""
    page_errors: list[str] = []
    for key, messages_ in getattr(exc, "message_dict", {"__all__": exc.messages}).items():
        if key in rows:
            rows[key].errors.extend(messages_)
        elif key in header.fields:
            for message in messages_:
                header.add_error(key, message)
        else:
            page_errors.extend(messages_)
    return page_errors


def totals(rows, page_errors, *, engine_taxes: bool = False, currency=None) -> dict:
    rows = list(rows)
    # Rows over what is available still count: the total then shows what was asked for.
    priced = [row for row in rows if row.total is not None]
    sums = {
        "net": sum((row.net for row in priced), ZERO),
        "tax": sum((row.tax for row in priced), ZERO),
        "total": sum((row.total for row in priced), ZERO),
    }
    if currency is not None:
        # What the create would refuse: a total wider than the memo's columns.
        try:
            services.check_memo_totals(currency, **sums)
        except ValidationError as exc:
            page_errors = [*page_errors, *exc.messages]
    return {
        **sums,
        "count": len(priced),
        "rows": rows,
        "errors": page_errors,
        "has_row_errors": any(row.errors for row in rows),
        # The third-party engine taxes the memo when it is saved, not on every keystroke.
        "engine_taxes": engine_taxes,
    }


def without(page_errors, preview: dict | None) -> list[str]:
    """The page's errors less those the totals panel shows already (a total too large)."""
    shown = preview["errors"] if preview else []
    return [error for error in page_errors if error not in shown]


def step_for(currency) -> str:
    places = minor_unit(currency)
    return "1" if places == 0 else "0." + "0" * (places - 1) + "1"
