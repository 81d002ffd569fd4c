"""The OpenAPI schema and the Swagger UI page that shows it (files from drf-spectacular-sidecar,
no CDN; the page's script is a separate file, so it runs under our Content-Security-Policy)."""

from __future__ import annotations

from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView
from rest_framework.settings import api_settings

from api.base import ApiMixin
from api.permissions import ActionPermission


class SchemaView(ApiMixin, SpectacularAPIView):
    resource = "schema"
    # drf-spectacular serves the schema to anyone by default; ours needs the API permission.
    authentication_classes = api_settings.DEFAULT_AUTHENTICATION_CLASSES
    permission_classes = [ActionPermission]


class DocsView(ApiMixin, SpectacularSwaggerSplitView):
    resource = "schema"
    authentication_classes = api_settings.DEFAULT_AUTHENTICATION_CLASSES
    permission_classes = [ActionPermission]
    # drf-spectacular's page has an inline <style>; ours links static/css/api-docs.css instead.
    template_name = "api/swagger_ui.html"
    url_name = "api:schema"
