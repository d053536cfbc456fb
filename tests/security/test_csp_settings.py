"""The Content-Security-Policy header and the sources it is built from."""

from __future__ import annotations

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.test import Client

from chatlab_site.settings import content_security_policy as csp_settings
from chatlab_site.settings.content_security_policy import s3_media_sources

pytestmark = pytest.mark.django_db


def _directives(header: str) -> dict[str, list[str]]:
    return {part.split()[0]: part.split()[1:] for part in header.split(";") if part.strip()}


@pytest.mark.parametrize("path", ["/accounts/login/", "/api/docs/", "/admin/login/"])
def test_pages_carry_the_policy(client: Client, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 200
    policy = _directives(response.headers["Content-Security-Policy"])
    assert policy["default-src"] == ["'self'"]
    assert policy["script-src"] == ["'self'"]  # no 'unsafe-inline', no 'unsafe-eval'
    assert policy["style-src"] == ["'self'"]
    assert policy["img-src"] == ["'self'", "data:", "blob:"]
    assert policy["connect-src"] == ["'self'"]
    assert policy["frame-ancestors"] == ["'none'"]
    assert policy["object-src"] == ["'none'"]


def test_swagger_ui_loads_from_this_site(client: Client) -> None:
    page = client.get("/api/docs/").content.decode()
    assert "cdn" not in page and "//" not in page.replace("http://testserver", "")
    assert "/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle" in page
    assert "<style" not in page
    script = client.get("/api/docs/?script=")
    assert script.status_code == 200
    assert script["Content-Type"].startswith("application/javascript")
    assert "/api/schema/" in script.content.decode()


@pytest.mark.parametrize(("options", "expected"), [
    ({"bucket_name": "media", "endpoint_url": "https://minio.example.com:9000",
      "addressing_style": "path"}, ["https://minio.example.com:9000"]),
    ({"bucket_name": "media", "endpoint_url": "https://r2.example.com",
      "addressing_style": "virtual"}, ["https://media.r2.example.com"]),
    ({"bucket_name": "media", "endpoint_url": "http://127.0.0.1:9000", "addressing_style": None},
     ["http://127.0.0.1:9000", "http://media.127.0.0.1:9000"]),
    ({"bucket_name": "media", "region_name": "eu-west-1", "addressing_style": None},
     ["https://s3.eu-west-1.amazonaws.com", "https://media.s3.eu-west-1.amazonaws.com"]),
    ({"bucket_name": "media", "addressing_style": "virtual"}, ["https://media.s3.amazonaws.com"]),
])
def test_the_media_bucket_is_an_image_source(options: dict, expected: list[str]) -> None:
    assert s3_media_sources(options) == expected


def test_extra_image_sources_are_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CHATLAB_CSP_IMG_SRC", "https://cdn.example.com, https://*.example.org")
    assert csp_settings._sources("CHATLAB_CSP_IMG_SRC") == [
        "https://cdn.example.com", "https://*.example.org"]
    for bad in ("'unsafe-inline'", "https://a.example.com;script-src *", "https://a b"):
        monkeypatch.setenv("CHATLAB_CSP_IMG_SRC", bad)
        with pytest.raises(ImproperlyConfigured, match="CHATLAB_CSP_IMG_SRC"):
            csp_settings._sources("CHATLAB_CSP_IMG_SRC")
