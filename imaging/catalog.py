"""What each image model accepts, as OpenAI documents it. An admin may narrow it per model."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ModelSpec:
    sizes: tuple[str, ...]
    qualities: tuple[str, ...]
    max_count: int
    # DALL-E models take response_format; gpt-image models always answer base64 and refuse it.
    response_format: bool = True


SPECS: dict[str, ModelSpec] = {
    "gpt-image": ModelSpec(("1024x1024", "1536x1024", "1024x1536", "auto"),
                           ("auto", "low", "medium", "high"), 10, response_format=False),
    "dall-e-3": ModelSpec(("1024x1024", "1792x1024", "1024x1792"), ("standard", "hd"), 1),
    "dall-e-2": ModelSpec(("1024x1024", "512x512", "256x256"), ("standard",), 10),
}
DEMO = ModelSpec(("512x512", "768x512", "512x768", "1024x1024"), ("standard",), 4,
                 response_format=False)
# Another OpenAI-compatible server (LocalAI, a proxy): the one size everyone accepts.
OTHER = ModelSpec(("1024x1024",), ("",), 1)


def spec_for(model: str, *, demo: bool = False) -> ModelSpec:
    if demo:
        return DEMO
    for prefix, spec in SPECS.items():
        if model.startswith(prefix):
            return spec
    return OTHER
