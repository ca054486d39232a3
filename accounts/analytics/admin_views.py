"""
The analytics pages of the admin: the usage dashboard and the marketing funnel.

Wired in through RequestLogAdmin.get_urls (admin.py), each wrapped in
admin_site.admin_view (staff only) and a permission check. Each chart is drawn
from the same rows as the table under it, and `?format=csv&table=<name>`
exports exactly that table (tables.py).
"""

from __future__ import annotations

from datetime import date, timedelta

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.utils import timezone

from accounts.models import Plan, UsageRecord

from .charts import svg_bars, svg_ranking
from .dashboard import HOUR_BUCKET_MAX_DAYS, dashboard
from .funnel import FUNNEL_STEPS, funnel
from .measures import NO_FILTERS, Filters
from .percentiles import PERCENTILES
from .periods import BUCKETS
from .tables import Table, tables_response

MAX_RANGE_DAYS = 366


# -- parameters -------------------------------------------------------------------------------------


def _date_param(request, name: str, default: date) -> date:
    try:
        return date.fromisoformat(request.GET.get(name) or "") if request.GET.get(name) else default
    except ValueError:
        return default


def _int_param(request, name: str) -> int | None:
    try:
        return int(request.GET.get(name) or "")
    except ValueError:
        return None


def _range(request, default_days=30) -> tuple[date, date]:
    today = timezone.now().date()
    end = min(_date_param(request, "to", today), today)
    start = _date_param(request, "from", end - timedelta(days=default_days - 1))
    start = max(min(start, end), end - timedelta(days=MAX_RANGE_DAYS - 1))
    return start, end


def _require(request, permission: str) -> None:
    if not request.user.has_perm(permission):
        raise PermissionDenied


# -- the usage dashboard ----------------------------------------------------------------------------


def usage_dashboard(request, admin_site):
    _require(request, "accounts.view_requestlog")
    start, end = _range(request)
    bucket = request.GET.get("bucket") if request.GET.get("bucket") in BUCKETS else "day"
    if bucket == "hour" and (end - start).days + 1 > HOUR_BUCKET_MAX_DAYS:
        messages.warning(request, f"Hourly buckets are for ranges of up to {HOUR_BUCKET_MAX_DAYS} days; showing days.")
        bucket = "day"
    source = request.GET.get("source") if request.GET.get("source") in UsageRecord.Source.values else ""
    filters = Filters(
        organization=_int_param(request, "organization"),
        plan=_int_param(request, "plan"),
        api_key=_int_param(request, "api_key"),
        voice=(request.GET.get("voice") or "").strip()[:64],
        source=source,
    )
    try:
        data = dashboard(start=start, end=end, bucket=bucket, filters=filters)
    except ValueError as error:
        messages.warning(request, str(error))
        filters = NO_FILTERS
        data = dashboard(start=start, end=end, bucket=bucket, filters=filters)
    unavailable = "Shown without filters (top organizations also for one plan)."
    series = Table(
        "series", "Usage per " + bucket,
        [bucket, "requests", "ok", "4xx", "429", "5xx", "characters", "audio minutes", "avg ttfb ms", "avg total ms", "peak concurrency"],
        # Only the buckets with something in them (the chart above spans every one, on its dated axis).
        [[r["bucket"], r["requests"], r["ok"], r["client_errors"], r["rate_limited"], r["server_errors"], r["characters"],
          r["audio_minutes"], r["ttfb_avg"], r["total_avg"], r["peak_concurrency"]] for r in data.series if _active(r)],
    )
    t = data.totals
    approx = "" if data.percentiles_exact else "≈ "
    summary = Table(
        "summary", "Totals",
        ["measure", "value"],
        [
            ["requests", t["requests"]], ["ok", t["ok"]], ["4xx (not 429)", t["client_errors"]], ["429", t["rate_limited"]],
            ["5xx", t["server_errors"]], ["characters", t["characters"]], ["audio minutes", t["audio_minutes"]],
            *[[f"ttfb p{p} ms", _approx(approx, data.percentiles["ttfb"][p])] for p in PERCENTILES],
            *[[f"total p{p} ms", _approx(approx, data.percentiles["total"][p])] for p in PERCENTILES],
            ["peak concurrency", data.peak_concurrency], ["average concurrency", round(data.average_concurrency, 3)],
        ],
    )
    top_organizations = data.top_organizations or []
    top_voices = data.top_voices or []
    organizations = Table(
        "organizations", "Top organizations" if data.top_organizations is not None else f"Top organizations: {unavailable}",
        ["organization", "id", "characters", "requests", "errors", "audio minutes"],
        [[o["name"], o["organization_id"], o["characters"], o["requests"], o["errors"], o["audio_minutes"]] for o in top_organizations],
    )
    voices = Table(
        "voices", "Top voices" if data.top_voices is not None else f"Top voices: {unavailable}",
        ["voice", "characters", "requests", "errors", "audio minutes"],
        [[v["voice"], v["characters"], v["requests"], v["errors"], v["audio_minutes"]] for v in top_voices],
    )
    errors = Table(
        "errors", "Errors by status and code",
        ["status", "code", "requests"],
        [[e["status_code"], e["error_code"] or "—", e["requests"]] for e in data.errors],
    )
    labels = [r["bucket"] for r in data.series]
    charts = {
        "series": [
            svg_bars(labels, [("ok", [r["ok"] for r in data.series]), ("4xx", [r["client_errors"] for r in data.series]),
                              ("429", [r["rate_limited"] for r in data.series]), ("5xx", [r["server_errors"] for r in data.series])],
                     title="Requests by outcome", bucket=bucket, unit="requests"),
            svg_bars(labels, [("characters", [r["characters"] for r in data.series])], title="Characters", bucket=bucket,
                     unit="characters"),
            svg_bars(labels, [("avg total ms", [r["total_avg"] for r in data.series])], title="Average total time",
                     bucket=bucket, unit="average ms"),
        ],
        "organizations": [svg_ranking([o["name"] for o in top_organizations], [o["characters"] for o in top_organizations],
                                      title="Top organizations by characters", measure="characters")],
        "voices": [svg_ranking([v["voice"] for v in top_voices], [v["characters"] for v in top_voices],
                               title="Top voices by characters", measure="characters")],
    }
    context = {
        **admin_site.each_context(request),
        "title": "Usage dashboard",
        "data": data,
        "bucket": bucket,
        "buckets": BUCKETS,
        "start": start, "end": end,
        "filters": filters,
        "plans": Plan.objects.all(),
        "sources": UsageRecord.Source.choices,
        "charts": charts,
        "query": request.GET.urlencode(),
    }
    return tables_response(request, "admin/accounts/usage_dashboard.html", context,
                            [series, summary, organizations, voices, errors], "usage")


