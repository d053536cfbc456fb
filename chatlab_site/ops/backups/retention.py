"""Retention: keep the newest backup of each of the last N days, M ISO weeks and K months, plus
every backup of the last 24 hours (a "back up now" before an upgrade is not pruned by the next
scheduled one); remove the rest, and leftovers of backups that never finished."""

from __future__ import annotations

from collections.abc import Callable, Hashable
from datetime import datetime, timedelta

from django.utils import timezone

from chatlab_site.ops.models import RetentionPolicy

from .naming import MANIFEST_SUFFIX, name_time
from .progress import Progress, quiet
from .storage import backup_names, storage_delete, storage_files

# A part without a manifest may belong to a backup being written right now.
LEFTOVER_AGE = timedelta(hours=12)
RECENT = timedelta(hours=24)


def retention_keep(*, times: dict[str, datetime], daily: int, weekly: int,
                   monthly: int) -> set[str]:
    newest_first = sorted(times, key=times.__getitem__, reverse=True)
    keep = set(newest_first[:1])

    def newest_per(period: Callable[[datetime], Hashable], count: int) -> None:
        seen: list[Hashable] = []
        for name in newest_first:
            key = period(times[name])
            if key in seen:
                continue
            if len(seen) == count:
                return
            seen.append(key)
            keep.add(name)

    newest_per(lambda t: t.date(), daily)
    newest_per(lambda t: t.isocalendar()[:2], weekly)
    newest_per(lambda t: (t.year, t.month), monthly)
    return keep


def retention_apply(*, policy: RetentionPolicy | None = None,
                    progress: Progress = quiet) -> list[str]:
    """Removes what the policy does not keep; returns the removed backups' names."""
    policy = policy or RetentionPolicy.current()
    files = storage_files()
    complete = backup_names(files)
    times = {name: name_time(name) for name in complete}
    keep = retention_keep(times=times, daily=policy.keep_daily, weekly=policy.keep_weekly,
                          monthly=policy.keep_monthly)
    now = timezone.now()
    keep |= {name for name, when in times.items() if when > now - RECENT}
    removed = [name for name in complete if name not in keep]
    cutoff = now - LEFTOVER_AGE
    for name in removed:
        progress(f"  prune {name}")
        for stored in files:
            if stored.startswith(name + ".") and stored != name + MANIFEST_SUFFIX:
                storage_delete(stored)
        # The manifest last: until it goes, the backup is listed and can be pruned again.
        storage_delete(name + MANIFEST_SUFFIX)
    complete_set = set(complete)
    for stored in files:
        owner = stored.split(".", 1)[0]
        when = name_time(owner)
        if owner not in complete_set and when is not None and when < cutoff:
            progress(f"  remove unfinished {stored}")
            storage_delete(stored)
    return removed
