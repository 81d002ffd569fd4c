"""The memo's customer document (DOMAIN.md 7): its PDF, "Email to customer" and Retry (the
shared views are billing.document_views)."""

from __future__ import annotations

from django.shortcuts import get_object_or_404

from billing import permissions as perms
from billing.document_views import (
    DocumentEmailRetryView,
    DocumentEmailView,
    DocumentPdfView,
    DocumentViewMixin,
)
from memos.models import Memo


class MemoDocumentMixin(DocumentViewMixin):
    def get_document(self, number: str) -> Memo:
        return get_object_or_404(Memo.objects.select_related("account", "currency"), number=number)


class MemoPdfView(MemoDocumentMixin, DocumentPdfView):
    permission_required = perms.VIEW_MEMOS


class MemoEmailView(MemoDocumentMixin, DocumentEmailView):
    pass


class MemoEmailRetryView(MemoDocumentMixin, DocumentEmailRetryView):
    pass
