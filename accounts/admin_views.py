"""
The operator's pages in the admin: the usage dashboard, the marketing funnel and
the per-organization page with its actions. Wired in through ModelAdmin.get_urls
(accounts/admin.py), each wrapped in admin_site.admin_view (staff only) and a
permission check.

Every chart is an SVG drawn here from the same rows as the table under it, and
`?format=csv&table=<name>` exports exactly that table.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from datetime import date, timedelta

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.html import escape
from django.utils.safestring import mark_safe

from . import operator
from .analytics.dashboard import HOUR_BUCKET_MAX_DAYS, dashboard, organization_series
from .analytics.funnel import FUNNEL_STEPS, funnel
from .analytics.measures import NO_FILTERS, Filters
from .analytics.models import RequestLog
from .analytics.percentiles import PERCENTILES
from .analytics.periods import BUCKETS
from .models import ApiKey, AuditLog, Organization, Plan, UsageRecord

MAX_RANGE_DAYS = 366


@dataclass
class Table:
    """A table as shown and as exported: the same header and cells."""

    name: str
    title: str
    header: list[str]
    rows: list[list]

    def csv_response(self, filename: str) -> HttpResponse:
        response = HttpResponse(content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="{filename}-{self.name}.csv"'
        writer = csv.writer(response)
        writer.writerow(self.header)
        writer.writerows([[_cell(value) for value in row] for row in self.rows])
        return response


def _cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.2f}"
    return str(value)


def _tables_response(request, template: str, context: dict, tables: list[Table], filename: str):
    if request.GET.get("format") == "csv":
        wanted = request.GET.get("table") or tables[0].name
        for table in tables:
            if table.name == wanted:
                return table.csv_response(filename)
        return HttpResponse(f"No table named {wanted!r}.", status=400, content_type="text/plain")
    for table in tables:
        table.display_rows = [[_cell(value) for value in row] for row in table.rows]
    return TemplateResponse(request, template, {**context, "tables": {t.name: t for t in tables}})


# -- charts -----------------------------------------------------------------------------------------

COLORS = ("#3b82f6", "#f59e0b", "#ef4444", "#7c3aed", "#10b981", "#6b7280")


def svg_bars(labels: list[str], series: list[tuple[str, list[float]]], *, title: str, width=760, height=220):
    """Stacked bars, one stack per label, with a legend; plain SVG, no script. Text is escaped, numbers are ours."""
    top = max([sum(values[i] or 0 for _, values in series) for i in range(len(labels))] or [0]) or 1
    left, bottom, plot_h = 56, 28, height - 48
    step = (width - left - 8) / max(len(labels), 1)
    parts = []
    for k, ((name, _), color) in enumerate(zip(series, COLORS)):
        parts.append(f'<rect x="{left + k * 140}" y="4" width="10" height="10" fill="{color}"/>'
                     f'<text x="{left + k * 140 + 14}" y="13" font-size="11">{escape(name)}</text>')
    for f in (0, 0.5, 1):
        parts.append(f'<text x="{left - 4}" y="{height - bottom - plot_h * f + 4:.1f}" font-size="10" '
                     f'text-anchor="end">{escape(_cell(round(top * f, 2)))}</text>')
    every = max(1, len(labels) // 8)
    for i, label in enumerate(labels):
        y = height - bottom
        for (name, values), color in zip(series, COLORS):
            value = values[i] or 0
            h = plot_h * value / top
            if h > 0:
                y -= h
                parts.append(f'<rect x="{left + i * step + 1:.1f}" y="{y:.1f}" width="{max(step - 2, 1):.1f}" height="{h:.1f}" '
                             f'fill="{color}"><title>{escape(label)} {escape(name)}: {escape(_cell(value))}</title></rect>')
        if i % every == 0:
            parts.append(f'<text x="{left + i * step + step / 2:.1f}" y="{height - 10}" font-size="10" '
                         f'text-anchor="middle">{escape(label)}</text>')
    return mark_safe(
        f'<svg xmlns="http://www.w3.org/2000/svg" role="img" aria-label="{escape(title)}" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" class="vh-chart">{"".join(parts)}</svg>'
    )


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
        [[r["bucket"], r["requests"], r["ok"], r["client_errors"], r["rate_limited"], r["server_errors"], r["characters"],
          r["audio_minutes"], r["ttfb_avg"], r["total_avg"], r["peak_concurrency"]] for r in data.series],
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
                     title="Requests by outcome"),
            svg_bars(labels, [("characters", [r["characters"] for r in data.series])], title="Characters"),
            svg_bars(labels, [("avg total ms", [r["total_avg"] for r in data.series])], title="Average total time"),
        ],
        "organizations": [svg_bars([o["name"][:14] for o in top_organizations],
                                   [("characters", [o["characters"] for o in top_organizations])], title="Top organizations")],
        "voices": [svg_bars([v["voice"][:14] for v in top_voices], [("characters", [v["characters"] for v in top_voices])],
                            title="Top voices")],
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
    return _tables_response(request, "admin/accounts/usage_dashboard.html", context,
                            [series, summary, organizations, voices, errors], "usage")


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
                 [[d["day"], *[d[key] for key, _ in FUNNEL_STEPS]] for d in data.days])
    ctas = Table("ctas", "Per call to action", ["cta", "clicks", "sign-ups started", "conversion %"],
                 [[c["cta"], c["clicks"], c["signups_started"], c["conversion"]] for c in data.ctas])
    charts = {
        "steps": [svg_bars([s["label"] for s in data.steps], [("count", [s["count"] for s in data.steps])], title="Funnel")],
        "days": [svg_bars([d["day"] for d in data.days], [("visitors", [d["visitors"] for d in data.days]),
                                                         ("sign-ups completed", [d["signup_completed"] for d in data.days])],
                          title="Visitors and sign-ups per day")],
    }
    context = {**admin_site.each_context(request), "title": "Marketing funnel", "start": start, "end": end,
               "charts": charts, "query": request.GET.urlencode()}
    return _tables_response(request, "admin/accounts/funnel.html", context, [steps, days, ctas], "funnel")


# -- one organization -------------------------------------------------------------------------------

ACTIONS = {"change_plan", "grant_characters", "suspend", "reactivate", "revoke_key"}


def organization_overview(request, admin_site, object_id):
    _require(request, "accounts.view_organization")
    organization = get_object_or_404(Organization.objects.select_related("plan"), pk=object_id)
    if request.method == "POST":
        _require(request, "accounts.change_organization")
        return _organization_action(request, organization)
    data = organization_series(organization)
    usage = Table(
        "usage", "Last 30 days", ["day", "requests", "ok", "errors", "characters", "audio minutes"],
        [[r["bucket"], r["requests"], r["ok"], r["requests"] - r["ok"], r["characters"], r["audio_minutes"]] for r in data.series],
    )
    keys = ApiKey.objects.filter(organization=organization).order_by("-created_at")
    context = {
        **admin_site.each_context(request),
        "title": f"Organization: {organization.name}",
        "organization": organization,
        "plans": Plan.objects.all(),
        "memberships": organization.memberships.select_related("user").order_by("created_at"),
        # Name, public prefix and dates only: never the hash (the secret is not stored at all).
        "keys": [{"id": k.id, "name": k.name, "masked": k.masked, "last_used_at": k.last_used_at, "created_at": k.created_at,
                  "revoked_at": k.revoked_at, "expires_at": k.expires_at, "characters_used": k.characters_used} for k in keys],
        "errors": RequestLog.objects.filter(organization=organization, status_code__gte=400).order_by("-created_at")[:20],
        "audit": AuditLog.objects.filter(organization=organization)[:20],
        "quota_percent": round(100 * organization.characters_used / organization.character_limit, 1) if organization.character_limit else None,
        "chart": svg_bars([r["bucket"][5:] for r in data.series],
                          [("characters", [r["characters"] for r in data.series])], title="Characters per day"),
        "can_change": request.user.has_perm("accounts.change_organization"),
        "query": request.GET.urlencode(),
    }
    return _tables_response(request, "admin/accounts/organization_overview.html", context, [usage], f"organization-{organization.pk}")


def _organization_action(request, organization):
    action = request.POST.get("action")
    actor = request.user
    back = HttpResponseRedirect(reverse("admin:accounts_organization_overview", args=[organization.pk]))
    if action not in ACTIONS:
        messages.error(request, "Unknown action.")
        return back
    if action == "change_plan":
        plan = Plan.objects.filter(pk=_post_int(request, "plan")).first()
        if plan is None:
            messages.error(request, "Pick a plan.")
            return back
        operator.organization_change_plan(actor=actor, organization=organization, plan=plan)
        messages.success(request, f"Plan changed to {plan.name}.")
    elif action == "grant_characters":
        characters = _post_int(request, "characters")
        if not characters or characters <= 0:
            messages.error(request, "Grant a positive number of characters.")
            return back
        operator.organization_grant_characters(actor=actor, organization=organization, characters=characters)
        messages.success(request, f"Granted {characters:,} characters for this period.")
    elif action == "suspend":
        done = operator.organization_suspend(actor=actor, organization=organization)
        messages.success(request, "Suspended." if done else "It was already suspended.")
    elif action == "reactivate":
        done = operator.organization_reactivate(actor=actor, organization=organization)
        messages.success(request, "Reactivated." if done else "It was not suspended.")
    elif action == "revoke_key":
        key = get_object_or_404(ApiKey, organization=organization, pk=_post_int(request, "key"))
        done = operator.api_key_revoke_by_staff(actor=actor, organization=organization, key=key)
        messages.success(request, f"Revoked {key.masked}." if done else "That key was already revoked.")
    return back


def _post_int(request, name):
    try:
        return int(request.POST.get(name) or "")
    except ValueError:
        return None
