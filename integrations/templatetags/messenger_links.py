"""The profile page's "Link a messenger" block."""

from __future__ import annotations

from typing import Any

from django import template

from ..models import MessengerIdentity

register = template.Library()


@register.inclusion_tag("integrations/_link_block.html", takes_context=True)
def messenger_links(context: dict[str, Any]) -> dict[str, Any]:
    user = context["request"].user
    identities = MessengerIdentity.objects.filter(user=user).order_by("platform", "name")
    return {"identities": list(identities), "csrf_token": context.get("csrf_token")}
