"""Voice samples are rendered ahead of time (`manage.py render_samples`, run by setup): a click plays a kept file."""

from io import StringIO

import pytest
from django.core.files.storage import default_storage
from django.core.management import call_command
from django.urls import reverse

from synthesis.services.voices import available_voices

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("isolated_media")]


def preview(client, voice_id):
    return client.get(reverse("synthesis:voice-preview", kwargs={"voice_id": voice_id}))


def test_after_render_samples_every_sample_is_served_without_synthesis(client, fake_engine):
    out = StringIO()
    call_command("render_samples", stdout=out)
    voices = available_voices()
    calls = fake_engine.calls

    responses = [preview(client, voice.id) for voice in voices]

    assert f"{len(voices)} rendered, 0 already kept" in out.getvalue()
    assert calls >= len(voices)  # each was synthesized by the command
    assert all(r.status_code == 200 and r["Content-Type"] == "audio/mpeg" for r in responses)
    assert fake_engine.calls == calls  # ...and none when listened to
    assert all(default_storage.exists(f"previews/{voice.id}.mp3") for voice in voices)


def test_running_it_again_reuses_the_kept_samples(fake_engine):
    call_command("render_samples", stdout=StringIO())
    calls, out = fake_engine.calls, StringIO()

    call_command("render_samples", stdout=out)

    assert fake_engine.calls == calls
    assert f"0 rendered, {len(available_voices())} already kept" in out.getvalue()


def test_a_missing_sample_is_rendered_on_its_first_request_and_kept(client, fake_engine):
    first = preview(client, "af_heart")
    calls = fake_engine.calls
    second = preview(client, "af_heart")

    assert calls > 0 and fake_engine.calls == calls  # rendered once, never again
    assert first.status_code == second.status_code == 200 and first.content == second.content
    assert default_storage.exists("previews/af_heart.mp3")


def test_setup_renders_the_samples_so_the_first_click_plays_a_kept_file(client, fake_engine, monkeypatch):
    from synthesis.management.commands import setup

    asked = []

    def steps(name, *args, **kwargs):
        asked.append(name)
        # Installing the model (a download, or hashing hundreds of MB) and collecting static files are
        # other tests' business; migrate (nothing to apply) and render_samples run as setup runs them.
        if name not in ("install_assets", "collectstatic"):
            call_command(name, *args, **kwargs)

    monkeypatch.setattr(setup, "call_command", steps)
    call_command("setup", stdout=StringIO(), stderr=StringIO())
    voices, calls = available_voices(), fake_engine.calls

    assert "render_samples" in asked and asked.index("render_samples") > asked.index("migrate")
    assert all(default_storage.exists(f"previews/{voice.id}.mp3") for voice in voices)
    assert preview(client, voices[0].id).status_code == 200
    assert fake_engine.calls == calls  # the sample was there: no synthesis on the click
