"""Days, ranges of days and the dashboard's time buckets (all in UTC)."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

from django.db.models import Q
from django.utils import timezone

from .models import UsageRollupDay

BUCKETS = ("hour", "day", "week", "month")


def day_start(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=UTC)


def days_of(start: date, end: date) -> list[date]:
    return [start + timedelta(days=i) for i in range((end - start).days + 1)]


def day_ranges(days: list[date]) -> list[tuple[datetime, datetime]]:
    """Contiguous days as [start, end) datetime ranges."""
    ranges: list[tuple[datetime, datetime]] = []
    for day in sorted(days):
        begin, finish = day_start(day), day_start(day + timedelta(days=1))
        if ranges and ranges[-1][1] == begin:
            ranges[-1] = (ranges[-1][0], finish)
        else:
            ranges.append((begin, finish))
    return ranges


def days_q(rolled: set[date], column: str = "day") -> Q:
    """The rolled-up days as ranges of contiguous days (a range reads an index better than IN).

    Not simply min..max: a day in between may hold rows of an older roll-up
    version (UsageRollupDay.version) that is read from raw rows instead.
    """
    q = Q(pk__in=[])
    for begin, finish in day_ranges(list(rolled)):
        if column == "day":
            q |= Q(day__gte=begin.date(), day__lt=finish.date())
        else:
            q |= Q(**{f"{column}__gte": begin, f"{column}__lt": finish})
    return q


def rolled_days(start: date, end: date) -> set[date]:
    """The days of start..end whose roll-up rows are complete and current; never today (still being written)."""
    last = min(end, timezone.now().date() - timedelta(days=1))
    days = UsageRollupDay.objects.filter(day__gte=start, day__lte=last, version__gte=UsageRollupDay.CURRENT_VERSION)
    return set(days.values_list("day", flat=True))


def in_ranges(ranges, column="created_at") -> Q:
    q = Q(pk__in=[])
    for begin, finish in ranges:
        q |= Q(**{f"{column}__gte": begin, f"{column}__lt": finish})
    return q


def bucket_of_key(key: str, bucket: str) -> str:
    """Fold a day key ('YYYY-MM-DD') into its week (its Monday) or month ('YYYY-MM-01')."""
    if bucket in ("hour", "day"):
        return key
    day = date.fromisoformat(key[:10])
    if bucket == "week":
        return (day - timedelta(days=day.weekday())).isoformat()
    return day.replace(day=1).isoformat()


def bucket_keys(start: date, end: date, bucket: str) -> list[str]:
    """Every bucket of the range, in order, so that empty ones show as zeros."""
    if bucket == "hour":
        return [f"{day.isoformat()} {h:02d}" for day in days_of(start, end) for h in range(24)]
    keys = []
    for day in days_of(start, end):
        key = bucket_of_key(day.isoformat(), bucket)
        if not keys or keys[-1] != key:
            keys.append(key)
    return keys

