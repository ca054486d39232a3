"""Writes to accounts: organizations, memberships, invitations and API keys. Views stay thin."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.core import signing
from django.core.exceptions import ValidationError
from django.core.mail import send_mail
from django.core.validators import validate_email
from django.db import transaction
from django.db.models import Q
from django.template.loader import render_to_string
from django.utils import timezone
from django.utils.text import slugify
from django.utils.translation import gettext as _

from .models import ApiKey, AuditLog, Invitation, Membership, Organization, Plan, UpgradeRequest, User
from .verification import remember_email_verified, verified_email_exists

DEFAULT_PLAN = "free"
BILLING_PERIOD = timedelta(days=30)

# vh_<12 lookup chars>_<43 secret chars>: 32 random bytes (256 bits) of secret.
KEY_PATTERN = re.compile(r"^vh_(?P<prefix>[a-z0-9]{12})_(?P<secret>[A-Za-z0-9_-]{43})$")
_PREFIX_ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789"


def hash_secret(secret: str) -> str:
    # A plain SHA-256 is right for a 256-bit random secret: there is nothing to
    # brute-force, and a slow password hasher would cost every API request.
    return hashlib.sha256(secret.encode()).hexdigest()


def _unique_slug(name: str) -> str:
    base = slugify(name)[:60] or "org"
    slug, n = base, 1
    while Organization.objects.filter(slug=slug).exists():
        n += 1
        slug = f"{base}-{n}"
    return slug


def organization_create(*, owner: User, name: str, plan: Plan | None = None, personal: bool = False) -> Organization:
    now = timezone.now()
    with transaction.atomic():
        organization = Organization.objects.create(
            name=name,
            slug=_unique_slug(name),
            is_personal=personal,
            plan=plan or Plan.objects.get(slug=DEFAULT_PLAN),
            period_start=now,
            period_end=now + BILLING_PERIOD,
        )
        Membership.objects.create(organization=organization, user=owner, role=Membership.Role.OWNER)
    return organization


def organization_create_personal(*, user: User) -> Organization:
    """Every new user gets one organization of their own."""
    label = user.name or user.email.split("@")[0]
    return organization_create(owner=user, name=f"{label}'s workspace", personal=True)


@dataclass(frozen=True)
class NewApiKey:
    key: ApiKey
    secret: str  # the full key, shown once and never stored


def api_key_create(
    *,
    organization: Organization,
    created_by: User | None,
    name: str,
    scopes: list[str] | None = None,
    expires_at: datetime | None = None,
    monthly_character_cap: int | None = None,
) -> NewApiKey:
    scopes = list(scopes if scopes is not None else ApiKey.Scope.values)
    unknown = set(scopes) - set(ApiKey.Scope.values)
    if unknown:
        raise ValueError(f"unknown scopes: {', '.join(sorted(unknown))}")
    prefix = "".join(secrets.choice(_PREFIX_ALPHABET) for _ in range(12))
    secret = secrets.token_urlsafe(32)  # 43 characters, 256 bits
    key = ApiKey.objects.create(
        organization=organization,
        created_by=created_by,
        name=name,
        prefix=prefix,
        secret_hash=hash_secret(secret),
        scopes=scopes,
        expires_at=expires_at,
        monthly_character_cap=monthly_character_cap,
        period_start=organization.period_start,
    )
    return NewApiKey(key=key, secret=f"vh_{prefix}_{secret}")


def api_key_revoke(*, key: ApiKey, actor: Membership | None = None) -> None:
    """Revoke `key` now. With an `actor` (a person in the dashboard), the rule is checked:
    members revoke their own keys, owners and admins any key of their organization."""
    if actor is not None:
        actor = _current(actor)
        if key.organization_id != actor.organization_id:
            raise _forbidden(_("This key belongs to another organization."))
        if not actor.can_manage and key.created_by_id != actor.user_id:
            raise _forbidden(_("Only owners and admins can revoke other members' keys."))
    ApiKey.objects.filter(pk=key.pk, revoked_at__isnull=True).update(revoked_at=timezone.now())


def api_key_authenticate(raw: str) -> ApiKey | None:
    """The active key for `raw`, or None. A malformed key costs no database query."""
    match = KEY_PATTERN.match(raw or "")
    if match is None:
        return None
    key = (
        ApiKey.objects.active()
        .select_related("organization__plan", "created_by")
        .annotate(creator_verified=verified_email_exists("created_by_id"))
        .filter(prefix=match["prefix"])
        .first()
    )
    if key is None or not hmac.compare_digest(key.secret_hash, hash_secret(match["secret"])):
        return None
    if key.created_by is not None:  # the permission check asks next (accounts.permissions.HasScope)
        remember_email_verified(key.created_by, key.creator_verified)
    now = timezone.now()
    # At most one write a minute per key: last_used_at is for people, not a counter.
    if key.last_used_at is None or now - key.last_used_at > timedelta(minutes=1):
        ApiKey.objects.filter(pk=key.pk).update(last_used_at=now)
        key.last_used_at = now
    return key


# --- Invitations and memberships ----------------------------------------------
#
# Every function takes the acting membership (or, for accepting, the signed-in
# user), re-reads it inside the transaction and checks the rule there, so a
# role changed in another tab since the page was rendered is what counts.

INVITATION_TTL = timedelta(days=7)
INVITATION_SALT = "accounts.invitation"


class OrganizationError(Exception):
    """A refused organization action; `message` is safe to show the user."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def _forbidden(message: str) -> OrganizationError:
    return OrganizationError("forbidden", message)


