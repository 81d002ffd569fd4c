"""Re-start the background work of every bill run that is under way.

`make run` calls it before starting the worker, so a run interrupted by a stopped or crashed
worker (its chunk's lease runs out; its tasks may be lost with it) carries on by itself. It is
safe to run at any time: every task re-checks the run's state and does only what is left.
"""

from django.core.management.base import BaseCommand

from billing import tasks
from billing.models import RUNNING_STATUSES, BillRun


class Command(BaseCommand):
    help = "Re-enqueue the work of bill runs that are Pending, Processing, posting or canceling."

    def handle(self, *args, **options):
        runs = list(BillRun.objects.filter(status__in=RUNNING_STATUSES).order_by("pk"))
        for run in runs:
            tasks.resume(run)
            tasks.watch(run.pk)
        self.stdout.write(f"Resumed {len(runs)} bill run(s).")
