"""manage.py setup_schedules: puts back every periodic task of chatlab_site/ops/schedules.py that
is missing (deleted by mistake, say); leaves the existing ones, and their edits, alone."""

from __future__ import annotations

from django.core.management.base import BaseCommand

from chatlab_site.ops.schedules import SCHEDULES, schedules_ensure


class Command(BaseCommand):
    help = "Create the periodic tasks Chatlab runs that are missing (edits are kept)."

    def handle(self, *args, **options) -> None:
        created = schedules_ensure()
        for name in created:
            self.stdout.write(f"created: {name}")
        self.stdout.write(self.style.SUCCESS(
            f"{len(SCHEDULES)} schedules, {len(created)} created."))
