"""Bill-run pages (DOMAIN.md section 4): the list, a new run, one run live, and its actions.

The run's page is one view with two htmx branches: `live` (the progress panel, which polls
itself every 2 s while the run works and answers HX-Refresh once its status has changed, so the
badge, the actions and the tabs come back as the new status has them) and `tabs` (a tab's
documents). The actions are POST-only endpoints around the services of billing.bill_runs.
"""

from __future__ import annotations

import datetime as dt

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.cache import patch_vary_headers
from django.views import View
from django.views.generic import DetailView
from django_htmx.http import HttpResponseClientRedirect

from billing import permissions as perms
from billing.bill_runs import services
from billing.bill_runs.runner import totals_by_currency
from billing.filters import BillRunFilterSet
from billing.forms import BillRunForm
from billing.http import query_text
from billing.listing import FilteredListView
from billing.models import BillRun, BillRunScope, BillRunStatus, Invoice
from billing.permissions import PermissionMixin
from billing.selectors import BILL_RUN_SORTS, bill_run_page, bill_run_rows, search_accounts

# Rows a tab shows; the tab's label carries the full count.
TAB_ROWS = 50
TABS = {"invoices": "Invoices", "credit_memos": "Credit memos", "errors": "Errors"}
ACCOUNT_SEARCH_LIMIT = 20
# The ids of the page's two htmx regions (the request's HX-Target picks the branch).
LIVE_TARGET = "bill-run-live"
TABS_TARGET = "bill-run-tabs"
POLL_SECONDS = 2


def go_to(request, url: str) -> HttpResponse:
    return HttpResponseClientRedirect(url) if request.htmx else redirect(url)


# --- the list -----------------------------------------------------------------------------------
class BillRunListView(FilteredListView):
    permission_required = perms.VIEW_BILL_RUNS
    template_name = "billing/bill_run_list.html"
    filterset_class = BillRunFilterSet
    sort_fields = BILL_RUN_SORTS.fields
    default_sort = BILL_RUN_SORTS.default

    def get_queryset(self):
        return bill_run_rows()


# --- a new run ----------------------------------------------------------------------------------
class BillRunCreateView(PermissionMixin, View):
    """/bill-runs/new/: the form; its htmx GET branch answers the account search."""

    permission_required = perms.MANAGE_BILL_RUNS
    template_name = "billing/bill_run_new.html"

    def get(self, request, *args, **kwargs):
        account = query_text(request.GET, "account")
        if request.htmx and request.htmx.trigger_name == "account":
            return self.account_options(account)
        if request.htmx and request.GET.get("preview") == "scope":
            # The count of accounts in scope, as the operator changes the scope.
            form = BillRunForm(request.GET)
            return self.respond(
                {"form": form, "scope_count": form.accounts_in_scope()}, partial="scope_count"
            )
        # ?account=A00000001 (from an account's page) starts with that account chosen.
        initial = {}
        if account:
            initial = {"scope": BillRunScope.ACCOUNT, "account": account}
        return self.render(BillRunForm(initial=initial))

    def post(self, request, *args, **kwargs):
        form = BillRunForm(request.POST)
        if form.is_valid():
            try:
                run = services.create_bill_run(actor=request.user, **form.service_kwargs())
            except ValidationError as exc:
                form.add_service_errors(exc)
            else:
                messages.success(request, f"{run.number} was created; it starts in a moment.")
                return go_to(request, run.get_absolute_url())
        return self.render(form)

    def account_options(self, query: str) -> HttpResponse:
        accounts = search_accounts(query, limit=ACCOUNT_SEARCH_LIMIT)
        return self.respond({"accounts": accounts}, partial="account_options")

    def render(self, form: BillRunForm) -> HttpResponse:
        account = form.data.get("account") if form.is_bound else form.initial.get("account")
        scope_form = (
            form
            if form.is_bound
            else BillRunForm(
                {"scope": form.initial.get("scope", BillRunScope.ALL), "account": account or ""}
            )
        )
        return self.respond(
            {
                "form": form,
                "account_value": account or "",
                "scope_count": scope_form.accounts_in_scope(),
            }
        )

    def respond(self, context, *, partial: str | None = None) -> HttpResponse:
        template = f"{self.template_name}#{partial}" if partial else self.template_name
        response = TemplateResponse(self.request, template, context)
        patch_vary_headers(response, ("HX-Request",))
        return response


