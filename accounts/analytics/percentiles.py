"""Latency percentiles (p50, p95, p99) from histograms.

The histograms have 8 log-spaced buckets per doubling (each bucket 9% wide;
RequestLog.bucket_of). From raw rows the percentiles are exact: the histogram
says which bucket holds the k-th value, and one query per metric numbers only
the rows of those buckets. From roll-ups (any whole past day) they are
interpolated inside the bucket, so within 9% of the exact value (the page marks
them "≈").
"""

from __future__ import annotations

import math

from django.db.models import F, Window
from django.db.models.functions import RowNumber

from .models import RequestLog

PERCENTILES = (50, 95, 99)


def _rank_in_histogram(histogram: dict[int, int], percentile: int) -> tuple[int, int, int] | None:
    """(bucket, 1-based rank inside it, bucket count) of the nearest-rank percentile."""
    total = sum(histogram.values())
    if not total:
        return None
    k = max(1, math.ceil(percentile / 100 * total))
    seen = 0
    for bucket in sorted(histogram):
        count = histogram[bucket]
        if seen + count >= k:
            return bucket, k - seen, count
        seen += count
    return None


def percentile_from_histogram(histogram: dict[int, int], percentile: int) -> float | None:
    """Linear interpolation inside the bucket that holds the k-th value (within the bucket's 9%)."""
    found = _rank_in_histogram(histogram, percentile)
    if found is None:
        return None
    bucket, rank, count = found
    low, high = RequestLog.bucket_bounds(bucket)
    return low + (high - low) * (rank - 0.5) / count


def exact_percentiles(rows, metric: str, histogram: dict[int, int], percentiles=PERCENTILES) -> dict[int, int | None]:
    """Exact nearest-rank percentiles in one query: numbers the rows of only the buckets that hold them."""
    found = {p: _rank_in_histogram(histogram, p) for p in percentiles}
    wanted = {f[:2] for f in found.values() if f}
    if not wanted:
        return {p: None for p in percentiles}
    bucket, column = f"{metric}_bucket", f"{metric}_ms"
    numbered = (
        rows.filter(**{f"{bucket}__in": {b for b, _ in wanted}})
        .annotate(rank=Window(RowNumber(), partition_by=[F(bucket)], order_by=[F(column).asc()]))
        .filter(rank__in={r for _, r in wanted})
        .values_list(bucket, "rank", column)
    )
    values = {(b, r): ms for b, r, ms in numbered}
    return {p: values[f[:2]] if f else None for p, f in found.items()}

