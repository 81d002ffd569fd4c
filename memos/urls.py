from django.urls import path

from billing.converters import DocumentNumberConverter  # noqa: F401  registers <doc:...>
from memos.views import (
    actions,
    approvals,
    detail,
    edit,
    export,
    from_charges,
    from_invoice,
    insight,
    lists,
    settlement,
    transfer,
)

app_name = "memos"

urlpatterns = [
    path("memos/", lists.MemoListView.as_view(), name="memo_list"),
    # Before memos/<number>/, which would otherwise take "new" for a memo number.
    path("memos/new/", from_charges.MemoFromChargesCreateView.as_view(), name="memo_create"),
    # Before memos/<number>/ too.
    path("memos/export.csv", export.MemoExportView.as_view(), name="memo_export"),
    # Before memos/<number>/ too: "transfer" is not a memo number.
    path(
        "memos/transfer/",
        transfer.MemoBulkTransferView.as_view(),
        name="memo_bulk_transfer",
    ),
    path("memos/<doc:number>/", detail.MemoDetailView.as_view(), name="memo_detail"),
    path("memos/<doc:number>/edit/", edit.MemoEditView.as_view(), name="memo_edit"),
    path("memos/<doc:number>/post/", actions.PostMemoView.as_view(), name="memo_post"),
    # DOMAIN.md 8: the approval workflow.
    path("memos/<doc:number>/submit/", approvals.SubmitMemoView.as_view(), name="memo_submit"),
    path("memos/<doc:number>/approve/", approvals.ApproveMemoView.as_view(), name="memo_approve"),
    path("memos/<doc:number>/reject/", approvals.RejectMemoView.as_view(), name="memo_reject"),
    path("memos/<doc:number>/unpost/", actions.UnpostMemoView.as_view(), name="memo_unpost"),
    path("memos/<doc:number>/cancel/", actions.CancelMemoView.as_view(), name="memo_cancel"),
    path("memos/<doc:number>/delete/", actions.DeleteMemoView.as_view(), name="memo_delete"),
    path(
        "memos/<doc:number>/recalculate-tax/",
        actions.RecalculateTaxView.as_view(),
        name="memo_recalculate_tax",
    ),
    path(
        "memos/<doc:number>/transfer/",
        actions.TransferStatusView.as_view(),
        name="memo_transfer",
    ),
    path(
        "memos/<doc:number>/apply/",
        settlement.ApplyCreditMemoView.as_view(),
        name="memo_apply",
    ),
    path(
        "memos/<doc:number>/applications/<int:application_id>/unapply/",
        settlement.UnapplyView.as_view(),
        name="memo_unapply",
    ),
    path(
        "memos/<doc:number>/refund/",
        settlement.RefundCreditMemoView.as_view(),
        name="memo_refund",
    ),
    path(
        "memos/<doc:number>/reverse/",
        settlement.ReverseCreditMemoView.as_view(),
        name="memo_reverse",
    ),
    path(
        "memos/<doc:number>/write-off/",
        settlement.WriteOffCreditMemoView.as_view(),
        name="memo_write_off",
    ),
    # DOMAIN.md 8: the credit insight.
    path("insights/credit/", insight.CreditInsightView.as_view(), name="credit_insight"),
    path(
        "insights/credit/<slug:view>.csv",
        insight.CreditInsightCsvView.as_view(),
        name="credit_insight_csv",
    ),
    path(
        "invoices/<doc:number>/memos/new/",
        from_invoice.MemoFromInvoiceCreateView.as_view(),
        name="memo_create_from_invoice",
    ),
]
