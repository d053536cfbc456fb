"""manage.py restore_drill [NAME]: the scheduled drill, now, with its progress."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from chatlab_site.ops.backups.drill import drill_run
from chatlab_site.ops.models import DrillRun


class Command(BaseCommand):
    help = "Restore the newest (or the named) backup into a scratch database and check it."

    def add_arguments(self, parser) -> None:
        parser.add_argument("name", nargs="?")

    def handle(self, *args, **options) -> None:
        result = drill_run(name=options["name"], progress=self.stdout.write)
        if result.status != DrillRun.Status.OK:
            raise CommandError(f"Drill of {result.backup_name or '-'} failed: {result.detail}")
        self.stdout.write(self.style.SUCCESS(f"Drill of {result.backup_name} passed: "
                                             f"{result.detail}"))