def _lock_organization(organization_id: int) -> Organization:
    # Every membership write in an organization takes this row lock first, so two
    # owners demoting each other at once cannot leave it without an owner.
    # (SQLite has no row locks but serializes writers, which gives the same result.)
    return Organization.objects.select_for_update().get(pk=organization_id)


def _current(actor: Membership) -> Membership:
    try:
        return Membership.objects.select_related("organization", "user").get(pk=actor.pk)
    except Membership.DoesNotExist:
        raise _forbidden(_("You are no longer a member of this organization.")) from None


def _owner_count(organization: Organization) -> int:
    return organization.memberships.filter(role=Membership.Role.OWNER).count()


def invitation_token(invitation: Invitation) -> str:
    return signing.dumps({"invitation": invitation.pk}, salt=INVITATION_SALT, compress=True)


def invitation_accept_path(token: str) -> str:
    from django.urls import reverse

    return reverse("accounts:invitation_accept", kwargs={"token": token})


def _send_invitation_email(*, invitation: Invitation, token: str, site_url: str) -> None:
    # Templates (accounts/email/), as allauth's emails, so a translator reaches the words.
    context = {"invitation": invitation, "link": f"{site_url.rstrip('/')}{invitation_accept_path(token)}"}
    subject = "".join(render_to_string("accounts/email/invitation_subject.txt", context).splitlines())
    body = render_to_string("accounts/email/invitation_message.txt", context)
    try:
        send_mail(subject, body, settings.DEFAULT_FROM_EMAIL, [invitation.email])
    except OSError:  # smtplib.SMTPException is an OSError
        raise OrganizationError(
            "email_failed",
            _("The invitation for %(email)s was saved, but the email could not be sent; try Resend.") % {"email": invitation.email},
        ) from None


def invitation_create(*, actor: Membership, email: str, role: str, site_url: str = "") -> tuple[Invitation, str]:
    """Invite `email` with `role`, replacing a pending invitation for the same address.

    Returns the invitation and its signed token; the link is mailed to `email`.
    `site_url` ("https://voicehub.example") makes the mailed link absolute.
    """
    email = (email or "").strip().lower()
    try:
        validate_email(email)
    except ValidationError:
        raise OrganizationError("invalid_email", _("Enter a valid email address.")) from None
    if role not in Invitation.ROLES:
        raise OrganizationError("invalid_role", _("An invitation can make an admin or a member."))
    with transaction.atomic():
        organization = _lock_organization(actor.organization_id)
        actor = _current(actor)
        if not actor.can_manage:
            raise _forbidden(_("Only owners and admins can invite people."))
        already = organization.memberships.filter(
            Q(user__email__iexact=email) | Q(user__emailaddress__email__iexact=email, user__emailaddress__verified=True)
        )
        if already.exists():
            raise OrganizationError(
                "already_member", _("%(email)s is already a member of %(organization)s.") % {"email": email, "organization": organization.name}
            )
        now = timezone.now()
        organization.invitations.pending().filter(email__iexact=email).update(revoked_at=now)
        invitation = organization.invitations.create(
            email=email, role=role, invited_by=actor.user, expires_at=now + INVITATION_TTL
        )
    token = invitation_token(invitation)
    # Mailed after the commit: an SMTP round trip should not hold the lock, and a
    # failed send leaves an invitation that Resend can deliver.
    _send_invitation_email(invitation=invitation, token=token, site_url=site_url)
    return invitation, token


