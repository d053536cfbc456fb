"""What the dashboard and a person's usage page read: the rollup tables only, a fixed number of
queries whatever the range (each indexed by day)."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from django.db.models import Count, Max, Q, Sum

from .models import (LATENCY_BOUNDS_MS, DailyLatency, DailyUsage, DailyUserUsage, ErrorEvent,
                     Kind, Outcome, RollupRun, Topic)

BREAKDOWNS = ("bot", "model", "channel", "role", "language")
TOP_USERS = 20


def percentile(histogram: list[int], share: float) -> int | None:
    """The bucket bound below which `share` of the timings fall (the slowest bucket: its lower
    bound, marked by the caller as 'over')."""
    total = sum(histogram)
    if not total:
        return None
    wanted = share * total
    running = 0
    for index, count in enumerate(histogram):
        running += count
        if running >= wanted:
            return LATENCY_BOUNDS_MS[min(index, len(LATENCY_BOUNDS_MS) - 1)]
    return LATENCY_BOUNDS_MS[-1]


@dataclass
class Dashboard:
    start: date
    end: date
    days: list[str]
    series: dict[str, list[Any]]
    totals: dict[str, Any]
    breakdowns: dict[str, list[dict[str, Any]]]
    latency: list[dict[str, Any]]
    top_users: list[dict[str, Any]]
    topics: list[Topic]
    errors: list[ErrorEvent]
    rolled_up_at: Any

    @property
    def is_empty(self) -> bool:
        return not (self.totals["requests"] or self.totals["logins"] or self.totals["errors"])


def dashboard_read(*, start: date, end: date) -> Dashboard:
    rows = DailyUsage.objects.filter(day__gte=start, day__lte=end)
    failed = Q(outcome=Outcome.FAILED)
    per_day = (rows.values("day", "kind")
               .annotate(n=Sum("events"), n_failed=Sum("events", filter=failed),
                         prompt=Sum("prompt_tokens"), completion=Sum("completion_tokens"),
                         spent=Sum("cost")).order_by("day"))
    days = [start + timedelta(days=i) for i in range((end - start).days + 1)]
    index = {d: i for i, d in enumerate(days)}
    series: dict[str, list[Any]] = {name: [0] * len(days) for name in (
        "replies", "images", "logins", "errors", "failed", "tokens", "active_users")}
    series["cost"] = [Decimal(0)] * len(days)
    for r in per_day:
        i = index[r["day"]]
        kind = r["kind"]
        key = {Kind.REPLY: "replies", Kind.IMAGE: "images", Kind.LOGIN: "logins",
               Kind.ERROR: "errors"}[kind]
        series[key][i] += r["n"]
        if kind in (Kind.REPLY, Kind.IMAGE):
            series["failed"][i] += r["n_failed"] or 0
            series["tokens"][i] += (r["prompt"] or 0) + (r["completion"] or 0)
            series["cost"][i] += r["spent"] or 0
    people = DailyUserUsage.objects.filter(day__gte=start, day__lte=end)
    for r in people.values("day").annotate(n=Count("user_id")).order_by("day"):
        series["active_users"][index[r["day"]]] = r["n"]

    breakdowns: dict[str, dict[str, dict[str, Any]]] = {name: {} for name in BREAKDOWNS}
    combos = (rows.filter(kind__in=[Kind.REPLY, Kind.IMAGE])
              .values("kind", *BREAKDOWNS, "outcome")
              .annotate(n=Sum("events"), prompt=Sum("prompt_tokens"),
                        completion=Sum("completion_tokens"), spent=Sum("cost")))
    for r in combos:
        for name in BREAKDOWNS:
            entry = breakdowns[name].setdefault(r[name] or "—", {
                "name": r[name] or "—", "replies": 0, "images": 0, "failed": 0, "tokens": 0,
                "cost": Decimal(0)})
            entry["replies" if r["kind"] == Kind.REPLY else "images"] += r["n"]
            entry["failed"] += r["n"] if r["outcome"] == Outcome.FAILED else 0
            entry["tokens"] += (r["prompt"] or 0) + (r["completion"] or 0)
            entry["cost"] += r["spent"] or 0
    ordered = {name: sorted(values.values(), key=lambda e: (-(e["replies"] + e["images"]),
                                                            e["name"]))
               for name, values in breakdowns.items()}
    for entries in ordered.values():
        for e in entries:
            requests = e["replies"] + e["images"]
            e["error_rate"] = round(100 * e["failed"] / requests, 1) if requests else 0.0

    histograms: dict[str, dict[str, list[int]]] = defaultdict(dict)
    for r in DailyLatency.objects.filter(day__gte=start, day__lte=end).values(
            "kind", "ttft", "total"):
        for metric in ("ttft", "total"):
            merged = histograms[r["kind"]].setdefault(metric, [0] * (len(LATENCY_BOUNDS_MS) + 1))
            for i, count in enumerate(r[metric] or []):
                merged[i] += count
    latency = []
    for kind in (Kind.REPLY, Kind.IMAGE):
        for metric in ("ttft", "total"):
            histogram = histograms.get(kind, {}).get(metric)
            if histogram and sum(histogram):
                latency.append({"kind": kind, "metric": metric, "count": sum(histogram),
                                **{f"p{p}": percentile(histogram, p / 100)
                                   for p in (50, 90, 95, 99)}})

    top_users = list(
        people.values("user_id", "user__email")
        .annotate(n_replies=Sum("replies"), n_images=Sum("images"), n_failed=Sum("failed"),
                  tokens=Sum("prompt_tokens") + Sum("completion_tokens"), spent=Sum("cost"),
                  n_logins=Sum("logins"), last_role=Max("role"))
        .order_by("-n_replies", "-n_images", "user_id")[:TOP_USERS])
    requests = sum(series["replies"]) + sum(series["images"])
    totals = {
        "requests": requests, "replies": sum(series["replies"]), "images": sum(series["images"]),
        "logins": sum(series["logins"]), "errors": sum(series["errors"]),
        "tokens": sum(series["tokens"]), "cost": sum(series["cost"], Decimal(0)),
        "active_users": people.values("user_id").distinct().count(),
        "error_rate": round(100 * sum(series["failed"]) / requests, 1) if requests else 0.0,
    }
    last_topic = Topic.objects.filter(period_end__lte=end).aggregate(last=Max("period_end"))
    topics = list(Topic.objects.filter(period_end=last_topic["last"])
                  .order_by("-conversations", "label")) if last_topic["last"] else []
    return Dashboard(
        start=start, end=end, days=[d.isoformat() for d in days], series=series, totals=totals,
        breakdowns=ordered, latency=latency, top_users=top_users, topics=topics,
        errors=list(ErrorEvent.objects.only(
            "pk", "message", "logger", "count", "last_seen", "exception")[:10]),
        rolled_up_at=RollupRun.objects.aggregate(last=Max("finished_at"))["last"],
    )


def usage_history(*, user_id: int, days: int = 30, today: date) -> list[dict[str, Any]]:
    """A person's last `days` days, one entry a day (zeros where they did nothing)."""
    start = today - timedelta(days=days - 1)
    found = {r["day"]: r for r in DailyUserUsage.objects.filter(
        user_id=user_id, day__gte=start, day__lte=today).values(
        "day", "replies", "failed", "prompt_tokens", "completion_tokens", "images")}
    history = []
    for i in range(days):
        day = start + timedelta(days=i)
        r = found.get(day, {})
        history.append({"day": day, "replies": r.get("replies", 0), "images": r.get("images", 0),
                        "tokens": r.get("prompt_tokens", 0) + r.get("completion_tokens", 0)})
    return history
