"""Rolls up past days (after an upgrade, or in the embedded mode where no beat runs), and
optionally finds the popular topics."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from analytics.services.rollups import usage_rollup
from analytics.services.topics import topics_find


class Command(BaseCommand):
    help = "Roll up usage analytics for past days (and find popular topics with --topics)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--days", type=int, default=2,
                            help="How many days up to today (default 2: today and yesterday).")
        parser.add_argument("--since", help="Roll up from this day (YYYY-MM-DD) to today.")
        parser.add_argument("--topics", action="store_true",
                            help="Also find the popular topics of the last period.")

    def handle(self, *args: Any, **options: Any) -> None:
        today = timezone.localdate(timezone.now(), timezone.get_default_timezone())
        if options["since"]:
            try:
                first = date.fromisoformat(options["since"])
            except ValueError:
                raise CommandError("--since must be a date written as YYYY-MM-DD") from None
        else:
            if options["days"] < 1:
                raise CommandError("--days must be at least 1")
            first = today - timedelta(days=options["days"] - 1)
        if first > today:
            raise CommandError("--since is in the future")
        day = first
        while day <= today:
            rows = usage_rollup(day=day)
            self.stdout.write(f"{day}: {rows} rows")
            day += timedelta(days=1)
        if options["topics"]:
            topics = topics_find()
            self.stdout.write(f"{len(topics)} popular topics")
