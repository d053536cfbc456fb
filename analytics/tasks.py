"""Celery tasks (queue `maintenance`, scheduled by celery beat): thin handles over services."""

from __future__ import annotations

from celery import shared_task


@shared_task(name="analytics.tasks.rollup_usage", ignore_result=True)
def rollup_usage(days: int = 2) -> int:
    from .services.rollups import usage_rollup_recent

    return len(usage_rollup_recent(days=days))


@shared_task(name="analytics.tasks.find_topics", ignore_result=True)
def find_topics() -> int:
    from .services.topics import topics_find

    return len(topics_find())


