"""Read pages of the billing domain: home, accounts, invoices (bill runs: bill_run_views)."""

from __future__ import annotations

from django.db.models import Prefetch
from django.shortcuts import get_object_or_404
from django.utils import timezone
from django.views.generic import DetailView, TemplateView

from billing import permissions as perms
from billing import selectors
from billing.filters import AccountFilterSet, InvoiceFilterSet
from billing.listing import FilteredListView
from billing.models import (
    RUNNING_STATUSES,
    BillRun,
    InvoiceStatus,
    SubscriptionCharge,
)
from billing.permissions import LOGIN_ONLY, PermissionMixin

RECENT_ROWS = 20


class HomeView(PermissionMixin, TemplateView):
    """What needs attention, for whatever the signed-in user may see."""

    permission_required = LOGIN_ONLY
    template_name = "billing/home.html"

    def get_context_data(self, **kwargs):
        from memos.selectors import attention_items

        context = super().get_context_data(**kwargs)
        user = self.request.user
        if user.has_perm(perms.VIEW_MEMOS):
            context["attention"] = attention_items(today=timezone.localdate(), user=user)
        if user.has_perm(perms.VIEW_BILL_RUNS):
            context["running_bill_runs"] = list(
                BillRun.objects.filter(status__in=RUNNING_STATUSES).order_by("-created_at")[:10]
            )
        return context


class AccountListView(FilteredListView):
    permission_required = perms.VIEW_ACCOUNTS
    template_name = "billing/account_list.html"
    filterset_class = AccountFilterSet
    sort_fields = selectors.ACCOUNT_SORTS.fields
    default_sort = selectors.ACCOUNT_SORTS.default

    def get_queryset(self):
        return selectors.account_rows()


class AccountDetailView(PermissionMixin, DetailView):
    permission_required = perms.VIEW_ACCOUNTS
    template_name = "billing/account_detail.html"
    context_object_name = "account"

    def get_object(self, queryset=None):
        return get_object_or_404(selectors.account_rows(), number=self.kwargs["number"])

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        account = self.object
        user = self.request.user
        if user.has_perm(perms.VIEW_INVOICES):
            context["invoices"] = list(
                account.invoices.order_by("-invoice_date", "-id")[:RECENT_ROWS]
            )
            context["last_invoice"] = (
                account.invoices.filter(status=InvoiceStatus.POSTED)
                .order_by("-invoice_date", "-id")
                .first()
            )
        if user.has_perm("billing.view_subscription"):
            # Subscriptions with their charges: what the next bill run will bill, and from when.
            context["subscriptions"] = list(
                account.subscriptions.order_by("start_date", "id").prefetch_related(
                    Prefetch(
                        "charges",
                        queryset=SubscriptionCharge.objects.select_related("charge").order_by(
                            "start_date", "id"
                        ),
                    )
                )
            )
        if user.has_perm(perms.VIEW_MEMOS):
            context["memos"] = list(
                account.memos.select_related("reason_code").order_by("-memo_date", "-id")[
                    :RECENT_ROWS
                ]
            )
        context["recent_rows"] = RECENT_ROWS
        return context


class InvoiceListView(FilteredListView):
    permission_required = perms.VIEW_INVOICES
    template_name = "billing/invoice_list.html"
    filterset_class = InvoiceFilterSet
    sort_fields = selectors.INVOICE_SORTS.fields
    sort_columns = selectors.INVOICE_SORTS.columns
    default_sort = selectors.INVOICE_SORTS.default

    def get_queryset(self):
        return selectors.invoice_rows()


class InvoiceDetailView(PermissionMixin, DetailView):
    permission_required = perms.VIEW_INVOICES
    template_name = "billing/invoice_detail.html"
    context_object_name = "invoice"
    slug_field = "number"
    slug_url_kwarg = "number"

    def get_queryset(self):
        return selectors.invoice_with_items(
            with_applications=self.request.user.has_perm(perms.VIEW_MEMOS)
        )

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        if self.request.user.has_perm(perms.VIEW_MEMOS):
            context["memos"] = list(
                self.object.memos.select_related("reason_code").order_by("-memo_date", "-id")
            )
            context["applications"] = list(self.object.applications.all())
        context["today"] = timezone.localdate()
        invoice = self.object
        if invoice.status == InvoiceStatus.DRAFT and self.request.user.has_perm(
            perms.MANAGE_BILL_RUNS
        ):
            from billing.bill_runs.services import coupled_draft_memo

            context["draft_actions"] = {"coupled_memo": coupled_draft_memo(invoice)}
        return context
