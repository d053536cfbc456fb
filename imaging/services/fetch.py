"""Fetching an image a provider answered with as a URL, without letting that URL reach inside.

The URL, and every redirect it leads to, must resolve to public addresses only: loopback,
private, link-local (cloud metadata), shared, reserved and multicast ranges are refused before
any byte is sent. The connection goes to the address that was checked (the host name is kept
for the Host header and TLS), so a second DNS answer cannot swap in a private address.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable
from urllib.parse import urljoin, urlsplit, urlunsplit

import httpx
from django.conf import settings
from django.utils.translation import gettext_noop

from conversations.providers.base import ProviderError
from conversations.providers.openai_compat import ssl_context

MAX_REDIRECTS = 3

Resolver = Callable[[str, int], list[str]]


def refused(reason: str) -> ProviderError:
    return ProviderError("The provider answered with an image address Chatlab will not fetch.",
                         code="unsafe_url", detail=reason)


def resolve(host: str, port: int) -> list[str]:
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError as exc:
        raise refused(f"cannot resolve {host}: {exc}") from None
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def address_allowed(host: str, address: str) -> bool:
    """Public addresses only, unless the host is listed in IMAGING_FETCH_PRIVATE_HOSTS (tests)."""
    if host.lower() in {h.lower() for h in settings.IMAGING_FETCH_PRIVATE_HOSTS}:
        return True
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


def checked_address(url: str, resolver: Resolver = resolve) -> tuple[str, str, int, str]:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise refused(f"not an http(s) URL: {url[:200]}")
    if parts.username or parts.password:
        raise refused("credentials in the URL")
    host = parts.hostname
    port = parts.port or (443 if parts.scheme == "https" else 80)
    addresses = resolver(host, port)
    if not addresses:
        raise refused(f"{host} has no address")
    bad = [a for a in addresses if not address_allowed(host, a)]
    if bad:
        raise refused(f"{host} resolves to a non-public address {bad[0]}")
    return parts.scheme, host, port, addresses[0]


def fetch_image_url(url: str, *, timeout: float, max_bytes: int,
                    resolver: Resolver = resolve) -> bytes:
    for _ in range(MAX_REDIRECTS + 1):
        scheme, host, port, address = checked_address(url, resolver)
        parts = urlsplit(url)
        literal = f"[{address}]" if ":" in address else address
        pinned = urlunsplit((scheme, f"{literal}:{port}", parts.path or "/", parts.query, ""))
        host_header = host if parts.port is None else f"{host}:{port}"
        extensions = {"sni_hostname": host} if scheme == "https" else {}
        try:
            with httpx.Client(verify=ssl_context(), timeout=timeout, follow_redirects=False,
                              trust_env=False) as client:
                with client.stream("GET", pinned, headers={"Host": host_header},
                                   extensions=extensions) as response:
                    if response.is_redirect:
                        location = response.headers.get("location", "")
                        url = urljoin(url, location)
                        continue
                    if response.status_code != 200:
                        raise ProviderError(gettext_noop("The provider's image could not be downloaded."),
                                            code="download_failed", retryable=True,
                                            detail=f"HTTP {response.status_code}")
                    data = bytearray()
                    for chunk in response.iter_bytes():
                        data += chunk
                        if len(data) > max_bytes:
                            raise ProviderError(gettext_noop("The provider's image is too large."),
                                                code="too_large")
                    return bytes(data)
        except httpx.TimeoutException:
            raise ProviderError(gettext_noop("The provider's image did not download in time."),
                                code="timeout", retryable=True) from None
        except httpx.HTTPError as exc:
            raise ProviderError(gettext_noop("The provider's image could not be downloaded."),
                                code="download_failed", retryable=True,
                                detail=str(exc)[:300]) from None
    raise refused("too many redirects")
