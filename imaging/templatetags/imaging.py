from __future__ import annotations

from typing import Any

from django import template

from ..selectors import conversation_jobs
from ..services.payloads import job_payload

register = template.Library()


@register.simple_tag(takes_context=True)
def conversation_images(context: dict[str, Any], conversation: Any) -> list[dict[str, Any]]:
    """The chat page's image jobs, for images.js (the page view stays untouched)."""
    request = context.get("request")
    if conversation is None or request is None:
        return []
    jobs = conversation_jobs(request.user, conversation.pk)
    return [job_payload(j, sorted(j.images.all(), key=lambda i: i.index)
                        if j.status == j.Status.DONE else []) for j in jobs]
