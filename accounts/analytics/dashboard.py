"""The numbers of the admin's usage dashboard (and of an organization's page), computed by the database.

Fast at volume through the roll-up (rollup.py). A dashboard with at most one
filter reads the roll-up rows for the days that are rolled up (never today, nor
a day rolled up by an older UsageRollupDay.version) and the raw rows for the
rest. Two filters are accepted only with an organization or a key among them
(their raw rows are few, and RequestLog's covering index on the organization
holds every column they need); rankings (top organizations, top voices) are
shown unfiltered, and top organizations also for one plan (organization rows
carry their plan); hourly buckets span up to HOUR_BUCKET_MAX_DAYS (an
organization's or key's from raw rows).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, timedelta

from django.db.models import Count, Q, Sum
from django.utils import timezone

from accounts.models import Organization, UsageRecord

from .concurrency import peak_concurrency
from .measures import (
    ADDITIVE,
    HOURLY_DIMENSIONS,
    LATENCY_DIMENSIONS,
    MEASURES,
    NO_FILTERS,
    REQUEST_COLUMN,
    REQUEST_MEASURES,
    TIMED,
    USAGE_COLUMN,
    USAGE_MEASURES,
    Filters,
)
from .models import Dimension, ErrorDaily, LatencyDaily, OrganizationDaily, RequestLog, UsageDaily, UsageHourly
from .percentiles import PERCENTILES, exact_percentiles, percentile_from_histogram
from .periods import bucket_keys, bucket_of_key, day_ranges, day_start, days_of, days_q, in_ranges, rolled_days
from .sql import TimeKey, time_key_sql

# Rolled-up days come from UsageHourly (everything, one plan / source / voice); an organization or a key,
# and today, from raw rows: at 1M rows/90 days the biggest organization has ~10k rows in 7 days.
HOUR_BUCKET_MAX_DAYS = 7


@dataclass
class Dashboard:
    start: date
    end: date
    bucket: str
    filters: Filters
    from_rollup: bool
    series: list[dict] = field(default_factory=list)
    totals: dict = field(default_factory=dict)
    percentiles: dict = field(default_factory=dict)  # {"ttfb": {50: ms, ...}, "total": {...}}
    percentiles_exact: bool = True
    peak_concurrency: int = 0
    average_concurrency: float = 0.0
    top_organizations: list[dict] | None = field(default_factory=list)  # None: not available with this filter
    top_voices: list[dict] | None = field(default_factory=list)
    errors: list[dict] = field(default_factory=list)


def _empty() -> dict:
    return {name: 0 for name in MEASURES}


def _add(target: dict, measures: dict) -> None:
    for name in ADDITIVE:
        target[name] += measures.get(name) or 0
    target["peak_concurrency"] = max(target["peak_concurrency"], measures.get("peak_concurrency") or 0)


def _raw_series(ranges, filters: Filters, hour: bool) -> dict[str, dict]:
    """Per day (or hour) key: every measure, from raw rows (three grouped queries)."""
    series: dict[str, dict] = defaultdict(_empty)
    if not ranges:
        return series
    requests = RequestLog.objects.filter(in_ranges(ranges), filters.requests_q())
    for row in requests.values(key=TimeKey("created_at", hour=hour)).annotate(**REQUEST_MEASURES).order_by():
        _add(series[row.pop("key")], row)
    usage = UsageRecord.objects.filter(in_ranges(ranges), filters.usage_q(), status=UsageRecord.Status.SUCCEEDED)
    for row in usage.values(key=TimeKey("created_at", hour=hour)).annotate(**USAGE_MEASURES).order_by():
        _add(series[row.pop("key")], row)
    peaks = peak_concurrency(ranges=ranges, filters=filters, group_sql=time_key_sql("created_at", hour))
    for key, peak in peaks.items():
        series[key]["peak_concurrency"] = max(series[key]["peak_concurrency"], peak)
    return series


def dashboard(*, start: date, end: date, bucket: str = "day", filters: Filters = NO_FILTERS, top: int = 10) -> Dashboard:
    """Everything the usage page shows for days start..end (inclusive, UTC)."""
    if bucket == "hour" and (end - start).days + 1 > HOUR_BUCKET_MAX_DAYS:
        raise ValueError(f"Hourly buckets are for ranges of up to {HOUR_BUCKET_MAX_DAYS} days.")
    days = days_of(start, end)
    single = filters.single()
    if single is None and filters.organization is None and filters.api_key is None:
        # Two of plan / source / voice would scan a large share of the raw rows.
        raise ValueError("Filter by plan, source or voice one at a time, or together with an organization or API key.")
    rolled: set[date] = set()
    if single is not None and (bucket != "hour" or single[0] in HOURLY_DIMENSIONS):
        rolled = rolled_days(start, end)
    raw_ranges = day_ranges([d for d in days if d not in rolled])
    all_ranges = day_ranges(days)
    result = Dashboard(start=start, end=end, bucket=bucket, filters=filters, from_rollup=bool(rolled))

    # Series: per day (or hour) from both sources, folded into the bucket.
    per_key: dict[str, dict] = defaultdict(_empty)
    if rolled:
        dimension, value = single
        if bucket == "hour":
            hourly = UsageHourly.objects.filter(days_q(rolled, "hour"), dimension=dimension, value=value)
            for row in hourly.values("hour", *MEASURES):
                _add(per_key[row.pop("hour").astimezone(UTC).strftime("%Y-%m-%d %H")], row)
        else:
            daily = UsageDaily.objects.filter(days_q(rolled), dimension=dimension, value=value)
            for row in daily.values("day", *MEASURES):
                _add(per_key[row.pop("day").isoformat()], row)
    for key, measures in _raw_series(raw_ranges, filters, hour=bucket == "hour").items():
        _add(per_key[key], measures)
    folded: dict[str, dict] = {key: _empty() for key in bucket_keys(start, end, bucket)}
    for key, measures in per_key.items():
        _add(folded.setdefault(bucket_of_key(key, bucket), _empty()), measures)
    totals = _empty()
    for key, measures in folded.items():
        _add(totals, measures)
        result.series.append({"bucket": key, **measures, **_averages(measures)})
    result.totals = {**totals, **_averages(totals)}
    result.peak_concurrency = totals["peak_concurrency"]
    elapsed = (min(day_start(end + timedelta(days=1)), timezone.now()) - day_start(start)).total_seconds() * 1000
    result.average_concurrency = totals["busy_ms"] / elapsed if elapsed > 0 else 0.0

    # Percentiles: roll-up histograms where they exist for this filter; otherwise
    # (an organization or key filter, hourly buckets) the raw rows, exactly.
    histograms_rolled = bool(rolled) and single[0] in LATENCY_DIMENSIONS
    result.percentiles_exact = not histograms_rolled
    timed_raw = RequestLog.objects.filter(
        in_ranges(raw_ranges if histograms_rolled else all_ranges), filters.requests_q(), TIMED
    )
    for metric in LatencyDaily.Metric.values:
        histogram: dict[int, int] = defaultdict(int)
        column = f"{metric}_bucket"
        if histograms_rolled:
            counted = (
                LatencyDaily.objects.filter(days_q(rolled), dimension=single[0], value=single[1], metric=metric)
                .values("bucket").annotate(n=Sum("count")).order_by()
            )
            for row in counted:
                histogram[row["bucket"]] += row["n"]
        for row in timed_raw.values(column).annotate(n=Count("id")).order_by():
            histogram[row[column]] += row["n"]
        if result.percentiles_exact:
            result.percentiles[metric] = exact_percentiles(timed_raw, metric, histogram)
        else:
            result.percentiles[metric] = {p: _round(percentile_from_histogram(histogram, p)) for p in PERCENTILES}

    result.top_organizations = _top_organizations(filters, rolled, raw_ranges, all_ranges, top, totals)
    result.top_voices = _top_voices(filters, rolled, raw_ranges, all_ranges, top, totals)
    counted: dict[tuple[int, str], int] = defaultdict(int)
    if rolled:
        rolled_errors = ErrorDaily.objects.filter(days_q(rolled), dimension=single[0], value=single[1])
        for e in rolled_errors.values("status_code", "error_code").annotate(n=Sum("count")).order_by():
            counted[(e["status_code"], e["error_code"])] += e["n"]
    raw_errors = RequestLog.objects.filter(in_ranges(raw_ranges), filters.requests_q(), status_code__gte=400)
    for e in raw_errors.values("status_code", "error_code").annotate(n=Count("id")).order_by():
        counted[(e["status_code"], e["error_code"])] += e["n"]
    ranked = sorted(counted.items(), key=lambda item: (-item[1], item[0]))[: top * 2]
    result.errors = [{"status_code": status, "error_code": code, "requests": n} for (status, code), n in ranked]
    return result


def _round(value):
    return None if value is None else round(value)


def _averages(measures: dict) -> dict:
    count = measures["latency_count"]
    return {
        "ttfb_avg": round(measures["ttfb_sum"] / count) if count else None,
        "total_avg": round(measures["total_sum"] / count) if count else None,
        "audio_minutes": round(measures["audio_seconds"] / 60, 2),
    }


def _value(value) -> str:
    return "" if value is None else str(value)


def _ranked(
    dimension, filters: Filters, rolled, raw_ranges, all_ranges, top: int, totals: dict
) -> list[tuple[str, dict]] | None:
    """Requests and characters per value of `dimension`, biggest first (roll-ups where they can answer)."""
    merged: dict[str, dict] = defaultdict(lambda: {"requests": 0, "ok": 0, "errors": 0, "characters": 0, "audio_seconds": 0.0})
    others = [(dim, value) for dim, value in filters.items() if dim != Dimension.PLAN or dimension != Dimension.ORGANIZATION]
    # Organization rows carry their plan, so "top organizations on plan X" is still a roll-up read.
    use_rollup = bool(rolled) and not others
    if rolled and others:
        # A ranking within a filter would need that pair of dimensions rolled up,
        # or a scan of the filter's raw rows over the whole range: not shown.
        return None
    pinned = dict(filters.items()).get(dimension)
    if pinned is not None and (totals["requests"] or totals["characters"]):
        # The filter names the one value this ranking can hold: its numbers are the totals.
        merged[pinned] = {name: totals[name] for name in ("requests", "ok", "characters", "audio_seconds")}
        all_ranges = raw_ranges = []
    ranges = raw_ranges if use_rollup else all_ranges
    if use_rollup:
        if dimension == Dimension.ORGANIZATION:
            # The narrow integer-keyed table, summed from its covering index (see OrganizationDaily).
            rows = OrganizationDaily.objects.filter(days_q(rolled)).values_list("organization_id")
        else:
            rows = UsageDaily.objects.filter(days_q(rolled), dimension=dimension).values_list("value")
        if filters.plan is not None:
            rows = rows.filter(plan_id=filters.plan)
        summed = rows.annotate(r=Sum("requests"), o=Sum("ok"), c=Sum("characters"), a=Sum("audio_seconds")).order_by()
        for value, requests, ok, characters, audio_seconds in summed:
            entry = merged[str(value)]
            entry["requests"] += requests
            entry["ok"] += ok
            entry["characters"] += characters
            entry["audio_seconds"] += audio_seconds
    if ranges:
        column = REQUEST_COLUMN[dimension]
        requests = RequestLog.objects.filter(in_ranges(ranges), filters.requests_q())
        counted = requests.values_list(column).annotate(r=Count("id"), o=Count("id", filter=Q(status_code__lt=400)))
        counted = counted.order_by()
        for value, requests_n, ok in counted:
            entry = merged[_value(value)]
            entry["requests"] += requests_n
            entry["ok"] += ok
        usage = UsageRecord.objects.filter(in_ranges(ranges), filters.usage_q(), status=UsageRecord.Status.SUCCEEDED)
        charged = usage.values_list(USAGE_COLUMN[dimension]).annotate(c=Sum("characters"), a=Sum("audio_seconds"))
        charged = charged.order_by()
        for value, characters, audio_seconds in charged:
            entry = merged[_value(value)]
            entry["characters"] += characters or 0
            entry["audio_seconds"] += audio_seconds or 0
    for entry in merged.values():
        entry["errors"] = entry["requests"] - entry["ok"]
        entry["audio_minutes"] = round(entry["audio_seconds"] / 60, 2)
    ranked = sorted(merged.items(), key=lambda item: (-item[1]["characters"], -item[1]["requests"], item[0]))
    return ranked[:top]


def _top_organizations(filters, rolled, raw_ranges, all_ranges, top, totals) -> list[dict]:
    ranked = _ranked(Dimension.ORGANIZATION, filters, rolled, raw_ranges, all_ranges, top + 1, totals)
    if ranked is None:
        return None
    ranked = [(value, entry) for value, entry in ranked if value]
    names = dict(Organization.objects.filter(pk__in=[int(v) for v, _ in ranked]).values_list("pk", "name"))
    return [{"organization_id": int(v), "name": names.get(int(v), f"#{v} (deleted)"), **entry} for v, entry in ranked[:top]]


def _top_voices(filters, rolled, raw_ranges, all_ranges, top, totals) -> list[dict]:
    ranked = _ranked(Dimension.VOICE, filters, rolled, raw_ranges, all_ranges, top, totals)
    if ranked is None:
        return None
    return [{"voice": value or "—", **entry} for value, entry in ranked]


def organization_series(organization: Organization, *, days: int = 30) -> Dashboard:
    """The per-organization page's chart: the dashboard filtered to one organization."""
    end = timezone.now().date()
    return dashboard(start=end - timedelta(days=days - 1), end=end, filters=Filters(organization=organization.pk), top=5)
