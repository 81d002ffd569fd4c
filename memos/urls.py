from django.urls import path

from billing.converters import DocumentNumberConverter  # noqa: F401  registers <doc:...>
from memos import (
    action_views,
    creation_views,
    edit_views,
    settlement_views,
    transfer_views,
    views,
)

app_name = "memos"

urlpatterns = [
    path("memos/", views.MemoListView.as_view(), name="memo_list"),
    # Before memos/<number>/, which would otherwise take "new" for a memo number.
    path("memos/new/", creation_views.MemoFromChargesCreateView.as_view(), name="memo_create"),
    # Before memos/<number>/ too.
    path("memos/export.csv", views.MemoExportView.as_view(), name="memo_export"),
    # Before memos/<number>/ too: "transfer" is not a memo number.
    path(
        "memos/transfer/",
        transfer_views.MemoBulkTransferView.as_view(),
        name="memo_bulk_transfer",
    ),
    path("memos/<doc:number>/", views.MemoDetailView.as_view(), name="memo_detail"),
    path("memos/<doc:number>/edit/", edit_views.MemoEditView.as_view(), name="memo_edit"),
    path("memos/<doc:number>/post/", action_views.PostMemoView.as_view(), name="memo_post"),
    path("memos/<doc:number>/unpost/", action_views.UnpostMemoView.as_view(), name="memo_unpost"),
    path("memos/<doc:number>/cancel/", action_views.CancelMemoView.as_view(), name="memo_cancel"),
    path("memos/<doc:number>/delete/", action_views.DeleteMemoView.as_view(), name="memo_delete"),
    path(
        "memos/<doc:number>/recalculate-tax/",
        action_views.RecalculateTaxView.as_view(),
        name="memo_recalculate_tax",
    ),
    path(
        "memos/<doc:number>/transfer/",
        action_views.TransferStatusView.as_view(),
        name="memo_transfer",
    ),
    path(
        "memos/<doc:number>/apply/",
        settlement_views.ApplyCreditMemoView.as_view(),
        name="memo_apply",
    ),
    path(
        "memos/<doc:number>/applications/<int:application_id>/unapply/",
        settlement_views.UnapplyView.as_view(),
        name="memo_unapply",
    ),
    path(
        "memos/<doc:number>/refund/",
        settlement_views.RefundCreditMemoView.as_view(),
        name="memo_refund",
    ),
    path(
        "memos/<doc:number>/reverse/",
        settlement_views.ReverseCreditMemoView.as_view(),
        name="memo_reverse",
    ),
    path(
        "memos/<doc:number>/write-off/",
        settlement_views.WriteOffCreditMemoView.as_view(),
        name="memo_write_off",
    ),
    path(
        "invoices/<doc:number>/memos/new/",
        creation_views.MemoFromInvoiceCreateView.as_view(),
        name="memo_create_from_invoice",
    ),
]
