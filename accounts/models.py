import math

from django.contrib.auth.models import AbstractUser, UserManager as DjangoUserManager
from django.db import models
from django.utils.translation import gettext_lazy as _


class UserManager(DjangoUserManager):
    """Users log in with their email; there is no username."""

    use_in_migrations = True

    def _create_user(self, email, password, **extra_fields):
        if not email:
            raise ValueError("An email address is required.")
        user = self.model(email=self.normalize_email(email).lower(), **extra_fields)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_user(self, email, password=None, **extra_fields):
        extra_fields.setdefault("is_staff", False)
        extra_fields.setdefault("is_superuser", False)
        return self._create_user(email, password, **extra_fields)

    def create_superuser(self, email, password=None, **extra_fields):
        extra_fields.setdefault("is_staff", True)
        extra_fields.setdefault("is_superuser", True)
        if extra_fields["is_staff"] is not True or extra_fields["is_superuser"] is not True:
            raise ValueError("A superuser must have is_staff=True and is_superuser=True.")
        return self._create_user(email, password, **extra_fields)


class User(AbstractUser):
    """The account of a person. Email is the login, unique case-insensitively."""

    username = None
    email = models.EmailField("email address", unique=True)
    name = models.CharField(max_length=150, blank=True)

    USERNAME_FIELD = "email"
    REQUIRED_FIELDS: list[str] = []

    objects = UserManager()

    class Meta:
        constraints = [
            models.UniqueConstraint(models.functions.Lower("email"), name="accounts_user_email_ci_unique"),
        ]

    def __str__(self):
        return self.email


class Plan(models.Model):
    """A subscription plan: the limits an organization gets. Rows, editable in the admin."""

    slug = models.SlugField(unique=True)
    name = models.CharField(max_length=60)
    sort_order = models.PositiveSmallIntegerField(default=0)
    price_monthly_cents = models.PositiveIntegerField(default=0)
    monthly_characters = models.PositiveBigIntegerField()
    max_characters_per_request = models.PositiveIntegerField()
    # Characters alone do not bound the audio: speed 0.5 doubles it, and numbers
    # and symbols are spoken as words ("$1,250,000" is six words from ten
    # characters). The synthesis session stops a request at this ceiling.
    max_audio_seconds_per_request = models.PositiveIntegerField(
        default=600,
        help_text="The most audio one request may produce, in seconds. A text that would speak longer ends with "
        "output_too_long, and its unspoken part is refunded.",
    )
    requests_per_minute = models.PositiveIntegerField()
    concurrent_requests = models.PositiveIntegerField()
    history_retention_days = models.PositiveIntegerField()
    allowed_formats = models.JSONField(default=list, help_text='Output formats, e.g. ["wav", "mp3"].')
    api_access = models.BooleanField(default=False)
    is_public = models.BooleanField(default=True, help_text="Shown on the pricing page.")

    class Meta:
        ordering = ["sort_order", "id"]

    def __str__(self):
        return self.name

    @property
    def scheduling_weight(self) -> float:
        """Its organizations' share of a busy inference queue against other organizations (synthesis.engine.scheduler).

        The square root of its concurrent requests (Free 1, Starter 1.4, Creator 1.7, Pro 2.2, Enterprise 4.5): a
        larger plan gets more calls of a contended machine, while one stream of the smallest plan still gets a call
        for every ~4.5 of the largest's, so its audio keeps coming.
        """
        return math.sqrt(max(1, self.concurrent_requests))


class Organization(models.Model):
    """A tenant. Every generation, key, file and usage figure belongs to one."""

    name = models.CharField(max_length=120)
    slug = models.SlugField(max_length=80, unique=True)
    is_personal = models.BooleanField(default=False)
    plan = models.ForeignKey(Plan, on_delete=models.PROTECT, related_name="organizations")
    # The billing period; characters_used counts reserved + settled characters
    # in it and is only ever changed by conditional UPDATEs (accounts.quota).
    period_start = models.DateTimeField()
    period_end = models.DateTimeField()
    characters_used = models.PositiveBigIntegerField(default=0)
    # Extra characters an operator granted for the current period (admin
    # action, audited); the period roll-over resets them with characters_used.
    bonus_characters = models.PositiveBigIntegerField(default=0, help_text="Extra characters granted for the current billing period.")
    # A suspended organization's keys and sessions are refused synthesis (403 organization_suspended).
    suspended_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    members = models.ManyToManyField(User, through="Membership", related_name="organizations")

    class Meta:
        constraints = [models.CheckConstraint(condition=models.Q(period_end__gt=models.F("period_start")), name="org_period_ordered")]

    def __str__(self):
        return self.name

    @property
    def characters_left(self) -> int:
        return max(0, self.character_limit - self.characters_used)

    @property
    def character_limit(self) -> int:
        """The plan's monthly characters plus what an operator granted for this period."""
        return self.plan.monthly_characters + self.bonus_characters


