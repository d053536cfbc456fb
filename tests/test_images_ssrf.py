"""A provider's image URL is fetched only from public addresses: never loopback, private,
link-local or other inside ranges, nor through a redirect to one."""

from __future__ import annotations

import json
from urllib.parse import quote

import pytest

from conversations.providers.base import ProviderError
from imaging.services.fetch import address_allowed, checked_address, fetch_image_url
from tests.fakes.openai_server import Behaviour
from tests.images_support import (  # noqa: F401
    _images_inline, dalle2, fake_provider, picture,
)


@pytest.mark.parametrize("address", [
    "127.0.0.1", "127.8.9.10", "10.0.0.1", "172.16.5.4", "192.168.1.1", "169.254.169.254",
    "100.64.0.1", "0.0.0.0", "224.0.0.1", "::1", "fe80::1", "fc00::1", "::ffff:127.0.0.1",
    "::ffff:10.1.2.3", "240.0.0.1",
])
def test_inside_addresses_are_refused(settings, address):
    settings.IMAGING_FETCH_PRIVATE_HOSTS = []
    assert not address_allowed("images.example.com", address)


@pytest.mark.parametrize("address", ["8.8.8.8", "151.101.1.1", "2606:4700::1111"])
def test_public_addresses_are_allowed(settings, address):
    settings.IMAGING_FETCH_PRIVATE_HOSTS = []
    assert address_allowed("images.example.com", address)


def test_the_production_default_lists_no_private_hosts():
    from chatlab_site.settings import storage

    assert storage.IMAGING_FETCH_PRIVATE_HOSTS == []


def test_a_name_that_resolves_inside_is_refused_before_connecting(settings):
    settings.IMAGING_FETCH_PRIVATE_HOSTS = []
    with pytest.raises(ProviderError) as refused:
        checked_address("https://cdn.example.com/x.png",
                        resolver=lambda host, port: ["93.184.216.34", "10.0.0.7"])
    assert refused.value.code == "unsafe_url"
    for url in ("file:///etc/passwd", "ftp://example.com/x.png", "http://user:pw@example.com/x",
                "gopher://127.0.0.1/"):
        with pytest.raises(ProviderError):
            checked_address(url, resolver=lambda host, port: ["93.184.216.34"])


def test_the_fetch_connects_to_the_checked_address_only(settings, fake_openai):
    # A name the "DNS" maps to the fake (allowed for this test) is fetched from that address,
    # with the name kept for the Host header.
    settings.IMAGING_FETCH_PRIVATE_HOSTS = ["images.test"]
    url = f"http://images.test:{fake_openai.port}/_fake/images/64x64-0.png"
    data = fetch_image_url(url, timeout=5, max_bytes=1_000_000,
                           resolver=lambda host, port: ["127.0.0.1"])
    assert picture(data).size == (8, 8)
    with pytest.raises(ProviderError) as too_big:
        fetch_image_url(url, timeout=5, max_bytes=10, resolver=lambda host, port: ["127.0.0.1"])
    assert too_big.value.code == "too_large"


def job_with_url(client, fake_openai, url):
    fake_openai.script_images(Behaviour(image_url=url))
    response = client.post("/api/v1/images/jobs/", content_type="application/json",
                           data=json.dumps({"prompt": "a cat", "model": "dall-e-2"}))
    return response.json()


@pytest.mark.django_db
@pytest.mark.parametrize("target", [
    "http://127.0.0.1:{port}/_fake/images/64x64-0.png",
    "http://localhost:{port}/_fake/images/64x64-0.png",
    "http://169.254.169.254/latest/meta-data/iam/security-credentials/",
    "http://10.0.0.1/image.png",
    "http://[::1]:{port}/_fake/images/64x64-0.png",
])
def test_image_urls_pointing_inside_are_not_fetched(logged_in, dalle2, fake_openai, target):
    job = job_with_url(logged_in, fake_openai, target.format(port=fake_openai.port))
    assert job["status"] == "failed" and job["error_code"] == "unsafe_url", job
    assert job["error"] == "The provider answered with an image address Chatlab will not fetch."
    assert fake_openai.image_downloads == []  # nothing was fetched


@pytest.mark.django_db
def test_a_permitted_url_is_fetched_and_stored(logged_in, dalle2, fake_openai, settings):
    settings.IMAGING_FETCH_PRIVATE_HOSTS = ["127.0.0.1"]
    job = job_with_url(logged_in, fake_openai,
                       f"http://127.0.0.1:{fake_openai.port}/_fake/images/256x256-1.png")
    assert job["status"] == "done", job
    assert fake_openai.image_downloads == ["/_fake/images/256x256-1.png"]
    assert job["images"][0]["width"] == 32


@pytest.mark.django_db
@pytest.mark.parametrize("inside", ["http://10.0.0.1/x.png", "http://169.254.169.254/",
                                    "http://localhost:{port}/_fake/images/64x64-0.png"])
def test_a_redirect_to_an_inside_address_is_not_followed(logged_in, dalle2, fake_openai, settings,
                                                          inside):
    settings.IMAGING_FETCH_PRIVATE_HOSTS = ["127.0.0.1"]  # the first hop only
    to = quote(inside.format(port=fake_openai.port), safe="")
    job = job_with_url(logged_in, fake_openai,
                       f"http://127.0.0.1:{fake_openai.port}/_fake/redirect?to={to}")
    assert job["status"] == "failed" and job["error_code"] == "unsafe_url", job
    assert len(fake_openai.image_downloads) == 1  # the redirect itself, not its target
    assert fake_openai.image_downloads[0].startswith("/_fake/redirect")
