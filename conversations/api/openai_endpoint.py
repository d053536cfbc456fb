"""The OpenAI-compatible endpoint: POST /v1/chat/completions and GET /v1/models.

Any OpenAI client (the official SDKs, curl, tools built on them) reaches Chatlab with
``base_url=<site>/v1`` and a personal API token as its key; model names are bot slugs. Each call
is one reply of the one pipeline: the role, quotas, the bot's system prompt and its output cap
apply, and the last user message and the reply are stored in a conversation of their own, so
usage counts like any other. The reply runs on this process's event loop, detached from the
request: a client that disconnects does not stop it. Errors use OpenAI's shape,
``{"error": {"message", "type", "param", "code"}}``, so the SDKs raise their usual exceptions.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from asgiref.sync import sync_to_async
from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, HttpResponse, JsonResponse, StreamingHttpResponse
from django.views.decorators.csrf import csrf_exempt

from accounts.models import RolePolicy, User
from accounts.permissions import api_access_allowed
from accounts.roles import policy_for
from accounts.services.quotas import reply_token_cap
from accounts.services.tokens import api_token_authenticate
from conversations import selectors
from conversations.db_threads import releasing
from conversations.models import Bot, Channel, Message
from conversations.services.errors import ChatError
from conversations.services.generation import LiveReply
from conversations.services.messages import message_send
from conversations.services.runner import runner

from .openai_request import OpenAIError, Params, invalid, parse


# Authentication -------------------------------------------------------------------------------

def _authenticate(request: HttpRequest) -> tuple[User, RolePolicy | None]:
    scheme, _, raw = request.headers.get("Authorization", "").partition(" ")
    challenge = {"WWW-Authenticate": 'Bearer realm="chatlab"'}
    if scheme.lower() != "bearer" or not raw.strip():
        raise OpenAIError(401, "You didn't provide an API key. Send a personal API token as "
                          "'Authorization: Bearer chl_...' (made on your profile page).",
                          code="missing_api_key", headers=challenge)
    user = api_token_authenticate(raw.strip())
    if user is None:
        raise OpenAIError(401, "Incorrect API key provided: the token is invalid or revoked.",
                          code="invalid_api_key", headers=challenge)
    policy = policy_for(user)
    if not api_access_allowed(user, policy):
        raise OpenAIError(403, "Your role does not include API access.",
                          code="api_access_denied")
    return user, policy


# One call --------------------------------------------------------------------------------------

@dataclass
class Call:
    params: Params
    conversation_id: str
    reply_id: str
    created: int
    cap: int  # the reply's token limit: the request's, the bot's and the role's, whichever least
    reply: Message  # as stored, with its conversation, bot and owner: the runner need not read it
    policy: RolePolicy | None

    @property
    def completion_id(self) -> str:
        return "chatcmpl-" + self.reply_id.replace("-", "")


def _chat_error(exc: ChatError, model: str) -> OpenAIError:
    if exc.code == "quota":
        return OpenAIError(429, exc.message, type="insufficient_quota", code="insufficient_quota",
                           headers={"Retry-After": str(exc.retry_after or 60),
                                    # Retrying before the allowance renews cannot help.
                                    "x-should-retry": "false"})
    if exc.code in ("unknown_bot", "no_bot"):
        return OpenAIError(404, f"The model '{model}' does not exist or you do not have access "
                           "to it. GET /v1/models lists the bots you may use.",
                           code="model_not_found", param="model")
    param = "messages" if exc.code in ("empty", "too_long", "invalid") else None
    kind = "server_error" if exc.status >= 500 else "invalid_request_error"
    return OpenAIError(exc.status, exc.message, type=kind, code=exc.code, param=param)


def _open_call(request: HttpRequest) -> Call:
    """Authenticates, validates and stores the user's message and the reply: one thread hop."""
    user, policy = _authenticate(request)
    try:
        body = json.loads(request.body)
    except RequestDataTooBig:
        raise OpenAIError(413, "The request body is too large.", code="too_large") from None
    except ValueError:
        raise invalid("We could not parse the JSON body of your request.") from None
    except RecursionError:
        raise invalid("We could not parse the JSON body of your request: it is nested too "
                      "deeply.") from None
    params = parse(body)
    try:
        sent = message_send(user=user, content=params.last_user, bot_slug=params.model,
                            reply_status=Message.Status.STREAMING, channel=Channel.OPENAI)
    except ChatError as exc:
        raise _chat_error(exc, params.model) from None
    cap = reply_token_cap(policy, sent.conversation.bot.max_output_tokens)
    return Call(params=params, conversation_id=str(sent.conversation.pk),
                reply_id=str(sent.reply.pk), created=int(sent.reply.created_at.timestamp()),
                cap=min(cap, params.max_tokens or cap), reply=sent.reply, policy=sent.policy)


