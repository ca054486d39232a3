"""How the API's authentication appears in the OpenAPI schema (drf-spectacular)."""

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
        return {"type": "apiKey", "in": "cookie", "name": "sessionid", "description": "A signed-in session (with CSRF)."}
