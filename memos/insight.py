"""Credit insight (DOMAIN.md 8): credit issued (posted credit memos) by reason code, creating
user, product and charge, month, source (bill runs or not) and account, for a period of months,
a currency and optionally a batch.

Read from the sums memos.services.insight keeps (memos.models.CreditInsight), never from the
memos themselves: each view is one indexed GROUP BY over at most a few thousand summary rows
plus one lookup of the labels it shows, whatever the number of memos. Each row carries the URL
of the memo list filtered to exactly the memos it sums.
"""

from __future__ import annotations

import calendar
import datetime as dt
import re
from dataclasses import dataclass, field
from decimal import Decimal
from urllib.parse import urlencode

import pygal
from django.contrib.auth import get_user_model
from django.db.models import Sum
from django.urls import reverse
from pygal.style import Style

from billing.models import Account, Charge, Currency
from billing.money import ZERO, format_money, round_money
from memos.models import CreditInsight, MemoStatus, MemoType, ReasonCode

TOP_ACCOUNTS = 10

# The views, in page order: key -> (title, the dimension's column header).
VIEWS = {
    "reason": ("Credit by reason code", "Reason Code"),
    "user": ("Credit by creating user", "Created by"),
    "charge": ("Credit by product and charge", "Product / Charge"),
    "month": ("Credit by month", "Month"),
    "source": ("Share of credit from bill runs", "Source"),
    "accounts": (f"Top {TOP_ACCOUNTS} accounts by credit", "Account"),
}


@dataclass(frozen=True)
class InsightFilter:
    start: dt.date  # first day of the first month
    end: dt.date  # last day of the last month
    currency: Currency
    batch: str = ""

    def memo_list_params(self) -> dict[str, str]:
        """The memo list's filters for every memo this insight counts."""
        params = {
            "memo_type": MemoType.CREDIT,
            "status": MemoStatus.POSTED,
            "currency": self.currency.pk,
            "memo_date_after": self.start.isoformat(),
            "memo_date_before": self.end.isoformat(),
        }
        if self.batch:
            params["batch"] = self.batch
        return params

    def query_string(self) -> str:
        params = {
            "start": f"{self.start:%Y-%m}",
            "end": f"{self.end:%Y-%m}",
            "currency": self.currency.pk,
        }
        if self.batch:
            params["batch"] = self.batch
        return urlencode(params)


def month_end(day: dt.date) -> dt.date:
    return day.replace(day=calendar.monthrange(day.year, day.month)[1])


@dataclass
class InsightRow:
    label: str
    memo_count: int
    amount_excl_tax: Decimal
    amount: Decimal
    url: str = ""
    share: Decimal | None = None  # percent of the view's total, for the source view


@dataclass
class InsightView:
    key: str
    title: str
    dimension: str
    currency: Currency
    rows: list[InsightRow] = field(default_factory=list)

    @property
    def total(self) -> Decimal:
        return sum((row.amount for row in self.rows), ZERO)

    @property
    def count_label(self) -> str:
        return "Items" if self.key == "charge" else "Memos"

    def csv_rows(self) -> list[list[str]]:
        code = self.currency.pk
        header = [
            self.dimension,
            self.count_label,
            f"Amount excl. Tax ({code})",
            f"Amount ({code})",
        ]
        if self.key == "source":
            header.append("Share (%)")
        rows = [header]
        for row in self.rows:
            line = [
                row.label,
                str(row.memo_count),
                format_money(row.amount_excl_tax, self.currency).replace(",", ""),
                format_money(row.amount, self.currency).replace(",", ""),
            ]
            if self.key == "source":
                line.append(f"{row.share:.1f}" if row.share is not None else "")
            rows.append(line)
        return rows


DIMENSION = {
    "reason": ("memo", "reason_code_id"),
    "user": ("memo", "created_by_id"),
    "charge": ("charge", "charge_id"),
    "month": ("memo", "month"),
    "source": ("memo", "from_bill_run"),
    "accounts": ("account", "account_id"),
}


