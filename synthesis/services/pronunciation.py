"""
Pronunciation dictionaries (ElevenLabs' pronunciation dictionaries): an organization's rules, versioned,
read from and written as W3C Pronunciation Lexicon (PLS) files, and applied to a synthesis as a Lexicon.

Every door (ElevenLabs', the native API, the studio) only parses and renders; what a dictionary is, how it
changes and how a request's `pronunciation_dictionary_locators` become the session's Lexicon is here.

Rules are kept in ElevenLabs' shape, the one its API sends and answers:

    {"type": "alias", "string_to_replace": "UN", "alias": "United Nations", "case_sensitive": true, "word_boundaries": true}
    {"type": "phoneme", "string_to_replace": "Kokoro", "phoneme": "kəˈkɔɹoʊ", "alphabet": "ipa", ...}

Errors are the session's Refused (a status, a machine code, a human message), which every door already
renders in its vendor's shape.
"""

from __future__ import annotations

import xml.etree.ElementTree as StdET
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from xml.sax.saxutils import escape, quoteattr

import defusedxml.ElementTree as SafeET
from defusedxml import DefusedXmlException
from django.db import transaction
from django.utils import timezone

from accounts.models import Organization, User
from synthesis.engine.lexicon import InvalidRule, Lexicon, Rule
from synthesis.models import PronunciationDictionary, PronunciationDictionaryVersion
from synthesis.services.session import Refused

PLS_NAMESPACE = "http://www.w3.org/2005/01/pronunciation-lexicon"
# Where a PLS file keeps what PLS has no words for (ElevenLabs' case_sensitive and word_boundaries), so that a
# dictionary downloaded and uploaded again has the same rules. Other readers ignore attributes of other namespaces.
VOICEHUB_NAMESPACE = "https://voicehub.dev/ns/pls"
PLS_MEDIA_TYPE = "application/pls+xml"

# Bounds: what one dictionary, one file and one organization may hold. A request names at most
# MAX_LOCATORS dictionaries (as ElevenLabs), so a synthesis applies at most 3,000 rules.
MAX_RULES = 1000
MAX_PLS_BYTES = 1_000_000
MAX_DICTIONARIES = 100
MAX_LOCATORS = 3
MAX_NAME = 200
MAX_DESCRIPTION = 1000
MAX_ID = 64

# PLS's alphabet names -> the Lexicon's.
_ALPHABETS = {"ipa": "ipa", "x-cmu-arpabet": "cmu-arpabet", "cmu-arpabet": "cmu-arpabet", "x-cmu": "cmu-arpabet"}


# -- errors ----------------------------------------------------------------------------------------------------


def dictionary_not_found(dictionary_id: str) -> Refused:
    return Refused(
        "pronunciation_dictionary_not_found",
        404,
        f"A pronunciation dictionary with the id {dictionary_id!r} was not found.",
    )


def version_not_found(dictionary_id: str, version_id: str) -> Refused:
    return Refused(
        "pronunciation_dictionary_version_not_found",
        404,
        f"The pronunciation dictionary {dictionary_id!r} has no version {version_id!r}.",
    )


def invalid_rule(message: str) -> Refused:
    return Refused("invalid_pronunciation_rule", 400, message)


def invalid_pls(message: str) -> Refused:
    return Refused("invalid_pls", 400, f"The PLS file cannot be read: {message}")


# -- rules in ElevenLabs' shape ---------------------------------------------------------------------------------


