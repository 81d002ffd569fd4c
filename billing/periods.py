"""Billing-period arithmetic (months, quarters, years) on calendar dates."""

from __future__ import annotations

import calendar
import datetime as dt


def add_months(day: dt.date, months: int) -> dt.date:
    """The same day `months` later, clamped to the month's last day (Jan 31 + 1 -> Feb 28/29)."""
    month_index = day.month - 1 + months
    year, month = day.year + month_index // 12, month_index % 12 + 1
    return dt.date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def period_containing(day: dt.date, months: int) -> tuple[dt.date, dt.date]:
    """The calendar period of `months` months (1, 3, 12: month, quarter, year) containing `day`,
    as (first day, last day). Plain numbers in, so billing.models can use it (and this module
    needs nothing of billing)."""
    first_month = (day.month - 1) // months * months + 1
    start = dt.date(day.year, first_month, 1)
    end = add_months(start, months) - dt.timedelta(days=1)
    return start, end
