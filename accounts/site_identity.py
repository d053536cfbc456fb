"""The site's name and domain as emails and allauth's pages show them ("[Chatlab] Please
confirm…", "Hello from Chatlab!"): taken from SITE_NAME and SITE_URL, not django.contrib.sites'
example.com row."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from django.conf import settings


def site_sync(**kwargs: Any) -> None:
    """Run after every migrate (make run, a deploy), so a changed SITE_URL applies on restart."""
    from django.contrib.sites.models import Site

    Site.objects.update_or_create(pk=settings.SITE_ID, defaults={
        "domain": urlsplit(settings.SITE_URL).netloc, "name": settings.SITE_NAME})
    Site.objects.clear_cache()
