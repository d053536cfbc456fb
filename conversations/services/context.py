"""What the model sees for one reply: the system prompt, the rolling summary of older turns and
as much recent history as fits the bot's context window with room for the reply."""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import lru_cache

from django.conf import settings
from django.core.cache import cache
from django.db import transaction

from accounts.models import RolePolicy
from accounts.roles import policy_for
from accounts.services.quotas import reply_token_cap
from conversations.models import Message
from conversations.providers import ChatRequest
from conversations.providers.capabilities import bot_capabilities

from . import tokens
from .background import run_soon
from .bot_texts import bot_system_prompt
from .language import language_name, message_language

# Token counting (tiktoken when its encoding is on this machine, else a stated conservative
# estimate) lives in tokens.py; these names stay for callers that used them.
CHARS_PER_TOKEN = tokens.CHARS_PER_TOKEN
MESSAGE_OVERHEAD_TOKENS = tokens.MESSAGE_OVERHEAD_TOKENS
# History beyond this many messages is never read for one reply; the summary stands for it.
HISTORY_ROWS = 500
SUMMARY_PREFIX = "Summary of the earlier part of this conversation:\n"
# A summary is asked for at most once per conversation in this many seconds.
SUMMARY_REQUEST_SECONDS = 300


def estimate_tokens(text: str) -> int:
    return tokens.estimate(text) + MESSAGE_OVERHEAD_TOKENS


@lru_cache(maxsize=64)
def counter_for(model: str) -> tokens.TokenCounter:
    return tokens.TokenCounter(model)


class CallerHistory(list[dict[str, str]]):
    """Messages a caller brings (the OpenAI-compatible endpoint) with its own sampling options:
    max_tokens can only lower the bot's and role's cap; temperature and reasoning effort replace
    the bot's where its model takes them."""

    def __init__(
        self,
        messages: list[dict[str, str]],
        *,
        max_tokens: int | None = None,
        temperature: float | None = None,
        reasoning_effort: str | None = None,
    ) -> None:
        super().__init__(messages)
        self.max_tokens = max_tokens
        self.temperature = temperature
        self.reasoning_effort = reasoning_effort


def build_request(
    reply: Message,
    history: list[dict[str, str]] | None = None,
    policy: RolePolicy | None = None,
) -> ChatRequest:
    """System prompt, rolling summary and the newest messages that fit the bot's window.

    Reads the history once (or takes the one given: then no query at all), and guarantees
    prompt tokens + max_tokens <= the bot's context window by the counter in use. When stored
    turns had to be left out, a summary of them is asked for (Celery, queue `maintenance`).
    """
    conversation = reply.conversation
    bot = conversation.bot
    policy = policy or policy_for(conversation.owner)
    max_tokens = reply_token_cap(policy, bot.max_output_tokens)
    temperature = bot.temperature
    capabilities = bot_capabilities(bot)
    if isinstance(history, CallerHistory):
        max_tokens = min(max_tokens, history.max_tokens or max_tokens)
        temperature = bot.temperature if history.temperature is None else history.temperature
        if history.reasoning_effort and capabilities.reasoning_effort:
            capabilities = replace(capabilities, reasoning_effort=history.reasoning_effort)
    rows = _history_rows(reply, history)
    # A pure function of the newest user text and the conversation's language, so the early
    # start (before the store) and the stored reply plan the same request.
    language = message_language(
        next((content for role, content in rows if role == "user"), ""),
        conversation.language,
        # Only a conversation with no language yet (its first message) needs the person's;
        # its owner is already at hand there (the send and the early start set it).
        "" if conversation.language else conversation.owner.language,
    )
    plan = plan_context(
        counter_for(bot.model),
        window=bot.context_window,
        max_tokens=max_tokens,
        system_prompt=bot_system_prompt(bot, language),
        summary=conversation.summary if history is None else "",
        newest_first=rows,
        language_line=language_instruction(language),
    )
    if plan.dropped and history is None:
        request_summary(conversation.pk)
    if history is None and settings.CHATLAB_AUTO_TITLES and _first_exchange_just_done(rows):
        from .titles import is_automatic, request_title

        if is_automatic(conversation.title, rows[-1][1]):
            request_title(conversation.pk)
    return ChatRequest(
        model=bot.model,
        messages=plan.messages,
        temperature=temperature,
        max_tokens=plan.max_tokens,
        language=language,
        capabilities=capabilities,
        bot_id=bot.pk,
        # Shown and stored apart from the answer; _history_rows never sends it back.
        want_reasoning=True,
    )


