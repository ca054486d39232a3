"""
Another organization's object is a 404, on every route of the URLconf that names an object.

The routes come from the URLconf (voicehub_site.urls through every include): each route with
a path parameter. Each parameter is either an object of a tenant, made by a factory (BY_ROUTE
where the parameter's name is generic, `pk` or `token`, else BY_PARAMETER), or something all
organizations share (SHARED, with the reason). A route with a parameter in neither fails
test_every_route_that_names_an_object_is_in_the_matrix: a new route cannot skip the matrix.

For each route and each method its view accepts, organization B (Globex) asks for A's (Acme's)
object with each credential it has: its API key on API routes, its owner and a member signed
in on every route (the API also takes a session). The answer is 404, nothing of A's is in the
body, and A's data is unchanged. Then A asks for the same URL and is not refused, so the URL
named a real object.

Left out: the Django admin (admin/), for staff only, who see every organization on purpose.
A DRF view's methods are the handlers it defines (OPTIONS, DRF's metadata, reads no object; HEAD
is GET's); a function view's are those it does not answer 405, tried with each of them.
"""

from dataclasses import dataclass
from functools import cached_property

import pytest
from django.core import mail
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from rest_framework.views import APIView

from accounts.models import Membership
from accounts.services import api_key_create, invitation_create
from accounts.tests.helpers import signed_in
from synthesis.engine.lexicon import Rule
from synthesis.models import ProjectParagraph
from synthesis.services import pronunciation
from synthesis.tests.helpers import api, finish, make_generation, make_job
from voicehub_site.testing import verified_user

pytestmark = [pytest.mark.security, pytest.mark.django_db, pytest.mark.usefixtures("isolated_media", "fresh_cache")]

EXCLUDED_NAMESPACES = {"admin": "the Django admin is for staff, who see every organization on purpose"}
METHODS = ("get", "post", "put", "patch", "delete")


@dataclass(frozen=True)
class Route:
    name: str
    params: tuple[str, ...]
    callback: object

    @property
    def view_class(self):
        return getattr(self.callback, "view_class", None)

    @property
    def is_api(self) -> bool:
        return self.view_class is not None and issubclass(self.view_class, APIView)

    def declared_methods(self) -> tuple[str, ...] | None:
        """A DRF view's handlers; None for a function view (its decorators do not say)."""
        if not self.is_api:
            return None
        return tuple(method for method in METHODS if hasattr(self.view_class, method))


def object_routes(patterns=None, namespace: str = "") -> list[Route]:
    """Every route of the URLconf with a path parameter, by namespaced name."""
    routes = []
    for entry in get_resolver().url_patterns if patterns is None else patterns:
        if isinstance(entry, URLResolver):
            if entry.namespace in EXCLUDED_NAMESPACES:
                continue
            routes += object_routes(entry.url_patterns, f"{namespace}{entry.namespace}:" if entry.namespace else namespace)
        elif isinstance(entry, URLPattern):
            params = tuple(entry.pattern.regex.groupindex)  # <converter:name> and (?P<name>...) alike
            if params:
                routes.append(Route(f"{namespace}{entry.name or entry.pattern}", params, entry.callback))
    return routes


# -- A's objects -------------------------------------------------------------------------------------------------

SECRET_TEXT = "Acme's unreleased quarterly figures, read aloud"
SECRET_TITLE = "Acme board minutes (confidential)"
SECRET_KEY_NAME = "acme-production-backend"
SECRET_VOICE_NAME = "Acme's brand voice (unreleased)"
SECRET_DICTIONARY = "Acme codenames (confidential)"
SECRET_WORD = "Roadrunner"
SECRET_PROJECT = "Acme's unannounced audiobook"
SECRET_PARAGRAPH = "The rocket skates arrive on Tuesday."
INVITEE = "dave@acme.test"


