from django.urls import path

from memos import views

app_name = "memos"

urlpatterns = [
    path("memos/", views.MemoListView.as_view(), name="memo_list"),
    path("memos/<str:number>/", views.MemoDetailView.as_view(), name="memo_detail"),
]
