"""Forgetting what is no longer needed: delivery keys older than any platform's retries, link
codes that were used or expired, and where replies were shown once the sweep is long past."""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone

from ..models import Delivery, LinkCode, ReplyPost

# Telegram re-sends an unanswered update for up to a day; Slack and Discord retry for minutes.
DELIVERY_DAYS = 3


def deliveries_forget() -> int:
    now = timezone.now()
    old = now - timedelta(days=DELIVERY_DAYS)
    deleted, _ = Delivery.objects.filter(received_at__lt=old).delete()
    codes, _ = LinkCode.objects.filter(expires_at__lt=now - timedelta(days=1)).delete()
    posts, _ = ReplyPost.objects.filter(created_at__lt=old).delete()
    return deleted + codes + posts