def invitation_resend(*, actor: Membership, invitation: Invitation, site_url: str = "") -> tuple[Invitation, str]:
    """Mail a pending invitation again with a fresh link and a fresh 7 days."""
    with transaction.atomic():
        organization = _lock_organization(actor.organization_id)
        actor = _current(actor)
        if not actor.can_manage:
            raise _forbidden(_("Only owners and admins can resend invitations."))
        invitation = organization.invitations.select_related("organization", "invited_by").get(pk=invitation.pk)
        if not invitation.is_pending:
            raise OrganizationError("not_pending", _("This invitation was already accepted or revoked."))
        invitation.expires_at = timezone.now() + INVITATION_TTL
        invitation.save(update_fields=["expires_at"])
    token = invitation_token(invitation)
    _send_invitation_email(invitation=invitation, token=token, site_url=site_url)
    return invitation, token


def invitation_revoke(*, actor: Membership, invitation: Invitation) -> Invitation:
    with transaction.atomic():
        organization = _lock_organization(actor.organization_id)
        actor = _current(actor)
        if not actor.can_manage:
            raise _forbidden(_("Only owners and admins can revoke invitations."))
        invitation = organization.invitations.get(pk=invitation.pk)
        if not invitation.is_pending:
            raise OrganizationError("not_pending", _("This invitation was already accepted or revoked."))
        invitation.revoked_at = timezone.now()
        invitation.save(update_fields=["revoked_at"])
    return invitation


def invitation_from_token(token: str) -> Invitation:
    """The pending, unexpired invitation a token names, or OrganizationError saying why not."""
    try:
        data = signing.loads(token, salt=INVITATION_SALT, max_age=INVITATION_TTL)
    except signing.SignatureExpired:
        raise OrganizationError("expired", _("This invitation link has expired; ask for a new one.")) from None
    except signing.BadSignature:
        raise OrganizationError("invalid_token", _("This invitation link is not valid; check that it was copied whole.")) from None
    # The token is signed with SECRET_KEY, so the id in it is one we issued: the
    # only place an invitation is found without going through an organization.
    invitation_id = data.get("invitation") if isinstance(data, dict) else None
    invitation = Invitation.objects.select_related("organization", "invited_by").filter(pk=invitation_id).first()
    if invitation is None or invitation.revoked_at is not None:
        raise OrganizationError("revoked", _("This invitation was withdrawn; ask for a new one."))
    if invitation.accepted_at is not None:
        raise OrganizationError("used", _("This invitation has already been used."))
    if invitation.is_expired:
        raise OrganizationError("expired", _("This invitation link has expired; ask for a new one."))
    return invitation


def invitation_visible_to(invitation: Invitation, user: User) -> bool:
    """Whether `user` may see the invitation behind a link: the invitee (the invited address, verified
    or not yet) or an owner or admin of its organization, who see it on the team page anyway."""
    from allauth.account.models import EmailAddress

    email = invitation.email
    if user.email.lower() == email.lower() or EmailAddress.objects.filter(user=user, email__iexact=email).exists():
        return True
    managers = (Membership.Role.OWNER, Membership.Role.ADMIN)
    return invitation.organization.memberships.filter(user=user, role__in=managers).exists()


def _user_has_verified_email(user: User, email: str) -> bool:
    from allauth.account.models import EmailAddress

    return EmailAddress.objects.filter(user=user, verified=True, email__iexact=email).exists()


def invitation_accept(*, user: User, token: str) -> Membership:
    """Join the invitation's organization with its role. The caller makes it the active one."""
    invitation = invitation_from_token(token)
    # An invitation is for an address, not for whoever holds the link: a
    # forwarded or leaked link is useless without that verified address.
    if not _user_has_verified_email(user, invitation.email):
        raise OrganizationError(
            "wrong_email",
            f"This invitation is for {invitation.email}. Sign in with that address (verified) to accept it.",
        )
    with transaction.atomic():
        organization = _lock_organization(invitation.organization_id)
        if organization.memberships.filter(user=user).exists():
            raise OrganizationError(
                "already_member", _("You are already a member of %(organization)s.") % {"organization": organization.name}
            )
        now = timezone.now()
        # Conditional on still being pending and unexpired: two clicks, or a
        # revoke racing the accept, make at most one membership.
        claimed = (
            organization.invitations.pending()
            .filter(pk=invitation.pk, expires_at__gt=now)
            .update(accepted_at=now, accepted_by=user)
        )
        if not claimed:
            raise OrganizationError("used", _("This invitation is no longer valid."))
        return organization.memberships.create(user=user, role=invitation.role)