def language_instruction(language: str) -> str:
    name = language_name(language)
    return (
        f"Answer in {name} ({language}), the language of the user's last message, "
        "unless the user asks for another language."
    )


@dataclass
class ContextPlan:
    messages: list[dict[str, str]]
    max_tokens: int
    prompt_tokens: int
    # True when older messages were left out for lack of room.
    dropped: bool


def plan_context(
    counter: tokens.TokenCounter,
    *,
    window: int,
    max_tokens: int,
    system_prompt: str,
    summary: str,
    newest_first: list[tuple[str, str]],
    language_line: str = "",
) -> ContextPlan:
    # The system prompt may take a quarter of the window at most, and the reply gives way so
    # that another quarter is left for the conversation itself.
    system_text = counter.keep_start(system_prompt, window // 4 - MESSAGE_OVERHEAD_TOKENS)
    system = [{"role": "system", "content": system_text}] if system_text else []
    # After the bot's own prompt, which stays first.
    if language_line:
        system.append({"role": "system", "content": language_line})
    used = tokens.REPLY_PRIMING_TOKENS + sum(counter.message(m["content"]) for m in system)
    max_tokens = max(1, min(max_tokens, window - used - window // 4))
    budget = window - max_tokens - used
    if summary and budget > MESSAGE_OVERHEAD_TOKENS:
        text = SUMMARY_PREFIX + summary
        text = counter.keep_start(text, budget // 3 - MESSAGE_OVERHEAD_TOKENS)
        if text:
            system.append({"role": "system", "content": text})
            budget -= counter.message(text)
            used += counter.message(text)
    kept: list[dict[str, str]] = []
    dropped = len(newest_first) >= HISTORY_ROWS
    for index, (role, content) in enumerate(newest_first):
        cost = counter.message(content)
        if cost > budget:
            if not kept:
                # The newest message alone is too long: send its end, which holds the ask.
                part = counter.keep_end(content, budget - MESSAGE_OVERHEAD_TOKENS)
                kept.append({"role": role, "content": part})
                budget -= counter.message(part)
            dropped = dropped or index + 1 < len(newest_first)
            break
        kept.append({"role": role, "content": content})
        budget -= cost
    kept.reverse()
    return ContextPlan(system + kept, max_tokens, window - max_tokens - budget, dropped)


def _first_exchange_just_done(newest_first: list[tuple[str, str]]) -> bool:
    # The second message of a conversation is being answered: its first exchange is complete.
    return [role for role, _ in newest_first] == ["user", "assistant", "user"]


def _history_rows(reply: Message, history: list[dict[str, str]] | None) -> list[tuple[str, str]]:
    if history is not None:
        return [(m["role"], m["content"]) for m in reversed(history)]
    conversation = reply.conversation
    rows = (
        Message.objects.filter(
            conversation=conversation,
            superseded_at__isnull=True,
            created_at__lte=reply.created_at,
        )
        .exclude(pk=reply.pk)
        .exclude(role=Message.Role.ASSISTANT, content="")
    )
    if conversation.summary_through is not None:
        rows = rows.filter(created_at__gt=conversation.summary_through)
    # The content alone: a reply's reasoning (Message.reasoning) is never context.
    return list(rows.order_by("-created_at").values_list("role", "content")[:HISTORY_ROWS])


def request_summary(conversation_id: object) -> None:
    """Asks the maintenance queue for a summary of the turns that no longer fit."""
    if not cache.add(f"chatlab:summary-asked:{conversation_id}", 1, SUMMARY_REQUEST_SECONDS):
        return
    from conversations.tasks import summarise_conversation

    transaction.on_commit(lambda: run_soon(summarise_conversation, str(conversation_id)))
