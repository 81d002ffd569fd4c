"""Cursor pagination for every list: the UI's keyset pages (billing/keyset.py), its sorts and its
`after` / `before` cursors, so a page costs the same at any depth and for 1 row or 50."""

from __future__ import annotations

from django.conf import settings
from rest_framework.exceptions import ValidationError
from rest_framework.pagination import BasePagination
from rest_framework.response import Response
from rest_framework.utils.urls import remove_query_param, replace_query_param

from billing.keyset import InvalidCursor, paginate

MAX_PAGE_SIZE = 200
# Query parameters of the pagination and the sort, never handed to a list's FilterSet.
PAGE_PARAMS = {"after", "before", "sort", "page_size"}


class SortedList:
    """What a list endpoint declares, as the UI's list view does (billing/listing.py)."""

    sort_fields: dict[str, str] = {}
    sort_columns: dict[str, tuple[str, ...]] = {}
    default_sort = "-id"

    def get_sort(self, request) -> tuple[str, bool]:
        requested = request.query_params.get("sort")
        if requested is None:
            requested = self.default_sort
        key = requested.removeprefix("-")
        if key not in self.sort_fields:
            allowed = ", ".join(sorted(self.sort_fields))
            raise ValidationError({"sort": [f"Sort by one of {allowed} (prefix - to reverse)."]})
        return key, requested.startswith("-")


class KeysetPagination(BasePagination):
    def paginate_queryset(self, queryset, request, view=None):
        sort, descending = view.get_sort(request)
        self.request = request
        try:
            self.page = paginate(
                queryset,
                sort=view.sort_columns.get(sort, sort),
                descending=descending,
                page_size=self.page_size(request),
                after=request.query_params.get("after"),
                before=request.query_params.get("before"),
            )
        except InvalidCursor as exc:
            param = "before" if request.query_params.get("before") else "after"
            raise ValidationError({param: [str(exc)]}) from exc
        return self.page.rows

    @staticmethod
    def page_size(request) -> int:
        raw = request.query_params.get("page_size")
        if raw is None:
            return settings.PAGE_SIZE
        if not raw.isdigit() or not 1 <= int(raw) <= MAX_PAGE_SIZE:
            raise ValidationError({"page_size": [f"A whole number from 1 to {MAX_PAGE_SIZE}."]})
        return int(raw)

    def link(self, param: str, cursor: str | None) -> str | None:
        if cursor is None:
            return None
        url = self.request.build_absolute_uri()
        url = remove_query_param(url, "before" if param == "after" else "after")
        return replace_query_param(url, param, cursor)

    def get_paginated_response(self, data):
        return Response(
            {
                "next": self.link("after", self.page.next_cursor),
                "previous": self.link("before", self.page.previous_cursor),
                "results": data,
            }
        )

    def get_paginated_response_schema(self, schema):
        return {
            "type": "object",
            "required": ["next", "previous", "results"],
            "properties": {
                "next": {"type": "string", "format": "uri", "nullable": True},
                "previous": {"type": "string", "format": "uri", "nullable": True},
                "results": schema,
            },
        }

    def get_schema_operation_parameters(self, view):
        def param(name, description, schema):
            return {
                "name": name,
                "in": "query",
                "required": False,
                "description": description,
                "schema": schema,
            }

        sorts = [*view.sort_fields, *(f"-{key}" for key in view.sort_fields)]
        return [
            param("after", "The `next` link's cursor: the page after it.", {"type": "string"}),
            param("before", "The `previous` link's cursor.", {"type": "string"}),
            param("sort", f"Default {view.default_sort}.", {"type": "string", "enum": sorts}),
            param(
                "page_size",
                f"Rows per page (default {settings.PAGE_SIZE}).",
                {"type": "integer", "minimum": 1, "maximum": MAX_PAGE_SIZE},
            ),
        ]