class QueueSink:
    """The runner's direct sink for this request: events arrive in order on a queue."""

    def __init__(self, keep: bool) -> None:
        self.channel_name = f"v1.{uuid.uuid4().hex}"
        self.keep = keep
        self.queue: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue()

    async def deliver(self, event: dict[str, Any]) -> None:
        if self.keep:
            self.queue.put_nowait(event)


async def _start(request: HttpRequest) -> tuple[Call, QueueSink, LiveReply]:
    call = await sync_to_async(releasing(_open_call))(request)
    # A direct sink even without streaming: nobody else follows this reply, so it then costs
    # no channel-layer traffic.
    sink = QueueSink(keep=call.params.stream)
    live = runner().start(call.reply_id, call.conversation_id, direct=sink,
                          history=call.params.history, reply=call.reply, policy=call.policy)
    return call, sink, live


@csrf_exempt
async def chat_completions(request: HttpRequest) -> HttpResponse:
    if request.method != "POST":
        return OpenAIError(405, "Use POST.", code="method_not_allowed",
                           headers={"Allow": "POST"}).response()
    try:
        # Shielded: once the messages are stored, the reply must start even if the client
        # has already gone away.
        call, sink, live = await asyncio.shield(_start(request))
    except OpenAIError as exc:
        return exc.response()
    if call.params.stream:
        assert live.task is not None
        live.task.add_done_callback(lambda _: sink.queue.put_nowait(None))
        response = StreamingHttpResponse(_chunks(call, sink, live),
                                         content_type="text/event-stream")
        response["Cache-Control"] = "no-cache"
        response["X-Accel-Buffering"] = "no"
        return response
    if live.task is not None:
        await asyncio.shield(live.task)  # a client that leaves does not stop the reply
    reply = await Message.objects.aget(pk=call.reply_id)
    if reply.status == Message.Status.FAILED:
        return _reply_failed(reply.error).response()
    return JsonResponse(_completion(call, reply))


def _reply_failed(message: str) -> OpenAIError:
    return OpenAIError(502, message or "The reply failed.", type="server_error",
                       code="upstream_error", headers={"x-should-retry": "false"})


def _finish_reason(call: Call, completion_tokens: int | None) -> str:
    return "length" if completion_tokens is not None and completion_tokens >= call.cap else "stop"


def _usage(prompt: int | None, completion: int | None,
           reasoning: int | None = None) -> dict[str, Any]:
    prompt, completion = prompt or 0, completion or 0
    usage: dict[str, Any] = {"prompt_tokens": prompt, "completion_tokens": completion,
                             "total_tokens": prompt + completion}
    if reasoning is not None:  # part of completion_tokens, as OpenAI reports it
        usage["completion_tokens_details"] = {"reasoning_tokens": reasoning}
    return usage


def _completion(call: Call, reply: Message) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": reply.content, "refusal": None}
    if reply.reasoning:
        # The field DeepSeek-R1 servers (vLLM, Ollama, LM Studio) use; SDKs keep it as extra.
        message["reasoning_content"] = reply.reasoning
    return {
        "id": call.completion_id, "object": "chat.completion", "created": call.created,
        "model": call.params.model, "system_fingerprint": None,
        "choices": [{"index": 0, "logprobs": None, "message": message,
                     "finish_reason": _finish_reason(call, reply.completion_tokens)}],
        "usage": _usage(reply.prompt_tokens, reply.completion_tokens, reply.reasoning_tokens),
    }


