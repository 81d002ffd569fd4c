"""What every API view shares: no login redirect (the API answers 401 itself) and answers that
are never stored by a browser or proxy."""

from __future__ import annotations

from django.contrib.auth.decorators import login_not_required
from django.http import JsonResponse
from django.utils.cache import patch_cache_control
from rest_framework import viewsets
from rest_framework.exceptions import MethodNotAllowed, NotFound
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response
from rest_framework.views import APIView


class ApiMixin:
    # The resource's name in api.permissions.ACTION_PERMISSIONS.
    resource: str = ""
    # No OPTIONS metadata: the schema describes every operation (OPTIONS is a 405).
    metadata_class = None

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
    # Any segment reaches the view, so an unknown number is the API's JSON 404, not a page's.
    lookup_value_regex = r"[^/]+"
    # Longer than any document number or SKU: no such document, and never sent to the database.
    max_lookup_length = 64

    def check_permissions(self, request):
        if self.action in (None, "metadata"):
            # A method this route does not map to an action (OPTIONS too: no metadata view).
            # Refused here, before any handler: a method named like an HTTP verb (an action
            # called `post`) must never answer a verb of another route.
            if not request.user or not request.user.is_authenticated:
                self.permission_denied(request)  # 401 with the challenge
            raise MethodNotAllowed(request.method)
        super().check_permissions(request)

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)  # authentication and permissions first
        value = kwargs.get(self.lookup_url_kwarg or self.lookup_field)
        # PostgreSQL refuses a NUL in a query (a 500): such a number is no document.
        if value is not None and (len(value) > self.max_lookup_length or "\x00" in value):
            raise NotFound()


class ApiView(ApiMixin, APIView):
    pass


@login_not_required
def not_found(request, *args, **kwargs):
    """Any other path under /api/v1/: a 404 in the API's error shape, not an HTML page."""
    response = JsonResponse({"errors": {"__all__": ["Not found."]}}, status=404)
    patch_cache_control(response, private=True, no_store=True)
    return response
