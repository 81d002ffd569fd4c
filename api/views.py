"""The "API tokens" page: a user makes, names, sees once and revokes their own tokens."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.views import View

from api import tokens
from api.forms import ApiTokenForm
from api.models import ApiToken
from api.permissions import USE_API
from billing.permissions import PermissionMixin


class ApiTokenListView(PermissionMixin, View):
    """/api-tokens/: the user's tokens, and a form for a new one."""

    permission_required = USE_API
    template_name = "api/token_list.html"

    def get(self, request):
        return self.render(ApiTokenForm())

    def post(self, request):
        form = ApiTokenForm(request.POST)
        if form.is_valid():
            try:
                token, secret = tokens.create_api_token(
                    user=request.user, name=form.cleaned_data["name"]
                )
            except ValidationError as exc:
                form.add_error(None, exc)
            else:
                # Shown in this answer only (the page is never stored: no-store): it is not
                # kept anywhere it could be read again.
                return self.render(ApiTokenForm(), new_token=token, secret=secret, status=201)
        return self.render(form, status=200)

    def render(self, form, *, new_token=None, secret="", status=200):
        context = {
            "form": form,
            "tokens": ApiToken.objects.filter(user=self.request.user),
            "new_token": new_token,
            "secret": secret,
        }
        return TemplateResponse(self.request, self.template_name, context, status=status)


class ApiTokenRevokeView(PermissionMixin, View):
    permission_required = USE_API
    http_method_names = ["post"]

    def post(self, request, token_id: int):
        try:
            token = tokens.revoke_api_token(user=request.user, token_id=token_id)
        except ApiToken.DoesNotExist:
            raise Http404("No such token") from None
        messages.success(request, f"The token “{token.name}” was revoked.")
        return redirect("api_tokens:token_list")
