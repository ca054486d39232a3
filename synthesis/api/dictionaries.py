"""
Pronunciation dictionaries in the native API, /api/v1/pronunciation-dictionaries: list, create (rules or a PLS
document), read, rename/archive, add and remove rules (each change a new version), download a version as PLS.

The same service as ElevenLabs' routes (synthesis.services.pronunciation); every view is scoped to the
organization of the credentials (another organization's dictionary is a 404) and needs the `tts` scope.
"""

from __future__ import annotations

from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.models import ApiKey
from accounts.permissions import HasScope
from synthesis.api.common import ERROR_RESPONSE, as_download, parse_before_lookup
from synthesis.api.serializers import StringField
from synthesis.services import pronunciation

TTS = [HasScope.of(ApiKey.Scope.TTS)]
TAG = "Pronunciation dictionaries"
ERRORS = {
    400: OpenApiResponse(
        ERROR_RESPONSE,
        description="`parse_error`, `invalid_pls` (not a PLS lexicon, or it declares a DTD or entities), "
        "`invalid_pronunciation_rule`, `too_many_pronunciation_rules`, `too_many_pronunciation_dictionaries`, "
        "`invalid_name` or another invalid field.",
    ),
    401: OpenApiResponse(ERROR_RESPONSE, description="No valid API key or session."),
    403: OpenApiResponse(ERROR_RESPONSE, description="The key lacks the `tts` scope, or the email is unverified."),
    404: OpenApiResponse(ERROR_RESPONSE, description="`pronunciation_dictionary_not_found` (or the version's)."),
    413: OpenApiResponse(ERROR_RESPONSE, description="`pls_too_large`: the PLS document is over 1 MB."),
}
DICTIONARY_ID = OpenApiParameter("pronunciation_dictionary_id", str, OpenApiParameter.PATH)
RULES_EXAMPLE = [
    {"type": "alias", "string_to_replace": "UN", "alias": "United Nations"},
    {"type": "phoneme", "string_to_replace": "Kokoro", "phoneme": "kəˈkɔɹoʊ", "alphabet": "ipa"},
]


DICTIONARY_EXAMPLE = {
    "id": "5xM3yVvZQKV0EfqQpLrJ",
    "name": "Product names",
    "description": "How we say our own words.",
    "latest_version_id": "Qd8mJ2bXwR4tLk7pZs1N",
    "rules_count": 2,
    "created_by": "alice@example.com",
    "created_at": "2026-12-06T12:00:00Z",
    "archived_at": None,
}
DETAIL_EXAMPLE = {**DICTIONARY_EXAMPLE, "rules": RULES_EXAMPLE}
VERSION_EXAMPLE = {"id": "5xM3yVvZQKV0EfqQpLrJ", "version_id": "Hn3vB8cYqT6wEr2uIo9P", "rules_count": 3}
NOT_FOUND_EXAMPLE = OpenApiExample(
    "Not found",
    value={"detail": "Pronunciation dictionary 'nope' was not found.", "code": "pronunciation_dictionary_not_found"},
    response_only=True,
    status_codes=["404"],
)


def returns(name: str, value, status_code: int = 200) -> list[OpenApiExample]:
    """A success example and the 404 every dictionary route may answer."""
    return [OpenApiExample(name, value=value, response_only=True, status_codes=[str(status_code)]), NOT_FOUND_EXAMPLE]


class RuleSerializer(serializers.Serializer):
    type = serializers.ChoiceField(choices=["alias", "phoneme"])
    string_to_replace = StringField(max_length=100, trim_whitespace=False)
    alias = StringField(required=False, max_length=500, trim_whitespace=False)
    phoneme = StringField(required=False, max_length=200, trim_whitespace=False)
    alphabet = serializers.ChoiceField(choices=["ipa", "cmu-arpabet"], required=False)
    case_sensitive = serializers.BooleanField(required=False)
    word_boundaries = serializers.BooleanField(required=False)


class DictionarySerializer(serializers.Serializer):
    id = serializers.CharField()
    name = serializers.CharField()
    description = serializers.CharField()
    latest_version_id = serializers.CharField(allow_null=True)
    rules_count = serializers.IntegerField()
    created_by = serializers.CharField(allow_null=True, help_text="The creator's email.")
    created_at = serializers.DateTimeField()
    archived_at = serializers.DateTimeField(allow_null=True)


class DictionaryDetailSerializer(DictionarySerializer):
    rules = RuleSerializer(many=True, help_text="The latest version's rules.")


