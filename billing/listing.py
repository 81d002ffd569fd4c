"""The list page pattern (DESIGN.md rule 8): FilterSet + selector + a `results` partial.

A FilteredListView renders the whole page, or only its `results` partial for htmx requests
(filters changed, a sort header or a page link clicked), so the table updates in place while
hx-push-url keeps the address bar shareable.
"""

from __future__ import annotations

from django import forms
from django.conf import settings
from django.core.validators import MaxLengthValidator
from django.http import HttpResponse
from django.utils.cache import patch_vary_headers
from django.views.generic import TemplateView

from billing.keyset import InvalidCursor, Page, approximate_count, ordering, paginate
from billing.permissions import PermissionMixin
from billing.selectors import SEARCH_MAX_LENGTH

# Query parameters that are not filters: never shown as chips, never fed to the FilterSet.
NON_FILTER_PARAMS = {"sort", "after", "before"}


class FilteredListView(PermissionMixin, TemplateView):
    filterset_class = None
    # Sort options by URL key: {"invoice_date": "invoice date", ...}; "-key" sorts descending.
    sort_fields: dict[str, str] = {}
    # The columns a sort key orders by, where they are not just the key's own column (the amount
    # sorts group by currency first, so amounts of different currencies never interleave).
    sort_columns: dict[str, tuple[str, ...]] = {}
    default_sort = "-id"
    partial_name = "results"

    def get_queryset(self):
        raise NotImplementedError

    def get_sort(self) -> tuple[str, bool]:
        requested = self.request.GET.get("sort", "")
        key = requested.removeprefix("-")
        if key not in self.sort_fields:
            requested = self.default_sort
            key = requested.removeprefix("-")
        return key, requested.startswith("-")

    def get_ordering(self, queryset) -> list[str]:
        """The ORDER BY of the list's sort, as its pages walk it (the CSV export uses it too)."""
        sort, descending = self.get_sort()
        return ordering(queryset.model, self.sort_columns.get(sort, sort), descending)

    def get_filterset(self):
        """The FilterSet bound to the request's filters (unbound when there are none)."""
        data = self.request.GET.copy()
        for param in NON_FILTER_PARAMS:
            data.pop(param, None)
        filterset = self.filterset_class(
            data or None, queryset=self.get_queryset(), request=self.request
        )
        cap_text_filters(filterset.form)
        return filterset

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        filterset = self.get_filterset()
        sort, descending = self.get_sort()
        page = Page(rows=[], total=0)
        page_error = ""
        # Invalid filters show their errors and no rows, never "everything".
        if not filterset.is_bound or filterset.is_valid():
            try:
                # The approximate total comes in the page's own query (billing.keyset).
                page = paginate(
                    filterset.qs,
                    sort=self.sort_columns.get(sort, sort),
                    descending=descending,
                    page_size=settings.PAGE_SIZE,
                    after=self.request.GET.get("after"),
                    before=self.request.GET.get("before"),
                    count_cap=settings.APPROXIMATE_COUNT_LIMIT,
                )
            except InvalidCursor as exc:
                page_error = str(exc)
                page.total, page.total_capped = approximate_count(
                    filterset.qs, settings.APPROXIMATE_COUNT_LIMIT
                )
        context.update(
            filterset=filterset,
            filter_form=filterset.form,
            page=page,
            rows=page.rows,
            total=page.total or 0,
            total_capped=page.total_capped,
            page_error=page_error,
            sort=sort,
            sort_descending=descending,
            sort_param=("-" if descending else "") + sort,
            chips=applied_filter_chips(filterset, self.request),
            sort_headers=self.sort_headers(sort, descending),
        )
        return context

    def sort_headers(self, sort: str, descending: bool) -> dict[str, dict[str, str]]:
        """Per sortable column: its label, the URL a click goes to, and its aria-sort state."""
        headers = {}
        for key, label in self.sort_fields.items():
            params = self.request.GET.copy()
            for param in ("after", "before"):
                params.pop(param, None)
            # A click on the sorted column reverses it; on another column sorts it ascending.
            params["sort"] = key if (key != sort or descending) else f"-{key}"
            state = ("descending" if descending else "ascending") if key == sort else ""
            headers[key] = {"label": label, "url": "?" + params.urlencode(), "aria_sort": state}
        return headers

    def get_template_names(self):
        names = super().get_template_names()
        if self.request.htmx and not self.request.htmx.history_restore_request:
            return [f"{name}#{self.partial_name}" for name in names]
        return names

    def render_to_response(self, context, **response_kwargs) -> HttpResponse:
        response = super().render_to_response(context, **response_kwargs)
        patch_vary_headers(response, ("HX-Request",))
        return response


def cap_text_filters(form) -> None:
    """Typed filter text longer than any name or number is an error beside its filter, never a
    query: SQLite refuses a LIKE pattern over 50,000 bytes (a 500), and nothing that long can
    match anyway. Every list gets it, whatever its FilterSet declares."""
    for field in form.fields.values():
        if isinstance(field, forms.CharField) and field.max_length is None:
            field.max_length = SEARCH_MAX_LENGTH
            field.validators.append(MaxLengthValidator(SEARCH_MAX_LENGTH))


def applied_filter_chips(filterset, request) -> list[dict[str, str]]:
    """Removable chips for the filters in use: label, shown value, URL without that filter."""
    if not filterset.is_bound:
        return []
    form = filterset.form
    chips = []
    for name, bound in ((name, form[name]) for name in form.fields):
        keys = [k for k in request.GET if k == name or k.startswith(f"{name}_")]
        values = [request.GET.get(k, "") for k in keys]
        if not any(values):
            continue
        remaining = request.GET.copy()
        for key in [*keys, "after", "before"]:
            remaining.pop(key, None)
        field = form.fields[name]
        label = str(bound.label)
        shown = " – ".join(v for v in values if v)
        bounds = dict(zip(keys, values, strict=True))
        if any(key.endswith(RANGE_SUFFIXES) for key in keys):
            text, spoken = range_chip(label, bounds)
        else:
            if hasattr(field, "choices"):
                labels = dict((str(k), str(v)) for k, v in field.choices)
                shown = labels.get(values[0], shown)
            text = spoken = f"{label}: {shown}"
        chips.append(
            {
                "label": label,
                "value": shown,
                "text": text,
                "spoken": spoken,
                "url": "?" + remaining.urlencode(),
            }
        )
    return chips


# Lower and upper bounds of a range filter (django-filter's RangeFilter/DateFromToRangeFilter).
RANGE_SUFFIXES = ("_min", "_max", "_after", "_before")


def range_chip(label: str, bounds: dict[str, str]) -> tuple[str, str]:
    """A range filter's chip says its comparison ("Amount >= 100", "Memo Date <= 2026-10-31",
    "Amount 10 – 2000"), and how a screen reader should say it."""
    low = next((v for k, v in bounds.items() if k.endswith(("_min", "_after")) and v), "")
    high = next((v for k, v in bounds.items() if k.endswith(("_max", "_before")) and v), "")
    if low and high:
        return f"{label} {low} – {high}", f"{label} from {low} to {high}"
    if low:
        return f"{label} >= {low}", f"{label} at least {low}"
    return f"{label} <= {high}", f"{label} at most {high}"
