"""Billing-period arithmetic (months, quarters, years) on calendar dates."""

from __future__ import annotations

import calendar
import datetime as dt


def add_months(day: dt.date, months: int) -> dt.date:
    """The same day `months` later, clamped to the month's last day (Jan 31 + 1 -> Feb 28/29)."""
    month_index = day.month - 1 + months
    year, month = day.year + month_index // 12, month_index % 12 + 1
    return dt.date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def cycle_day_in(year: int, month: int, bill_cycle_day: int) -> dt.date:
    """The bill cycle day of a month, clamped to its last day (day 31 in February: the 28th)."""
    return dt.date(year, month, min(bill_cycle_day, calendar.monthrange(year, month)[1]))


def cycle_period_containing(
    day: dt.date, *, bill_cycle_day: int, months: int = 1
) -> tuple[dt.date, dt.date]:
    """The billing period of `months` months containing `day`, starting on the bill cycle day
    (DOMAIN.md 1: an account is billed on its bill cycle day). Quarters start in January, April,
    July and October, years in January, on the cycle day.

    Each start is the cycle day of its own month, not the previous start plus a month: with
    cycle day 31, February's period starts on the 28th and March's on the 31st again."""
    if not 1 <= bill_cycle_day <= 31 or months not in (1, 3, 12):
        raise ValueError(f"No billing period of {months} months on day {bill_cycle_day}")
    first_month = (day.month - 1) // months * months + 1
    start = cycle_day_in(day.year, first_month, bill_cycle_day)
    if start > day:  # before this period's cycle day: the period began one period earlier
        earlier = add_months(dt.date(day.year, first_month, 1), -months)
        start = cycle_day_in(earlier.year, earlier.month, bill_cycle_day)
    following = add_months(dt.date(start.year, start.month, 1), months)
    end = cycle_day_in(following.year, following.month, bill_cycle_day) - dt.timedelta(days=1)
    return start, end


def last_complete_cycle_period(
    day: dt.date, *, bill_cycle_day: int, months: int = 1
) -> tuple[dt.date, dt.date]:
    """The last billing period that ended before `day` (usage is billed for a complete period)."""
    start, _ = cycle_period_containing(day, bill_cycle_day=bill_cycle_day, months=months)
    return cycle_period_containing(
        start - dt.timedelta(days=1), bill_cycle_day=bill_cycle_day, months=months
    )
