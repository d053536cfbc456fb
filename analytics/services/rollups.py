"""The daily rollup: a day's replies (Message rows), image jobs (ImageJob rows), logins and errors
(UsageEvent rows) summed into DailyUsage, DailyUserUsage and DailyLatency. Rolling a day up again
replaces its rows, so the task may run as often as the dashboard should be fresh."""

from __future__ import annotations

import bisect
import logging
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from django.db import transaction
from django.db.models import Count, F, Value
from django.db.models.functions import Coalesce, NullIf
from django.utils import timezone

from accounts.models import Role, RolePolicy, User
from accounts.roles import role_of_without_groups
from analytics.models import (LATENCY_BOUNDS_MS, DailyLatency, DailyUsage, DailyUserUsage, Kind,
                              Outcome, RollupRun, UsageEvent)
from conversations.models import Channel, Message
from imaging.models import ImageJob

from .prices import PriceList

log = logging.getLogger(__name__)

_OUTCOMES = {Message.Status.COMPLETE: Outcome.OK, Message.Status.FAILED: Outcome.FAILED,
             Message.Status.CANCELLED: Outcome.CANCELLED, ImageJob.Status.DONE: Outcome.OK,
             ImageJob.Status.FAILED: Outcome.FAILED}
_CHUNK = 2000


def day_bounds(day: date) -> tuple[datetime, datetime]:
    zone = timezone.get_default_timezone()
    start = timezone.make_aware(datetime.combine(day, time.min), zone)
    return start, timezone.make_aware(datetime.combine(day + timedelta(days=1), time.min), zone)


def bucket_of(ms: int) -> int:
    return bisect.bisect_left(LATENCY_BOUNDS_MS, ms)


def empty_histogram() -> list[int]:
    return [0] * (len(LATENCY_BOUNDS_MS) + 1)


@dataclass
class _Sums:
    events: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    images: int = 0
    cost: Decimal = Decimal(0)


@dataclass
class _Day:
    groups: dict[tuple[str, ...], _Sums] = field(default_factory=lambda: defaultdict(_Sums))
    people: dict[int, dict[str, Any]] = field(default_factory=dict)
    latency: dict[str, dict[str, list[int]]] = field(default_factory=dict)

    def person(self, user_id: int) -> dict[str, Any]:
        return self.people.setdefault(user_id, {"replies": 0, "failed": 0, "prompt_tokens": 0,
                                                "completion_tokens": 0, "images": 0,
                                                "logins": 0, "cost": Decimal(0)})

    def time(self, kind: str, metric: str, ms: int | None) -> None:
        if ms is None:
            return
        histograms = self.latency.setdefault(kind, {"ttft": empty_histogram(),
                                                    "total": empty_histogram()})
        histograms[metric][bucket_of(ms)] += 1


def roles_of(user_ids: Iterable[int]) -> dict[int, str]:
    """Each person's role now (as accounts.roles decides it), in two queries per chunk."""
    ids = list(set(user_ids))
    found: dict[int, str] = {}
    for i in range(0, len(ids), _CHUNK):
        chunk = ids[i:i + _CHUNK]
        admins = set(RolePolicy.objects.filter(group__user__in=chunk, role=Role.ADMIN)
                     .values_list("group__user", flat=True))
        for user in User.objects.filter(pk__in=chunk).only("pk", "is_guest", "is_superuser"):
            found[user.pk] = role_of_without_groups(user) or (
                Role.ADMIN if user.pk in admins else Role.USER)
    return found


def _replies(start: datetime, end: datetime) -> Iterable[dict[str, Any]]:
    return (
        Message.objects.filter(role=Message.Role.ASSISTANT, created_at__gte=start,
                               created_at__lt=end, status__in=list(_OUTCOMES))
        # Imported history was written elsewhere: it is no usage of this site.
        .exclude(conversation__channel=Channel.IMPORT)
        .values("status", "prompt_tokens", "completion_tokens", "ttft_ms", "total_ms",
                user=F("conversation__owner_id"), channel=F("conversation__channel"),
                bot=F("conversation__bot__name"),
                used_model=Coalesce(NullIf("model", Value("")), F("conversation__bot__model")),
                lang=Coalesce(NullIf("reply_to__language", Value("")), F("conversation__language")))
        .iterator(chunk_size=_CHUNK)
    )


def _image_jobs(start: datetime, end: datetime) -> Iterable[dict[str, Any]]:
    return (
        ImageJob.objects.filter(created_at__gte=start, created_at__lt=end,
                                status__in=[ImageJob.Status.DONE, ImageJob.Status.FAILED])
        .annotate(made=Count("images"))
        .values("status", "channel", "model", "made", "started_at", "finished_at",
                user=F("owner_id"), bot=F("conversation__bot__name"),
                lang=F("conversation__language"))
        .iterator(chunk_size=_CHUNK)
    )