def rule_from_data(data: object, index: int = 0) -> Rule:
    """One rule as ElevenLabs' API sends it; Refused 400 invalid_pronunciation_rule with what is wrong."""
    where = f"rules[{index}]"
    if not isinstance(data, dict):
        raise invalid_rule(f"{where} must be an object with `type` and `string_to_replace`.")
    kind, grapheme = data.get("type"), data.get("string_to_replace")
    if kind not in ("alias", "phoneme"):
        raise invalid_rule(f'{where}.type must be "alias" or "phoneme".')
    if not isinstance(grapheme, str):
        raise invalid_rule(f"{where}.string_to_replace must be a string.")
    flags = {}
    for name in ("case_sensitive", "word_boundaries"):
        value = data.get(name, True)
        if value is None:
            value = True
        if not isinstance(value, bool):
            raise invalid_rule(f"{where}.{name} must be true or false.")
        flags[name] = value
    try:
        if kind == "alias":
            alias = data.get("alias")
            if not isinstance(alias, str):
                raise invalid_rule(f"{where}.alias must be a string (an alias rule says what to read instead).")
            return Rule(grapheme, alias=alias, **flags)
        phoneme, alphabet = data.get("phoneme"), data.get("alphabet", "ipa")
        if not isinstance(phoneme, str):
            raise invalid_rule(f"{where}.phoneme must be a string (the word's sounds).")
        if not isinstance(alphabet, str) or alphabet.lower() not in _ALPHABETS:
            raise invalid_rule(f'{where}.alphabet must be "ipa" or "cmu-arpabet".')
        return Rule(grapheme, phonemes=phoneme, alphabet=_ALPHABETS[alphabet.lower()], **flags)
    except InvalidRule as error:
        raise invalid_rule(f"{where}: {error}") from None


def rules_from_data(data: object) -> list[Rule]:
    if not isinstance(data, list):
        raise invalid_rule("`rules` must be a list of rules.")
    if len(data) > MAX_RULES:
        raise too_many_rules(len(data))
    return [rule_from_data(item, i) for i, item in enumerate(data)]


def rule_data(rule: Rule) -> dict:
    """A rule as ElevenLabs' API answers it (and as a version stores it)."""
    if rule.is_alias:
        data = {"type": "alias", "string_to_replace": rule.grapheme, "alias": rule.alias}
    else:
        data = {
            "type": "phoneme",
            "string_to_replace": rule.grapheme,
            "phoneme": rule.phonemes,
            "alphabet": rule.alphabet,
        }
    return {**data, "case_sensitive": rule.case_sensitive, "word_boundaries": rule.word_boundaries}


def version_rules(version: PronunciationDictionaryVersion) -> list[Rule]:
    """A stored version's rules (validated when they were stored; a Rule again)."""
    return [rule_from_data(item, i) for i, item in enumerate(version.rules)]


def too_many_rules(count: int) -> Refused:
    return Refused(
        "too_many_pronunciation_rules",
        400,
        f"A pronunciation dictionary holds at most {MAX_RULES:,} rules; this one would hold {count:,}.",
    )


# -- PLS -----------------------------------------------------------------------------------------------------


def _local(tag: object) -> str:
    return tag.rsplit("}", 1)[-1] if isinstance(tag, str) else ""


