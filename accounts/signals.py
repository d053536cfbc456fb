"""Deactivating someone ends their open sockets at once, on every process."""

from __future__ import annotations

import logging
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer

log = logging.getLogger(__name__)


def user_group(user_id: object) -> str:
    return f"user.{user_id}"


def close_sockets_of_deactivated(sender: Any, instance: Any, **kwargs: Any) -> None:
    if instance.is_active:
        return
    try:
        async_to_sync(get_channel_layer().group_send)(
            user_group(instance.pk), {"type": "account.deactivated"}
        )
    except Exception:  # the frame check refuses them anyway; do not fail the save
        log.warning("could not notify sockets of deactivated user %s", instance.pk)