def credit_insight(key: str, where: InsightFilter) -> InsightView:
    """One view of the insight for `where`."""
    title, dimension = VIEWS[key]
    kind, column = DIMENSION[key]
    qs = CreditInsight.objects.filter(
        kind=kind,
        currency_id=where.currency.pk,
        month__gte=where.start.replace(day=1),
        month__lte=where.end,
    )
    if where.batch:
        qs = qs.filter(batch=where.batch)
    sums = (
        qs.order_by()
        .values(column)
        .annotate(n=Sum("memo_count"), net=Sum("amount_excl_tax"), total=Sum("amount"))
        .filter(n__gt=0)
    )
    sums = sums.order_by(column) if key == "month" else sums.order_by("-total", column)
    if key == "accounts":
        sums = sums[:TOP_ACCOUNTS]
    found = list(sums)
    currency = where.currency
    rows = []
    labels = _labels(key, [row[column] for row in found])
    base = where.memo_list_params()
    list_url = reverse("memos:memo_list")
    for row in found:
        value = row[column]
        label, extra = labels.get(value, (str(value), None))
        url = f"{list_url}?{urlencode({**base, **extra})}" if extra is not None else ""
        rows.append(
            InsightRow(
                label=label,
                memo_count=int(row["n"]),
                amount_excl_tax=round_money(row["net"], currency),
                amount=round_money(row["total"], currency),
                url=url,
            )
        )
    view = InsightView(key=key, title=title, dimension=dimension, currency=currency, rows=rows)
    if key == "source":
        total = view.total
        for row in rows:
            row.share = (row.amount * 100 / total).quantize(Decimal("0.1")) if total else None
    return view


def _labels(key: str, values: list) -> dict:
    """value -> (label, the memo list filter for it; None: no list can show just those)."""
    if key == "reason":
        codes = ReasonCode.objects.in_bulk([v for v in values if v])
        return {v: (codes[v].name, {"reason_code": v}) for v in values if v in codes}
    if key == "user":
        users = get_user_model().objects.in_bulk([v for v in values if v])
        labels = {
            v: (users[v].get_full_name() or users[v].get_username(), {"created_by": v})
            for v in values
            if v in users
        }
        if 0 in values:
            labels[0] = ("system (no user)", None)
        return labels
    if key == "charge":
        charges = Charge.objects.select_related("product").in_bulk([v for v in values if v])
        labels = {
            v: (f"{charges[v].product.name} / {charges[v].name}", {"charge": v})
            for v in values
            if v in charges
        }
        if 0 in values:
            labels[0] = ("(no catalog charge)", None)
        return labels
    if key == "month":
        return {
            v: (
                f"{v:%Y-%m}",
                {"memo_date_after": v.isoformat(), "memo_date_before": month_end(v).isoformat()},
            )
            for v in values
        }
    if key == "source":
        return {
            True: ("Bill runs", {"from_bill_run": "true"}),
            False: ("Invoices and charges", {"from_bill_run": "false"}),
        }
    accounts = Account.objects.in_bulk([v for v in values if v])
    return {
        v: (f"{accounts[v].number} {accounts[v].name}", {"account": accounts[v].number})
        for v in values
        if v in accounts
    }


# --- charts ------------------------------------------------------------------------------------

CHART_STYLE = Style(
    background="transparent",
    plot_background="transparent",
    font_family="system-ui, sans-serif",
    colors=("#0d6efd", "#198754", "#6f42c1", "#fd7e14", "#20c997", "#6c757d"),
)
_STRIP = [
    re.compile(r"<style[^>]*>.*?</style>", re.S),
    re.compile(r"<script[^>]*>.*?</script>", re.S),
    re.compile(r'\sstyle="[^"]*"'),
    re.compile(r"<!--.*?-->", re.S),
]


def chart_svg(view: InsightView) -> str:
    """The view as an SVG bar chart (pygal), every bar a link to its memo list.

    pygal puts a <style> element, style attributes and a tooltip <script> into its SVG; the
    Content-Security-Policy allows none of them inline, so they are taken out and the chart is
    styled by memodesk.css (its "Credit insight charts" section, by pygal's own classes)."""
    if not view.rows:
        return ""
    horizontal = view.key != "month"
    chart_class = pygal.HorizontalBar if horizontal else pygal.Bar
    height = max(160, 40 + 28 * len(view.rows)) if horizontal else 300
    chart = chart_class(
        js=[],
        disable_xml_declaration=True,
        show_legend=False,
        style=CHART_STYLE,
        width=720,
        height=height,
        print_values=False,
        truncate_label=40,
        value_formatter=lambda v: format_money(Decimal(str(v)), view.currency),
        margin=8,
    )
    chart.title = None
    chart.x_labels = [row.label for row in view.rows]
    chart.add(
        f"Amount ({view.currency.pk})",
        [
            {
                "value": float(row.amount),
                "label": f"{row.label}: {view.currency.pk} "
                f"{format_money(row.amount, view.currency)}",
                **({"xlink": {"href": row.url, "target": "_self"}} if row.url else {}),
            }
            for row in view.rows
        ],
    )
    svg = chart.render(is_unicode=True)
    for pattern in _STRIP:
        svg = pattern.sub("", svg)
    # A fixed id would repeat across the page's charts; the page names each chart itself.
    svg = re.sub(r'\sid="chart-[^"]*"', "", svg, count=1)
    return svg.replace("<svg ", '<svg role="img" focusable="false" ', 1)
