from django.core.management.base import BaseCommand
from django.utils import timezone

from synthesis.models import Generation
from synthesis.services.idempotency import idempotency_purge


class Command(BaseCommand):
    help = (
        "Delete history items (and their audio files) past their plan's retention, and Idempotency-Key "
        "records (and their kept responses) older than 24 hours. "
        "Safe to run from cron, repeatedly and concurrently: each item is deleted once."
    )

    def add_arguments(self, parser):
        parser.add_argument("--batch", type=int, default=500)

    def handle(self, *args, batch, **options):
        now = timezone.now()
        removed = 0
        while True:
            expired = list(Generation.objects.expired(now).order_by("expires_at")[:batch])
            if not expired:
                break
            for generation in expired:
                # Row first: if another run got here first, this one deletes nothing.
                deleted, _ = Generation.objects.filter(pk=generation.pk).delete()
                if deleted:
                    generation.audio.delete(save=False)
                    removed += 1
        self.stdout.write(f"Removed {removed} expired history item(s).")
        self.stdout.write(f"Removed {idempotency_purge(now=now)} Idempotency-Key record(s) older than 24 hours.")