def membership_change_role(*, actor: Membership, membership: Membership, role: str) -> Membership:
    if role not in Membership.Role.values:
        raise OrganizationError("invalid_role", _("Choose owner, admin or member."))
    with transaction.atomic():
        organization = _lock_organization(actor.organization_id)
        actor = _current(actor)
        membership = organization.memberships.select_related("user").get(pk=membership.pk)
        if not actor.can_manage:
            raise _forbidden(_("Only owners and admins can change roles."))
        if actor.role != Membership.Role.OWNER:
            if membership.role == Membership.Role.OWNER:
                raise _forbidden(_("Only an owner can change an owner's role."))
            if role == Membership.Role.OWNER:
                raise _forbidden(_("Only an owner can make someone an owner."))
        if membership.role == Membership.Role.OWNER and role != Membership.Role.OWNER and _owner_count(organization) == 1:
            raise OrganizationError("last_owner", _("An organization needs an owner: make someone else an owner first."))
        membership.role = role
        membership.save(update_fields=["role"])
    return membership


def membership_remove(*, actor: Membership, membership: Membership) -> None:
    with transaction.atomic():
        organization = _lock_organization(actor.organization_id)
        actor = _current(actor)
        membership = organization.memberships.get(pk=membership.pk)
        if not actor.can_manage:
            raise _forbidden(_("Only owners and admins can remove members."))
        if membership.role == Membership.Role.OWNER:
            if actor.role != Membership.Role.OWNER:
                raise _forbidden(_("Only an owner can remove an owner."))
            if _owner_count(organization) == 1:
                raise OrganizationError("last_owner", _("The last owner cannot be removed: make someone else an owner first."))
        membership.delete()


def membership_leave(*, membership: Membership) -> None:
    with transaction.atomic():
        organization = _lock_organization(membership.organization_id)
        membership = _current(membership)
        if membership.role == Membership.Role.OWNER and _owner_count(organization) == 1:
            raise OrganizationError("last_owner", _("You are the last owner: make someone else an owner before leaving."))
        membership.delete()


# --- Plans and upgrade requests ------------------------------------------------
#
# The requests a person makes in the studio (or at sign-up); the operator's
# approve and decline are in accounts/operator.py, beside the plan change itself.


def upgrade_plans(organization: Organization):
    """The public plans above the organization's current one: what it may ask for."""
    return Plan.objects.filter(is_public=True, sort_order__gt=organization.plan.sort_order).order_by("sort_order", "id")


def upgrade_request_create(*, organization: Organization, user: User, plan: Plan, note: str = "") -> UpgradeRequest:
    """Ask for `plan` for `organization`; owners and admins only, one pending request at a time."""
    with transaction.atomic():
        organization = _lock_organization(organization.pk)
        membership = organization.memberships.filter(user=user).first()
        if membership is None or not membership.can_manage:
            raise _forbidden(_("Only owners and admins can change the plan."))
        pending = organization.upgrade_requests.filter(status=UpgradeRequest.Status.PENDING).select_related("plan").first()
        if pending is not None:
            raise OrganizationError(
                "already_pending",
                f"You already asked for the {pending.plan.name} plan on {pending.created_at:%Y-%m-%d}; "
                "cancel that request first to ask for another plan.",
            )
        if not upgrade_plans(organization).filter(pk=plan.pk).exists():
            raise OrganizationError(
                "not_an_upgrade", f"{plan.name} is not a higher plan than {organization.plan.name}; to move down, contact support."
            )
        upgrade = organization.upgrade_requests.create(plan=plan, requested_by=user, note=(note or "").strip()[:1000])
        AuditLog.objects.create(
            actor=user, action=AuditLog.Action.REQUEST_UPGRADE, organization=organization,
            target=f"upgrade_request:{upgrade.pk}", before={"plan": organization.plan.slug}, after={"plan": plan.slug},
        )
    return upgrade


def upgrade_request_cancel(*, actor: Membership, upgrade: UpgradeRequest) -> UpgradeRequest:
    """Withdraw the organization's pending request (owners and admins)."""
    with transaction.atomic():
        organization = _lock_organization(actor.organization_id)
        actor = _current(actor)
        if not actor.can_manage:
            raise _forbidden(_("Only owners and admins can cancel an upgrade request."))
        # Conditional: an operator deciding at the same moment wins or loses as a whole.
        cancelled = organization.upgrade_requests.filter(pk=upgrade.pk, status=UpgradeRequest.Status.PENDING).update(
            status=UpgradeRequest.Status.CANCELLED, decided_by=actor.user, decided_at=timezone.now()
        )
        upgrade = organization.upgrade_requests.select_related("plan").get(pk=upgrade.pk)
        if not cancelled:
            raise OrganizationError(
                "not_pending", _("This request was already %(status)s.") % {"status": upgrade.get_status_display().lower()}
            )
        AuditLog.objects.create(
            actor=actor.user, action=AuditLog.Action.CANCEL_UPGRADE, organization=organization,
            target=f"upgrade_request:{upgrade.pk}", before={"status": "pending"}, after={"status": upgrade.status},
        )
    return upgrade
