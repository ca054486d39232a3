"""How the API's authentication appears in the OpenAPI schema (drf-spectacular)."""

from django.conf import settings
from drf_spectacular.extensions import OpenApiAuthenticationExtension


class ApiKeyScheme(OpenApiAuthenticationExtension):
    target_class = "accounts.authentication.ApiKeyAuthentication"
    name = "ApiKey"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "An API key (vh_…) as `Authorization: Bearer <key>`; ElevenLabs clients may send `xi-api-key: <key>`.",
        }


class OrganizationSessionScheme(OpenApiAuthenticationExtension):
    target_class = "accounts.authentication.OrganizationSessionAuthentication"
    name = "Session"

    def get_security_definition(self, auto_schema):
        # __Host-sessionid in production (voicehub_site/settings.py), sessionid elsewhere.
        return {
            "type": "apiKey", "in": "cookie", "name": settings.SESSION_COOKIE_NAME,
            "description": "A signed-in session (with CSRF).",
        }