def parse_pls(data: bytes) -> list[Rule]:
    """The rules of a PLS file: each <lexeme>'s graphemes said as its first <alias> or <phoneme>.

    Parsed by defusedxml: a DTD, an entity (billion laughs) or an external reference is refused, as is
    anything that is not a <lexicon> of W3C's namespace. Refused 400 invalid_pls / 413 pls_too_large.
    """
    if len(data) > MAX_PLS_BYTES:
        raise Refused(
            "pls_too_large", 413, f"A PLS file may be at most {MAX_PLS_BYTES:,} bytes; this one is {len(data):,}."
        )
    try:
        root = SafeET.fromstring(data, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except DefusedXmlException:
        raise invalid_pls("it declares a DTD, entities or external references, which are not accepted.") from None
    except (StdET.ParseError, ValueError) as error:
        raise invalid_pls(f"it is not well-formed XML ({error}).") from None
    if root.tag != f"{{{PLS_NAMESPACE}}}lexicon":
        raise invalid_pls(f'its root element must be <lexicon xmlns="{PLS_NAMESPACE}">.')
    lexicon_alphabet = root.get("alphabet", "ipa")
    rules: list[Rule] = []
    for number, lexeme in enumerate(root.iter(f"{{{PLS_NAMESPACE}}}lexeme"), start=1):
        graphemes = [(g.text or "").strip() for g in lexeme if _local(g.tag) == "grapheme"]
        said = next((child for child in lexeme if _local(child.tag) in ("alias", "phoneme")), None)
        if not graphemes or said is None:
            raise invalid_pls(f"lexeme {number} needs at least one <grapheme> and an <alias> or a <phoneme>.")
        flags = {
            name: lexeme.get(f"{{{VOICEHUB_NAMESPACE}}}{attribute}", "true").lower() != "false"
            for name, attribute in (("case_sensitive", "case-sensitive"), ("word_boundaries", "word-boundaries"))
        }
        text = (said.text or "").strip()
        for grapheme in graphemes:
            try:
                if _local(said.tag) == "alias":
                    rules.append(Rule(grapheme, alias=text, **flags))
                else:
                    alphabet = said.get("alphabet", lexicon_alphabet).lower()
                    if alphabet not in _ALPHABETS:
                        raise invalid_pls(f"lexeme {number}: unknown alphabet {alphabet!r}; use ipa or x-cmu-arpabet.")
                    rules.append(Rule(grapheme, phonemes=text, alphabet=_ALPHABETS[alphabet], **flags))
            except InvalidRule as error:
                raise invalid_pls(f"lexeme {number}: {error}") from None
            if len(rules) > MAX_RULES:
                raise too_many_rules(len(rules))
    return rules


def export_pls(rules: Sequence[Rule], *, language: str = "en-US") -> bytes:
    """A PLS file of the rules (UTF-8), one <lexeme> a rule, as ElevenLabs' download gives; parse_pls reads it back
    to the same rules (case and word-boundary flags in Voicehub's own namespace, which other readers ignore)."""
    lines = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        f'<lexicon version="1.0" xmlns="{PLS_NAMESPACE}" xmlns:vh="{VOICEHUB_NAMESPACE}" alphabet="ipa" '
        f"xml:lang={quoteattr(language)}>",
    ]
    for rule in rules:
        flags = ""
        if not rule.case_sensitive:
            flags += ' vh:case-sensitive="false"'
        if not rule.word_boundaries:
            flags += ' vh:word-boundaries="false"'
        if rule.is_alias:
            said = f"<alias>{escape(rule.alias)}</alias>"
        else:
            alphabet = "" if rule.alphabet == "ipa" else ' alphabet="x-cmu-arpabet"'
            said = f"<phoneme{alphabet}>{escape(rule.phonemes)}</phoneme>"
        lines.append(f"  <lexeme{flags}><grapheme>{escape(rule.grapheme)}</grapheme>{said}</lexeme>")
    lines.append("</lexicon>")
    return ("\n".join(lines) + "\n").encode()


# -- dictionaries ----------------------------------------------------------------------------------------------


def dictionaries_of(organization: Organization):
    """The organization's dictionaries: the only way any door reaches one."""
    return organization.pronunciation_dictionaries.select_related("latest_version", "created_by")


def dictionary_get(*, organization: Organization, dictionary_id: object) -> PronunciationDictionary:
    """The organization's dictionary; another organization's id is a 404 like an unknown one."""
    if not isinstance(dictionary_id, str) or not 0 < len(dictionary_id) <= MAX_ID:
        raise dictionary_not_found(str(dictionary_id)[:MAX_ID])
    dictionary = dictionaries_of(organization).filter(pk=dictionary_id).first()
    if dictionary is None:
        raise dictionary_not_found(dictionary_id)
    return dictionary


def version_get(*, dictionary: PronunciationDictionary, version_id: object) -> PronunciationDictionaryVersion:
    if not isinstance(version_id, str) or not 0 < len(version_id) <= MAX_ID:
        raise version_not_found(dictionary.pk, str(version_id)[:MAX_ID])
    version = dictionary.versions.filter(pk=version_id).first()
    if version is None:
        raise version_not_found(dictionary.pk, version_id)
    return version