def _data(payload: dict[str, Any]) -> bytes:
    return f"data: {json.dumps(payload, ensure_ascii=False, separators=(',', ':'))}\n\n".encode()


async def _chunks(call: Call, sink: QueueSink, live: LiveReply) -> AsyncIterator[bytes]:
    def chunk(delta: dict[str, Any], finish: str | None = None) -> bytes:
        body: dict[str, Any] = {
            "id": call.completion_id, "object": "chat.completion.chunk", "created": call.created,
            "model": call.params.model, "system_fingerprint": None,
            "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}],
        }
        if call.params.include_usage:
            body["usage"] = None
        return _data(body)

    try:
        yield chunk({"role": "assistant", "content": ""})
        while (event := await sink.queue.get()) is not None:
            if event.get("kind") == "delta":
                if event.get("reasoning"):
                    # Its own chunk, before the frame's text: clients that show reasoning_content
                    # (as from DeepSeek-R1 servers) expect it apart from the content.
                    yield chunk({"reasoning_content": event["reasoning"]})
                if event["text"]:
                    yield chunk({"content": event["text"]})
            elif event.get("kind") == "done":
                break
        # The done event, or (should the reply end without one) the saved message.
        final = event["message"] if event is not None else await _saved(call.reply_id)
        if final["status"] == Message.Status.FAILED:
            error = _reply_failed(final["error"])
            yield _data({"error": {"message": error.message, "type": error.type,
                                   "param": None, "code": error.code}})
            return
        yield chunk({}, _finish_reason(call, final["completion_tokens"]))
        if call.params.include_usage:
            yield _data({"id": call.completion_id, "object": "chat.completion.chunk",
                         "created": call.created, "model": call.params.model,
                         "system_fingerprint": None, "choices": [],
                         "usage": _usage(final["prompt_tokens"], final["completion_tokens"],
                                         final.get("reasoning_tokens"))})
        yield b"data: [DONE]\n\n"
    finally:
        # The client may have left: the reply goes on, to the conversation's group only.
        runner().detach(sink.channel_name)


async def _saved(reply_id: str) -> dict[str, Any]:
    reply = await Message.objects.aget(pk=reply_id)
    return {"status": reply.status, "error": reply.error or "The reply was interrupted.",
            "prompt_tokens": reply.prompt_tokens, "completion_tokens": reply.completion_tokens,
            "reasoning_tokens": reply.reasoning_tokens}


# Models ----------------------------------------------------------------------------------------

def _model(bot: Bot) -> dict[str, Any]:
    return {"id": bot.slug, "object": "model", "created": int(bot.created_at.timestamp()),
            "owned_by": "chatlab"}


def _list_models(request: HttpRequest, slug: str | None) -> dict[str, Any]:
    user, policy = _authenticate(request)
    bots = selectors.bots_for(user, policy)
    if slug is None:
        return {"object": "list", "data": [_model(bot) for bot in bots]}
    bot = bots.filter(slug=slug).first()
    if bot is None:
        raise OpenAIError(404, f"The model '{slug}' does not exist or you do not have access "
                          "to it.", code="model_not_found", param="model")
    return _model(bot)


async def models(request: HttpRequest, model: str | None = None) -> HttpResponse:
    if request.method != "GET":
        return OpenAIError(405, "Use GET.", code="method_not_allowed",
                           headers={"Allow": "GET"}).response()
    try:
        return JsonResponse(await sync_to_async(releasing(_list_models))(request, model))
    except OpenAIError as exc:
        return exc.response()


def not_found(request: HttpRequest) -> JsonResponse:
    return OpenAIError(404, f"Unknown path {request.path}: Chatlab offers /v1/chat/completions "
                       "and /v1/models.", code="unknown_url").response()