def _active(row: dict) -> bool:
    """Whether a bucket of the series had any request or any charged character."""
    return bool(row["requests"] or row["characters"])


def _approx(prefix, value):
    return None if value is None else f"{prefix}{value}"


# -- the funnel -------------------------------------------------------------------------------------


def funnel_view(request, admin_site):
    _require(request, "accounts.view_requestlog")
    start, end = _range(request)
    data = funnel(start=start, end=end)
    steps = Table("steps", "Funnel", ["step", "count", "conversion from previous %"],
                  [[s["label"], s["count"], s["conversion"]] for s in data.steps])
    days = Table("days", "Per day", ["day", *[label for _, label in FUNNEL_STEPS]],
                 [[d["day"], *[d[key] for key, _ in FUNNEL_STEPS]] for d in data.days
                  if any(d[key] for key, _ in FUNNEL_STEPS)])
    ctas = Table("ctas", "Per call to action", ["cta", "clicks", "sign-ups started", "conversion %"],
                 [[c["cta"], c["clicks"], c["signups_started"], c["conversion"]] for c in data.ctas])
    charts = {
        "steps": [svg_ranking([s["label"] for s in data.steps], [s["count"] for s in data.steps], title="Funnel",
                              measure="people")],
        "days": [svg_bars([d["day"] for d in data.days], [("visitors", [d["visitors"] for d in data.days]),
                                                         ("sign-ups completed", [d["signup_completed"] for d in data.days])],
                          title="Visitors and sign-ups per day", unit="people")],
    }
    context = {**admin_site.each_context(request), "title": "Marketing funnel", "start": start, "end": end,
               "charts": charts, "query": request.GET.urlencode()}
    return tables_response(request, "admin/accounts/funnel.html", context, [steps, days, ctas], "funnel")
