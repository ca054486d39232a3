"""
How the API learns who is calling: an API key, or a signed-in session.

The tenant (organization) of a request comes only from these credentials:
the key's organization, or the session's active membership. Never from a
header, a body field or an id in the URL.
"""

from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication, SessionAuthentication

from .services import api_key_authenticate
from .tenancy import active_membership

# Names under which clients mistakenly send keys in URLs or bodies, where they
# end up in logs and browser history.
_LEAKY_NAMES = ("api_key", "apikey", "key", "xi-api-key", "xi_api_key", "token", "access_token")


def _set_organization(request, organization) -> None:
    # Also on the Django request (as DRF does for user and auth), where
    # middleware such as the request log can see it after the view.
    request.organization = organization
    request._request.organization = organization


class ApiKeyAuthentication(BaseAuthentication):
    """`Authorization: Bearer vh_…` or ElevenLabs' `xi-api-key: vh_…`."""

    def authenticate(self, request):
        if any(name in request.query_params for name in _LEAKY_NAMES):
            raise exceptions.AuthenticationFailed(
                "API keys are not accepted in the URL; send them in the Authorization header.", code="api_key_in_url"
            )
        header = request.headers.get("Authorization", "")
        raw = None
        if header:
            scheme, _, value = header.partition(" ")
            if scheme.lower() != "bearer" or not value.strip():
                raise exceptions.AuthenticationFailed("Use 'Authorization: Bearer <API key>'.", code="invalid_api_key")
            raw = value.strip()
        elif "xi-api-key" in request.headers:
            raw = request.headers["xi-api-key"].strip()
        if raw is None:
            return None
        key = api_key_authenticate(raw)
        if key is None:
            raise exceptions.AuthenticationFailed("The API key is invalid, expired or revoked.", code="invalid_api_key")
        _set_organization(request, key.organization)
        return (key.created_by, key)

    def authenticate_header(self, request):
        # Makes DRF answer 401 (with WWW-Authenticate) rather than 403.
        return 'Bearer realm="voicehub"'


class OrganizationSessionAuthentication(SessionAuthentication):
    """A signed-in user (CSRF enforced), acting for their active organization."""

    def authenticate(self, request):
        result = super().authenticate(request)
        if result is None:
            return None
        membership = active_membership(request._request)
        if membership is None:
            raise exceptions.PermissionDenied("You are not a member of any organization.", code="no_organization")
        _set_organization(request, membership.organization)
        return result
