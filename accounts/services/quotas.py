"""One place that decides whether a person may send another message, and what they have left.

Every entry point (socket, REST, OpenAI endpoint, messengers) reaches it through the message
services, so a limit cannot be skipped by picking another door. Usage is counted from the
messages themselves: no counter rows to drift, and no extra write per message.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from django.db import connection
from django.db.models import BooleanField, Count, F, IntegerField, Q, QuerySet, Sum
from django.db.models.expressions import RawSQL
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.formats import number_format
from django.utils.functional import Promise, lazy
from django.utils.text import format_lazy
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext_lazy

from accounts.models import RolePolicy
from accounts.roles import policy_for


@dataclass(frozen=True)
class Usage:
    messages: int
    tokens: int
    images: int = 0


@dataclass(frozen=True)
class Allowance:
    role: str
    used: Usage
    messages_per_day: int | None
    tokens_per_day: int | None
    images_per_day: int | None
    resets_at: datetime

    def left(self, limit: int | None, used: int) -> int | None:
        return None if limit is None else max(limit - used, 0)

    @property
    def messages_left(self) -> int | None:
        return self.left(self.messages_per_day, self.used.messages)

    @property
    def tokens_left(self) -> int | None:
        return self.left(self.tokens_per_day, self.used.tokens)

    @property
    def images_left(self) -> int | None:
        return self.left(self.images_per_day, self.used.images)


# 12,000 or 12 000: grouped as the language the message is read in writes numbers.
_grouped = lazy(lambda n: number_format(n, force_grouping=True), str)


class QuotaExceeded(Exception):
    """A refused message or image; ``message`` renders its lazy translation where it is read."""

    def __init__(self, message: str | Promise, retry_after: int) -> None:
        super().__init__(message, retry_after)
        self.text = message  # as given: may be a lazy translation
        self.retry_after = retry_after  # seconds until the day's allowance resets

    @property
    def message(self) -> str:
        return str(self.text)

    def __str__(self) -> str:
        return self.message


def day_start(now: datetime | None = None) -> datetime:
    now = now or timezone.now()
    return now.replace(hour=0, minute=0, second=0, microsecond=0)


def usage_today(user: Any) -> Usage:
    return usage_today_many([user])[user.pk]


def usage_today_many(users: list[Any]) -> dict[Any, Usage]:
    """Today's usage of many people in one query (for a batch of sends)."""
    from conversations.models import Message

    owner = _owner_column()
    rows = (
        _todays_messages([u.pk for u in users])
        .values(owner=owner)
        .annotate(
            messages=Count("pk", filter=Q(role=Message.Role.USER)),
            tokens=Coalesce(Sum("prompt_tokens"), 0) + Coalesce(Sum("completion_tokens"), 0),
        )
    )
    found = {row["owner"]: Usage(row["messages"], row["tokens"]) for row in rows}
    return {u.pk: found.get(u.pk, Usage(0, 0)) for u in users}


def _owner_column() -> Any:
    # On PostgreSQL each message carries its owner (conversations migration 0010, kept by
    # triggers), and (owner_id, created_at) is indexed: a person's day is one index range
    # whatever the number of their conversations, where the join probed every one of them.
    if connection.vendor == "postgresql":
        return RawSQL('"conversations_message"."owner_id"', [], output_field=IntegerField())
    return F("conversation__owner")


def _todays_messages(owner_ids: list[Any]) -> QuerySet[Any]:
    from conversations.models import Message

    today = Message.objects.filter(created_at__gte=day_start(), imported=False)
    if connection.vendor == "postgresql":
        mine = RawSQL('"conversations_message"."owner_id" = ANY(%s::bigint[])', [owner_ids],
                      output_field=BooleanField())
        return today.filter(mine)
    return today.filter(conversation__owner__in=owner_ids)


def allowance_for(
    user: Any,
    policy: RolePolicy | None = None,
    usage: Usage | None = None,
    *,
    with_images: bool = False,
) -> Allowance:
    """``with_images`` counts today's images too (one more query): for pages that show them,
    not for the message checks."""
    policy = policy or policy_for(user)
    start = day_start()
    used = usage if usage is not None else usage_today(user)
    if with_images:
        used = replace(used, images=images_used_today(user))
    return Allowance(
        role=policy.role if policy else "user",
        used=used,
        messages_per_day=policy.messages_per_day if policy else None,
        tokens_per_day=policy.tokens_per_day if policy else None,
        images_per_day=policy.images_per_day if policy else None,
        resets_at=start + timedelta(days=1),
    )


def quota_check_message(
    user: Any,
    *,
    usage: Usage | None = None,
    new_message: bool = True,
    policy: RolePolicy | None = None,
) -> Allowance:
    """Raises QuotaExceeded when one more message (or, for a regenerated reply, one more reply)
    would break today's limits."""
    allowance = allowance_for(user, policy=policy, usage=usage)
    retry_after = max(int((allowance.resets_at - timezone.now()).total_seconds()), 1)
    if new_message and allowance.messages_left == 0:
        raise QuotaExceeded(format_lazy(
            ngettext_lazy(
                "You have used all {count} message for today. The allowance renews at midnight UTC.",
                "You have used all {count} messages for today. The allowance renews at midnight UTC.",
                allowance.messages_per_day or 0,
            ), count=allowance.messages_per_day), retry_after)
    if allowance.tokens_left == 0:
        raise QuotaExceeded(format_lazy(
            _("You have used all {count} tokens for today. The allowance renews at midnight UTC."),
            count=_grouped(allowance.tokens_per_day or 0)), retry_after)
    return allowance


def bot_allowed(policy: RolePolicy | None, bot_id: int) -> bool:
    if policy is None or policy.all_bots:
        return True
    return policy.bots.filter(pk=bot_id).exists()


def reply_token_cap(policy: RolePolicy | None, bot_max: int) -> int:
    if policy is None or policy.max_reply_tokens is None:
        return bot_max
    return min(bot_max, policy.max_reply_tokens)


def images_used_today(user: Any) -> int:
    """Images asked for today by jobs that did not fail: a failed job costs nothing, and a
    queued or running one holds its share so parallel requests cannot overrun the limit."""
    from imaging.models import ImageJob

    return ImageJob.objects.filter(owner=user, created_at__gte=day_start()).exclude(
        status=ImageJob.Status.FAILED
    ).aggregate(n=Coalesce(Sum("count"), 0))["n"]


def quota_check_image(user: Any, *, count: int = 1, policy: RolePolicy | None = None) -> int | None:
    """Raises QuotaExceeded when `count` more images would break today's limit; returns the
    number left after them (None: no limit)."""
    policy = policy if policy is not None else policy_for(user)
    limit = policy.images_per_day if policy else None
    if limit is None:
        return None
    used = images_used_today(user)
    retry_after = max(int((day_start() + timedelta(days=1) - timezone.now()).total_seconds()), 1)
    if used >= limit:
        raise QuotaExceeded(format_lazy(ngettext_lazy(
            "You have used all {count} image for today. The allowance renews at midnight UTC.",
            "You have used all {count} images for today. The allowance renews at midnight UTC.",
            limit), count=limit), retry_after)
    if used + count > limit:
        raise QuotaExceeded(format_lazy(ngettext_lazy(
            "You have {left} image left today; this request asks for {count}.",
            "You have {left} images left today; this request asks for {count}.",
            limit - used), left=limit - used, count=count), retry_after)
    return limit - used - count
