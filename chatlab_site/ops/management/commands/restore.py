"""manage.py restore [NAME | --latest]: checks the whole backup first (signature, schema,
checksums, decryption, the dump, every media and log file, whether this SECRET_KEY can decrypt
the secrets it holds), asks, then replaces the database and media, puts its log files in
restored-logs/ and reports the row counts before and after. --check stops after the checks and
also lists what the backup was made with (SECRET_KEY fingerprint, environment, version)."""

from __future__ import annotations

import tempfile
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from chatlab_site.ops.backups.errors import BackupError, BackupRefused
from chatlab_site.ops.backups.progress import StepClock
from chatlab_site.ops.backups.restore import (
    PreparedBackup,
    RestoreCancelled,
    backup_latest,
    backup_prepare,
    backup_restore,
)
from chatlab_site.ops.backups.restore_needs import environment_report, key_diagnosis, key_report


class Command(BaseCommand):
    help = "Restore a backup (checked completely before anything is touched)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("name", nargs="?", help="The backup's name (see `backup --list`).")
        parser.add_argument("--latest", action="store_true", help="Restore the newest backup.")
        parser.add_argument("--check", action="store_true",
                            help="Only verify the backup; change nothing.")
        parser.add_argument("--noinput", "--no-input", action="store_false", dest="interactive",
                            help="Do not ask for confirmation.")

    def handle(self, *args, **options) -> None:
        if bool(options["name"]) == bool(options["latest"]):
            raise CommandError("Name a backup or pass --latest (not both).")
        name = ""
        clock = self._clock = StepClock(self._line)
        try:
            name = options["name"] or backup_latest()
            with tempfile.TemporaryDirectory(prefix="chatlab-restore-") as tmp:
                if options["check"]:
                    prepared = backup_prepare(name=name, workdir=Path(tmp), progress=clock)
                    self._keys_usable(prepared)
                    for line in environment_report(prepared.manifest):
                        self.stdout.write(line)
                    self.stdout.write(self.style.SUCCESS(
                        f"{name} is intact: {len(prepared.manifest['tables'])} tables, "
                        f"{sum(prepared.manifest['tables'].values())} rows, "
                        f"{len(prepared.manifest['media'])} media files."))
                    self._timings(clock)
                    return
                confirm = self._confirm if options["interactive"] else self._noinput
                report = backup_restore(name=name, workdir=Path(tmp), confirm=confirm,
                                        progress=clock)
        except RestoreCancelled:
            self.stdout.write("Restore cancelled; nothing was changed.")
            return
        except BackupError as exc:
            why = " ".join(key_diagnosis(name)) if name else ""
            raise CommandError(f"Restore refused: {exc} {why + ' ' if why else ''}"
                               "Nothing was changed.") from exc
        self.stdout.write("rows per table (before -> after):")
        for table in sorted(set(report.before) | set(report.after)):
            before, after = report.before.get(table, "-"), report.after.get(table, "-")
            self.stdout.write(f"  {table}: {before} -> {after}")
        if report.logs_folder is not None:
            self.stdout.write(f"The backup's log files are in {report.logs_folder}")
        self.stdout.write(self.style.SUCCESS(
            f"Restored {report.name}: {sum(report.after.values())} rows (were "
            f"{sum(report.before.values())}), {report.media_files} media files"
            + ("; migrations applied on top." if report.migrated else ".")))
        self._timings(clock)

    def _timings(self, clock: StepClock) -> None:
        for line in clock.summary():
            self.stdout.write(line)

    def _keys_usable(self, prepared: PreparedBackup) -> None:
        usable, lines = key_report(prepared.manifest)
        for line in lines:
            self.stdout.write(line if usable else self.style.ERROR(line))
        if not usable:
            raise BackupRefused(lines[-1])

    def _line(self, line: str) -> None:
        self.stdout.write(line)
        self.stdout.flush()

    def _summary(self, prepared: PreparedBackup, before: dict[str, int]) -> None:
        manifest = prepared.manifest
        self.stdout.write(
            f"\n{prepared.name}: made {manifest['created_at']} on {manifest['host']}, schema "
            f"{manifest['migration_state']}, {sum(manifest['tables'].values())} rows, "
            f"{len(manifest['media'])} media files.\nThe database now has "
            f"{sum(before.values())} rows. Restoring REPLACES the whole database and rewrites "
            "the backup's media files. Stop the web and worker processes first.")
        for name in prepared.foreign_migrations[:5]:
            self.stdout.write(f"  note: migration of an app no longer installed: {name}")

    def _noinput(self, prepared: PreparedBackup, before: dict[str, int]) -> bool:
        self._keys_usable(prepared)
        self._summary(prepared, before)
        return True

    def _confirm(self, prepared: PreparedBackup, before: dict[str, int]) -> bool:
        self._keys_usable(prepared)
        self._summary(prepared, before)
        self._clock.stop()  # the wait for an answer is not the restore's time
        answer = input("Type 'yes' to restore: ")
        return answer.strip().lower() == "yes"