class Membership(models.Model):
    class Role(models.TextChoices):
        OWNER = "owner", _("Owner")
        ADMIN = "admin", _("Admin")
        MEMBER = "member", _("Member")

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=10, choices=Role.choices, default=Role.MEMBER)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["organization", "user"], name="membership_unique")]

    def __str__(self):
        return f"{self.user} in {self.organization} ({self.role})"

    @property
    def can_manage(self) -> bool:
        return self.role in (self.Role.OWNER, self.Role.ADMIN)

    def is_sole_owner(self) -> bool:
        """The organization's only owner: it may not leave (services.membership_leave refuses, under a lock)."""
        return self.role == self.Role.OWNER and not self.organization.memberships.filter(role=self.Role.OWNER).exclude(pk=self.pk).exists()


class ApiKeyQuerySet(models.QuerySet):
    def active(self):
        from django.utils import timezone

        now = timezone.now()
        return self.filter(revoked_at__isnull=True).filter(models.Q(expires_at__isnull=True) | models.Q(expires_at__gt=now))


class ApiKey(models.Model):
    """An API key. Only a hash of the secret is stored; `prefix` is public and finds the row."""

    class Scope(models.TextChoices):
        TTS = "tts", _("Synthesize speech")
        HISTORY_READ = "history:read", _("Read history")
        HISTORY_WRITE = "history:write", _("Delete history")
        VOICES_READ = "voices:read", _("List voices")
        USAGE_READ = "usage:read", _("Read usage")

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="api_keys")
    created_by = models.ForeignKey(User, on_delete=models.SET_NULL, null=True, related_name="api_keys")
    name = models.CharField(max_length=100)
    prefix = models.CharField(max_length=16, unique=True)
    secret_hash = models.CharField(max_length=64)
    scopes = models.JSONField(default=list)
    expires_at = models.DateTimeField(null=True, blank=True)
    monthly_character_cap = models.PositiveBigIntegerField(null=True, blank=True)
    # Characters charged through this key in its organization's current
    # period; period_start says which period the count belongs to.
    characters_used = models.PositiveBigIntegerField(default=0)
    period_start = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = ApiKeyQuerySet.as_manager()

    def __str__(self):
        return f"{self.name} (vh_{self.prefix}_…)"

    @property
    def masked(self) -> str:
        return f"vh_{self.prefix}_…"


class UsageRecord(models.Model):
    """One synthesis request in the character ledger: reserved, then settled or refunded."""

    class Status(models.TextChoices):
        RESERVED = "reserved", "Reserved"
        SUCCEEDED = "succeeded", "Succeeded"
        REFUNDED = "refunded", "Refunded"

    class Source(models.TextChoices):
        API = "api", "API"
        STUDIO = "studio", "Studio"
        DEMO = "demo", "Demo"

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="usage_records")
    user = models.ForeignKey(User, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    api_key = models.ForeignKey(ApiKey, on_delete=models.SET_NULL, null=True, blank=True, related_name="usage_records")
    source = models.CharField(max_length=10, choices=Source.choices, default=Source.API)
    voice = models.CharField(max_length=64)
    characters = models.PositiveIntegerField()
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.RESERVED)
    error_code = models.CharField(max_length=64, blank=True)
    audio_seconds = models.FloatField(default=0)
    period_start = models.DateTimeField()
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    total_ms = models.PositiveIntegerField(null=True, blank=True)
    # While reserved: how far the request got, written by quota_progress after
    # each chunk. If the process dies, the sweep (quota_sweep_stale) charges
    # characters_delivered and refunds the rest.
    characters_delivered = models.PositiveIntegerField(
        default=0, help_text="Characters whose audio reached the client so far (while reserved)."
    )
    heartbeat_at = models.DateTimeField(null=True, blank=True, help_text="Last progress of a reserved request.")

    class Meta:
        indexes = [
            models.Index(fields=["organization", "created_at"]),
            # The analytics dashboard reads today's (not yet rolled-up) rows of every organization.
            models.Index(fields=["created_at"], name="usage_created_idx"),
            # The reservation sweep reads reserved rows only: the few requests in
            # flight, out of millions of finished rows.
            models.Index(
                fields=["heartbeat_at", "created_at"], name="usage_reserved_idx", condition=models.Q(status="reserved")
            ),
        ]

    def __str__(self):
        return f"{self.characters} chars, {self.status}"


class InvitationQuerySet(models.QuerySet):
    def pending(self):
        """Neither accepted nor revoked; an expired one is still pending until replaced."""
        return self.filter(accepted_at__isnull=True, revoked_at__isnull=True)


