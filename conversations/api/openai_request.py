"""What an OpenAI chat-completions request may hold, checked before anything is stored, and
errors in OpenAI's shape (so the SDKs raise their usual exceptions)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.http import JsonResponse

from conversations.providers.capabilities import REASONING_EFFORTS
from conversations.services.context import CallerHistory
from conversations.services.message_text import text_refusal

ROLES = {"system": "system", "developer": "system", "user": "user", "assistant": "assistant"}
TOOL_FIELDS = ("tools", "tool_choice", "functions", "function_call", "parallel_tool_calls")
# Accepted so that ordinary clients work, but not applied (the README says so).
IGNORED_FIELDS = ("top_p", "frequency_penalty", "presence_penalty", "seed", "stop", "user",
                  "metadata", "store", "service_tier", "logit_bias")
KNOWN_FIELDS = {"model", "messages", "stream", "stream_options", "temperature", "max_tokens",
                "max_completion_tokens", "reasoning_effort", "n", "response_format", "logprobs",
                "top_logprobs", "modalities", *TOOL_FIELDS, *IGNORED_FIELDS}


class OpenAIError(Exception):
    def __init__(self, status: int, message: str, *, type: str = "invalid_request_error",
                 code: str | None = None, param: str | None = None,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.type = status, message, type
        self.code, self.param, self.headers = code, param, headers or {}

    def response(self) -> JsonResponse:
        response = JsonResponse({"error": {"message": self.message, "type": self.type,
                                           "param": self.param, "code": self.code}},
                                status=self.status)
        for name, value in self.headers.items():
            response[name] = value
        return response


def invalid(message: str, param: str | None = None, code: str | None = None) -> OpenAIError:
    return OpenAIError(400, message, param=param, code=code)


@dataclass
class Params:
    model: str
    history: CallerHistory
    last_user: str
    stream: bool
    include_usage: bool
    max_tokens: int | None


def _number(body: dict[str, Any], name: str, low: float, high: float) -> float | None:
    value = body.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
        raise invalid(f"'{name}' must be a number from {low:g} to {high:g}.", name)
    return value


def _integer(body: dict[str, Any], name: str) -> int | None:
    value = body.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise invalid(f"'{name}' must be a positive integer.", name)
    return value


def _reasoning_effort(body: dict[str, Any]) -> str | None:
    value = body.get("reasoning_effort")
    if value is None:
        return None
    if value not in REASONING_EFFORTS:
        supported = ", ".join(f"'{e}'" for e in REASONING_EFFORTS)
        raise invalid(f"Invalid value: {value!r}. Supported values are: {supported}.",
                      "reasoning_effort", "invalid_value")
    return value


def _storable(text: str, param: str) -> str:
    """The same check as every other door's (services.message_text), in OpenAI's shape."""
    if (refusal := text_refusal(text)) is not None:
        raise invalid(refusal.message, param, "invalid_text")
    return text


def _text(content: Any, index: int) -> str:
    param = f"messages[{index}].content"
    if content is None or isinstance(content, str):
        return _storable(content or "", param)
    if not isinstance(content, list):
        raise invalid("Message content must be a string or a list of text parts.", param)
    texts = []
    for part in content:
        kind = part.get("type") if isinstance(part, dict) else None
        if kind != "text" or not isinstance(part.get("text"), str):
            raise invalid(f"Only text content is supported, not '{kind}' parts.", param,
                           "unsupported_content")
        texts.append(_storable(part["text"], param))
    return "\n".join(texts)


def _messages(raw: Any) -> list[dict[str, str]]:
    if not isinstance(raw, list) or not raw:
        raise invalid("'messages' must be a non-empty list.", "messages")
    history = []
    for i, message in enumerate(raw):
        if not isinstance(message, dict):
            raise invalid("Each message must be an object.", f"messages[{i}]")
        role = message.get("role")
        if role in ("tool", "function") or message.get("tool_calls") or message.get(
                "function_call"):
            raise invalid("Tools and function calling are not supported.", f"messages[{i}]",
                           "unsupported_parameter")
        if role not in ROLES:
            raise invalid(f"Unknown role {role!r}: use system, developer, user or assistant.",
                           f"messages[{i}].role")
        history.append({"role": ROLES[role], "content": _text(message.get("content"), i)})
    return history


def parse(body: Any) -> Params:
    if not isinstance(body, dict):
        raise invalid("The body must be a JSON object.")
    unknown = sorted(set(body) - KNOWN_FIELDS)
    if unknown:
        raise invalid(f"Unrecognized request argument supplied: {unknown[0]}", unknown[0],
                       "unknown_parameter")
    for name in TOOL_FIELDS:
        if body.get(name) not in (None, [], False):
            raise invalid("Tools and function calling are not supported by Chatlab yet.", name,
                           "unsupported_parameter")
    if body.get("n") not in (None, 1):
        raise invalid("Only n=1 is supported.", "n", "unsupported_value")
    response_format = body.get("response_format")
    if response_format is not None and (not isinstance(response_format, dict)
                                        or response_format.get("type") != "text"):
        raise invalid("Only the 'text' response format is supported.", "response_format",
                       "unsupported_value")
    if body.get("logprobs") or body.get("top_logprobs"):
        raise invalid("logprobs are not supported.", "logprobs", "unsupported_value")
    if body.get("modalities") not in (None, ["text"]):
        raise invalid("Only text output is supported.", "modalities", "unsupported_value")
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise invalid("'model' is required: the slug of a bot (see GET /v1/models).", "model")
    _storable(model, "model")  # looked up in the database and echoed in every chunk
    stream = body.get("stream")
    if stream is not None and not isinstance(stream, bool):
        raise invalid("'stream' must be true or false.", "stream")
    options = body.get("stream_options") or {}
    if not isinstance(options, dict):
        raise invalid("'stream_options' must be an object.", "stream_options")
    limits = [v for name in ("max_completion_tokens", "max_tokens")
              if (v := _integer(body, name)) is not None]
    history = _messages(body.get("messages"))
    last_user = next((m["content"] for m in reversed(history) if m["role"] == "user"), None)
    if last_user is None:
        raise invalid("The messages must include at least one user message.", "messages")
    max_tokens = min(limits) if limits else None
    return Params(
        model=model,
        history=CallerHistory(history, max_tokens=max_tokens,
                              temperature=_number(body, "temperature", 0, 2),
                              reasoning_effort=_reasoning_effort(body)),
        last_user=last_user,
        stream=bool(stream),
        include_usage=bool(options.get("include_usage")),
        max_tokens=max_tokens,
    )
