"""The Content-Security-Policy of every page (django-csp), so that a sanitiser miss in a rendered
reply is not an exploit: scripts and styles only from this site and none inline, images from this
site (plus data:/blob: and the media bucket), connections to this site only ('self' also covers
the chat's ws:/wss: socket on the same host in CSP3 browsers), no framing by other sites."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

from csp.constants import NONE, SELF
from django.core.exceptions import ImproperlyConfigured

from chatlab_site import env

from .storage import S3_BUCKET, STORAGES

__all__ = ["CONTENT_SECURITY_POLICY"]  # not STORAGES: backups.py has added to it since

# A host or scheme source (https://cdn.example.com, https://*.example.com:8443, https:); never a
# keyword such as 'unsafe-inline', nor two sources glued together.
_SOURCE = re.compile(r"^(?:[a-z][a-z0-9+.-]*:|(?:[a-z][a-z0-9+.-]*://)?[^\s;,'\"]+)$", re.I)


def _sources(name: str) -> list[str]:
    values = env.csv(name)
    for value in values:
        if not _SOURCE.match(value):
            raise ImproperlyConfigured(f"{name}: {value!r} is not a CSP host or scheme source")
    return values


def s3_media_sources(options: dict[str, Any]) -> list[str]:
    """Where the bucket's signed image URLs point: the view redirects an <img> there, and CSP
    checks the redirect's target (by host: paths do not count after a redirect)."""
    bucket = options["bucket_name"]
    style = options.get("addressing_style")  # None: "auto"
    endpoint = options.get("endpoint_url")
    if endpoint:
        parts = urlsplit(endpoint)
        origin = f"{parts.scheme}://{parts.netloc}"
        virtual = f"{parts.scheme}://{bucket}.{parts.netloc}"
    else:
        region = options.get("region_name")
        host = f"s3.{region}.amazonaws.com" if region else "s3.amazonaws.com"
        origin = f"https://{host}"
        virtual = f"https://{bucket}.{host}"
    return {"path": [origin], "virtual": [virtual]}.get(style or "", [origin, virtual])


_media = s3_media_sources(STORAGES["default"]["OPTIONS"]) if S3_BUCKET else []

CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF],
        "img-src": [SELF, "data:", "blob:", *_media, *_sources("CHATLAB_CSP_IMG_SRC")],
        "connect-src": [SELF],
        "font-src": [SELF],
        "media-src": [SELF],
        "object-src": [NONE],
        "frame-src": [NONE],
        "base-uri": [SELF],
        "frame-ancestors": [NONE],
    },
}
