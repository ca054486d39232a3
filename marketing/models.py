"""
The marketing funnel, recorded by our own endpoint (no third-party analytics).

A visitor is a daily-rotating anonymous id (a keyed hash of the client address,
user agent and the day): never a raw IP, never a cookie.
"""

from django.conf import settings
from django.db import models


class FunnelEvent(models.Model):
    class Kind(models.TextChoices):
        PAGE_VIEW = "page_view", "Page view"
        SCROLL = "scroll", "Scroll depth"
        DEMO_PLAYED = "demo_played", "Demo played"
        CTA_CLICKED = "cta_clicked", "Call to action clicked"
        SIGNUP_STARTED = "signup_started", "Sign-up started"
        SIGNUP_COMPLETED = "signup_completed", "Sign-up completed"
        EMAIL_VERIFIED = "email_verified", "Email verified"
        FIRST_GENERATION = "first_generation", "First generation"

    kind = models.CharField(max_length=20, choices=Kind.choices)
    visitor = models.CharField(max_length=32, blank=True, help_text="Daily-rotating anonymous id; empty for server-side events of a known user.")
    path = models.CharField(max_length=200, blank=True)
    cta = models.CharField(max_length=64, blank=True, help_text="Which call to action (cta_clicked, signup_started).")
    value = models.PositiveSmallIntegerField(null=True, blank=True, help_text="Scroll depth in percent (25/50/75/100).")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    organization = models.ForeignKey("accounts.Organization", on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        indexes = [models.Index(fields=["kind", "created_at"])]
        # Sign-up, verification and the first generation happen once per user or
        # organization; a partial unique index keeps it so under concurrent requests.
        constraints = [
            models.UniqueConstraint(
                fields=["kind", "user"],
                condition=models.Q(kind__in=["signup_completed", "email_verified"]),
                name="funnel_once_per_user",
            ),
            models.UniqueConstraint(
                fields=["kind", "organization"],
                condition=models.Q(kind="first_generation"),
                name="funnel_once_per_organization",
            ),
        ]

    def __str__(self):
        return f"{self.kind} {self.created_at:%Y-%m-%d}"


class Lead(models.Model):
    """An address that asked for product news. It counts once confirmed (double opt-in)."""

    email = models.EmailField(max_length=254)
    created_at = models.DateTimeField(auto_now_add=True)
    confirmation_sent_at = models.DateTimeField(null=True, blank=True)
    confirmed_at = models.DateTimeField(null=True, blank=True, db_index=True)

    class Meta:
        constraints = [models.UniqueConstraint(models.functions.Lower("email"), name="marketing_lead_email_ci_unique")]

    def __str__(self):
        return self.email
