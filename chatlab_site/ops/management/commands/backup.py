"""manage.py backup: one backup now (database and media, compressed, encrypted when a GPG key is
set), then the retention policy; --list shows the backups in the storage."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from chatlab_site.ops.backups.errors import BackupError
from chatlab_site.ops.backups.runs import backup_run
from chatlab_site.ops.models import BackupRun
from chatlab_site.ops.selectors import backup_catalog


class Command(BaseCommand):
    help = "Back up the database and media to the backup storage, then apply the retention policy."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--list", action="store_true", help="List the stored backups.")

    def handle(self, *args, **options) -> None:
        if options["list"]:
            self._list()
            return
        try:
            run = backup_run(trigger=BackupRun.Trigger.COMMAND, progress=self._line)
        except BackupError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(self.style.SUCCESS(
            f"Backup {run.name} written ({run.size} bytes); {run.pruned} old backups removed."))

    def _line(self, line: str) -> None:
        self.stdout.write(line)
        self.stdout.flush()

    def _list(self) -> None:
        entries = backup_catalog()
        if not entries:
            self.stdout.write("No backups yet.")
        now = timezone.now()
        for entry in entries:
            age = (now - entry.created_at) if entry.created_at else None
            drill = entry.drill.get_status_display() if entry.drill else "-"
            self.stdout.write(
                f"{entry.name}  {entry.size or 0:>12} bytes  "
                f"{'encrypted' if entry.encrypted else 'plain':9}  "
                f"age {str(age).split('.')[0] if age else '?'}  drill: {drill}"
                + (f"  PROBLEM: {entry.problem}" if entry.problem else ""))