# --- one run ------------------------------------------------------------------------------------
class BillRunDetailView(PermissionMixin, DetailView):
    permission_required = perms.VIEW_BILL_RUNS
    template_name = "billing/bill_run_detail.html"
    context_object_name = "bill_run"
    slug_field = "number"
    slug_url_kwarg = "number"

    def get_queryset(self):
        return bill_run_page()

    def partial_name(self) -> str | None:
        htmx = self.request.htmx
        if not htmx or htmx.history_restore_request:
            return None
        return "tabs" if htmx.target == TABS_TARGET else "live"

    def get_template_names(self):
        partial = self.partial_name()
        return [f"{self.template_name}#{partial}" if partial else self.template_name]

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        run = self.object
        partial = self.partial_name()
        tab = self.request.GET.get("tab")
        tab = tab if tab in TABS else "invoices"
        if partial != "tabs":
            totals = totals_by_currency(run)
            context.update(
                totals=totals,
                duration=format_duration(run.duration),
                poll_url=f"{run.get_absolute_url()}?seen={run.status}",
                poll_seconds=POLL_SECONDS,
                # Swapped by a poll: the tab counts follow out of band.
                live_update=partial == "live",
            )
        if partial is None:
            context["actions"] = bill_run_actions(run, self.request.user)
            context["dialogs"] = dialog_texts(run, context["totals"])
            context["held"] = held_credit_memos(run, self.request.user)
        if partial != "live":
            context.update(tab=tab, tab_rows=tab_rows(run, tab), tab_row_limit=TAB_ROWS)
        context["tabs"] = tab_links(run, tab)
        return context

    def render_to_response(self, context, **response_kwargs) -> HttpResponse:
        response = super().render_to_response(context, **response_kwargs)
        patch_vary_headers(response, ("HX-Request", "HX-Target"))
        # A poll that finds the status changed reloads the page: the badge, the actions and the
        # tabs are then what the new status has, and the panel stops polling once it is done.
        seen = self.request.GET.get("seen")
        if self.partial_name() == "live" and seen and seen != self.object.status:
            response["HX-Refresh"] = "true"
        return response


def bill_run_actions(run: BillRun, user) -> dict[str, bool]:
    """What this user may do to this run now: the page shows only these buttons."""
    if not user.has_perm(perms.MANAGE_BILL_RUNS):
        return {}
    status = run.status
    finished = status in (BillRunStatus.COMPLETED, BillRunStatus.POSTED, BillRunStatus.ERROR)
    return {
        "post": status == BillRunStatus.COMPLETED,
        "cancel": status in (BillRunStatus.PENDING, BillRunStatus.COMPLETED),
        # A run that generated documents keeps them, and so itself, unless the user may
        # delete canceled memos (no default role may).
        "delete": status in (BillRunStatus.CANCELED, BillRunStatus.ERROR)
        and (
            not (run.invoices_generated or run.credit_memos_generated)
            or user.has_perm(perms.DELETE_MEMO)
        ),
        "retry": finished and run.accounts_failed > 0,
    }


def documents_generated(run: BillRun) -> int:
    return run.invoices_generated + run.credit_memos_generated


def documents_text(run: BillRun) -> str:
    invoices = f"{run.invoices_generated} invoice{'s' if run.invoices_generated != 1 else ''}"
    memos = run.credit_memos_generated
    return f"{invoices} and {memos} credit memo{'s' if memos != 1 else ''}"


def dialog_texts(run: BillRun, totals: list[dict]) -> dict[str, str]:
    """What each action's dialog says will happen, with the counts and amounts."""
    number, documents = run.number, documents_text(run)
    failed = run.accounts_failed
    if run.status == BillRunStatus.PENDING:
        cancel = f"Cancel {number} before it starts: nothing has been billed yet."
    else:
        cancel = (
            f"Cancel {number}: its draft documents ({documents}) are canceled and their "
            "charges can be billed again by another run."
        )
    return {
        "post": f"Post {documents} of {number}? Posted documents cannot be changed.",
        "cancel": cancel,
        "delete": (
            f"Delete {number}"
            + (" and its canceled documents" if documents_generated(run) else "")
            + ". This cannot be undone."
        ),
        "retry": (
            f"Start a new bill run for the {failed} failed account{'s' if failed != 1 else ''} "
            f"of {number}, with the same dates and charge types."
        ),
    }


def tab_links(run: BillRun, current: str) -> list[dict]:
    counts = {
        "invoices": run.invoices_generated,
        "credit_memos": run.credit_memos_generated,
        "errors": run.accounts_failed,
    }
    url = run.get_absolute_url()
    return [
        {
            "key": key,
            "label": label,
            "count": counts[key],
            "url": f"{url}?tab={key}",
            "current": key == current,
        }
        for key, label in TABS.items()
    ]


