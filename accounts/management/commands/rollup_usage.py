"""Recompute the usage roll-ups the admin dashboard reads. Idempotent; safe from cron.

Run it again over past days after a migration that adds a roll-up table: the
dashboard reads raw rows for days rolled up by an older version until then.
"""

from datetime import date, timedelta

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from accounts.analytics.rollup import rollup_day


class Command(BaseCommand):
    help = (
        "Roll up RequestLog and UsageRecord rows into UsageDaily, UsageHourly, OrganizationDaily, LatencyDaily, "
        "ErrorDaily and FunnelDaily for whole days (default: yesterday)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--day", type=date.fromisoformat, help="One day, YYYY-MM-DD.")
        parser.add_argument("--from", dest="start", type=date.fromisoformat, help="First day, YYYY-MM-DD.")
        parser.add_argument("--to", dest="end", type=date.fromisoformat, help="Last day, YYYY-MM-DD (default: yesterday).")
        parser.add_argument("--days", type=int, help="The last N whole days (ending yesterday).")

    def handle(self, *args, day=None, start=None, end=None, days=None, **options):
        today = timezone.now().date()
        yesterday = today - timedelta(days=1)
        if day:
            start = end = day
        elif days:
            start, end = yesterday - timedelta(days=days - 1), yesterday
        else:
            end = end or yesterday
            start = start or end
        if start > end:
            raise CommandError("--from must not be after --to.")
        if end >= today:
            # Today is still being written; the dashboard reads its raw rows anyway.
            raise CommandError("Only whole past days can be rolled up (today is read from raw rows).")
        current, total = start, 0
        while current <= end:
            written = rollup_day(current)
            total += written
            if options["verbosity"] > 1:
                self.stdout.write(f"{current}: {written} rows")
            current += timedelta(days=1)
        self.stdout.write(f"Rolled up {(end - start).days + 1} day(s), {total} rows.")
