"""/insights/credit/: the credit insight (DOMAIN.md 8), each view a chart, the table behind it
and a CSV of that table; /insights/credit/<view>.csv the CSV alone."""

from __future__ import annotations

import csv
import io

from django.http import Http404, HttpResponse, HttpResponseBadRequest
from django.utils.safestring import mark_safe
from django.views.generic import TemplateView

from billing import permissions as perms
from billing.permissions import PermissionMixin
from memos.forms.insight import insight_form
from memos.insight import VIEWS, chart_svg, credit_insight


class CreditInsightView(PermissionMixin, TemplateView):
    permission_required = perms.VIEW_MEMOS
    template_name = "memos/credit_insight.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        form = insight_form(self.request.GET)
        context["form"] = form
        if form.is_valid():
            where = form.insight_filter()
            views = []
            for key in VIEWS:
                view = credit_insight(key, where)
                # pygal's SVG with its inline style and script taken out (memos.insight).
                views.append({"view": view, "svg": mark_safe(chart_svg(view))})
            context.update(views=views, where=where, query=where.query_string())
        return context


class CreditInsightCsvView(PermissionMixin, TemplateView):
    """One view's table as CSV, for the same filters as the page."""

    permission_required = perms.VIEW_MEMOS
    http_method_names = ["get", "head", "options"]

    def get(self, request, view: str):
        if view not in VIEWS:
            raise Http404("No such insight view")
        form = insight_form(request.GET)
        if not form.is_valid():
            errors = "; ".join(f"{k}: {' '.join(v)}" for k, v in form.errors.items())
            return HttpResponseBadRequest(
                f"Nothing was exported: {errors}\n", content_type="text/plain; charset=utf-8"
            )
        result = credit_insight(view, form.insight_filter())
        buffer = io.StringIO()
        csv.writer(buffer).writerows(result.csv_rows())
        response = HttpResponse(buffer.getvalue(), content_type="text/csv; charset=utf-8")
        where = form.insight_filter()
        name = f"credit-{view}-{where.currency.pk}-{where.start:%Y%m}-{where.end:%Y%m}.csv"
        response["Content-Disposition"] = f'attachment; filename="{name}"'
        return response
