"""An organization's history and usage: what the doors list, download and delete."""

from __future__ import annotations

from datetime import UTC, date, datetime, time

from django.db.models import Count, Q, Sum
from django.db.models.functions import TruncDate

from accounts.models import Organization, UsageRecord
from synthesis.models import Generation


def generation_delete(generation: Generation) -> None:
    """Remove a history item and its stored audio (the usage row stays: it is the ledger)."""
    generation.audio.delete(save=False)
    generation.delete()


def request_count():
    """An aggregate over usage rows counting requests: a long-form job is one, however many chunks it was charged in.

    Each chunk of a job is charged as a usage row of its own (so a cancelled job costs what it spoke);
    counting rows would count every chunk as a request.
    """
    return Count("id", filter=Q(job_chunk__isnull=True)) + Count("job_chunk__job", distinct=True)


def usage_per_day(organization: Organization, *, start: date, end: date) -> list[dict]:
    """Characters, requests and audio seconds charged per UTC day from `start` to `end`, in SQL.

    Refunded requests cost nothing and are left out. Days without usage are absent.
    """
    rows = (
        organization.usage_records.filter(
            created_at__gte=datetime.combine(start, time.min, tzinfo=UTC),
            created_at__lte=datetime.combine(end, time.max, tzinfo=UTC),
        )
        .exclude(status=UsageRecord.Status.REFUNDED)
        .annotate(day=TruncDate("created_at"))
        .values("day")
        .annotate(characters=Sum("characters"), requests=request_count(), audio_seconds=Sum("audio_seconds"))
        .order_by("day")
    )
    return [
        {"date": row["day"], "characters": row["characters"], "requests": row["requests"], "audio_seconds": round(row["audio_seconds"] or 0, 3)}
        for row in rows
    ]
