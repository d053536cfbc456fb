from __future__ import annotations

from typing import Any

from django.db.models.signals import post_delete
from django.dispatch import receiver

from .models import GeneratedImage
from .services.files import files_delete


@receiver(post_delete, sender=GeneratedImage)
def remove_files(sender: Any, instance: GeneratedImage, **kwargs: Any) -> None:
    # Also when a job, a conversation's owner or an account is deleted (cascades send it too).
    files_delete([instance.file, instance.thumbnail])
