"""Releasing billed periods: when a generated document is canceled, its charge periods can be
billed again (Zuora resets the charged-through date the same way)."""

from __future__ import annotations

from django.db.models import Max, Min

from billing.bill_runs.rating import ONE_DAY
from billing.models import BilledPeriod, SubscriptionCharge


def release_billed_periods(periods) -> int:
    """Delete the billed periods (a queryset); their usage records become unbilled, and each
    charge's charged-through date moves back to the first released period, unless a later
    period was billed since (then it stays, so nothing is billed twice). Returns the number
    of periods released."""
    spans = list(
        periods.order_by()
        .values("subscription_charge_id")
        .annotate(first=Min("period_start"), last=Max("period_end"))
    )
    if not spans:
        return 0
    charges = SubscriptionCharge.objects.select_for_update().in_bulk(
        [span["subscription_charge_id"] for span in spans]
    )
    moved = []
    for span in spans:
        sc = charges[span["subscription_charge_id"]]
        if sc.charged_through_date == span["last"] + ONE_DAY:
            sc.charged_through_date = span["first"]
            moved.append(sc)
    SubscriptionCharge.objects.bulk_update(moved, ["charged_through_date"])
    deleted, _ = BilledPeriod.objects.filter(pk__in=periods.values("pk")).delete()
    return deleted
