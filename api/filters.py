"""A list's filters are the UI list's FilterSet, read from the query string."""

from __future__ import annotations

from django_filters.rest_framework import DjangoFilterBackend

from billing.listing import cap_text_filters


class UiFilterBackend(DjangoFilterBackend):
    """django-filter's backend, with the UI lists' cap on typed text (billing/listing.py), so a
    filter the page refuses is refused here too (400 with the filter's message)."""

    def get_filterset(self, request, queryset, view):
        filterset = super().get_filterset(request, queryset, view)
        if filterset is not None:
            cap_text_filters(filterset.form)
        return filterset