class Acme:
    """Organization A's objects, made on first use; `secrets` is what of A's must never reach B."""

    def __init__(self, cast):
        self.cast = cast
        self.secrets = {cast.alice.email}

    def _owner_membership(self) -> Membership:
        return self.cast.org_a.memberships.get(user=self.cast.alice)

    @cached_property
    def generation(self):
        self.secrets.add(SECRET_TEXT)
        return make_generation(self.cast.org_a, SECRET_TEXT, user=self.cast.alice)

    @cached_property
    def job(self):
        self.secrets.add(SECRET_TITLE)
        return finish(make_job(self.cast.org_a, title=SECRET_TITLE, user=self.cast.alice))

    @cached_property
    def saved_voice(self):
        from django.core.files.base import ContentFile

        from synthesis.models import SavedVoice

        self.secrets.add(SECRET_VOICE_NAME)
        voice = SavedVoice(
            organization=self.cast.org_a, name=SECRET_VOICE_NAME, spec="af_bella(2)+af_sky(1)", language="en-us",
            preview_text="Hello.", created_by=self.cast.alice,
        )
        voice.preview.save("preview.mp3", ContentFile(b"ID3-acme-preview"), save=False)
        voice.save()
        return voice

    @cached_property
    def dictionary(self):
        self.secrets |= {SECRET_DICTIONARY, SECRET_WORD}
        return pronunciation.dictionary_create(
            organization=self.cast.org_a, user=self.cast.alice, name=SECRET_DICTIONARY,
            rules=[Rule(SECRET_WORD, alias="Project R")],
        )

    @cached_property
    def project(self):
        """A project with one paragraph whose audio is a (finished) job chapter's file."""
        from synthesis.jobs.documents import Chapter
        from synthesis.services import projects

        self.secrets |= {SECRET_PROJECT, SECRET_PARAGRAPH}
        project = projects.project_create(
            organization=self.cast.org_a, title=SECRET_PROJECT, voice="af_heart", user=self.cast.alice,
            chapters=[Chapter(title="", text=SECRET_PARAGRAPH)],
        )
        job = finish(make_job(self.cast.org_a, title=SECRET_PROJECT, user=self.cast.alice))
        projects.paragraphs_in_order(project).update(rendering=job.chapters.get(index=0))
        return project

    @cached_property
    def api_key(self):
        created = api_key_create(organization=self.cast.org_a, created_by=self.cast.alice, name=SECRET_KEY_NAME)
        self.secrets |= {SECRET_KEY_NAME, created.key.prefix}
        return created.key

    @cached_property
    def membership(self) -> Membership:
        self.secrets.add(self.cast.bob.email)
        return self.cast.org_a.memberships.get(user=self.cast.bob)

    @cached_property
    def invitation(self):
        self.secrets.add(INVITEE)
        return invitation_create(actor=self._owner_membership(), email=INVITEE, role=Membership.Role.MEMBER)

    @cached_property
    def upgrade_request(self):
        from accounts.models import Plan
        from accounts.services import upgrade_request_create

        return upgrade_request_create(organization=self.cast.org_a, user=self.cast.alice, plan=Plan.objects.get(slug="starter"))

    def state(self) -> tuple:
        """What B's requests must leave as it was: every row of A they could touch, and the mail sent."""
        org = self.cast.org_a
        return (
            sorted(org.generations.values_list("id", "expires_at")),
            sorted(org.jobs.values_list("id", "status", "finished_at")),
            sorted(org.api_keys.values_list("id", "revoked_at")),
            sorted(org.memberships.values_list("id", "role")),
            sorted(org.invitations.values_list("id", "revoked_at", "expires_at", "accepted_at")),
            sorted(org.saved_voices.values_list("id", "name", "description", "updated_at")),
            len(mail.outbox),
            sorted(org.pronunciation_dictionaries.values_list("id", "name", "latest_version_id", "archived_at")),
            sorted(org.upgrade_requests.values_list("id", "status", "decided_at")),
            sorted(org.projects.values_list("id", "title", "voice", "speed", "updated_at")),
            sorted(
                ProjectParagraph.objects.filter(chapter__project__organization=org).values_list(
                    "id", "text", "voice", "rendering_id", "pending_id"
                )
            ),
        )


def generation(acme):
    return acme.generation.pk


def generation_file(acme):
    """A history item as Kokoro-FastAPI's download links name it: <id>.<extension>."""
    return f"{acme.generation.pk}.{acme.generation.audio.name.rsplit('.', 1)[-1]}"


def job(acme):
    return acme.job.pk


def first_chapter(acme):
    """Chapter 0 of the job the route names (its job_id or pk)."""
    return acme.job.chapters.get(index=0).index


def api_key(acme):
    return acme.api_key.pk


def project(acme):
    return acme.project.pk


def project_paragraph(acme):
    return acme.project.chapters.get().paragraphs.get().pk


def saved_voice(acme):
    return acme.saved_voice.public_id


def pronunciation_dictionary(acme):
    return acme.dictionary.pk


def pronunciation_version(acme):
    return acme.dictionary.latest_version_id


def membership(acme):
    return acme.membership.pk


def invitation(acme):
    return acme.invitation[0].pk


def invitation_token(acme):
    return acme.invitation[1]


def upgrade_request(acme):
    return acme.upgrade_request.pk


# A parameter of this name, in any route, names this object.
BY_PARAMETER = {
    "generation_id": generation,
    "history_item_id": generation,
    "job_id": job,
    "index": first_chapter,
    "saved_voice_id": saved_voice,
    "pronunciation_dictionary_id": pronunciation_dictionary,
    "version_id": pronunciation_version,
    "project_id": project,
    "paragraph_id": project_paragraph,
}
# Parameters with a generic name (pk, token), route by route.
BY_ROUTE = {
    "studio:history_audio": {"pk": generation},
    "studio:history_delete": {"pk": generation},
    "studio:job_cancel": {"pk": job},
    "studio:job_audio": {"pk": job},
    "studio:job_chapter_audio": {"pk": job},
    "studio:job_timing": {"pk": job},
    "studio:key_revoke": {"pk": api_key},
    "studio:plan_cancel": {"pk": upgrade_request},
    "accounts:member_role": {"pk": membership},
    "accounts:member_remove": {"pk": membership},
    "accounts:invitation_resend": {"pk": invitation},
    "accounts:invitation_revoke": {"pk": invitation},
    "accounts:invitation_accept": {"token": invitation_token},
    "compat:kokoro-download": {"filename": generation_file},
}
# Who in A reaches the object (the control request), where it is not A's owner.
REACHED_BY = {"accounts:invitation_accept": "invitee"}

