"""Every API route, in one place, under /api/v1/ (DESIGN.md Layout)."""

from django.urls import include, path, re_path
from rest_framework.routers import SimpleRouter

from api.base import not_found
from api.docs import DocsView, SchemaView
from billing.api import (
    AccountViewSet,
    BillRunViewSet,
    InvoiceViewSet,
    ProductViewSet,
    SubscriptionViewSet,
    UsageViewSet,
)
from memos.api import CreditInsightApiView, MemoViewSet
from payments.api import AutoPayViewSet, PaymentMethodViewSet, PaymentRunViewSet, PaymentViewSet

router = SimpleRouter(trailing_slash=True)
router.register("accounts", AccountViewSet, basename="account")
router.register("invoices", InvoiceViewSet, basename="invoice")
router.register("catalog/products", ProductViewSet, basename="product")
router.register("memos", MemoViewSet, basename="memo")
router.register("subscriptions", SubscriptionViewSet, basename="subscription")
router.register("usage", UsageViewSet, basename="usage")
router.register("bill-runs", BillRunViewSet, basename="bill_run")
router.register("payments", PaymentViewSet, basename="payment")
router.register("payment-runs", PaymentRunViewSet, basename="payment-run")
router.register(
    r"accounts/(?P<account_number>[^/]+)/payment-methods",
    PaymentMethodViewSet,
    basename="payment-method",
)
# Only its detail action: /accounts/<number>/auto-pay/ (the account itself is billing's).
router.register("accounts", AutoPayViewSet, basename="account-auto-pay")

app_name = "api"
urlpatterns = [
    path("schema/", SchemaView.as_view(), name="schema"),
    path("docs/", DocsView.as_view(), name="docs"),
    path("insights/credit/", CreditInsightApiView.as_view(), name="credit_insight"),
    path("", include(router.urls)),
    # Any other path, line breaks included (`.` alone stops at one, and Django's HTML 404 would
    # answer).
    re_path(r"^[\s\S]*$", not_found, name="not_found"),
]
