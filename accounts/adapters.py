"""How django-allauth fits Voicehub: sign-up makes a personal organization."""

from __future__ import annotations

from allauth.account import app_settings as allauth_account_settings
from allauth.account.adapter import DefaultAccountAdapter
from allauth.account.stages import EmailVerificationStage
from django.db import transaction

from .services import organization_create_personal

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
                organization_create_personal(user=user)
        return user

    def get_login_stages(self) -> list[str]:
        default = "allauth.account.stages.EmailVerificationStage"
        ours = f"{SignupOnlyEmailVerificationStage.__module__}.{SignupOnlyEmailVerificationStage.__qualname__}"
        return [ours if stage == default else stage for stage in super().get_login_stages()]
