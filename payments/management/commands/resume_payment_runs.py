"""Re-start the background work of every payment run under way (`make run` calls it before the
worker starts, as resume_bill_runs for bill runs). Safe at any time: every task re-checks."""

from django.core.management.base import BaseCommand

from payments import tasks
from payments.models import PaymentRun, PaymentRunStatus


class Command(BaseCommand):
    help = "Re-enqueue the work of payment runs that are Pending or Processing."

    def handle(self, *args, **options):
        runs = list(
            PaymentRun.objects.filter(
                status__in=[PaymentRunStatus.PENDING, PaymentRunStatus.PROCESSING]
            ).order_by("pk")
        )
        for run in runs:
            tasks.resume(run)
            tasks.watch(run.pk)
        self.stdout.write(f"Resumed {len(runs)} payment run(s).")
