"""The marketing funnel's numbers: visitors → demo plays → sign-ups → verified → first generation → paid.

Read from marketing's FunnelEvent rows for today and from FunnelDaily (written
here, by the daily roll-up) for whole past days.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, timedelta

from django.db import transaction
from django.db.models import Count
from django.utils import timezone

from .models import FunnelDaily, UsageRollupDay
from .periods import bucket_keys, day_ranges, days_of, days_q, in_ranges
from .sql import TimeKey

FUNNEL_STEPS = (
    ("visitors", "Visitors"),
    ("demo_played", "Demo plays"),
    ("signup_started", "Sign-ups started"),
    ("signup_completed", "Sign-ups completed"),
    ("email_verified", "Emails verified"),
    ("first_generation", "First generation"),
    ("paid", "On a paid plan"),
)


@dataclass
class Funnel:
    steps: list[dict]  # {"key", "label", "count", "conversion" (from the step before, %)}
    days: list[dict]  # {"day", <step key>: count, ...}
    ctas: list[dict]  # {"cta", "clicks", "signups_started", "conversion"}


def _percent(part, whole):
    return round(100 * part / whole, 1) if whole else None


def _funnel_raw(ranges) -> tuple[dict[str, dict[str, int]], dict[str, dict[str, dict[str, int]]]]:
    """Per day key: each step's count; and per day key, per CTA: clicks and sign-ups started."""
    from marketing.models import FunnelEvent

    Kind = FunnelEvent.Kind
    per_day: dict[str, dict[str, int]] = defaultdict(dict)
    per_cta: dict[str, dict[str, dict[str, int]]] = defaultdict(lambda: defaultdict(dict))
    if not ranges:
        return per_day, per_cta
    events = FunnelEvent.objects.filter(in_ranges(ranges))
    day = TimeKey("created_at", hour=False)
    anonymous = events.exclude(visitor="")
    queries = {
        # Every anonymous event comes from a page, so the page views hold every visitor.
        "visitors": (anonymous.filter(kind=Kind.PAGE_VIEW), "visitor"),
        "demo_played": (anonymous.filter(kind=Kind.DEMO_PLAYED), "visitor"),
        "signup_started": (anonymous.filter(kind=Kind.SIGNUP_STARTED), "visitor"),
        # Recorded once per user (organization) by marketing.funnel.event_record_once.
        "signup_completed": (events.filter(kind=Kind.SIGNUP_COMPLETED), "user"),
        "email_verified": (events.filter(kind=Kind.EMAIL_VERIFIED), "user"),
        "first_generation": (events.filter(kind=Kind.FIRST_GENERATION), "organization"),
        "paid": (
            events.filter(kind=Kind.SIGNUP_COMPLETED, user__memberships__organization__plan__price_monthly_cents__gt=0),
            "user",
        ),
    }
    for step, (rows, counted) in queries.items():
        for row in rows.values(key=day).annotate(n=Count(counted, distinct=True)).order_by():
            per_day[row["key"]][step] = row["n"]
    for step, kind in (("clicks", Kind.CTA_CLICKED), ("signups_started", Kind.SIGNUP_STARTED)):
        for row in anonymous.filter(kind=kind).values("cta", key=day).annotate(n=Count("visitor", distinct=True)).order_by():
            per_cta[row["key"]][row["cta"]][step] = row["n"]
    return per_day, per_cta


def rollup_funnel_day(day: date) -> int:
    per_day, per_cta = _funnel_raw(day_ranges([day]))
    key = day.isoformat()
    rows = [FunnelDaily(day=day, step=step, cta="", count=n) for step, n in per_day.get(key, {}).items()]
    rows += [
        FunnelDaily(day=day, step=step, cta=cta, count=n)
        for cta, counts in per_cta.get(key, {}).items()
        for step, n in counts.items()
    ]
    with transaction.atomic():
        FunnelDaily.objects.filter(day=day).delete()
        FunnelDaily.objects.bulk_create(rows)
    return len(rows)


def funnel(*, start: date, end: date) -> Funnel:
    """Visitors → demo plays → sign-ups started → completed → verified → first generation → paid.

    Anonymous steps count distinct visitors per day (the visitor id rotates
    daily, so that is the most a visitor can be counted); account steps count
    users (organizations for the first generation), each recorded once;
    "paid" counts the users who completed sign-up and now belong to an
    organization whose plan costs money (as of the day's roll-up for past days).
    Whole past days come from FunnelDaily, today from the events.
    """
    today = timezone.now().date()
    days = days_of(start, end)
    # FunnelDaily is the same in every roll-up version: any rolled-up day will do.
    rolled = set(UsageRollupDay.objects.filter(day__gte=start, day__lte=min(end, today - timedelta(days=1))).values_list("day", flat=True))
    per_day, per_cta = _funnel_raw(day_ranges([d for d in days if d not in rolled]))
    for row in FunnelDaily.objects.filter(days_q(rolled)).values("day", "step", "cta", "count") if rolled else []:
        key = row["day"].isoformat()
        if row["cta"] or row["step"] in ("clicks", "signups_started"):
            per_cta[key][row["cta"]][row["step"]] = row["count"]
        else:
            per_day[key][row["step"]] = row["count"]
    table = [{"day": key, **{step: per_day.get(key, {}).get(step, 0) for step, _ in FUNNEL_STEPS}} for key in bucket_keys(start, end, "day")]
    totals = {step: sum(entry[step] for entry in table) for step, _ in FUNNEL_STEPS}
    steps, previous = [], None
    for key, label in FUNNEL_STEPS:
        conversion = _percent(totals[key], previous) if previous is not None else None
        steps.append({"key": key, "label": label, "count": totals[key], "conversion": conversion})
        previous = totals[key]
    clicks: dict[str, int] = defaultdict(int)
    started: dict[str, int] = defaultdict(int)
    for by_cta in per_cta.values():
        for cta, counts in by_cta.items():
            clicks[cta] += counts.get("clicks", 0)
            started[cta] += counts.get("signups_started", 0)
    ctas = [
        {"cta": cta or "—", "clicks": clicks[cta], "signups_started": started[cta], "conversion": _percent(started[cta], clicks[cta])}
        for cta in sorted(set(clicks) | set(started), key=lambda c: (-clicks[c], c))
    ]
    return Funnel(steps=steps, days=table, ctas=ctas)