def held_credit_memos(run: BillRun, user) -> list[dict]:
    """The exception queue (DOMAIN.md 8): the run's credit memos held for approval when it was
    posted and still awaiting it, each with whether this user may approve or reject it (never
    their own: memos.services.approvals says why)."""
    if not run.credit_memos_held:
        return []
    from memos.models import ApprovalStatus, MemoStatus
    from memos.services.approvals import approver_refusal

    memos = (
        run.credit_memos.filter(status=MemoStatus.DRAFT, approval_status=ApprovalStatus.AWAITING)
        .select_related("account", "currency", "coupled_invoice", "submitted_by")
        .order_by("number")[:TAB_ROWS]
    )
    may_approve = user.has_perm(perms.APPROVE_MEMOS)
    rows = []
    for memo in memos:
        refusal = approver_refusal(memo, user) if may_approve else "not an approver"
        rows.append({"memo": memo, "may_decide": not refusal, "refusal": refusal or ""})
    return rows


def tab_rows(run: BillRun, tab: str) -> list:
    """The first TAB_ROWS of the tab (one query, whatever the run generated)."""
    if tab == "errors":
        rows = run.errors.select_related("account").order_by("id")
    elif tab == "credit_memos":
        rows = run.credit_memos.select_related("account", "currency").order_by("number")
    else:
        rows = run.invoices.select_related("account", "currency").order_by("number")
    return list(rows[:TAB_ROWS])


def format_duration(value: dt.timedelta | None) -> str:
    """'45 s', '3 min 05 s', '1 h 02 min'."""
    if value is None:
        return ""
    seconds = max(0, int(value.total_seconds()))
    hours, rest = divmod(seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    if hours:
        return f"{hours} h {minutes:02d} min"
    if minutes:
        return f"{minutes} min {seconds:02d} s"
    return f"{seconds} s"


# --- actions ------------------------------------------------------------------------------------
class BillRunActionView(PermissionMixin, View):
    """Run one service on the run, then back to its page with a message (refused: the
    service's reason, and nothing changed)."""

    http_method_names = ["post"]
    permission_required = perms.MANAGE_BILL_RUNS

    def post(self, request, number: str) -> HttpResponse:
        run = get_object_or_404(BillRun, number=number)
        try:
            url = self.act(run)
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
            return go_to(request, run.get_absolute_url())
        return go_to(request, url)

    def act(self, run: BillRun) -> str:
        """Call the service, add the success message, return where to go."""
        raise NotImplementedError


class BillRunPostView(BillRunActionView):
    def act(self, run: BillRun) -> str:
        run = services.request_post(bill_run=run, actor=self.request.user)
        messages.success(self.request, f"{run.number} is being posted.")
        return run.get_absolute_url()


class BillRunCancelView(BillRunActionView):
    def act(self, run: BillRun) -> str:
        run = services.request_cancel(bill_run=run, actor=self.request.user)
        if run.status == BillRunStatus.CANCELED:
            messages.success(self.request, f"{run.number} was canceled.")
        else:
            messages.success(self.request, f"{run.number} is being canceled.")
        return run.get_absolute_url()


class BillRunDeleteView(BillRunActionView):
    def act(self, run: BillRun) -> str:
        number = services.delete_bill_run(
            bill_run=run,
            actor=self.request.user,
            may_delete_documents=self.request.user.has_perm(perms.DELETE_MEMO),
        )
        messages.success(self.request, f"{number} was deleted.")
        return reverse("billing:bill_run_list")


class BillRunRetryView(BillRunActionView):
    def act(self, run: BillRun) -> str:
        new_run = services.retry_failed_accounts(bill_run=run, actor=self.request.user)
        messages.success(
            self.request, f"{new_run.number} was created to retry the failed accounts of {run}."
        )
        return new_run.get_absolute_url()


# --- one draft invoice (a bill run's, or any other draft) -----------------------------------------
class InvoiceActionView(PermissionMixin, View):
    """Post or cancel one draft invoice from its page. An invoice coupled with a credit memo
    (generation rules 3 and 4) posts or cancels with it, as DOMAIN.md 4 says."""

    http_method_names = ["post"]
    permission_required = perms.MANAGE_BILL_RUNS

    def post(self, request, number: str) -> HttpResponse:
        invoice = get_object_or_404(Invoice, number=number)
        coupled = services.coupled_draft_memo(invoice)
        try:
            self.act(invoice)
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
        else:
            also = f" with its coupled credit memo {coupled.number}" if coupled else ""
            messages.success(request, f"{invoice.number} was {self.done}{also}.")
        return go_to(request, invoice.get_absolute_url())


class InvoicePostView(InvoiceActionView):
    done = "posted"

    def act(self, invoice: Invoice) -> None:
        services.post_generated_invoice(invoice=invoice, actor=self.request.user)


class InvoiceCancelView(InvoiceActionView):
    done = "canceled"

    def act(self, invoice: Invoice) -> None:
        services.cancel_generated_invoice(invoice=invoice, actor=self.request.user)
