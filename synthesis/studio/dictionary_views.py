"""
The studio's pronunciation dictionaries: list and create (a PLS upload or one first rule), a dictionary's rules
(add one, remove one: each a new version), archive, download any version as PLS.

The same service as the APIs (synthesis.services.pronunciation); every dictionary is reached through the session's
active organization, so another organization's id is a 404.
"""

from __future__ import annotations

from django.contrib import messages
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from synthesis.api.common import as_download
from synthesis.services import pronunciation
from synthesis.services.session import Refused
from synthesis.studio.pages import studio_page


def _dictionary(membership, pronunciation_dictionary_id):
    try:
        return pronunciation.dictionary_get(
            organization=membership.organization, dictionary_id=pronunciation_dictionary_id
        )
    except Refused:
        raise Http404("No such pronunciation dictionary.") from None


def _rule_from_form(post) -> dict:
    """One rule from the studio's form, in ElevenLabs' shape (the service checks it)."""
    kind = post.get("type", "alias")
    rule = {
        "type": kind,
        "string_to_replace": post.get("string_to_replace", ""),
        "case_sensitive": post.get("case_sensitive") == "on",
        "word_boundaries": post.get("word_boundaries", "on") == "on",
    }
    if kind == "phoneme":
        rule |= {"phoneme": post.get("replacement", ""), "alphabet": post.get("alphabet", "ipa")}
    else:
        rule["alias"] = post.get("replacement", "")
    return rule


@studio_page
@require_http_methods(["GET", "POST"])
def dictionaries(request, membership):
    organization = membership.organization
    error, status = None, 200
    if request.method == "POST":
        try:
            upload = request.FILES.get("file")
            if upload is not None:
                rules = pronunciation.parse_pls(upload.read(pronunciation.MAX_PLS_BYTES + 1))
            elif request.POST.get("string_to_replace", "").strip():
                rules = pronunciation.rules_from_data([_rule_from_form(request.POST)])
            else:
                rules = []
            dictionary = pronunciation.dictionary_create(
                organization=organization,
                user=request.user,
                name=request.POST.get("name", ""),
                rules=rules,
                description=request.POST.get("description", ""),
            )
        except Refused as refused:
            error, status = refused.message, refused.status
        else:
            messages.success(
                request, f"Created “{dictionary.name}” with {len(rules)} rule{'s' if len(rules) != 1 else ''}."
            )
            return redirect("studio:dictionary", pronunciation_dictionary_id=dictionary.pk)
    context = {
        "organization": organization,
        "dictionaries": pronunciation.dictionaries_of(organization),
        "error": error,
        "limits": {"rules": pronunciation.MAX_RULES, "dictionaries": pronunciation.MAX_DICTIONARIES},
    }
    return render(request, "studio/dictionaries.html", context, status=status)


@studio_page
@require_http_methods(["GET", "POST"])
def dictionary(request, membership, pronunciation_dictionary_id):
    """GET: the rules and versions. POST: add a rule (a new version), or archive/unarchive (`archived`)."""
    found = _dictionary(membership, pronunciation_dictionary_id)
    error, status = None, 200
    if request.method == "POST":
        try:
            if "archived" in request.POST:
                pronunciation.dictionary_update(dictionary=found, archived=request.POST["archived"] == "true")
                messages.success(request, "Archived." if found.archived_at else "Unarchived.")
            else:
                rules = pronunciation.rules_from_data([_rule_from_form(request.POST)])
                pronunciation.dictionary_add_rules(dictionary=found, user=request.user, rules=rules)
                messages.success(request, f"Added the rule for “{rules[0].grapheme}”: a new version.")
        except Refused as refused:
            error, status = refused.message, refused.status
        else:
            return redirect("studio:dictionary", pronunciation_dictionary_id=found.pk)
        found = _dictionary(membership, pronunciation_dictionary_id)
    version = found.latest_version
    context = {
        "organization": membership.organization,
        "dictionary": found,
        "rules": version.rules if version else [],
        "versions": found.versions.order_by("-created_at", "-id").select_related("created_by"),
        "error": error,
    }
    return render(request, "studio/dictionary.html", context, status=status)


@studio_page
@require_POST
def dictionary_remove_rule(request, membership, pronunciation_dictionary_id):
    found = _dictionary(membership, pronunciation_dictionary_id)
    word = request.POST.get("string", "")
    pronunciation.dictionary_remove_rules(dictionary=found, user=request.user, rule_strings=[word])
    messages.success(request, f"Removed the rule for “{word}”: a new version.")
    return redirect("studio:dictionary", pronunciation_dictionary_id=found.pk)


@studio_page
@require_GET
def dictionary_download(request, membership, pronunciation_dictionary_id):
    found = _dictionary(membership, pronunciation_dictionary_id)
    try:
        version = pronunciation.version_get(
            dictionary=found, version_id=request.GET.get("version") or found.latest_version_id
        )
    except Refused:
        raise Http404("No such version.") from None
    content = pronunciation.export_pls(pronunciation.version_rules(version))
    return as_download(HttpResponse(content, content_type=pronunciation.PLS_MEDIA_TYPE), f"{found.pk}-{version.pk}.pls")
