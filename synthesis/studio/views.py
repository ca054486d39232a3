"""
The studio pages a signed-in user works in: the studio itself, history and usage.

Every page acts for the session's active organization (accounts.tenancy), and
every object is fetched through it, so another organization's generation is a
404 whatever id is typed. Synthesis itself happens over the websocket
(synthesis.studio.consumers), through the same services as the HTTP API.
"""

from __future__ import annotations

import math
from datetime import timedelta
from urllib.parse import urlencode

from django.contrib import messages
from django.core.paginator import Paginator
from django.db.models import Count, Q, Sum
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods

from accounts.analytics.charts import nice_ticks, tick_label
from accounts.models import UsageRecord
from accounts.verification import email_verified
from synthesis.api.common import audio_file_response
from synthesis.services.history import generation_delete, request_count, usage_per_day
from synthesis.services.voices import saved_voices_of, voice_names
from synthesis.studio.pages import DEFAULT_VOICE, studio_page, voice_catalog

HISTORY_PAGE_SIZE = 20
@studio_page
@require_GET
def studio(request, membership):
    organization = membership.organization
    organization.refresh_from_db(fields=["characters_used", "bonus_characters", "period_start", "period_end"])
    plan = organization.plan
    voices = voice_catalog()
    ids = {v.id for v in voices}
    language_names = {v.language: v.language_name for v in voices}
    # The organization's own voices, in a group of their own above the catalog.
    saved_voices = [
        {"id": v.public_id, "name": v.name, "language_name": language_names.get(v.language, v.language), "spec": v.spec}
        for v in saved_voices_of(organization)
    ]
    return render(
        request,
        "studio/studio.html",
        {
            "organization": organization,
            "plan": plan,
            "voices": voices,
            "saved_voices": saved_voices,
            "voice_total": len(voices) + len(saved_voices),
            "default_voice": DEFAULT_VOICE if DEFAULT_VOICE in ids else (voices[0].id if voices else ""),
            "languages": sorted({v.language_name for v in voices}),
            "accents": sorted({v.accent for v in voices}),
            "genders": sorted({v.gender for v in voices}),
            "formats": plan.allowed_formats,
            "characters_left": organization.characters_left,
            "unverified": not email_verified(request.user),
            "dictionaries": organization.pronunciation_dictionaries.filter(archived_at__isnull=True).order_by("name"),
        },
    )


def _history_filters(request, organization):
    """The organization's generations narrowed by ?q=, ?voice= and ?member= (a user id)."""
    generations = organization.generations.select_related("user", "api_key")
    q = request.GET.get("q", "").strip()
    voice = request.GET.get("voice", "").strip()
    member = request.GET.get("member", "").strip()
    if q:
        generations = generations.filter(text__icontains=q)
    if voice:
        generations = generations.filter(voice=voice)
    if member.isdigit():
        generations = generations.filter(user_id=int(member))
    return generations, {"q": q, "voice": voice, "member": member}


@studio_page
@require_GET
def history(request, membership):
    organization = membership.organization
    generations, filters = _history_filters(request, organization)
    page = Paginator(generations, HISTORY_PAGE_SIZE).get_page(request.GET.get("page"))
    saved = dict(organization.saved_voices.values_list("public_id", "name"))
    for generation in page.object_list:  # a saved voice by its name (its id stays beside it, and in the filter)
        name = saved.get(generation.voice)
        generation.voice_name = f"{name} ({generation.voice})" if name else generation.voice
    query = urlencode({name: value for name, value in filters.items() if value})
    context = {"organization": organization, "page": page, "filters": filters, "query": query}
    if request.htmx and request.htmx.target == "history-results":
        return render(request, "studio/_history_results.html", context)
    context["voices"] = organization.generations.order_by("voice").values_list("voice", flat=True).distinct()
    context["members"] = organization.memberships.select_related("user").order_by("user__email")
    return render(request, "studio/history.html", context)


@studio_page
@require_GET
def history_audio(request, membership, pk):
    generation = get_object_or_404(membership.organization.generations, pk=pk)
    # Served through the storage backend, never from a public media URL: the
    # organization check above is the only way to this file.
    return audio_file_response(generation)


