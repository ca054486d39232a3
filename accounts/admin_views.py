"""
The operator's page of one organization in the admin: its usage, members, keys,
recent errors and audit trail, and the audited actions (change plan, grant
characters, suspend, reactivate, revoke a key; accounts/operator.py).

Wired in through OrganizationAdmin.get_urls (accounts/admin.py), wrapped in
admin_site.admin_view (staff only) and a permission check. The usage dashboard
and the funnel are analytics' pages: accounts/analytics/admin_views.py.
"""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.urls import reverse

from . import operator
from .analytics.charts import svg_bars
from .analytics.dashboard import organization_series
from .analytics.models import RequestLog
from .analytics.tables import Table, tables_response
from .models import ApiKey, AuditLog, Organization, Plan, UpgradeRequest

ACTIONS = {"change_plan", "grant_characters", "suspend", "reactivate", "revoke_key"}


def _require(request, permission: str) -> None:
    if not request.user.has_perm(permission):
        raise PermissionDenied


def organization_overview(request, admin_site, object_id):
    _require(request, "accounts.view_organization")
    organization = get_object_or_404(Organization.objects.select_related("plan"), pk=object_id)
    if request.method == "POST":
        _require(request, "accounts.change_organization")
        return _organization_action(request, organization)
    data = organization_series(organization)
    usage = Table(
        "usage", "Last 30 days", ["day", "requests", "ok", "errors", "characters", "audio minutes"],
        [[r["bucket"], r["requests"], r["ok"], r["requests"] - r["ok"], r["characters"], r["audio_minutes"]] for r in data.series
         if r["requests"] or r["characters"]],  # the days with something in them; the chart spans all 30
    )
    keys = ApiKey.objects.filter(organization=organization).order_by("-created_at")
    context = {
        **admin_site.each_context(request),
        "title": f"Organization: {organization.name}",
        "organization": organization,
        "plans": Plan.objects.all(),
        "pending_upgrade": organization.upgrade_requests.filter(status=UpgradeRequest.Status.PENDING).select_related("plan").first(),
        "memberships": organization.memberships.select_related("user").order_by("created_at"),
        # Name, public prefix and dates only: never the hash (the secret is not stored at all).
        "keys": [{"id": k.id, "name": k.name, "masked": k.masked, "last_used_at": k.last_used_at, "created_at": k.created_at,
                  "revoked_at": k.revoked_at, "expires_at": k.expires_at, "characters_used": k.characters_used} for k in keys],
        "errors": RequestLog.objects.filter(organization=organization, status_code__gte=400).order_by("-created_at")[:20],
        "audit": AuditLog.objects.filter(organization=organization)[:20],
        "quota_percent": round(100 * organization.characters_used / organization.character_limit, 1) if organization.character_limit else None,
        "chart": svg_bars([r["bucket"] for r in data.series],
                          [("characters", [r["characters"] for r in data.series])], title="Characters per day",
                          unit="characters"),
        "can_change": request.user.has_perm("accounts.change_organization"),
        "query": request.GET.urlencode(),
    }
    return tables_response(request, "admin/accounts/organization_overview.html", context, [usage], f"organization-{organization.pk}")


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
