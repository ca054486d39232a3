"""How django-allauth fits Voicehub: sign-up makes a personal organization, and asks for the plan chosen on /pricing."""

from __future__ import annotations

from allauth.account import app_settings as allauth_account_settings
from allauth.account.adapter import DefaultAccountAdapter
from allauth.account.stages import EmailVerificationStage
from django.core.exceptions import PermissionDenied
from django.db import transaction

from synthesis.services.limits import client_ip

from .billing import SIGNUP_PLAN_SESSION_KEY, get_provider
from .models import Plan
from .services import DEFAULT_PLAN, organization_create_personal

_EmailVerification = allauth_account_settings.EmailVerificationMethod


class SignupOnlyEmailVerificationStage(EmailVerificationStage):
    """Mandatory verification at sign-up, optional at every later login.

    ACCOUNT_EMAIL_VERIFICATION is "mandatory" so that allauth hides whether an
    address already has an account (both sign-ups end on "check your email").
    A returning user with an unverified address may still log in; what they
    may not do is synthesize (accounts.verification.email_verified).
    """

    def handle(self):
        if not self.login.signup and self.login.email_verification == _EmailVerification.MANDATORY:
            self.login.email_verification = _EmailVerification.OPTIONAL
        return super().handle()


class AccountAdapter(DefaultAccountAdapter):
    def save_user(self, request, user, form, commit=True):
        # The user and their workspace are one write: a user without an
        # organization could log in but never synthesize or hold a key.
        with transaction.atomic():
            user = super().save_user(request, user, form, commit=commit)
            if commit:
                # With commit=False the caller saves the user later (allauth's
                # social sign-up, not installed); it has no pk to own anything yet.
                organization = organization_create_personal(user=user)
                self.start_chosen_plan(request, organization, user)
        return user

    def start_chosen_plan(self, request, organization, user) -> None:
        """The plan chosen on /pricing (marketing.middleware keeps a public plan's slug in the session):
        every account starts on Free, and a paid choice becomes an upgrade through the billing provider."""
        slug = request.session.pop(SIGNUP_PLAN_SESSION_KEY, None) if hasattr(request, "session") else None
        if not slug or slug == DEFAULT_PLAN:
            return
        plan = Plan.objects.filter(slug=slug, is_public=True, sort_order__gt=organization.plan.sort_order).first()
        if plan is not None:
            get_provider().start_upgrade(organization=organization, plan=plan, user=user, note="Chosen at sign-up.")

    def get_login_redirect_url(self, request) -> str:
        # An invitee who opened their invitation logged out comes back to it once logged in
        # (also after confirming their address at sign-up, which logs them in), unless `next` says otherwise.
        from .pending_invitation import invitation_pending_path

        return invitation_pending_path(request) or super().get_login_redirect_url(request)

    def get_signup_redirect_url(self, request) -> str:
        # Where a sign-up ends once the address is confirmed (allauth keeps it with the pending login).
        from .pending_invitation import invitation_pending_path

        return invitation_pending_path(request) or super().get_signup_redirect_url(request)

    def get_client_ip(self, request) -> str:
        # allauth's per-IP limits (login, failed logins, sign-up, password reset)
        # see the same client as every other limit of ours: one rule for
        # X-Forwarded-For and TRUSTED_PROXY_COUNT (allauth's own reading raises
        # ImproperlyConfigured, a 500, when a request has fewer entries than proxies).
        ip = client_ip(request)
        if not ip:
            raise PermissionDenied("Unable to determine the client's address.")
        return ip

    def get_login_stages(self) -> list[str]:
        default = "allauth.account.stages.EmailVerificationStage"
        ours = f"{SignupOnlyEmailVerificationStage.__module__}.{SignupOnlyEmailVerificationStage.__qualname__}"
        return [ours if stage == default else stage for stage in super().get_login_stages()]
