"""Image backends: the OpenAI images API through the official SDK, and the offline demo."""

from __future__ import annotations

import base64
import binascii
import hashlib
import io
import random
import textwrap
import threading
from dataclasses import dataclass
from typing import Protocol

import openai
from django.conf import settings
from PIL import Image, ImageDraw, ImageFont

from conversations.providers.base import ProviderError
from conversations.providers.openai_compat import ssl_context, translate

from .. import catalog
from ..models import ImageJob
from .fetch import fetch_image_url


@dataclass(frozen=True)
class ImageResult:
    data: bytes
    revised_prompt: str = ""


class ImageBackend(Protocol):
    def generate(self, job: ImageJob) -> list[ImageResult]: ...


def backend_for(job: ImageJob) -> ImageBackend:
    provider = job.provider
    if provider is None or provider.kind == provider.Kind.DEMO:
        return DemoImageBackend()
    return OpenAIImageBackend(base_url=provider.base_url, api_key=provider.api_key,
                              max_retries=provider.max_retries)


# One sync client per endpoint per process (thread-safe; one SSL context and pool for all).
_clients: dict[tuple[object, ...], openai.OpenAI] = {}
_clients_lock = threading.Lock()


def client_for(*, base_url: str, api_key: str, timeout: float, max_retries: int) -> openai.OpenAI:
    key = (base_url, api_key, timeout, max_retries)
    with _clients_lock:
        client = _clients.get(key)
        if client is None:
            client = _clients[key] = openai.OpenAI(
                api_key=api_key or "not-needed", base_url=base_url or None,
                timeout=openai.Timeout(timeout, connect=min(timeout, 10.0)),
                max_retries=max_retries,
                http_client=openai.DefaultHttpxClient(verify=ssl_context()),
            )
    return client


class OpenAIImageBackend:
    def __init__(self, *, base_url: str, api_key: str, max_retries: int) -> None:
        self.timeout = float(settings.CHATLAB_IMAGE_TIMEOUT)
        self.client = client_for(base_url=base_url, api_key=api_key, timeout=self.timeout,
                                 max_retries=max_retries)

    def generate(self, job: ImageJob) -> list[ImageResult]:
        spec = catalog.spec_for(job.model)
        extra: dict[str, object] = {}
        if job.quality:
            extra["quality"] = job.quality
        if spec.response_format:
            extra["response_format"] = "b64_json"
        try:
            response = self.client.images.generate(
                model=job.model, prompt=job.prompt, n=job.count,
                size=job.size, **extra,  # type: ignore[arg-type]
            )
        except openai.BadRequestError as exc:
            raise _refusal(exc, job) from exc
        except openai.APIError as exc:
            raise translate(exc) from exc
        items = list(response.data or [])
        if not items:
            raise not_an_image("no images in the answer")
        results = []
        for item in items[: job.count]:
            if item.b64_json:
                data = _decode(item.b64_json)
            elif item.url:
                data = fetch_image_url(item.url, timeout=self.timeout,
                                       max_bytes=settings.CHATLAB_IMAGE_MAX_BYTES)
            else:
                raise not_an_image("an item with neither b64_json nor url")
            results.append(ImageResult(data=data, revised_prompt=item.revised_prompt or ""))
        return results


def not_an_image(detail: str) -> ProviderError:
    return ProviderError("The provider's answer was not an image.", code="not_an_image",
                         detail=detail)


def _decode(b64: str) -> bytes:
    try:
        return base64.b64decode(b64, validate=True)
    except (binascii.Error, ValueError):
        raise not_an_image("b64_json is not base64") from None


def _refusal(exc: openai.BadRequestError, job: ImageJob) -> ProviderError:
    body = exc.body if isinstance(exc.body, dict) else {}
    code = str(body.get("code") or exc.code or "")
    message = str(body.get("message") or exc.message)[:300]
    if code in ("content_policy_violation", "moderation_blocked"):
        return ProviderError(
            "The provider refused this prompt under its content policy. Try describing the "
            "picture differently.", code="content_policy", detail=message)
    if (body.get("param") or exc.param) == "size" or "size" in message.lower():
        return ProviderError(f"The provider does not offer the size {job.size} for {job.model}.",
                             code="bad_size", detail=message)
    return ProviderError(f"The provider rejected the request: {message}", code="bad_request",
                         detail=message)


class DemoImageBackend:
    """Draws a labelled abstract picture from the prompt: same prompt, same picture."""

    def generate(self, job: ImageJob) -> list[ImageResult]:
        width, height = (int(n) for n in job.size.split("x"))
        return [ImageResult(data=draw_demo(job.prompt, width, height, variant=i))
                for i in range(job.count)]


def draw_demo(prompt: str, width: int, height: int, *, variant: int = 0) -> bytes:
    seed = int.from_bytes(hashlib.sha256(f"{variant}:{prompt}".encode()).digest()[:8], "big")
    rng = random.Random(seed)
    top = tuple(rng.randrange(40, 200) for _ in range(3))
    bottom = tuple(rng.randrange(40, 200) for _ in range(3))
    image = Image.new("RGB", (width, height))
    draw = ImageDraw.Draw(image)
    for y in range(height):
        t = y / max(height - 1, 1)
        draw.line([(0, y), (width, y)],
                  fill=tuple(int(a + (b - a) * t) for a, b in zip(top, bottom, strict=True)))
    for _ in range(rng.randrange(5, 12)):
        x, y = rng.randrange(width), rng.randrange(height)
        r = rng.randrange(min(width, height) // 12, min(width, height) // 3)
        colour = tuple(rng.randrange(256) for _ in range(3))
        if rng.random() < 0.5:
            draw.ellipse([x - r, y - r, x + r, y + r], fill=colour)
        else:
            draw.rectangle([x - r, y - r // 2, x + r, y + r // 2], fill=colour)
    font = ImageFont.load_default(size=max(14, width // 28))
    lines = textwrap.wrap(" ".join(prompt.split())[:200], width=max(16, width // 18))[:5]
    text = "\n".join(["Demo image"] + lines)
    box = draw.multiline_textbbox((0, 0), text, font=font)
    pad = 12
    draw.rectangle([0, height - (box[3] - box[1]) - 3 * pad, width, height], fill=(0, 0, 0))
    draw.multiline_text((pad, height - (box[3] - box[1]) - 2 * pad), text, font=font,
                        fill=(255, 255, 255))
    out = io.BytesIO()
    image.save(out, format="PNG", optimize=False)
    return out.getvalue()
