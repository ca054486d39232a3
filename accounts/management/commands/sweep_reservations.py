"""Finish the usage rows left `reserved` by a process that died mid-request. Idempotent; safe from cron.

Every jobs_worker (and the `up` process) runs the same sweep every
VOICEHUB_JOB_SWEEP_SECONDS; this command is for deployments without one, and
for an operator who wants to see what it does.
"""

from datetime import timedelta

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from accounts.quota import quota_sweep_stale


class Command(BaseCommand):
    help = (
        "Settle or refund reserved usage rows with no progress for VOICEHUB_RESERVATION_STALE_SECONDS: "
        "the characters delivered are charged, the rest refunded."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--older-than", type=int, default=None, metavar="SECONDS",
            help="Silence after which a reservation is taken for dead (default: VOICEHUB_RESERVATION_STALE_SECONDS).",
        )

    def handle(self, *args, older_than=None, **options):
        seconds = settings.VOICEHUB_RESERVATION_STALE_SECONDS if older_than is None else older_than
        if seconds < 0:
            raise CommandError("--older-than must not be negative.")
        result = quota_sweep_stale(older_than=timedelta(seconds=seconds))
        self.stdout.write(
            f"Swept reservations silent for over {seconds} s: {result.settled} settled at the characters delivered, "
            f"{result.refunded} refunded."
        )
