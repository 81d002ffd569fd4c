"""Releasing billed periods: when a generated document is canceled, its charge periods can be
billed again (Zuora resets the charged-through date the same way)."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db.models import Exists, Max, Min, OuterRef

from billing.bill_runs.rating import ONE_DAY
from billing.models import BilledPeriod, SubscriptionCharge


def check_nothing_billed_later(periods) -> None:
    """Refuse to release periods when a later period of the same charge was billed since (by a
    later run): its charged-through date could not move back, and the released periods would
    never be billed again. Cancel the later documents first (as Zuora asks)."""
    later = BilledPeriod.objects.filter(
        subscription_charge_id=OuterRef("subscription_charge_id"),
        period_start__gt=OuterRef("period_end"),
    ).exclude(pk__in=periods.values("pk"))
    blocking = periods.annotate(billed_later=Exists(later)).filter(billed_later=True)
    first = blocking.select_related("subscription_charge__charge").first()
    if first is not None:
        latest = (
            BilledPeriod.objects.filter(
                subscription_charge_id=first.subscription_charge_id,
                period_start__gt=first.period_end,
            )
            .select_related("bill_run")
            .order_by("-period_start")
            .first()
        )
        by = f" by {latest.bill_run.number}" if latest and latest.bill_run else ""
        raise ValidationError(
            f"{first.subscription_charge.charge.name} was billed for a later period{by}: "
            "cancel the later documents first, so that no period is left unbilled.",
            code="billed_later",
        )


def release_billed_periods(periods) -> int:
    """Delete the billed periods (a queryset); their usage records become unbilled, and each
    charge's charged-through date moves back to the first released period. Refused when a
    later period of the same charge was billed since. Returns the number released."""
    spans = list(
        periods.order_by()
        .values("subscription_charge_id")
        .annotate(first=Min("period_start"), last=Max("period_end"))
    )
    if not spans:
        return 0
    check_nothing_billed_later(periods)
    # Locked by id, the order the bill-run chunks lock charges in.
    charges = {
        sc.pk: sc
        for sc in SubscriptionCharge.objects.select_for_update()
        .filter(pk__in=[span["subscription_charge_id"] for span in spans])
        .order_by("pk")
    }
    moved = []
    for span in spans:
        sc = charges[span["subscription_charge_id"]]
        if sc.charged_through_date == span["last"] + ONE_DAY:
            sc.charged_through_date = span["first"]
            moved.append(sc)
    SubscriptionCharge.objects.bulk_update(moved, ["charged_through_date"])
    deleted, _ = BilledPeriod.objects.filter(pk__in=periods.values("pk")).delete()
    return deleted
