import uuid

from django.db import models

from accounts.models import ApiKey, Organization, UsageRecord, User


def generation_upload_to(generation: "Generation", filename: str) -> str:
    # A random name under the organization: never guessable, never listed.
    return f"generations/{generation.organization_id}/{generation.id.hex}{filename[filename.rfind('.'):]}"


class GenerationQuerySet(models.QuerySet):
    def expired(self, now):
        return self.filter(expires_at__lte=now)


class Generation(models.Model):
    """One synthesis kept in an organization's history, with its audio file."""

    class Source(models.TextChoices):
        API = "api", "API"
        STUDIO = "studio", "Studio"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="generations")
    user = models.ForeignKey(User, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    api_key = models.ForeignKey(ApiKey, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    usage_record = models.OneToOneField(UsageRecord, on_delete=models.SET_NULL, null=True, blank=True, related_name="generation")
    source = models.CharField(max_length=10, choices=Source.choices, default=Source.API)
    text = models.TextField()
    voice = models.CharField(max_length=200)
    speed = models.FloatField(default=1.0)
    output_format = models.CharField(max_length=32)
    characters = models.PositiveIntegerField()
    audio = models.FileField(upload_to=generation_upload_to, max_length=255)
    content_type = models.CharField(max_length=64)
    audio_seconds = models.FloatField()
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    expires_at = models.DateTimeField(db_index=True)

    objects = GenerationQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["organization", "-created_at"])]

    def __str__(self):
        return f"{self.voice}: {self.text[:40]}"
