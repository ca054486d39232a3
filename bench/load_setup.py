"""
The load test's tenants, and its ledger check afterwards (bench/load_run.py runs both).

    .venv/bin/python bench/load_setup.py create --tenants 8 --out tenants.json
    .venv/bin/python bench/load_setup.py ledger --tenants-file tenants.json

Run with the same settings as the servers under load (DATABASE_URL, SECRET_KEY,
VOICEHUB_ENV, MEDIA_ROOT): a session cookie is only good for the SECRET_KEY that
signed its data, and the ledger reads the servers' database and media.

`create` makes N organizations, each with its own verified owner, its own API
key and a signed-in session, so that every simulated tenant meets its own
per-organization rate, concurrency and quota limits, as real customers do. They
are on a dedicated, unlisted plan "Load test": a paying customer's limits per
minute and per request (Pro's: 120 requests/min, 5 at once, 5,000 characters)
but a month's characters no load test can spend, so a run measures the server,
not a quota running out. Idempotent: the same users, organizations and plan are
reused; each run revokes the previous run's keys and makes new ones (a key's
secret exists only when it is made). It writes the JSON file bench/locustfile.py
reads (VOICEHUB_LOAD_TENANTS).

`ledger` prints, as JSON, what the server's side of the run says: the characters
settled for the load organizations (by door: API requests, studio, long-form jobs),
the usage rows still `reserved`, whether each organization's counter equals its
rows, and the audio files under MEDIA_ROOT that no row references (orphans).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "voicehub_site.settings")

import django  # noqa: E402

django.setup()

from allauth.account.models import EmailAddress  # noqa: E402
from django.apps import apps  # noqa: E402
from django.conf import settings  # noqa: E402
from django.db import models, transaction  # noqa: E402
from django.db.models import Count, Sum  # noqa: E402
from django.middleware.csrf import _get_new_csrf_string  # noqa: E402
from django.test import Client  # noqa: E402
from django.utils import timezone  # noqa: E402

from accounts.models import ApiKey, Membership, Organization, Plan, UsageRecord, User  # noqa: E402
from accounts.services import BILLING_PERIOD, api_key_create, organization_create  # noqa: E402

PLAN_SLUG = "load-test"
KEY_NAME = "load test"
EMAIL = "load-{:04d}@load-test.invalid"  # .invalid: no mail can ever reach a real address
ORG_SLUG = "load-test-{:04d}"
# Pro's limits per minute, per request and at once (accounts/migrations/0003_seed_plans.py), with a month of
# characters no run can spend: a quota running out would end the measurement, not the server. Not on /pricing.
PLAN = {
    "name": "Load test",
    "sort_order": 99,
    "price_monthly_cents": 0,
    "monthly_characters": 1_000_000_000,
    "max_characters_per_request": 5_000,
    "max_audio_seconds_per_request": 900,
    "requests_per_minute": 120,
    "concurrent_requests": 5,
    "history_retention_days": 7,
    "allowed_formats": ["wav", "mp3", "opus", "flac", "pcm", "ulaw"],
    "api_access": True,
    "is_public": False,
}
# Files no row points to by design: the catalog voices' samples (render_samples), shared by everyone.
UNREFERENCED_BY_DESIGN = ("previews/",)


def tenant_create(index: int, plan: Plan) -> dict:
    """One tenant: user, organization, a fresh key and a fresh signed-in session (older keys revoked)."""
    email = EMAIL.format(index)
    with transaction.atomic():
        user = User.objects.filter(email=email).first()
        if user is None:
            user = User.objects.create_user(email=email, name=f"Load {index}")
            user.set_unusable_password()  # signs in only through the session made here
            user.save(update_fields=["password"])
        EmailAddress.objects.update_or_create(user=user, email=email, defaults={"verified": True, "primary": True})
        organization = Organization.objects.filter(slug=ORG_SLUG.format(index)).first()
        if organization is None:
            organization = organization_create(owner=user, name=ORG_SLUG.format(index), plan=plan)
            organization.slug = ORG_SLUG.format(index)
            organization.save(update_fields=["slug"])
        elif not organization.memberships.filter(user=user).exists():
            Membership.objects.create(organization=organization, user=user, role=Membership.Role.OWNER)
        if organization.plan_id != plan.pk or organization.suspended_at is not None:
            organization.plan, organization.suspended_at = plan, None
            organization.save(update_fields=["plan", "suspended_at"])
        if organization.period_end <= timezone.now():
            now = timezone.now()
            Organization.objects.filter(pk=organization.pk).update(
                period_start=now, period_end=now + BILLING_PERIOD, characters_used=0
            )
            organization.refresh_from_db()
        organization.api_keys.filter(name=KEY_NAME, revoked_at__isnull=True).update(revoked_at=timezone.now())
        key = api_key_create(organization=organization, created_by=user, name=KEY_NAME)
    # A real login: Django's own session (auth hash, backend) in the session store the servers read.
    client = Client()
    client.force_login(user, backend="django.contrib.auth.backends.ModelBackend")
    return {
        "index": index,
        "email": email,
        "organization_id": organization.pk,
        "organization_slug": organization.slug,
        "api_key": key.secret,
        "session_cookie": client.cookies[settings.SESSION_COOKIE_NAME].value,
        "csrf_token": _get_new_csrf_string(),  # sent as the CSRF cookie and, for a form, as its token
    }


def create(args) -> None:
    plan, _ = Plan.objects.update_or_create(slug=PLAN_SLUG, defaults=PLAN)
    tenants = [tenant_create(index, plan) for index in range(args.first_index, args.first_index + args.tenants)]
    document = {
        "created_at": timezone.now().isoformat(),
        "plan": {"slug": plan.slug, **{k: v for k, v in PLAN.items() if k != "allowed_formats"}},
        "session_cookie_name": settings.SESSION_COOKIE_NAME,
        "csrf_cookie_name": settings.CSRF_COOKIE_NAME,
        "tenants": tenants,
    }
    out = Path(args.out)
    out.write_text(json.dumps(document, indent=1))
    out.chmod(0o600)  # live credentials
    print(f"{len(tenants)} load-test tenants on plan {plan.slug!r} written to {out}")


def _referenced_files() -> set[str]:
    """Every file name any FileField of any model points to (history, jobs, idempotency, saved voices, …)."""
    names: set[str] = set()
    for model in apps.get_models():
        for field in model._meta.get_fields():
            if isinstance(field, models.FileField):
                names.update(model._default_manager.exclude(**{field.name: ""}).values_list(field.name, flat=True))
    return names


def ledger(args) -> None:
    tenants = json.loads(Path(args.tenants_file).read_text())["tenants"]
    org_ids = [t["organization_id"] for t in tenants]
    rows = UsageRecord.objects.filter(organization_id__in=org_ids)
    settled = rows.filter(status=UsageRecord.Status.SUCCEEDED)
    jobs = settled.filter(job_chunk__isnull=False)
    requests = settled.filter(job_chunk__isnull=True)

    def total(queryset) -> dict:
        figures = queryset.aggregate(rows=Count("id"), characters=Sum("characters"))
        return {"rows": figures["rows"], "characters": figures["characters"] or 0}

    by_source = {
        source: total(requests.filter(source=source)) for source in (UsageRecord.Source.API, UsageRecord.Source.STUDIO)
    }
    reserved = rows.filter(status=UsageRecord.Status.RESERVED)
    # Each organization's counter against its rows: settled + still reserved, in the current period.
    mismatched = []
    for organization in Organization.objects.filter(pk__in=org_ids):
        current = rows.filter(organization=organization, period_start=organization.period_start)
        counted = (
            current.filter(status__in=[UsageRecord.Status.SUCCEEDED, UsageRecord.Status.RESERVED]).aggregate(
                n=Sum("characters")
            )["n"]
            or 0
        )
        if counted != organization.characters_used:
            mismatched.append(
                {"organization": organization.slug, "counter": organization.characters_used, "rows": counted}
            )
    media = Path(settings.MEDIA_ROOT)
    referenced = _referenced_files()
    on_disk = {
        path.relative_to(media).as_posix(): path.stat().st_size
        for path in media.rglob("*")
        if path.is_file() and not path.relative_to(media).as_posix().startswith(UNREFERENCED_BY_DESIGN)
    }
    orphans = sorted(name for name in on_disk if name not in referenced)
    from synthesis.models import Generation, Job  # after setup; a plain import would run before it

    unfinished_jobs = Job.objects.filter(organization_id__in=org_ids).exclude(
        status__in=[Job.Status.SUCCEEDED, Job.Status.FAILED, Job.Status.CANCELLED]
    )
    print(
        json.dumps(
            {
                "settled": {
                    "api": by_source[UsageRecord.Source.API],
                    "studio": by_source[UsageRecord.Source.STUDIO],
                    "jobs": total(jobs),
                    "all": total(settled),
                },
                "refunded_rows": rows.filter(status=UsageRecord.Status.REFUNDED).count(),
                "reserved": total(reserved),
                "counter_mismatches": mismatched,
                "generations": Generation.objects.filter(organization_id__in=org_ids).count(),
                "jobs": dict(
                    Job.objects.filter(organization_id__in=org_ids)
                    .values_list("status")
                    .annotate(n=Count("id"))
                    .order_by()
                ),
                "unfinished_jobs": unfinished_jobs.count(),
                "files": {
                    "on_disk": len(on_disk),
                    "bytes": sum(on_disk.values()),
                    "referenced_missing": sum(1 for name in referenced if name and not (media / name).exists()),
                },
                "orphans": {"count": len(orphans), "bytes": sum(on_disk[n] for n in orphans), "examples": orphans[:5]},
                "active_keys": ApiKey.objects.active().filter(organization_id__in=org_ids, name=KEY_NAME).count(),
            }
        )
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    made = commands.add_parser("create", help="make (or refresh) N load-test tenants and write their credentials")
    made.add_argument("--tenants", type=int, default=8)
    made.add_argument("--first-index", type=int, default=0, help="number the tenants from here (a separate set)")
    made.add_argument("--out", default=os.environ.get("VOICEHUB_LOAD_TENANTS", "load-tenants.json"))
    made.set_defaults(run=create)
    check = commands.add_parser("ledger", help="print the server side of the ledger check, as JSON")
    check.add_argument("--tenants-file", default=os.environ.get("VOICEHUB_LOAD_TENANTS", "load-tenants.json"))
    check.set_defaults(run=ledger)
    args = parser.parse_args()
    args.run(args)


if __name__ == "__main__":
    main()
