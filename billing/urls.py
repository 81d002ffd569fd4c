"""The public URLs (DESIGN.md): operators bookmark them, so they stay stable."""

from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from billing import views

billing_patterns = [
    path("accounts/", views.AccountListView.as_view(), name="account_list"),
    path("accounts/<str:number>/", views.AccountDetailView.as_view(), name="account_detail"),
    path("invoices/", views.InvoiceListView.as_view(), name="invoice_list"),
    path("invoices/<str:number>/", views.InvoiceDetailView.as_view(), name="invoice_detail"),
    path("bill-runs/", views.BillRunListView.as_view(), name="bill_run_list"),
    path("bill-runs/<str:number>/", views.BillRunDetailView.as_view(), name="bill_run_detail"),
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
]
