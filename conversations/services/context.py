"""What the model sees for one reply: the system prompt and as much recent history as fits."""

from __future__ import annotations

from accounts.models import RolePolicy
from accounts.roles import policy_for
from accounts.services.quotas import reply_token_cap
from conversations.models import Message
from conversations.providers import ChatRequest

# Without the model's tokenizer, a token is taken as three characters: English averages about
# four, so this errs towards sending less rather than overflowing the window.
CHARS_PER_TOKEN = 3
MESSAGE_OVERHEAD_TOKENS = 4


def estimate_tokens(text: str) -> int:
    return len(text) // CHARS_PER_TOKEN + MESSAGE_OVERHEAD_TOKENS


class CallerHistory(list[dict[str, str]]):
    """Messages a caller brings (the OpenAI-compatible endpoint) with its own sampling options:
    max_tokens can only lower the bot's and role's cap; temperature replaces the bot's."""

    def __init__(
        self,
        messages: list[dict[str, str]],
        *,
        max_tokens: int | None = None,
        temperature: float | None = None,
    ) -> None:
        super().__init__(messages)
        self.max_tokens = max_tokens
        self.temperature = temperature


def build_request(
    reply: Message,
    history: list[dict[str, str]] | None = None,
    policy: RolePolicy | None = None,
) -> ChatRequest:
    """Reads the history once (or takes the one given) and keeps the newest messages that fit
    the bot's window."""
    conversation = reply.conversation
    bot = conversation.bot
    policy = policy or policy_for(conversation.owner)
    max_tokens = reply_token_cap(policy, bot.max_output_tokens)
    temperature = bot.temperature
    if isinstance(history, CallerHistory):
        max_tokens = min(max_tokens, history.max_tokens or max_tokens)
        temperature = bot.temperature if history.temperature is None else history.temperature
    budget = bot.context_window - max_tokens
    system = [{"role": "system", "content": bot.system_prompt}] if bot.system_prompt else []
    budget -= sum(estimate_tokens(m["content"]) for m in system)

    if history is not None:
        rows = [(m["role"], m["content"]) for m in reversed(history)]
    else:
        rows = list(
            Message.objects.filter(
                conversation=conversation,
                superseded_at__isnull=True,
                created_at__lte=reply.created_at,
            )
            .exclude(pk=reply.pk)
            .exclude(role=Message.Role.ASSISTANT, content="")
            .order_by("-created_at")
            .values_list("role", "content")[:500]
        )
    kept: list[dict[str, str]] = []
    for role, content in rows:
        cost = estimate_tokens(content)
        if cost > budget:
            if not kept:
                # The newest user message alone is too long: send its end, which holds the ask.
                room = max(budget - MESSAGE_OVERHEAD_TOKENS, 0) * CHARS_PER_TOKEN
                kept.append({"role": role, "content": content[-room:] if room else ""})
            break
        kept.append({"role": role, "content": content})
        budget -= cost
    kept.reverse()
    return ChatRequest(
        model=bot.model,
        messages=system + kept,
        temperature=temperature,
        max_tokens=max_tokens,
    )
