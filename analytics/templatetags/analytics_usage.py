from __future__ import annotations

from typing import Any

from django import template
from django.utils import timezone

from analytics.selectors import usage_history

register = template.Library()


@register.simple_tag
def my_usage_history(user: Any, days: int = 30) -> list[dict[str, Any]]:
    """A person's own days with any use among the last `days`, newest first, from the rollups
    (one query)."""
    if not getattr(user, "is_authenticated", False):
        return []
    today = timezone.localdate(timezone.now(), timezone.get_default_timezone())
    return [d for d in reversed(usage_history(user_id=user.pk, days=days, today=today))
            if d["replies"] or d["tokens"] or d["images"]]