def _check_name(name: object, description: object) -> tuple[str, str]:
    if not isinstance(name, str) or not name.strip() or len(name) > MAX_NAME:
        raise Refused("invalid_name", 400, f"A pronunciation dictionary needs a name of 1-{MAX_NAME} characters.")
    description = description or ""
    if not isinstance(description, str) or len(description) > MAX_DESCRIPTION:
        raise Refused("invalid_description", 400, f"The description may be at most {MAX_DESCRIPTION:,} characters.")
    return name.strip(), description


def _merged(rules: Iterable[Rule]) -> list[Rule]:
    """One rule per word (`string_to_replace`): a later rule for the same word replaces the earlier one in its place,
    as ElevenLabs' add-rules does."""
    by_word: dict[str, Rule] = {}
    for rule in rules:
        by_word[rule.grapheme] = rule
    return list(by_word.values())


def _new_version(
    dictionary: PronunciationDictionary, rules: list[Rule], user: User | None
) -> PronunciationDictionaryVersion:
    if len(rules) > MAX_RULES:
        raise too_many_rules(len(rules))
    version = PronunciationDictionaryVersion.objects.create(
        dictionary=dictionary, rules=[rule_data(r) for r in rules], created_by=user
    )
    dictionary.latest_version = version
    dictionary.save(update_fields=["latest_version"])
    return version


def dictionary_create(
    *, organization: Organization, user: User | None, name: object, rules: Sequence[Rule], description: object = ""
) -> PronunciationDictionary:
    """A new dictionary whose first version holds `rules`."""
    name, description = _check_name(name, description)
    with transaction.atomic():
        # Counted under the organization's row lock, so two creations at once cannot both take the last place.
        Organization.objects.select_for_update().filter(pk=organization.pk).first()
        if organization.pronunciation_dictionaries.count() >= MAX_DICTIONARIES:
            raise Refused(
                "too_many_pronunciation_dictionaries",
                400,
                f"An organization may have at most {MAX_DICTIONARIES} pronunciation dictionaries; archive or reuse one.",
            )
        dictionary = PronunciationDictionary.objects.create(
            organization=organization, name=name, description=description, created_by=user
        )
        _new_version(dictionary, _merged(rules), user)
    return dictionary


def dictionary_add_rules(
    *, dictionary: PronunciationDictionary, user: User | None, rules: Sequence[Rule]
) -> PronunciationDictionaryVersion:
    """A new version with `rules` added; a rule for a word the dictionary has replaces the old one."""
    with transaction.atomic():
        dictionary = PronunciationDictionary.objects.select_for_update().get(pk=dictionary.pk)
        current = version_rules(dictionary.latest_version) if dictionary.latest_version else []
        return _new_version(dictionary, _merged([*current, *rules]), user)


def dictionary_set_rules(
    *, dictionary: PronunciationDictionary, user: User | None, rules: Sequence[Rule]
) -> PronunciationDictionaryVersion:
    """A new version holding exactly `rules` (ElevenLabs' set-rules)."""
    with transaction.atomic():
        dictionary = PronunciationDictionary.objects.select_for_update().get(pk=dictionary.pk)
        return _new_version(dictionary, _merged(rules), user)


def dictionary_remove_rules(
    *, dictionary: PronunciationDictionary, user: User | None, rule_strings: Sequence[str]
) -> PronunciationDictionaryVersion:
    """A new version without the rules for these words (words it has no rule for are ignored, as ElevenLabs does)."""
    removed = set(rule_strings)
    with transaction.atomic():
        dictionary = PronunciationDictionary.objects.select_for_update().get(pk=dictionary.pk)
        current = version_rules(dictionary.latest_version) if dictionary.latest_version else []
        return _new_version(dictionary, [r for r in current if r.grapheme not in removed], user)


