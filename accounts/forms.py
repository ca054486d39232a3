from allauth.account import forms as allauth_forms
from django import forms
from django.contrib.auth.forms import AdminUserCreationForm, UserChangeForm as DjangoUserChangeForm
from django.utils.translation import gettext_lazy as _

from .models import User


class UserCreationForm(AdminUserCreationForm):
    class Meta:
        model = User
        fields = ("email",)


class UserChangeForm(DjangoUserChangeForm):
    class Meta:
        model = User
        fields = "__all__"


# -- allauth's forms in the site's words -------------------------------------------------------
# allauth labels its fields in its own voice ("Remember Me", "Current Password"); the site says
# "Keep me logged in" and writes labels in sentence case. ACCOUNT_FORMS points allauth here.


def _invited_email() -> str | None:
    """The address of the invitation waiting in this visitor's session (accounts.pending_invitation)."""
    from allauth.core import context

    from .pending_invitation import invitation_pending

    pending = invitation_pending(context.request)
    return pending[0].email if pending else None


class LoginForm(allauth_forms.LoginForm):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["login"].label = _("Email")
        self.fields["password"].label = _("Password")
        if "remember" in self.fields:
            self.fields["remember"].label = _("Keep me logged in")
        invited = _invited_email()
        if invited and not self.is_bound:
            self.fields["login"].initial = invited


class SignupForm(allauth_forms.SignupForm):
    """Sign-up, with the invited address filled in and locked when the visitor came from an invitation."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["email"].label = _("Email")
        self.fields["password1"].label = _("Password")
        if "password2" in self.fields:
            self.fields["password2"].label = _("Password (again)")
        self.invited_email = _invited_email()
        if self.invited_email:
            email = self.fields["email"]
            email.initial = self.invited_email
            # Read-only, not disabled: the address is still posted (and still checked below).
            email.widget.attrs.update(readonly=True, **{"aria-describedby": "invited-email-help"})
            email.help_text = _("The invitation is for this address.")

    def clean_email(self):
        email = super().clean_email()
        if self.invited_email and email.lower() != self.invited_email.lower():
            raise forms.ValidationError(
                _("This invitation is for %(email)s: sign up with that address to accept it."),
                code="invited_email", params={"email": self.invited_email},
            )
        return email


class ChangePasswordForm(allauth_forms.ChangePasswordForm):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["oldpassword"].label = _("Current password")
        self.fields["password1"].label = _("New password")
        self.fields["password2"].label = _("New password (again)")


class ResetPasswordKeyForm(allauth_forms.ResetPasswordKeyForm):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["password1"].label = _("New password")
        self.fields["password2"].label = _("New password (again)")
