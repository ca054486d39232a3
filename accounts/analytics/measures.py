"""What the dashboard counts, and how a filter (one plan, source, voice, organization, key) selects rows.

Two sources:
- RequestLog (one row per synthesis request, written by the request-log
  middleware): requests by outcome, error codes, latency, concurrency;
- UsageRecord (the character ledger): characters and audio actually charged,
  including syntheses that did not come over HTTP (the studio's websocket, jobs).
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import Count, Q, Subquery, Sum

from accounts.models import ApiKey

from .models import Dimension

# The dimensions rolled up per hour (UsageHourly) and with latency histograms (LatencyDaily).
HOURLY_DIMENSIONS = (Dimension.ALL, Dimension.PLAN, Dimension.SOURCE, Dimension.VOICE)
LATENCY_DIMENSIONS = tuple(Dimension.values)
# Which column holds each dimension's value, in each source table.
REQUEST_COLUMN = {
    Dimension.PLAN: "plan_id",
    Dimension.SOURCE: "source",
    Dimension.VOICE: "voice",
    Dimension.ORGANIZATION: "organization_id",
    Dimension.API_KEY: "api_key_id",
}
USAGE_COLUMN = {**REQUEST_COLUMN, Dimension.PLAN: "organization__plan_id"}

# Latency is measured on requests that succeeded: a 401 answered in 2 ms says nothing about synthesis.
TIMED = Q(status_code__lt=400, ttfb_ms__isnull=False, total_ms__isnull=False)
REQUEST_MEASURES = dict(
    requests=Count("id"),
    ok=Count("id", filter=Q(status_code__lt=400)),
    client_errors=Count("id", filter=Q(status_code__gte=400, status_code__lt=500) & ~Q(status_code=429)),
    rate_limited=Count("id", filter=Q(status_code=429)),
    server_errors=Count("id", filter=Q(status_code__gte=500)),
    latency_count=Count("id", filter=TIMED),
    ttfb_sum=Sum("ttfb_ms", filter=TIMED),
    total_sum=Sum("total_ms", filter=TIMED),
    busy_ms=Sum("total_ms"),
)
USAGE_MEASURES = dict(characters=Sum("characters"), audio_seconds=Sum("audio_seconds"))
ADDITIVE = tuple(REQUEST_MEASURES) + tuple(USAGE_MEASURES)
MEASURES = ADDITIVE + ("peak_concurrency",)


@dataclass(frozen=True)
class Filters:
    organization: int | None = None
    plan: int | None = None
    api_key: int | None = None
    voice: str = ""
    source: str = ""

    def items(self) -> list[tuple[str, str]]:
        pairs = [
            (Dimension.ORGANIZATION, self.organization),
            (Dimension.PLAN, self.plan),
            (Dimension.API_KEY, self.api_key),
            (Dimension.VOICE, self.voice),
            (Dimension.SOURCE, self.source),
        ]
        return [(dim, str(value)) for dim, value in pairs if value not in (None, "")]

    def single(self) -> tuple[str, str] | None:
        """The roll-up slice that answers these filters, or None when only raw rows can."""
        items = self.items()
        if not items:
            return Dimension.ALL, ""
        return items[0] if len(items) == 1 else None

    def requests_q(self) -> Q:
        return Q(**{REQUEST_COLUMN[dim]: value for dim, value in self.items()})

    def usage_q(self) -> Q:
        q = Q(**{USAGE_COLUMN[dim]: value for dim, value in self.items()})
        if self.api_key is not None and self.organization is None:
            # A key's usage rows are its organization's: saying so lets the ledger's (organization,
            # created_at) index find today's rows of the key, where the key's own index would read all of its
            # days (the ledger has no (api_key, created_at) index; 100 ms -> 2 ms for the bench's biggest key).
            q &= Q(organization_id=Subquery(ApiKey.objects.filter(pk=self.api_key).values("organization_id")[:1]))
        return q



NO_FILTERS = Filters()
