"""The generation admin: read-only, its audio only for staff who may listen."""

from datetime import timedelta

from django.contrib.auth.models import Permission
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.urls import reverse
from django.utils import timezone

from accounts.models import User
from synthesis.models import Generation


def test_generations_hide_their_audio_from_staff_who_may_not_listen(client, cast, isolated_media):
    generation = Generation.objects.create(
        organization=cast.org_a, text="Hi", voice="af", output_format="mp3", characters=2, audio="generations/x.mp3",
        content_type="audio/mpeg", audio_seconds=1.0, expires_at=timezone.now() + timedelta(days=1),
    )
    default_storage.save("generations/x.mp3", ContentFile(b"ID3-stored"))
    clerk = User.objects.create_user(email="clerk@voicehub.test", password="x" * 20, is_staff=True)
    clerk.user_permissions.add(Permission.objects.get(codename="view_generation"))
    client.force_login(clerk)
    url = reverse("admin:synthesis_generation_change", args=[generation.pk])
    page = client.get(url).content.decode()
    audio_url = reverse("admin:synthesis_generation_audio", args=[generation.pk])
    assert "generations/x.mp3" not in page and "<audio" not in page
    assert client.get(audio_url).status_code == 403
    clerk.user_permissions.add(Permission.objects.get(codename="listen_audio"))
    clerk = User.objects.get(pk=clerk.pk)
    client.force_login(clerk)
    page = client.get(url).content.decode()
    assert f'src="{audio_url}"' in page and "generations/x.mp3" not in page  # through storage, never a media path
    audio = client.get(audio_url)
    assert audio.status_code == 200 and b"".join(audio.streaming_content) == b"ID3-stored" and "no-store" in audio["Cache-Control"]
