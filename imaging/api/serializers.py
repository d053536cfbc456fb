from __future__ import annotations

from typing import Any

from rest_framework import serializers

from conversations.api.serializers import StrictBodySerializer, StrictCharField


class ImageModelSerializer(serializers.Serializer):
    slug = serializers.CharField()
    name = serializers.CharField()
    model = serializers.CharField()
    sizes = serializers.ListField(child=serializers.CharField())
    qualities = serializers.ListField(child=serializers.CharField())
    max_count = serializers.IntegerField()
    is_default = serializers.BooleanField()


class ImageSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    job = serializers.UUIDField()
    url = serializers.CharField(help_text="The picture (the owner only; may redirect to a "
                                          "short-lived signed URL).")
    thumbnail_url = serializers.CharField()
    download_url = serializers.CharField()
    content_type = serializers.CharField()
    width = serializers.IntegerField()
    height = serializers.IntegerField()
    bytes = serializers.IntegerField()
    created_at = serializers.DateTimeField()


class ImageJobSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    # A plain string in the schema: a second enum named "status" would collide with messages'.
    status = serializers.CharField(help_text="queued, running, done or failed")
    progress = serializers.IntegerField(help_text="0-100")
    prompt = serializers.CharField()
    revised_prompt = serializers.CharField(allow_blank=True)
    model = serializers.CharField()
    size = serializers.CharField()
    quality = serializers.CharField(allow_blank=True)
    count = serializers.IntegerField()
    error = serializers.CharField(allow_blank=True, help_text="Why the job failed, for people.")
    error_code = serializers.CharField(allow_blank=True)
    conversation = serializers.UUIDField(allow_null=True)
    created_at = serializers.DateTimeField()
    finished_at = serializers.DateTimeField(allow_null=True)
    duration_ms = serializers.IntegerField(allow_null=True)
    images = ImageSerializer(many=True)
    url = serializers.CharField(help_text="Follow the job here.")


class ImageJobCreateSerializer(StrictBodySerializer):
    prompt = StrictCharField(trim_whitespace=False, allow_blank=True,
                             help_text="What to draw.")
    model = StrictCharField(required=False, help_text="An image model's slug (GET .../models/).")
    size = StrictCharField(required=False, help_text="One of the model's sizes.")
    quality = StrictCharField(required=False, help_text="One of the model's qualities.")
    count = serializers.IntegerField(required=False, default=1, min_value=1, max_value=10)
    conversation = serializers.UUIDField(required=False, help_text="Show it in this conversation.")


class ImageOutSerializer(ImageSerializer):
    """Serialises a GeneratedImage through the shared payload (lists)."""

    def to_representation(self, instance: object) -> dict:
        from ..services.payloads import image_payload

        return image_payload(instance)  # type: ignore[arg-type]


class ImageJobOutSerializer(ImageJobSerializer):
    """Serialises an ImageJob (images prefetched) through the shared payload (lists)."""

    def to_representation(self, instance: object) -> dict:
        from ..services.payloads import job_payload

        job: Any = instance
        images = sorted(job.images.all(), key=lambda i: i.index) if job.status == "done" else []
        return job_payload(job, images)
