"""What every API view shares: no login redirect (the API answers 401 itself) and answers that
are never stored by a browser or proxy."""

from __future__ import annotations

from django.contrib.auth.decorators import login_not_required
from django.utils.cache import patch_cache_control
from rest_framework import viewsets
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response
from rest_framework.views import APIView


class ApiMixin:
    # The resource's name in api.permissions.ACTION_PERMISSIONS.
    resource: str = ""

    @classmethod
    def as_view(cls, *args, **kwargs):
        # LoginRequiredMiddleware would send a script to the login page; the API's own
        # authentication answers 401 instead.
        return login_not_required(super().as_view(*args, **kwargs))

    def finalize_response(self, request, response, *args, **kwargs):
        response = super().finalize_response(request, response, *args, **kwargs)
        if response.status_code >= 400 and isinstance(response, Response):
            # Errors are JSON in the documented shape on every endpoint, the schema's included
            # (whose own renderers write OpenAPI documents).
            response.accepted_renderer = JSONRenderer()
            response.accepted_media_type = JSONRenderer.media_type
        patch_cache_control(response, private=True, no_store=True)
        return response


class ApiViewSet(ApiMixin, viewsets.GenericViewSet):
    lookup_field = "number"
    lookup_value_regex = r"[A-Za-z0-9-]{1,32}"


class ApiView(ApiMixin, APIView):
    pass
