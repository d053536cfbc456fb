"""Recording what went wrong with an integration, where the admin shows it."""

from __future__ import annotations

import logging

from django.utils import timezone

from ..models import Integration

log = logging.getLogger(__name__)


def integration_error_record_sync(integration_id: int, message: str) -> None:
    # Messages come from transports that already scrubbed secrets out (transports.base.scrub).
    log.warning("integration %s: %s", integration_id, message)
    Integration.objects.filter(pk=integration_id).update(
        last_error=message[:2000], last_error_at=timezone.now()
    )


async def integration_error_record(integration_id: int, message: str) -> None:
    log.warning("integration %s: %s", integration_id, message)
    await Integration.objects.filter(pk=integration_id).aupdate(
        last_error=message[:2000], last_error_at=timezone.now()
    )
