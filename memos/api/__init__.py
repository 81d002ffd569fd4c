"""The memos resource of the REST API (DESIGN.md Layout: beside the app's views)."""

from memos.api.insight import CreditInsightApiView
from memos.api.views import MemoViewSet

__all__ = ["CreditInsightApiView", "MemoViewSet"]