class CreateSerializer(serializers.Serializer):
    name = StringField(max_length=pronunciation.MAX_NAME)
    description = StringField(required=False, allow_blank=True, max_length=pronunciation.MAX_DESCRIPTION)
    rules = serializers.ListField(child=serializers.DictField(), required=False, max_length=pronunciation.MAX_RULES)
    pls = StringField(
        required=False, trim_whitespace=False, help_text="A W3C PLS lexicon (XML, at most 1 MB) instead of `rules`."
    )

    def validate(self, data):
        if "rules" in data and "pls" in data:
            raise serializers.ValidationError("Send either `rules` or `pls`, not both.", code="rules_or_pls")
        return data


class UpdateSerializer(serializers.Serializer):
    name = StringField(required=False, max_length=pronunciation.MAX_NAME)
    description = StringField(required=False, allow_blank=True, max_length=pronunciation.MAX_DESCRIPTION)
    archived = serializers.BooleanField(required=False)


class DictionaryRulesSerializer(serializers.Serializer):
    rules = serializers.ListField(child=serializers.DictField(), max_length=pronunciation.MAX_RULES)


class VersionSerializer(serializers.Serializer):
    id = serializers.CharField(help_text="The dictionary's id.")
    version_id = serializers.CharField()
    rules_count = serializers.IntegerField()


def dictionary_data(dictionary, *, rules: bool = False) -> dict:
    version = dictionary.latest_version
    data = {
        "id": dictionary.id,
        "name": dictionary.name,
        "description": dictionary.description,
        "latest_version_id": version.id if version else None,
        "rules_count": len(version.rules) if version else 0,
        "created_by": dictionary.created_by.email if dictionary.created_by else None,
        "created_at": dictionary.created_at,
        "archived_at": dictionary.archived_at,
    }
    if rules:
        data["rules"] = version.rules if version else []
    return data


def version_data(version) -> dict:
    return {"id": version.dictionary_id, "version_id": version.id, "rules_count": len(version.rules)}


def user_of(request):
    return request.user if request.user.is_authenticated else None


def valid(serializer_class, request) -> dict:
    serializer = serializer_class(data=request.data)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


def dictionary_of(request, pronunciation_dictionary_id):
    return pronunciation.dictionary_get(organization=request.organization, dictionary_id=pronunciation_dictionary_id)


def dictionary_with_body(request, pronunciation_dictionary_id):
    """dictionary_of() for a route with a body (native or ElevenLabs): a hostile body is a 400 whatever the id, and
    a wrong content type is answered only for a dictionary the caller may see (another organization's is a 404)."""
    unsupported = parse_before_lookup(request)
    dictionary = dictionary_of(request, pronunciation_dictionary_id)
    if unsupported is not None:
        raise unsupported
    return dictionary


class DictionariesView(APIView):
    permission_classes = TTS

    @extend_schema(
        tags=[TAG],
        operation_id="v1_pronunciation_dictionaries_list",
        summary="Your pronunciation dictionaries",
        description=f"Newest first; at most {pronunciation.MAX_DICTIONARIES} per organization.",
        responses={200: DictionarySerializer(many=True), 401: ERRORS[401], 403: ERRORS[403]},
        examples=returns("Dictionaries", DICTIONARY_EXAMPLE),  # drf-spectacular lists a many=True example itself
    )
    def get(self, request):
        dictionaries = pronunciation.dictionaries_of(request.organization)
        return Response([dictionary_data(d) for d in dictionaries])

    @extend_schema(
        tags=[TAG],
        operation_id="v1_pronunciation_dictionaries_create",
        summary="Create a pronunciation dictionary",
        description="From `rules` (ElevenLabs' rule objects) or `pls` (a PLS document); the first version holds them.",
        request=CreateSerializer,
        responses={201: DictionaryDetailSerializer, **ERRORS},
        examples=[
            *returns("Created", DETAIL_EXAMPLE, 201),
            OpenApiExample("From rules", value={"name": "Product names", "rules": RULES_EXAMPLE}, request_only=True)
        ],
    )
    def post(self, request):
        body = valid(CreateSerializer, request)
        if "pls" in body:
            rules = pronunciation.parse_pls(body["pls"].encode())
        else:
            rules = pronunciation.rules_from_data(body.get("rules", []))
        dictionary = pronunciation.dictionary_create(
            organization=request.organization,
            user=user_of(request),
            name=body["name"],
            rules=rules,
            description=body.get("description", ""),
        )
        return Response(dictionary_data(dictionary, rules=True), status=status.HTTP_201_CREATED)


