"""Backup names: the time (UTC, to the millisecond) and the migration state they were made at.

chatlab-20261124-222100-123-m0231-1a2b3c4d: 231 migrations applied, whose set hashes to
1a2b3c4d. Two backups with the same state hash fit the same code.
"""

from __future__ import annotations

import hashlib
import re
from datetime import UTC, datetime

from django.db.migrations.loader import MigrationLoader

NAME = re.compile(r"^chatlab-(\d{8})-(\d{6})-(\d{3})-m(\d{4,})-([0-9a-f]{8})$")
MANIFEST_SUFFIX = ".manifest.json"

Migrations = dict[str, list[str]]


def migration_state(migrations: Migrations) -> str:
    lines = sorted(f"{app}.{name}" for app, names in migrations.items() for name in names)
    digest = hashlib.sha256("\n".join(lines).encode()).hexdigest()[:8]
    return f"m{len(lines):04d}-{digest}"


def backup_name(*, created_at: datetime, migrations: Migrations) -> str:
    moment = created_at.astimezone(UTC)
    return (f"chatlab-{moment:%Y%m%d-%H%M%S}-{moment.microsecond // 1000:03d}-"
            f"{migration_state(migrations)}")


def name_time(name: str) -> datetime | None:
    match = NAME.match(name)
    if not match:
        return None
    day, clock, millis = match.group(1), match.group(2), match.group(3)
    moment = datetime.strptime(day + clock, "%Y%m%d%H%M%S").replace(tzinfo=UTC)
    return moment.replace(microsecond=int(millis) * 1000)


def is_backup_name(name: str) -> bool:
    return bool(NAME.match(name))


def known_migrations() -> tuple[set[tuple[str, str]], set[str]]:
    """The migrations this code has on disk, and the apps that have migrations."""
    loader = MigrationLoader(None, ignore_no_migrations=True, load=True)
    return set(loader.disk_migrations), set(loader.migrated_apps)


def unknown_migrations(migrations: Migrations) -> tuple[list[str], list[str]]:
    """(migrations of installed apps this code does not have: a newer schema,
    migrations of apps no longer installed: left alone)."""
    known, apps = known_migrations()
    newer, foreign = [], []
    for app, names in sorted(migrations.items()):
        for name in names:
            if (app, name) in known:
                continue
            (newer if app in apps else foreign).append(f"{app}.{name}")
    return newer, foreign
