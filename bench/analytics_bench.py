"""
How fast the admin's usage dashboard is with a million requests.

Generates, into a fresh SQLite file, 1,000,000 RequestLog rows over 90 days for
1,000 organizations (plus the UsageRecord ledger row of each request that
reached synthesis, and marketing funnel events), runs the roll-up for every
whole past day, then requests each dashboard view through Django's test client
as a staff user and prints the median of several runs.

    .venv/bin/python bench/analytics_bench.py [--rows 1000000] [--runs 5] [--db PATH] [--reuse [--rollup]]

--reuse keeps a generated database (migrations still run); add --rollup to
roll it up again, e.g. after a migration that adds a roll-up table.

Usage is skewed as real SaaS usage is: organization i (1-based) sends a share
proportional to 1/i (Zipf), so the biggest sends ~13% and the smallest a few a day.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

VOICES = ["af_heart", "af_bella", "af_sky", "af_sarah", "af_nicole", "am_adam", "am_michael", "bf_emma", "bf_isabella",
          "bm_george", "bm_lewis", "af", "af_alloy", "af_nova", "am_onyx", "ef_dora", "ff_siwis", "if_sara", "hf_alpha", "pf_dora"]
VOICE_WEIGHTS = [1 / (i + 1) ** 0.8 for i in range(len(VOICES))]
OUTCOMES = [(200, "", 0.93), (401, "invalid_api_key", 0.015), (400, "empty_text", 0.01), (400, "max_character_limit_exceeded", 0.005),
            (402, "quota_exceeded", 0.005), (404, "voice_not_found", 0.005), (429, "rate_limited", 0.02),
            (429, "concurrency_limited", 0.005), (503, "overloaded", 0.005)]


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--organizations", type=int, default=1000)
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--db", default=os.environ.get("VOICEHUB_BENCH_DB", "/tmp/voicehub-analytics-bench.sqlite3"))
    parser.add_argument("--reuse", action="store_true", help="Keep an existing generated database (skip generation and roll-up).")
    parser.add_argument("--rollup", action="store_true", help="With --reuse: run the roll-up again.")
    return parser.parse_args()


def setup_django(db_path: str, fresh: bool):
    if fresh:
        for suffix in ("", "-wal", "-shm"):
            Path(db_path + suffix).unlink(missing_ok=True)
    os.environ["DATABASE_URL"] = f"sqlite:///{db_path}"
    os.environ.setdefault("DEBUG", "false")  # no query log in memory
    os.environ.setdefault("ALLOWED_HOSTS", "testserver")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "voicehub_site.settings")
    os.environ["VOICEHUB_NO_BOOTSTRAP"] = "1"
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def generate(args):
    from django.db import connection, transaction

    from accounts.analytics.models import RequestLog
    from accounts.models import ApiKey, Membership, Organization, Plan, UsageRecord, User
    from marketing.models import FunnelEvent

    rng = random.Random(7)
    now = datetime.now(UTC)
    first = (now - timedelta(days=args.days - 1)).replace(hour=0, minute=0, second=0, microsecond=0)
    span = (now - first).total_seconds()
    plans = list(Plan.objects.order_by("sort_order"))
    plan_weights = [60, 20, 12, 6, 2][: len(plans)]
    adapt = connection.ops.adapt_datetimefield_value
    t0 = time.perf_counter()
    with transaction.atomic():
        users = User.objects.bulk_create(
            [User(email=f"owner{i}@bench.test", password="!") for i in range(args.organizations)], batch_size=1000
        )
        organizations = Organization.objects.bulk_create(
            [Organization(name=f"Org {i:04d}", slug=f"org-{i:04d}", plan=rng.choices(plans, plan_weights)[0],
                          period_start=first, period_end=first + timedelta(days=30)) for i in range(args.organizations)],
            batch_size=1000,
        )
        Membership.objects.bulk_create(
            [Membership(organization=o, user=u, role="owner") for o, u in zip(organizations, users)], batch_size=1000
        )
        keys = ApiKey.objects.bulk_create(
            [ApiKey(organization=o, created_by=u, name=f"key {k}", prefix=f"b{o_i:04d}{k}", secret_hash="x" * 64, scopes=["tts"])
             for o_i, (o, u) in enumerate(zip(organizations, users)) for k in range(1 + o_i % 3)],
            batch_size=1000,
        )
    keys_of: dict[int, list[int]] = {}
    for key in keys:
        keys_of.setdefault(key.organization_id, []).append(key.pk)
    weights = [1 / (i + 1) for i in range(len(organizations))]
    org_ids = [o.pk for o in organizations]
    plan_of = {o.pk: o.plan_id for o in organizations}
    user_of = {o.pk: u.pk for o, u in zip(organizations, users)}
    cum_outcomes = [w for _, _, w in OUTCOMES]

    req_sql = (
        f"INSERT INTO {RequestLog._meta.db_table} (organization_id, plan_id, api_key_id, user_id, source, route, path, method,"
        " status_code, error_code, voice, characters, ttfb_ms, total_ms, ttfb_bucket, total_bucket, request_id, created_at)"
        " VALUES (%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s)"
    )
    usage_sql = (
        f"INSERT INTO {UsageRecord._meta.db_table} (organization_id, user_id, api_key_id, source, voice, characters, status,"
        " error_code, audio_seconds, period_start, created_at, finished_at, total_ms) VALUES (%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s)"
    )
    bucket_of = RequestLog.bucket_of
    period = adapt(first)
    batch = 50_000
    usage_rows = 0
    for offset in range(0, args.rows, batch):
        n = min(batch, args.rows - offset)
        moments = sorted(rng.random() * span for _ in range(n))
        orgs = rng.choices(org_ids, weights, k=n)
        voices = rng.choices(VOICES, VOICE_WEIGHTS, k=n)
        outcomes = rng.choices(OUTCOMES, cum_outcomes, k=n)
        requests, ledger = [], []
        for moment, org, voice, (status, code, _) in zip(moments, orgs, voices, outcomes):
            created = adapt(first + timedelta(seconds=moment))
            kind = rng.random()
            source = "api" if kind < 0.85 else ("studio" if kind < 0.97 else "demo")
            organization = None if source == "demo" else org
            key = rng.choice(keys_of[org]) if source == "api" and status != 401 else None
            characters = rng.randint(20, 2000) if source != "demo" else rng.randint(10, 200)
            if status == 200:
                ttfb = max(1, int(rng.lognormvariate(6.2, 0.5)))  # ~500 ms
                total = ttfb + int(characters * rng.uniform(8, 14))
            else:
                ttfb = total = max(1, int(rng.lognormvariate(1.5, 0.6)))
            requests.append((organization, plan_of.get(organization), key, user_of.get(organization) if source == "studio" else None,
                             source, "api_v1:tts", "/api/v1/tts", "POST", status, code, voice if status != 401 else "",
                             characters, ttfb, total, bucket_of(ttfb), bucket_of(total), "", created))
            if status == 200 and organization is not None:
                ledger.append((organization, None, key, source, voice, characters, "succeeded", "", characters / 14.0,
                               period, created, created, total))
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.executemany(req_sql, requests)
            cursor.executemany(usage_sql, ledger)
        usage_rows += len(ledger)
        print(f"  {offset + n:>9,} requests written ({time.perf_counter() - t0:.0f} s)", file=sys.stderr)

    funnel = []
    kinds = [("page_view", 1.0), ("scroll", 0.6), ("demo_played", 0.2), ("cta_clicked", 0.1), ("signup_started", 0.05)]
    for day in range(args.days):
        start = first + timedelta(days=day)
        for v in range(1500):
            visitor = f"{day:03d}{v:05d}"
            for kind, share in kinds:
                if rng.random() < share:
                    cta = rng.choice(["hero", "pricing", "nav"]) if kind in ("cta_clicked", "signup_started") else ""
                    when = min(start + timedelta(seconds=rng.random() * 86399), now)
                    funnel.append((kind, visitor, "/", cta, adapt(when)))
    with transaction.atomic(), connection.cursor() as cursor:
        # Raw SQL: created_at is auto_now_add, which bulk_create would overwrite with now.
        cursor.executemany(
            f"INSERT INTO {FunnelEvent._meta.db_table} (kind, visitor, path, cta, created_at) VALUES (%s,%s,%s,%s,%s)", funnel
        )
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    print(f"generated {args.rows:,} requests, {usage_rows:,} ledger rows, {len(funnel):,} funnel events "
          f"in {time.perf_counter() - t0:.0f} s", file=sys.stderr)


def rollup(args):
    from django.core.management import call_command
    from django.db import connection

    t0 = time.perf_counter()
    call_command("rollup_usage", "--days", str(args.days - 1), verbosity=0)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    elapsed = time.perf_counter() - t0
    print(f"rolled up {args.days - 1} days in {elapsed:.1f} s ({elapsed / (args.days - 1) * 1000:.0f} ms per day)", file=sys.stderr)


def bench(args):
    from django.db.models import Count
    from django.test import Client
    from django.urls import reverse
    from django.utils import timezone

    from accounts.analytics.models import RequestLog
    from accounts.models import ApiKey, Plan, User

    staff = User.objects.create_superuser(email=f"bench-{time.time_ns()}@bench.test", password="x")
    client = Client()
    client.force_login(staff)
    today = timezone.now().date()
    by_size = list(RequestLog.objects.filter(organization__isnull=False).values("organization").annotate(n=Count("id")).order_by("-n"))
    biggest, typical = by_size[0]["organization"], by_size[len(by_size) // 2]["organization"]
    key = ApiKey.objects.filter(organization_id=biggest).first()
    plan = Plan.objects.get(slug="pro") if Plan.objects.filter(slug="pro").exists() else Plan.objects.first()

    def day(n):
        return (today - timedelta(days=n - 1)).isoformat()

    dashboard = reverse("admin:accounts_requestlog_dashboard")
    funnel = reverse("admin:accounts_requestlog_funnel")
    views = [
        ("dashboard, 30 days by day (default)", dashboard, {}),
        ("dashboard, 90 days by day", dashboard, {"from": day(90)}),
        ("dashboard, 90 days by week", dashboard, {"from": day(90), "bucket": "week"}),
        ("dashboard, 90 days by month", dashboard, {"from": day(90), "bucket": "month"}),
        ("dashboard, 1 day by hour", dashboard, {"from": day(1), "bucket": "hour"}),
        ("dashboard, 2 days by hour", dashboard, {"from": day(2), "bucket": "hour"}),
        ("dashboard, 7 days by hour", dashboard, {"from": day(7), "bucket": "hour"}),
        ("dashboard, 7 days by hour, voice=af_heart", dashboard, {"from": day(7), "bucket": "hour", "voice": "af_heart"}),
        ("dashboard, 7 days by hour, biggest org", dashboard, {"from": day(7), "bucket": "hour", "organization": biggest}),
        ("dashboard, 90 days, plan filter", dashboard, {"from": day(90), "plan": plan.pk}),
        ("dashboard, 90 days, source=studio", dashboard, {"from": day(90), "source": "studio"}),
        ("dashboard, 90 days, voice=af_heart", dashboard, {"from": day(90), "voice": "af_heart"}),
        (f"dashboard, 90 days, biggest org ({by_size[0]['n']:,} rows)", dashboard, {"from": day(90), "organization": biggest}),
        (f"dashboard, 90 days, median org ({by_size[len(by_size) // 2]['n']:,} rows)", dashboard, {"from": day(90), "organization": typical}),
        ("dashboard, 90 days, biggest org's key", dashboard, {"from": day(90), "api_key": key.pk}),
        ("dashboard, 30 days, org + voice (raw rows)", dashboard, {"organization": biggest, "voice": "af_heart"}),
        ("dashboard, 30 days, median org + source (raw rows)", dashboard, {"organization": typical, "source": "api"}),
        ("CSV export, 90 days series", dashboard, {"from": day(90), "format": "csv", "table": "series"}),
        ("funnel, 30 days", funnel, {}),
        ("funnel, 90 days", funnel, {"from": day(90)}),
        ("organization page, biggest org", reverse("admin:accounts_organization_overview", args=[biggest]), {}),
    ]
    print(f"\n{'view':<52} {'median ms':>10} {'min':>8} {'max':>8}")
    worst = 0.0
    for name, url, params in views:
        timings = []
        for _ in range(args.runs + 1):
            t0 = time.perf_counter()
            response = client.get(url, params)
            timings.append((time.perf_counter() - t0) * 1000)
            assert response.status_code == 200, (name, response.status_code)
        timings = timings[1:]  # the first run warms the page cache
        median = statistics.median(timings)
        worst = max(worst, median)
        print(f"{name:<52} {median:>10.1f} {min(timings):>8.1f} {max(timings):>8.1f}")
    print(f"\nslowest view: {worst:.0f} ms (target: under 300 ms)")


def main():
    args = parse_args()
    fresh = not (args.reuse and Path(args.db).exists())
    setup_django(args.db, fresh)
    if fresh:
        generate(args)
    if fresh or args.rollup:
        rollup(args)
    bench(args)


if __name__ == "__main__":
    main()
