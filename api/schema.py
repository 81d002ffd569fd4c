"""The error answers every operation documents (api/errors.py writes them)."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiResponse
from rest_framework import serializers


class ErrorsSerializer(serializers.Serializer):
    """{"errors": {"<field or row key>": ["message", ...]}}"""

    errors = serializers.DictField(child=serializers.ListField(child=serializers.CharField()))


ERRORS = OpenApiResponse(ErrorsSerializer, description='{"errors": {"<field or row>": [...]}}')
READ_ERRORS = {401: ERRORS, 403: ERRORS, 404: ERRORS, 429: ERRORS}
LIST_ERRORS = {400: ERRORS, 401: ERRORS, 403: ERRORS, 429: ERRORS}
WRITE_ERRORS = {400: ERRORS, 401: ERRORS, 403: ERRORS, 409: ERRORS, 422: ERRORS, 429: ERRORS}
ACTION_ERRORS = {**WRITE_ERRORS, 404: ERRORS}
