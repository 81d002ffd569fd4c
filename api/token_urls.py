from django.urls import path

from api import views

app_name = "api_tokens"
urlpatterns = [
    path("", views.ApiTokenListView.as_view(), name="token_list"),
    path("<int:token_id>/revoke/", views.ApiTokenRevokeView.as_view(), name="token_revoke"),
]
