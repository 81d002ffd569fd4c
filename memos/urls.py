from django.urls import path

from memos import action_views, creation_views, views

app_name = "memos"

urlpatterns = [
    path("memos/", views.MemoListView.as_view(), name="memo_list"),
    # Before memos/<number>/, which would otherwise take "new" for a memo number.
    path("memos/new/", creation_views.MemoFromChargesCreateView.as_view(), name="memo_create"),
    # Before memos/<number>/ too.
    path("memos/export.csv", views.MemoExportView.as_view(), name="memo_export"),
    path("memos/<str:number>/", views.MemoDetailView.as_view(), name="memo_detail"),
    path("memos/<str:number>/post/", action_views.PostMemoView.as_view(), name="memo_post"),
    path("memos/<str:number>/unpost/", action_views.UnpostMemoView.as_view(), name="memo_unpost"),
    path("memos/<str:number>/cancel/", action_views.CancelMemoView.as_view(), name="memo_cancel"),
    path("memos/<str:number>/delete/", action_views.DeleteMemoView.as_view(), name="memo_delete"),
    path(
        "memos/<str:number>/recalculate-tax/",
        action_views.RecalculateTaxView.as_view(),
        name="memo_recalculate_tax",
    ),
    path(
        "memos/<str:number>/transfer/",
        action_views.TransferStatusView.as_view(),
        name="memo_transfer",
    ),
    path(
        "invoices/<str:number>/memos/new/",
        creation_views.MemoFromInvoiceCreateView.as_view(),
        name="memo_create_from_invoice",
    ),
]