class DictionaryView(APIView):
    permission_classes = TTS

    @extend_schema(
        tags=[TAG],
        operation_id="v1_pronunciation_dictionaries_get",
        summary="A dictionary and its latest rules",
        parameters=[DICTIONARY_ID],
        responses={200: DictionaryDetailSerializer, **ERRORS},
        examples=returns("A dictionary", DETAIL_EXAMPLE),
    )
    def get(self, request, pronunciation_dictionary_id):
        return Response(dictionary_data(dictionary_of(request, pronunciation_dictionary_id), rules=True))

    @extend_schema(
        tags=[TAG],
        operation_id="v1_pronunciation_dictionaries_update",
        summary="Rename, describe or archive",
        parameters=[DICTIONARY_ID],
        request=UpdateSerializer,
        responses={200: DictionaryDetailSerializer, **ERRORS},
        examples=returns("Renamed", DETAIL_EXAMPLE),
    )
    def patch(self, request, pronunciation_dictionary_id):
        dictionary = dictionary_with_body(request, pronunciation_dictionary_id)
        body = valid(UpdateSerializer, request)
        dictionary = pronunciation.dictionary_update(
            dictionary=dictionary,
            name=body.get("name"),
            description=body.get("description"),
            archived=body.get("archived"),
        )
        return Response(dictionary_data(dictionary, rules=True))


class RulesView(APIView):
    permission_classes = TTS

    @extend_schema(
        tags=[TAG],
        operation_id="v1_pronunciation_dictionaries_rules_add",
        summary="Add rules (a new version)",
        description="A rule for a word the dictionary already has replaces it.",
        parameters=[DICTIONARY_ID],
        request=DictionaryRulesSerializer,
        responses={200: VersionSerializer, **ERRORS},
        examples=[
            *returns("A new version", VERSION_EXAMPLE),
            OpenApiExample("Two rules", value={"rules": RULES_EXAMPLE}, request_only=True),
        ],
    )
    def post(self, request, pronunciation_dictionary_id):
        dictionary = dictionary_with_body(request, pronunciation_dictionary_id)
        rules = pronunciation.rules_from_data(valid(DictionaryRulesSerializer, request)["rules"])
        return Response(
            version_data(pronunciation.dictionary_add_rules(dictionary=dictionary, user=user_of(request), rules=rules))
        )

    @extend_schema(
        tags=[TAG],
        operation_id="v1_pronunciation_dictionaries_rules_remove",
        summary="Remove rules (a new version)",
        parameters=[
            DICTIONARY_ID,
            OpenApiParameter("string", str, many=True, description="A word whose rule goes (repeat for several)."),
        ],
        responses={200: VersionSerializer, **ERRORS},
        examples=returns("A new version", VERSION_EXAMPLE),
    )
    def delete(self, request, pronunciation_dictionary_id):
        dictionary = dictionary_of(request, pronunciation_dictionary_id)
        strings = request.query_params.getlist("string")[: pronunciation.MAX_RULES]
        version = pronunciation.dictionary_remove_rules(
            dictionary=dictionary, user=user_of(request), rule_strings=strings
        )
        return Response(version_data(version))


class DownloadView(APIView):
    permission_classes = TTS

    @extend_schema(
        tags=[TAG],
        operation_id="v1_pronunciation_dictionaries_download",
        summary="A version as a PLS file",
        parameters=[DICTIONARY_ID, OpenApiParameter("version_id", str, description="Default: the latest version.")],
        responses={
            (200, pronunciation.PLS_MEDIA_TYPE): OpenApiResponse(OpenApiTypes.BINARY, description="The PLS lexicon."),
            401: ERRORS[401],
            403: ERRORS[403],
            404: ERRORS[404],
        },
        examples=[NOT_FOUND_EXAMPLE],
    )
    def get(self, request, pronunciation_dictionary_id):
        dictionary = dictionary_of(request, pronunciation_dictionary_id)
        version_id = request.query_params.get("version_id") or dictionary.latest_version_id
        version = pronunciation.version_get(dictionary=dictionary, version_id=version_id)
        content = pronunciation.export_pls(pronunciation.version_rules(version))
        return as_download(HttpResponse(content, content_type=pronunciation.PLS_MEDIA_TYPE), f"{dictionary.id}.pls")
