"""
What staff do to an organization from the admin: change its plan, grant extra
characters, suspend or reactivate it, revoke a key, approve or decline an
upgrade request. Each is one transaction
that also writes the AuditLog row (who, what, before, after).
"""

from __future__ import annotations

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from .models import ApiKey, AuditLog, Organization, Plan, UpgradeRequest, User
from .services import OrganizationError


def _audit(*, actor: User | None, action: str, organization: Organization, target: str, before: dict, after: dict) -> AuditLog:
    return AuditLog.objects.create(
        actor=actor, action=action, organization=organization, target=target, before=before, after=after
    )


@transaction.atomic
def organization_change_plan(
    *, actor: User | None, organization: Organization, plan: Plan, upgrade: UpgradeRequest | None = None
) -> AuditLog:
    """The one way an organization's plan changes: by staff, an approved upgrade request, or a billing
    provider's event (actor None: the system)."""
    organization.refresh_from_db(fields=["plan"])
    before = organization.plan
    Organization.objects.filter(pk=organization.pk).update(plan=plan)
    organization.refresh_from_db(fields=["plan"])
    after = {"plan": plan.slug} if upgrade is None else {"plan": plan.slug, "upgrade_request": upgrade.pk}
    return _audit(
        actor=actor, action=AuditLog.Action.CHANGE_PLAN, organization=organization, target=f"organization:{organization.slug}",
        before={"plan": before.slug}, after=after,
    )


@transaction.atomic
def organization_grant_characters(*, actor: User, organization: Organization, characters: int) -> AuditLog:
    """Extra characters for the current billing period (added atomically: a request may be charging right now)."""
    if characters <= 0:
        raise ValueError("Grant a positive number of characters.")
    organization.refresh_from_db(fields=["bonus_characters"])
    before = organization.bonus_characters
    Organization.objects.filter(pk=organization.pk).update(bonus_characters=F("bonus_characters") + characters)
    organization.refresh_from_db(fields=["bonus_characters"])
    return _audit(
        actor=actor, action=AuditLog.Action.GRANT_CHARACTERS, organization=organization, target=f"organization:{organization.slug}",
        before={"bonus_characters": before}, after={"bonus_characters": organization.bonus_characters, "granted": characters},
    )


@transaction.atomic
def organization_suspend(*, actor: User, organization: Organization) -> AuditLog | None:
    """Refuse the organization's keys and sessions synthesis from now on; None if it already was."""
    now = timezone.now()
    if not Organization.objects.filter(pk=organization.pk, suspended_at__isnull=True).update(suspended_at=now):
        return None
    organization.suspended_at = now
    return _audit(
        actor=actor, action=AuditLog.Action.SUSPEND, organization=organization, target=f"organization:{organization.slug}",
        before={"suspended_at": None}, after={"suspended_at": now.isoformat()},
    )


@transaction.atomic
def organization_reactivate(*, actor: User, organization: Organization) -> AuditLog | None:
    organization.refresh_from_db(fields=["suspended_at"])
    before = organization.suspended_at
    if before is None:
        return None
    Organization.objects.filter(pk=organization.pk).update(suspended_at=None)
    organization.suspended_at = None
    return _audit(
        actor=actor, action=AuditLog.Action.REACTIVATE, organization=organization, target=f"organization:{organization.slug}",
        before={"suspended_at": before.isoformat()}, after={"suspended_at": None},
    )


@transaction.atomic
def api_key_revoke_by_staff(*, actor: User, organization: Organization, key: ApiKey) -> AuditLog | None:
    """Revoke one of `organization`'s keys (the key must belong to it); None if it already was."""
    now = timezone.now()
    if not organization.api_keys.filter(pk=key.pk, revoked_at__isnull=True).update(revoked_at=now):
        return None
    return _audit(
        actor=actor, action=AuditLog.Action.REVOKE_KEY, organization=organization, target=f"api_key:{key.masked}",
        before={"revoked_at": None}, after={"revoked_at": now.isoformat()},
    )


def _decide(*, actor: User | None, upgrade: UpgradeRequest, to: str, verb: str) -> UpgradeRequest | None:
    """Move a pending request to `to` under a row lock (SQLite: the writer lock), so a cancel racing the decision
    sees one outcome; the locked row, or None if it was already `to` (deciding twice is harmless). A request in any
    other state is refused (OrganizationError): the requester withdrew it, or it was decided. Call in a transaction."""
    upgrade = UpgradeRequest.objects.select_for_update().select_related("organization", "plan").get(pk=upgrade.pk)
    if upgrade.status == to:
        return None
    if upgrade.status != UpgradeRequest.Status.PENDING:
        raise OrganizationError("not_pending", f"This request was {upgrade.get_status_display().lower()}; it cannot be {verb}.")
    UpgradeRequest.objects.filter(pk=upgrade.pk).update(status=to, decided_by=actor, decided_at=timezone.now())
    return upgrade


@transaction.atomic
def upgrade_request_approve(*, actor: User | None, upgrade: UpgradeRequest) -> AuditLog | None:
    """Give the organization the requested plan; None if it was already approved (approving twice is harmless).

    A cancelled or declined request is refused (OrganizationError): the requester withdrew it, or it was decided.
    """
    upgrade = _decide(actor=actor, upgrade=upgrade, to=UpgradeRequest.Status.APPROVED, verb="approved")
    if upgrade is None:
        return None
    return organization_change_plan(actor=actor, organization=upgrade.organization, plan=upgrade.plan, upgrade=upgrade)


@transaction.atomic
def upgrade_request_decline(*, actor: User, upgrade: UpgradeRequest) -> AuditLog | None:
    """Leave the plan as it is; None if the request was already declined."""
    upgrade = _decide(actor=actor, upgrade=upgrade, to=UpgradeRequest.Status.DECLINED, verb="declined")
    if upgrade is None:
        return None
    return _audit(
        actor=actor, action=AuditLog.Action.DECLINE_UPGRADE, organization=upgrade.organization,
        target=f"upgrade_request:{upgrade.pk}", before={"status": "pending"}, after={"status": "declined", "plan": upgrade.plan.slug},
    )
