"""API tokens in the Django admin: every user's tokens listed, searchable, and revocable. The
token itself is never stored (only its SHA-256 digest, shown read-only), so nobody reads it
here; tokens are made by their users on the API tokens page."""

from __future__ import annotations

from django.contrib import admin, messages

from api import tokens
from api.models import ApiToken
from billing.admin import DocumentAdmin


class RevokedFilter(admin.SimpleListFilter):
    title = "revoked"
    parameter_name = "revoked"

    def lookups(self, request, model_admin):
        return [("no", "Active"), ("yes", "Revoked")]

    def queryset(self, request, queryset):
        if self.value() == "no":
            return queryset.filter(revoked_at__isnull=True)
        if self.value() == "yes":
            return queryset.filter(revoked_at__isnull=False)
        return queryset


@admin.register(ApiToken)
class ApiTokenAdmin(DocumentAdmin):
    list_display = ["name", "user", "prefix", "created_at", "last_used_at", "revoked_at"]
    list_filter = [RevokedFilter]
    list_select_related = ["user"]
    search_fields = ["name", "prefix", "user__username"]
    date_hierarchy = "created_at"
    fields = ["name", "user", "prefix", "digest", "created_at", "last_used_at", "revoked_at"]
    actions = ["revoke_selected"]

    @admin.action(description="Revoke the selected tokens", permissions=["revoke"])
    def revoke_selected(self, request, queryset):
        count = tokens.revoke_api_tokens(
            token_ids=queryset.values_list("pk", flat=True), actor=request.user
        )
        self.message_user(
            request,
            f"{count} token{'s' if count != 1 else ''} revoked; they get 401 from now on.",
            messages.SUCCESS,
        )

    def has_revoke_permission(self, request) -> bool:
        return request.user.has_perm("api.change_apitoken")