# What every organization shares: no tenant to cross.
SHARED_PARAMETERS = {
    "voice_id": "the voice catalog is the same for every organization (a saved voice's id in these routes: "
    "synthesis/tests/test_saved_voices.py asks each of them for another organization's, and gets 404)",
    "model_id": "the model list is the same for every organization",
}
SHARED_ROUTES = {
    "marketing:lead_confirm": "a newsletter lead's emailed token; leads belong to no organization",
    "account_confirm_email": "allauth's emailed token confirms a user's address; users are not a tenant's objects",
    "account_reset_password_from_key": "allauth's emailed password-reset token of a user, not of an organization",
}


def factory(route: Route, param: str):
    return BY_ROUTE.get(route.name, {}).get(param) or BY_PARAMETER.get(param)


def is_shared(route: Route, param: str) -> bool:
    return route.name in SHARED_ROUTES or param in SHARED_PARAMETERS


ROUTES = object_routes()
TENANT_ROUTES = [route for route in ROUTES if not all(is_shared(route, param) for param in route.params)]


def test_every_route_that_names_an_object_is_in_the_matrix():
    unknown = [
        f"{route.name} <{param}>" for route in ROUTES for param in route.params
        if not is_shared(route, param) and factory(route, param) is None
    ]
    assert not unknown, (
        "routes whose parameter names an object nobody told the matrix how to make; add a factory "
        f"(BY_PARAMETER or BY_ROUTE), or say in SHARED_* why no tenant owns it: {unknown}"
    )


def test_the_registries_name_only_routes_and_parameters_that_exist():
    names = {route.name for route in ROUTES}
    params = {param for route in ROUTES for param in route.params}
    assert set(BY_ROUTE) | set(SHARED_ROUTES) | set(REACHED_BY) <= names
    assert set(BY_PARAMETER) | set(SHARED_PARAMETERS) <= params


def test_the_matrix_is_not_trivially_small():
    api_routes = [route for route in TENANT_ROUTES if route.is_api]
    assert len(TENANT_ROUTES) >= 20 and len(api_routes) >= 9, [route.name for route in TENANT_ROUTES]
    assert {"api_v1:history-item", "compat:elevenlabs-history-audio", "studio:key_revoke", "accounts:invitation_accept"} <= {
        route.name for route in TENANT_ROUTES
    }


def body_of(response) -> str:
    content = b"".join(response.streaming_content) if response.streaming else response.content
    return content.decode(errors="replace")


def call(client, method: str, url: str):
    return getattr(client, method)(url)


@pytest.mark.parametrize("route", TENANT_ROUTES, ids=[route.name for route in TENANT_ROUTES])
def test_another_organization_gets_a_404_for_every_method_and_credential(route, cast, outsiders):
    acme = Acme(cast)
    makers = {param: factory(route, param) for param in route.params}
    missing = [param for param, make in makers.items() if make is None]
    if missing:
        pytest.fail(f"{route.name}: no factory for {missing}; see test_every_route_that_names_an_object_is_in_the_matrix")
    url = reverse(route.name, kwargs={param: make(acme) for param, make in makers.items()})
    before = acme.state()

    answers, accepted = {}, set()
    for role, client in outsiders.for_route(api=route.is_api).items():
        for method in route.declared_methods() or METHODS:
            response = call(client, method, url)
            if response.status_code == 405 and route.declared_methods() is None:
                continue  # a function view that does not take this method
            accepted.add(method)
            leaked = sorted(secret for secret in acme.secrets if secret in body_of(response))
            answers[f"{method.upper()} as {role}"] = (response.status_code, leaked)

    assert answers and all(answer == (404, []) for answer in answers.values()), (url, answers)
    assert acme.state() == before, f"{route.name}: B's requests changed A's data"

    # The control: A reaches the same URL, so B's 404 was about the tenant, not a wrong URL.
    if REACHED_BY.get(route.name) == "invitee":
        owner = signed_in(verified_user(INVITEE))
    else:
        owner = api(cast.key(cast.alice)) if route.is_api else signed_in(cast.alice)
    method = "get" if "get" in accepted else sorted(accepted)[0]
    control = call(owner, method, url)
    assert control.status_code not in (404, 405) and control.status_code < 500, (route.name, method, control.status_code)
