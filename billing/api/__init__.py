"""The billing resources of the REST API (DESIGN.md Layout: beside the app's views)."""

from billing.api.accounts import AccountViewSet
from billing.api.bill_runs import BillRunViewSet
from billing.api.catalog import InvoiceViewSet, ProductViewSet
from billing.api.subscriptions import SubscriptionViewSet, UsageViewSet

__all__ = [
    "AccountViewSet",
    "BillRunViewSet",
    "InvoiceViewSet",
    "ProductViewSet",
    "SubscriptionViewSet",
    "UsageViewSet",
]
