from rest_framework import exceptions
from rest_framework.permissions import BasePermission

from .models import ApiKey, Membership
from .verification import email_verified


class HasScope(BasePermission):
    """An API key must carry `scope`; a signed-in session may do what its user can."""

    scope: str = ""

    def has_permission(self, request, view):
        if request.auth is None and not (request.user and request.user.is_authenticated):
            raise exceptions.NotAuthenticated()
        organization = getattr(request, "organization", None)
        if organization is not None and organization.suspended_at is not None:
            raise _suspended()
        if isinstance(request.auth, ApiKey):
            refusal = _key_refusal(request.auth, self.scope)
            if refusal is not None:
                raise refusal
        if request.user and request.user.is_authenticated and not email_verified(request.user):
            raise _unverified()
        return True

    @classmethod
    def of(cls, scope: str):
        return type(f"HasScope_{scope}", (cls,), {"scope": scope})


class IsOrganizationManager(BasePermission):
    """Owners and admins only, as the studio's team and webhook pages.

    A session acts with its user's role in the active organization; an API key with the role its
    creator has now, so a member's key cannot do what the member cannot, and a demoted admin's
    keys lose the power with the next request. The role is read on every request, never cached.
    """

    def has_permission(self, request, view):
        user = request.user
        organization = getattr(request, "organization", None)
        managers = (Membership.Role.OWNER, Membership.Role.ADMIN)
        if organization is None or not (user and user.is_authenticated) or not organization.memberships.filter(
            user=user, role__in=managers
        ).exists():
            raise exceptions.PermissionDenied(
                "Only owners and admins (or API keys they created) can do this.", code="admin_required"
            )
        return True


def _suspended():
    return exceptions.PermissionDenied("This organization is suspended; contact support.", code="organization_suspended")


def _unverified():
    # An unverified account gets no synthesis quota: free sign-ups would
    # otherwise be a way to farm characters with throwaway addresses.
    return exceptions.PermissionDenied(
        "Verify your email address to start synthesizing; check your inbox for the link.", code="email_unverified"
    )


def _key_refusal(key: ApiKey, scope: str) -> exceptions.APIException | None:
    if not key.organization.plan.api_access:
        return exceptions.PermissionDenied("Your organization's plan does not include API access.", code="plan_without_api_access")
    if scope not in key.scopes:
        return exceptions.PermissionDenied(f"This API key lacks the '{scope}' scope.", code="missing_scope")
    return None


def api_key_refusal(key: ApiKey, scope: str) -> exceptions.APIException | None:
    """Why `key` (already authenticated) may not act with `scope`, as HasScope would refuse it; None if it may.

    For doors outside DRF (the realtime socket), which have a key and no request.
    """
    if key.organization.suspended_at is not None:
        return _suspended()
    refusal = _key_refusal(key, scope)
    if refusal is not None:
        return refusal
    if key.created_by is not None and not email_verified(key.created_by):
        return _unverified()
    return None
