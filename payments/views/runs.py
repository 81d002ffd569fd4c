"""Payment-run pages (DOMAIN.md 6): the list, a new run (with the number of accounts in scope),
one run live (the bill-run page's pattern: a `live` panel that polls itself while the run works
and a `tabs` branch), and Retry failed."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db.models import Count, Sum
from django.http import HttpResponse
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.utils.cache import patch_vary_headers
from django.views import View
from django.views.generic import DetailView

from billing import permissions as perms
from billing.bill_run_views import format_duration, go_to
from billing.http import query_text
from billing.listing import FilteredListView
from billing.permissions import PermissionMixin
from billing.selectors import search_accounts
from memos.models import MemoApplication
from payments.filters import PaymentRunFilterSet
from payments.forms import PaymentRunForm
from payments.models import PaymentRun, PaymentRunScope, PaymentRunStatus, PaymentStatus
from payments.runs import services

TAB_ROWS = 50
TABS = {"applications": "Credit memos applied", "payments": "Payments", "errors": "Errors"}
LIVE_TARGET = "payment-run-live"
TABS_TARGET = "payment-run-tabs"
POLL_SECONDS = 2


class PaymentRunListView(FilteredListView):
    permission_required = perms.VIEW_PAYMENTS
    template_name = "payments/payment_run_list.html"
    filterset_class = PaymentRunFilterSet
    sort_fields = {
        "number": "Payment Run Number",
        "target_date": "Target Date",
        "created_at": "Created",
    }
    default_sort = "-created_at"

    def get_queryset(self):
        return PaymentRun.objects.select_related("account")


class PaymentRunCreateView(PermissionMixin, View):
    permission_required = perms.MANAGE_PAYMENTS
    template_name = "payments/payment_run_new.html"

    def get(self, request, *args, **kwargs):
        account = query_text(request.GET, "account")
        if request.htmx and request.htmx.trigger_name == "account":
            accounts = search_accounts(account, limit=20)
            return self.respond({"accounts": accounts}, partial="account_options")
        if request.htmx and request.GET.get("preview") == "scope":
            form = PaymentRunForm(request.GET)
            return self.respond(
                {"form": form, "scope_count": form.accounts_in_scope()}, partial="scope_count"
            )
        initial = {"scope": PaymentRunScope.ACCOUNT, "account": account} if account else {}
        return self.render(PaymentRunForm(initial=initial))

    def post(self, request, *args, **kwargs):
        form = PaymentRunForm(request.POST)
        if form.is_valid():
            try:
                run = services.create_payment_run(actor=request.user, **form.service_kwargs())
            except ValidationError as exc:
                form.add_service_errors(exc)
            else:
                messages.success(request, f"{run.number} was created; it starts in a moment.")
                return go_to(request, run.get_absolute_url())
        return self.render(form)

    def render(self, form: PaymentRunForm) -> HttpResponse:
        account = form.data.get("account") if form.is_bound else form.initial.get("account")
        scope_form = (
            form
            if form.is_bound
            else PaymentRunForm(
                {
                    "scope": form.initial.get("scope", PaymentRunScope.ALL),
                    "account": account or "",
                    "apply_credit_memos": "on",
                    "collect_payments": "on",
                }
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


def totals_by_currency(run: PaymentRun) -> list[dict]:
    """Credit applied and payments collected per currency."""
    totals: dict[str, dict] = {}
    applied = (
        MemoApplication.objects.filter(payment_run_link__payment_run=run)
        .values("credit_memo__currency_id")
        .annotate(total=Sum("amount"), count=Count("pk"))
    )
    for row in applied:
        entry = totals.setdefault(row["credit_memo__currency_id"], {})
        entry.update(credit=row["total"], credit_count=row["count"])
    collected = (
        run.payments.filter(status=PaymentStatus.PROCESSED)
        .values("currency_id")
        .annotate(total=Sum("amount"), count=Count("pk"))
    )
    for row in collected:
        entry = totals.setdefault(row["currency_id"], {})
        entry.update(collected=row["total"], collected_count=row["count"])
    return [{"currency": code, **totals[code]} for code in sorted(totals)]


class PaymentRunDetailView(PermissionMixin, DetailView):
    permission_required = perms.VIEW_PAYMENTS
    template_name = "payments/payment_run_detail.html"
    context_object_name = "run"
    slug_field = "number"
    slug_url_kwarg = "number"

    def get_queryset(self):
        return PaymentRun.objects.select_related("account", "created_by", "retry_of")

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
        tab = tab if tab in TABS else "applications"
        if partial != "tabs":
            context.update(
                totals=totals_by_currency(run),
                duration=format_duration(run.duration),
                poll_url=f"{run.get_absolute_url()}?seen={run.status}",
                poll_seconds=POLL_SECONDS,
                live_update=partial == "live",
            )
        if partial is None:
            user = self.request.user
            context["can_cancel"] = (
                user.has_perm(perms.MANAGE_PAYMENTS) and run.status == PaymentRunStatus.PENDING
            )
            context["can_retry"] = (
                user.has_perm(perms.MANAGE_PAYMENTS)
                and run.status in (PaymentRunStatus.COMPLETED, PaymentRunStatus.ERROR)
                and (run.declines or run.errors_count or run.accounts_failed)
            )
        if partial != "live":
            context.update(tab=tab, tab_rows=tab_rows(run, tab), tab_row_limit=TAB_ROWS)
        context["tabs"] = tab_links(run, tab)
        return context

    def render_to_response(self, context, **response_kwargs) -> HttpResponse:
        response = super().render_to_response(context, **response_kwargs)
        patch_vary_headers(response, ("HX-Request", "HX-Target"))
        seen = self.request.GET.get("seen")
        if self.partial_name() == "live" and seen and seen != self.object.status:
            response["HX-Refresh"] = "true"
        return response


def tab_links(run: PaymentRun, current: str) -> list[dict]:
    counts = {
        "applications": run.credit_applications,
        "payments": run.documents_collected + run.declines,
        "errors": run.declines + run.errors_count,
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


def tab_rows(run: PaymentRun, tab: str) -> list:
    if tab == "errors":
        rows = run.errors.select_related("account", "invoice", "debit_memo").order_by("id")
    elif tab == "payments":
        rows = run.payments.select_related("account", "currency").order_by("number")
    else:
        rows = (
            MemoApplication.objects.filter(payment_run_link__payment_run=run)
            .select_related(
                "credit_memo__account", "credit_memo__currency", "invoice", "debit_memo"
            )
            .order_by("id")
        )
    return list(rows[:TAB_ROWS])


class PaymentRunRetryView(PermissionMixin, View):
    http_method_names = ["post"]
    permission_required = perms.MANAGE_PAYMENTS

    def post(self, request, number: str) -> HttpResponse:
        run = get_object_or_404(PaymentRun, number=number)
        try:
            retry = services.retry_failed(payment_run=run, actor=request.user)
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
            return go_to(request, run.get_absolute_url())
        messages.success(request, f"{retry.number} retries the failures of {run.number}.")
        return go_to(request, retry.get_absolute_url())


class PaymentRunCancelView(PermissionMixin, View):
    """Cancel a Pending run before it starts (a run that started has charged already)."""

    http_method_names = ["post"]
    permission_required = perms.MANAGE_PAYMENTS

    def post(self, request, number: str) -> HttpResponse:
        run = get_object_or_404(PaymentRun, number=number)
        try:
            services.cancel_payment_run(payment_run=run, actor=request.user)
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
        else:
            messages.success(request, f"{run.number} was canceled.")
        return go_to(request, run.get_absolute_url())