class Invitation(models.Model):
    """An email invited into an organization with a role; accepted through a signed link."""

    # Owners are made by promoting a member, never by an emailed link.
    ROLES = (Membership.Role.ADMIN, Membership.Role.MEMBER)

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="invitations")
    email = models.EmailField()
    role = models.CharField(
        max_length=10,
        choices=[(role.value, role.label) for role in ROLES],
        default=Membership.Role.MEMBER,
    )
    invited_by = models.ForeignKey(User, on_delete=models.SET_NULL, null=True, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    accepted_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    accepted_by = models.ForeignKey(User, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")

    objects = InvitationQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            # Re-inviting revokes the previous invitation: one open link per address.
            models.UniqueConstraint(
                "organization",
                models.functions.Lower("email"),
                condition=models.Q(accepted_at__isnull=True, revoked_at__isnull=True),
                name="invitation_one_pending_per_email",
            ),
            models.CheckConstraint(condition=models.Q(role__in=["admin", "member"]), name="invitation_role_not_owner"),
        ]

    def __str__(self):
        return f"{self.email} to {self.organization} ({self.role})"

    @property
    def is_pending(self) -> bool:
        return self.accepted_at is None and self.revoked_at is None

    @property
    def is_expired(self) -> bool:
        from django.utils import timezone

        return self.expires_at <= timezone.now()


class UpgradeRequest(models.Model):
    """An organization asks for a higher plan; the billing provider (accounts.billing) settles it.

    With the default ManualApproval provider an operator approves or declines it in the admin;
    approving changes the plan through accounts.operator.organization_change_plan.
    """

    class Status(models.TextChoices):
        PENDING = "pending", _("Pending")
        APPROVED = "approved", _("Approved")
        DECLINED = "declined", _("Declined")
        CANCELLED = "cancelled", _("Cancelled")

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="upgrade_requests")
    plan = models.ForeignKey(Plan, on_delete=models.PROTECT, related_name="+", verbose_name="requested plan")
    requested_by = models.ForeignKey(User, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    note = models.TextField(blank=True, max_length=1000, help_text="What the requester told the operator.")
    decided_by = models.ForeignKey(User, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    decided_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            # A second request while one is pending is refused (services.upgrade_request_create says why).
            models.UniqueConstraint(
                fields=["organization"], condition=models.Q(status="pending"), name="upgrade_one_pending_per_org"
            ),
        ]

    def __str__(self):
        return f"{self.organization} → {self.plan} ({self.status})"

    @property
    def is_pending(self) -> bool:
        return self.status == self.Status.PENDING


# -- the operator's audit trail ----------------------------------------------------------


class AuditLogQuerySet(models.QuerySet):
    def update(self, **kwargs):
        raise PermissionError("The audit log is append-only.")

    def delete(self):
        raise PermissionError("The audit log is append-only.")


class AuditLog(models.Model):
    """Who did what to which organization, when, with the values before and after. Append-only.

    The foreign keys have no database constraint and are never cascaded: the
    trail outlives the user or organization it names.
    """

    class Action(models.TextChoices):
        CHANGE_PLAN = "change_plan", "Change plan"
        GRANT_CHARACTERS = "grant_characters", "Grant characters"
        SUSPEND = "suspend", "Suspend organization"
        REACTIVATE = "reactivate", "Reactivate organization"
        REVOKE_KEY = "revoke_key", "Revoke API key"
        REQUEST_UPGRADE = "request_upgrade", "Request an upgrade"
        CANCEL_UPGRADE = "cancel_upgrade", "Cancel an upgrade request"
        DECLINE_UPGRADE = "decline_upgrade", "Decline an upgrade request"

    actor = models.ForeignKey(User, on_delete=models.DO_NOTHING, db_constraint=False, null=True, related_name="+")
    action = models.CharField(max_length=32, choices=Action.choices)
    organization = models.ForeignKey(
        Organization, on_delete=models.DO_NOTHING, db_constraint=False, null=True, blank=True, related_name="+"
    )
    target = models.CharField(max_length=200, blank=True)
    before = models.JSONField(default=dict, blank=True)
    after = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    objects = AuditLogQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["organization", "created_at"], name="auditlog_org_created_idx")]
        # Defined here because the Generation model belongs to synthesis: who may play stored audio in the admin.
        permissions = [("listen_audio", "Can listen to stored generation audio in the admin")]

    def __str__(self):
        return f"{self.created_at:%Y-%m-%d %H:%M} {self.action} {self.target}"

    def save(self, *args, **kwargs):
        if not self._state.adding:
            raise PermissionError("The audit log is append-only.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise PermissionError("The audit log is append-only.")


# RequestLog and the analytics roll-ups live in accounts/analytics/models.py; imported here, after the
# models they point to, so that Django registers them in this app and old imports keep working.
from accounts.analytics.models import (  # noqa: E402, F401 (must follow the models they reference)
    Dimension,
    ErrorDaily,
    FunnelDaily,
    LatencyDaily,
    OrganizationDaily,
    RequestLog,
    UsageDaily,
    UsageHourly,
    UsageMeasures,
    UsageRollupDay,
)
