"""The public URLs (DESIGN.md): operators bookmark them, so they stay stable."""

from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from billing import bill_run_views, document_views, views
from billing.converters import DocumentNumberConverter  # noqa: F401  registers <doc:...>

billing_patterns = [
    path("accounts/", views.AccountListView.as_view(), name="account_list"),
    path("accounts/<doc:number>/", views.AccountDetailView.as_view(), name="account_detail"),
    path("invoices/", views.InvoiceListView.as_view(), name="invoice_list"),
    path("invoices/<doc:number>/", views.InvoiceDetailView.as_view(), name="invoice_detail"),
    path(
        "invoices/<doc:number>/pdf/",
        document_views.InvoicePdfView.as_view(),
        name="invoice_pdf",
    ),
    path(
        "invoices/<doc:number>/email/",
        document_views.InvoiceEmailView.as_view(),
        name="invoice_email",
    ),
    path(
        "invoices/<doc:number>/emails/<int:email_id>/retry/",
        document_views.InvoiceEmailRetryView.as_view(),
        name="invoice_email_retry",
    ),
    path(
        "invoices/<doc:number>/post/",
        bill_run_views.InvoicePostView.as_view(),
        name="invoice_post",
    ),
    path(
        "invoices/<doc:number>/cancel/",
        bill_run_views.InvoiceCancelView.as_view(),
        name="invoice_cancel",
    ),
    path("bill-runs/", bill_run_views.BillRunListView.as_view(), name="bill_run_list"),
    # Before bill-runs/<number>/, which would otherwise take "new" for a bill run number.
    path("bill-runs/new/", bill_run_views.BillRunCreateView.as_view(), name="bill_run_new"),
    path(
        "bill-runs/<doc:number>/",
        bill_run_views.BillRunDetailView.as_view(),
        name="bill_run_detail",
    ),
    path(
        "bill-runs/<doc:number>/post/",
        bill_run_views.BillRunPostView.as_view(),
        name="bill_run_post",
    ),
    path(
        "bill-runs/<doc:number>/cancel/",
        bill_run_views.BillRunCancelView.as_view(),
        name="bill_run_cancel",
    ),
    path(
        "bill-runs/<doc:number>/delete/",
        bill_run_views.BillRunDeleteView.as_view(),
        name="bill_run_delete",
    ),
    path(
        "bill-runs/<doc:number>/retry/",
        bill_run_views.BillRunRetryView.as_view(),
        name="bill_run_retry",
    ),
]

urlpatterns = [
    path("", views.HomeView.as_view(), name="home"),
    path(
        "login/",
        auth_views.LoginView.as_view(redirect_authenticated_user=True),
        name="login",
    ),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("admin/", admin.site.urls),
    path("", include((billing_patterns, "billing"))),
    path("", include("memos.urls")),
    path("", include("payments.urls")),
    path("api-tokens/", include("api.token_urls")),
    path("api/v1/", include("api.urls")),
]