@studio_page
@require_http_methods(["GET", "POST"])
def history_delete(request, membership, pk):
    generation = get_object_or_404(membership.organization.generations, pk=pk)
    if request.method == "GET":
        template = "studio/_history_delete.html" if request.htmx else "studio/history_delete.html"
        return render(request, template, {"generation": generation})
    generation_delete(generation)
    if request.htmx:
        return render(request, "studio/_history_deleted.html", {"generation": generation})
    messages.success(request, "The generation and its audio were deleted.")
    return redirect("studio:history")


def _days(start, end):
    day = start
    while day <= end:
        yield day
        day += timedelta(days=1)


# The chart's box: the plot, with room on the left for the scale and below for the dates.
CHART_WIDTH, CHART_HEIGHT = 640, 200
CHART_LEFT, CHART_RIGHT, CHART_TOP, CHART_BOTTOM = 66, 8, 12, 32


def _usage_chart(days, period_days):
    """Bars per day of the period on a dated axis, with a scale of round whole numbers of characters."""
    ticks = nice_ticks(max((d["characters"] for d in days), default=0))
    plot_w, plot_h = CHART_WIDTH - CHART_LEFT - CHART_RIGHT, CHART_HEIGHT - CHART_TOP - CHART_BOTTOM
    base = CHART_TOP + plot_h
    # One slot per day of the whole period, so a bar's width never depends on how far into it we are.
    slot = plot_w / max(period_days, len(days), 1)
    for index, day in enumerate(days):
        day["height"] = round(day["characters"] / ticks[-1] * plot_h, 1)
        day["x"] = round(CHART_LEFT + index * slot + slot * 0.15, 1)
        day["y"] = round(base - day["height"], 1)
    every = max(1, math.ceil(max(period_days, len(days)) / 6))
    dates = [{"x": round(CHART_LEFT + i * slot + slot / 2, 1), "date": d["date"]} for i, d in enumerate(days) if i % every == 0]
    scale = [{"y": round(base - plot_h * t / ticks[-1], 1), "label": tick_label(t)} for t in ticks]
    for tick in scale:
        tick["label_y"] = round(tick["y"] + 4, 1)
    return {"width": CHART_WIDTH, "height": CHART_HEIGHT, "bar": round(slot * 0.7, 1), "left": CHART_LEFT,
            "right": CHART_WIDTH - CHART_RIGHT, "base": base, "dates": dates, "scale": scale,
            "label_x": CHART_LEFT - 6, "date_y": base + 22}


@studio_page
@require_GET
def usage(request, membership):
    organization = membership.organization
    organization.refresh_from_db(fields=["characters_used", "bonus_characters", "period_start", "period_end"])
    plan = organization.plan
    records = organization.usage_records.filter(period_start=organization.period_start)
    charged = records.exclude(status=UsageRecord.Status.REFUNDED)
    today = timezone.now().date()
    per_day = {row["date"]: row["characters"] for row in usage_per_day(organization, start=organization.period_start.date(), end=today)}
    days = [{"date": day, "characters": per_day.get(day, 0)} for day in _days(organization.period_start.date(), today)]
    chart = _usage_chart(days, (organization.period_end - organization.period_start).days)
    top_voices = list(
        charged.values("voice")
        .annotate(characters=Sum("characters"), requests=request_count())
        .order_by("-characters", "voice")[:5]
    )
    names = voice_names(organization, [row["voice"] for row in top_voices])
    for row in top_voices:
        row["name"] = names[row["voice"]]
    errors = records.filter(status=UsageRecord.Status.REFUNDED).exclude(error_code="").select_related("user", "api_key")
    errors = list(errors.order_by("-created_at")[:10])
    names = voice_names(organization, [record.voice for record in errors])
    for record in errors:
        record.voice_name = names[record.voice]
    limit = organization.character_limit
    return render(
        request,
        "studio/usage.html",
        {
            "organization": organization,
            "plan": plan,
            "used": organization.characters_used,
            "limit": limit,
            "percent": min(100, round(organization.characters_used * 100 / limit, 1)) if limit else 100,
            "days": days,
            "total": sum(d["characters"] for d in days),
            "chart": chart,
            "top_voices": top_voices,
            "errors": errors,
            "requests": records.aggregate(
                n=request_count(), failed=Count("id", filter=Q(status=UsageRecord.Status.REFUNDED))
            ),
        },
    )
