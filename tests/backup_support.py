"""Fixtures and helpers shared by the backup tests: a backup folder and media folder per test,
throwaway GPG keyrings, a site filled with rows of every model, and whole-database snapshots
(every table of every installed app, row by row) to compare before and after."""

from __future__ import annotations

import datetime as dt
import decimal
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from django.apps import apps
from django.db import connection, models, transaction

from tests.factories import BotFactory, MessageFactory, ProviderFactory, UserFactory


@pytest.fixture
def backup_dir(settings, tmp_path) -> Path:
    folder = tmp_path / "backups"
    settings.STORAGES = {**settings.STORAGES, "dbbackup": {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {"location": str(folder)}}}
    settings.CHATLAB_BACKUP_GPG_RECIPIENT = ""
    settings.CHATLAB_BACKUP_MEDIA = True
    # Per test: another xdist worker's drills must not show up in this one's checks.
    settings.CHATLAB_BACKUP_DRILL_DATABASE_PREFIX = f"chatlab_bk_drill_{uuid.uuid4().hex[:8]}_"
    return folder


@dataclass
class Keyring:
    home: str
    fingerprint: str


def _keyring(email: str) -> Keyring:
    import gnupg

    # Short path: gpg-agent's socket lives in the home, and socket paths are limited to ~100 bytes.
    home = tempfile.mkdtemp(prefix="bkgpg")
    gpg = gnupg.GPG(gnupghome=home)
    key = gpg.gen_key(gpg.gen_key_input(
        key_type="EDDSA", key_curve="ed25519", subkey_type="ECDH", subkey_curve="cv25519",
        name_real="Chatlab backups", name_email=email, expire_date=0, no_protection=True))
    assert key.fingerprint, key.stderr
    return Keyring(home=home, fingerprint=key.fingerprint)


@pytest.fixture(scope="session")
def keyrings() -> Iterator[tuple[Keyring, Keyring]]:
    """Two keyrings, each holding one secret key: the right one and a wrong one."""
    pair = (_keyring("backups@chatlab.test"), _keyring("someone-else@chatlab.test"))
    yield pair
    for ring in pair:
        subprocess.run(["gpgconf", "--homedir", ring.home, "--kill", "gpg-agent"], check=False,
                       capture_output=True)
        shutil.rmtree(ring.home, ignore_errors=True)


def populate(*, user_count: int = 3) -> dict[str, Any]:
    """Users, providers (encrypted key), bots, conversations with messages, then one row in every
    other model that is still empty (integrations, analytics, ...: whatever exists now)."""
    users = [UserFactory() for _ in range(user_count)]
    tag = uuid.uuid4().hex[:6]
    provider = ProviderFactory(name=f"Backed-up provider {tag}", kind="openai",
                               base_url="http://127.0.0.1:9/v1", api_key="sk-backup-secret")
    bot = BotFactory(provider=provider, slug=f"kept-{tag}", name=f"Kept bot {tag}")
    for user in users:
        question = MessageFactory(conversation__owner=user, conversation__bot=bot,
                                  content="Ünïcode 'quotes' \"and\" emoji 🌍\nline two")
        MessageFactory(conversation=question.conversation, role="assistant", content="answer")
    empty_filled = fill_empty_models()
    return {"users": users, "provider": provider, "bot": bot, "filled": empty_filled}


def _value(field: models.Field, n: int) -> Any:
    if field.choices:
        return field.choices[0][0]
    if isinstance(field, models.ForeignKey | models.OneToOneField):
        related = field.related_model._default_manager.order_by("?").first()
        if related is None:
            raise LookupError(field)
        return related
    if isinstance(field, models.BooleanField):
        return True
    if isinstance(field, models.UUIDField):
        return uuid.uuid4()
    if isinstance(field, models.DateTimeField):
        return dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC)
    if isinstance(field, models.DateField):
        return dt.date(2026, 1, 2 + n % 20)
    if isinstance(field, models.DecimalField):
        return decimal.Decimal("1.5")
    if isinstance(field, models.FloatField):
        return 1.5
    if isinstance(field, models.IntegerField | models.DurationField):
        return n + 1 if isinstance(field, models.IntegerField) else dt.timedelta(seconds=n)
    if isinstance(field, models.JSONField):
        return {"kept": [n, "ü"]}
    if isinstance(field, models.GenericIPAddressField):
        return "127.0.0.1"
    if isinstance(field, models.EmailField):
        return f"filled{n}@example.com"
    if isinstance(field, models.URLField):
        return f"https://example.com/{n}"
    if isinstance(field, models.FileField):
        return f"filled/{n}.bin"
    if isinstance(field, models.BinaryField):
        return b"\x00\x01"
    if isinstance(field, models.CharField | models.TextField):
        return f"filled {n}"[: field.max_length or 100]
    raise LookupError(field)


def fill_empty_models() -> list[str]:
    """One generic row in each empty model (skipped when it cannot be made generically)."""
    filled = []
    for _round in range(2):  # a second pass reaches models whose foreign keys were empty
        for model in apps.get_models():
            meta = model._meta
            if meta.proxy or not meta.managed or model._default_manager.exists():
                continue
            try:
                values = {f.name: _value(f, len(filled)) for f in meta.concrete_fields
                          if not f.auto_created and not f.has_default() and not f.null
                          and not getattr(f, "auto_now", False)
                          and not getattr(f, "auto_now_add", False)}
                with transaction.atomic():
                    model._default_manager.create(**values)
                filled.append(meta.label)
            except Exception:  # noqa: BLE001 - a model the generic filler cannot make
                continue
    for model in apps.get_models():  # and one link in every many-to-many table
        for field in model._meta.many_to_many:
            through = field.remote_field.through
            if not through._meta.auto_created or through._default_manager.exists():
                continue
            owner = model._default_manager.first()
            target = field.related_model._default_manager.first()
            if owner is not None and target is not None:
                getattr(owner, field.name).add(target)
                filled.append(through._meta.label)
    return filled


def database_rows() -> dict[str, list[tuple]]:
    """Every row of every table, sorted: the database's whole content."""
    content = {}
    with connection.cursor() as cursor:
        for table in sorted(connection.introspection.table_names(cursor)):
            if table.startswith("sqlite_"):
                continue
            cursor.execute(f"SELECT * FROM {connection.ops.quote_name(table)}")
            content[table] = sorted((tuple(row) for row in cursor.fetchall()), key=repr)
    return content


def media_bytes(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file()}


def database_wipe() -> None:
    """Drops every table: the database is gone, as after a lost disk."""
    with connection.cursor() as cursor:
        tables = connection.introspection.table_names(cursor)
        if connection.vendor == "postgresql":
            for table in tables:
                cursor.execute(f"DROP TABLE IF EXISTS {connection.ops.quote_name(table)} CASCADE")
        else:
            cursor.execute("PRAGMA foreign_keys = OFF")
            for table in tables:
                cursor.execute(f"DROP TABLE IF EXISTS {connection.ops.quote_name(table)}")
            cursor.execute("PRAGMA foreign_keys = ON")
    assert connection.introspection.table_names() == []


def stored(folder: Path, name: str, part: str) -> Path:
    return folder / f"{name}.{part}"
