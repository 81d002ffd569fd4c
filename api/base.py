"""What every API view shares: no login redirect (the API answers 401 itself) and answers that
are never stored by a browser or proxy."""

from __future__ import annotations

from django.contrib.auth.decorators import login_not_required
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import JsonResponse
from django.shortcuts import get_object_or_404
from django.utils.cache import patch_cache_control
from django.views.decorators.csrf import csrf_exempt
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import MethodNotAllowed, NotFound
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response
from rest_framework.views import APIView

from api.errors import conflict
from api.filters import UiFilterBackend
from api.idempotency import idempotent
from api.pagination import KeysetPagination, SortedList
from api.schema import ACTION_ERRORS, LIST_ERRORS, READ_ERRORS, WRITE_ERRORS


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


@csrf_exempt
@login_not_required
def not_found(request, *args, **kwargs):
    """Any other path under /api/v1/: a 404 in the API's error shape, not an HTML page (and
    not the CSRF check's HTML 403 for a POST: nothing here acts on a session)."""
    response = JsonResponse({"errors": {"__all__": ["Not found."]}}, status=404)
    patch_cache_control(response, private=True, no_store=True)
    return response


# --- the base of every resource: a list, one document, and the actions on it ----------------


class ActionViewSet(ApiViewSet):
    """The base of every action: a service called as the request's user, its refusal answered
    in the API's shape (api.errors)."""

    def act(self, service, /, *, takes_input: bool = False, **kwargs):
        """Call a service as the request's user. Its refusal is a 409 (the document's state),
        except, for an action with a body, a refusal the service keyed by what was sent (a
        field, a row, or the whole input: `__all__`): a 400 in that shape."""
        try:
            return service(actor=self.request.user, **kwargs)
        except DjangoValidationError as exc:
            if takes_input and hasattr(exc, "error_dict"):
                raise
            raise conflict(exc) from exc


class ResourceViewSet(SortedList, ActionViewSet):
    """A resource's list and one document, as its UI pages read them.

    A subclass names its selectors and serializers; the list takes the UI list's FilterSet and
    sorts (`sorts`, a billing.selectors.ListSorts) and pages by cursor; one document is looked up
    by `lookup_field` in `detail_queryset()`. The schema of both answers follows from the
    serializers (set in __init_subclass__), so no subclass repeats a list or retrieve method.
    """

    pagination_class = KeysetPagination
    filter_backends: list = []
    filterset_class = None
    sorts = None
    list_serializer = None
    detail_serializer = None

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if cls.filterset_class is not None:
            cls.filter_backends = [UiFilterBackend]
        if cls.sorts is not None:
            cls.sort_fields = cls.sorts.fields
            cls.sort_columns = cls.sorts.columns
            cls.default_sort = cls.sorts.default
        if cls.list_serializer is not None and cls.detail_serializer is not None:
            cls.serializer_class = cls.detail_serializer
            extend_schema_view(
                list=extend_schema(responses={200: cls.list_serializer(many=True), **LIST_ERRORS}),
                retrieve=extend_schema(responses={200: cls.detail_serializer, **READ_ERRORS}),
            )(cls)

    # What a subclass provides.
    def list_queryset(self):
        raise NotImplementedError

    def detail_queryset(self):
        return self.list_queryset()

    def get_queryset(self):
        return self.list_queryset() if self.action == "list" else self.detail_queryset()

    def target_queryset(self):
        """Where an action finds its document (the services lock and read what they need)."""
        return self.detail_queryset()

    def get_object(self):
        value = self.kwargs[self.lookup_url_kwarg or self.lookup_field]
        queryset = self.detail_queryset() if self.action == "retrieve" else self.target_queryset()
        return get_object_or_404(queryset, **{self.lookup_field: value})

    def list(self, request, *args, **kwargs):
        rows = self.paginate_queryset(self.filter_queryset(self.list_queryset()))
        return self.get_paginated_response(self.list_serializer(rows, many=True).data)

    def retrieve(self, request, *args, **kwargs):
        return Response(self.detail_serializer(self.get_object()).data)

    def answer(self, lookup, status_code: int = 200) -> Response:
        """One document as `retrieve` reads it, fresh from the database (after a write)."""
        obj = get_object_or_404(self.detail_queryset(), **{self.lookup_field: lookup})
        return Response(self.detail_serializer(obj).data, status=status_code)


def post_action(*, detail: bool = True, path: str, responses, request=None, summary: str = "",
                status_code: int = 200, name: str | None = None,
                operation_id: str | None = None, **action_kwargs):  # fmt: skip
    """A POST action of a resource: routed, documented with every error answer, idempotent
    (api.idempotency: the same Idempotency-Key replays the first answer)."""
    errors = ACTION_ERRORS if detail else WRITE_ERRORS

    def decorate(method):
        method = idempotent(method)
        method = action(
            detail=detail, methods=["post"], url_path=path, url_name=name or path, **action_kwargs
        )(method)
        return extend_schema(
            request=request,
            responses={status_code: responses, **errors},
            summary=summary or None,
            operation_id=operation_id,
        )(method)

    return decorate