def dictionary_update(
    *, dictionary: PronunciationDictionary, name: object = None, description: object = None, archived: object = None
) -> PronunciationDictionary:
    """Rename, describe, archive or unarchive (ElevenLabs' PATCH); the rules change only through versions."""
    name, description = _check_name(
        dictionary.name if name is None else name, dictionary.description if description is None else description
    )
    if archived is not None and not isinstance(archived, bool):
        raise Refused("invalid_archived", 400, "`archived` must be true or false.")
    dictionary.name, dictionary.description = name, description
    if archived is not None:
        dictionary.archived_at = (dictionary.archived_at or timezone.now()) if archived else None
    dictionary.save(update_fields=["name", "description", "archived_at"])
    return dictionary


# -- application: pronunciation_dictionary_locators -------------------------------------------------------------


@dataclass(frozen=True)
class Located:
    dictionary: PronunciationDictionary
    version: PronunciationDictionaryVersion


def locators_resolve(*, organization: Organization, locators: object) -> list[Located]:
    """ElevenLabs' `pronunciation_dictionary_locators` ([{pronunciation_dictionary_id, version_id?}], at most 3): the
    organization's dictionary versions they name, in order (no version_id: the latest). Refused 400 for a malformed
    list, 404 for an unknown dictionary (or another organization's) or a version that is not the dictionary's."""
    if locators is None:
        return []
    if not isinstance(locators, list):
        raise Refused(
            "invalid_pronunciation_dictionary_locators",
            400,
            "`pronunciation_dictionary_locators` must be a list of {pronunciation_dictionary_id, version_id}.",
        )
    if len(locators) > MAX_LOCATORS:
        raise Refused(
            "too_many_pronunciation_dictionaries",
            400,
            f"A request may name at most {MAX_LOCATORS} pronunciation dictionaries; it named {len(locators)}.",
        )
    located = []
    for locator in locators:
        if not isinstance(locator, dict) or not isinstance(locator.get("pronunciation_dictionary_id"), str):
            raise Refused(
                "invalid_pronunciation_dictionary_locators",
                400,
                "Each pronunciation dictionary locator needs a `pronunciation_dictionary_id` (and may have a `version_id`).",
            )
        dictionary = dictionary_get(organization=organization, dictionary_id=locator["pronunciation_dictionary_id"])
        version_id = locator.get("version_id")
        if version_id is None or version_id == "":
            version = dictionary.latest_version
            if version is None:
                raise version_not_found(dictionary.pk, "latest")
        else:
            version = version_get(dictionary=dictionary, version_id=version_id)
        located.append(Located(dictionary, version))
    return located


def lexicon_of(versions: Iterable[PronunciationDictionaryVersion]) -> Lexicon | None:
    """The Lexicon of these versions' rules, the first version's rules winning (as ElevenLabs applies them)."""
    rules = [rule for version in versions for rule in version_rules(version)]
    return Lexicon(rules) if rules else None


def lexicon_for(*, organization: Organization | None, locators: object) -> Lexicon | None:
    """The one function every synthesis door calls: the Lexicon of a request's locators (None when it names none)."""
    if not locators:
        return None
    if organization is None:  # the landing page's demo: no organization, no dictionaries
        raise Refused("pronunciation_dictionary_not_found", 404, "Pronunciation dictionaries need an organization.")
    return lexicon_of(located.version for located in locators_resolve(organization=organization, locators=locators))


def pinned_lexicon(*, organization: Organization, version_ids: Sequence[str]) -> Lexicon | None:
    """The Lexicon of versions pinned earlier (a job's), in their order; a version deleted since is skipped."""
    if not version_ids:
        return None
    found = {
        v.pk: v
        for v in PronunciationDictionaryVersion.objects.filter(
            dictionary__organization=organization, pk__in=list(version_ids)
        )
    }
    return lexicon_of(found[pk] for pk in version_ids if pk in found)
