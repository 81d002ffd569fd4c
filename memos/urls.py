from django.urls import path

from memos import creation_views, views

app_name = "memos"

urlpatterns = [
    path("memos/", views.MemoListView.as_view(), name="memo_list"),
    # Before memos/<number>/, which would otherwise take "new" for a memo number.
    path("memos/new/", creation_views.MemoFromChargesCreateView.as_view(), name="memo_create"),
    # Before memos/<number>/ too.
    path("memos/export.csv", views.MemoExportView.as_view(), name="memo_export"),
    path("memos/<str:number>/", views.MemoDetailView.as_view(), name="memo_detail"),
    path(
        "invoices/<str:number>/memos/new/",
        creation_views.MemoFromInvoiceCreateView.as_view(),
        name="memo_create_from_invoice",
    ),
]