def usage_rollup(*, day: date) -> int:
    """Rolls up one day; returns how many DailyUsage rows it has."""
    start, end = day_bounds(day)
    prices = PriceList()
    replies, jobs = list(_replies(start, end)), list(_image_jobs(start, end))
    events = list(UsageEvent.objects.filter(at__gte=start, at__lt=end)
                  .values("kind", "user_id", "role", "channel", "detail"))
    roles = roles_of([r["user"] for r in replies] + [j["user"] for j in jobs])
    acc = _Day()
    for r in replies:
        role, outcome = roles.get(r["user"], ""), _OUTCOMES[r["status"]]
        prompt, completion = r["prompt_tokens"] or 0, r["completion_tokens"] or 0
        model = r["used_model"] or ""
        cost = prices.reply_cost(model, prompt, completion)
        sums = acc.groups[(Kind.REPLY, r["channel"], r["bot"] or "", model, role,
                           r["lang"] or "", outcome)]
        sums.events += 1
        sums.prompt_tokens += prompt
        sums.completion_tokens += completion
        sums.cost += cost
        person = acc.person(r["user"])
        person["replies"] += 1
        person["failed"] += outcome == Outcome.FAILED
        person["prompt_tokens"] += prompt
        person["completion_tokens"] += completion
        person["cost"] += cost
        person["role"] = role
        if outcome == Outcome.OK:
            acc.time(Kind.REPLY, "ttft", r["ttft_ms"])
            acc.time(Kind.REPLY, "total", r["total_ms"])
    for j in jobs:
        role, outcome = roles.get(j["user"], ""), _OUTCOMES[j["status"]]
        cost = prices.image_cost(j["model"], j["made"])
        sums = acc.groups[(Kind.IMAGE, j["channel"], j["bot"] or "", j["model"], role,
                           j["lang"] or "", outcome)]
        sums.events += 1
        sums.images += j["made"]
        sums.cost += cost
        person = acc.person(j["user"])
        person["images"] += j["made"]
        person["cost"] += cost
        person["role"] = role
        if outcome == Outcome.OK and j["started_at"] and j["finished_at"]:
            acc.time(Kind.IMAGE, "total",
                     int((j["finished_at"] - j["started_at"]).total_seconds() * 1000))
    for e in events:
        outcome = Outcome.FAILED if e["kind"] == Kind.ERROR else Outcome.OK
        acc.groups[(e["kind"], e["channel"], "", "", e["role"], "", outcome)].events += 1
        if e["kind"] == Kind.LOGIN and e["user_id"] is not None:
            person = acc.person(e["user_id"])
            person["logins"] += 1
            person.setdefault("role", e["role"])
    return _store(day, acc)


@transaction.atomic
def _store(day: date, acc: _Day) -> int:
    DailyUsage.objects.filter(day=day).delete()
    DailyUserUsage.objects.filter(day=day).delete()
    DailyLatency.objects.filter(day=day).delete()
    DailyUsage.objects.bulk_create([
        DailyUsage(day=day, kind=kind, channel=channel[:20], bot=bot[:100], model=model[:200],
                   role=role, language=language[:12], outcome=outcome, events=s.events,
                   prompt_tokens=s.prompt_tokens, completion_tokens=s.completion_tokens,
                   images=s.images, cost=s.cost)
        for (kind, channel, bot, model, role, language, outcome), s in acc.groups.items()
    ], batch_size=500)
    existing = set(User.objects.filter(pk__in=list(acc.people)).values_list("pk", flat=True))
    DailyUserUsage.objects.bulk_create([
        DailyUserUsage(day=day, user_id=user_id, **{"role": "", **p})
        for user_id, p in acc.people.items() if user_id in existing
    ], batch_size=500)
    DailyLatency.objects.bulk_create([
        DailyLatency(day=day, kind=kind, ttft=h["ttft"], total=h["total"])
        for kind, h in acc.latency.items()
    ])
    RollupRun.objects.update_or_create(day=day, defaults={"finished_at": timezone.now()})
    return len(acc.groups)


def usage_rollup_recent(*, days: int = 2, today: date | None = None) -> list[date]:
    """Today and the days before it (yesterday's last replies end after midnight)."""
    today = today or timezone.localdate(timezone.now(), timezone.get_default_timezone())
    done = []
    for back in range(days - 1, -1, -1):
        day = today - timedelta(days=back)
        rows = usage_rollup(day=day)
        log.info("usage of %s rolled up: %d rows", day, rows)
        done.append(day)
    return done
