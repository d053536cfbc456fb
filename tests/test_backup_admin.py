"""The admin's backup page: who sees it, who may start a backup, who may download one (superusers
only), and that listing more backups costs no more queries."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group
from django.test import Client

from accounts.models import RolePolicy
from chatlab_site.ops.backups.create import backup_create
from chatlab_site.ops.backups.naming import MANIFEST_SUFFIX
from chatlab_site.ops.backups.storage import manifest_read
from chatlab_site.ops.models import BackupRun
from tests.backup_support import backup_dir  # noqa: F401
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db(transaction=True)
PAGE = "/admin/ops/backuprun/"


@pytest.fixture
def backups(backup_dir, settings, tmp_path) -> list[str]:
    settings.MEDIA_ROOT = str(tmp_path / "media")
    return [backup_create(include_media=False).name for _ in range(2)]


def _client(**flags) -> Client:
    client = Client()
    client.force_login(UserFactory(**flags))
    return client


def _admin_role_member() -> Client:
    """Staff through the admin role (a group with every permission), not a superuser."""
    user = UserFactory()
    user.groups.add(Group.objects.get(pk=RolePolicy.objects.get(role="admin").group_id))
    client = Client()
    client.force_login(user)
    return client


def _database_part(name: str) -> str:
    return manifest_read(name)["database_file"]


def _download(name: str, part: str = MANIFEST_SUFFIX.lstrip(".")) -> str:
    return f"{PAGE}download/{name}/{part}/"


def test_superusers_see_the_backups_and_download_them(backups, backup_dir):
    client = _client(is_staff=True, is_superuser=True)
    page = client.get(PAGE)
    assert page.status_code == 200
    html = page.content.decode()
    for name in backups:
        assert name in html and _download(name) in html
    assert "Back up now" in html and "No restore drill has run yet" in html
    part = _database_part(backups[0])
    response = client.get(_download(backups[0], part))
    assert response.status_code == 200
    assert response["Content-Disposition"].startswith("attachment")
    assert b"".join(response.streaming_content) == (
        backup_dir / f"{backups[0]}.{part}").read_bytes()
    # Only the files a backup's manifest lists, only under backup names.
    assert client.get(_download(backups[0], "secret_key")).status_code == 404
    assert client.get(f"{PAGE}download/not-a-backup/manifest.json/").status_code == 404
    assert "Content-Disposition" not in client.get(
        f"{PAGE}download/..%2F..%2Fsecret_key/manifest.json/")


def test_only_superusers_download(backups):
    url = _download(backups[0], _database_part(backups[0]))
    staff = _admin_role_member()
    page = staff.get(PAGE)
    assert page.status_code == 200 and backups[0] in page.content.decode()
    assert _download(backups[0]) not in page.content.decode()  # no links for them
    assert staff.get(url).status_code == 403
    assert _client().get(url).status_code == 404  # a signed-in person without the admin
    assert Client().get(url).status_code == 404  # anonymous
    assert _client().get(PAGE).status_code == 302  # the admin's own login redirect


def test_back_up_now_queues_a_backup_for_those_allowed(backups, backup_dir):
    staff = _admin_role_member()
    assert staff.post(f"{PAGE}run/").status_code == 302
    run = BackupRun.objects.get(trigger=BackupRun.Trigger.ADMIN)
    assert run.status == BackupRun.Status.OK
    assert (backup_dir / (run.name + MANIFEST_SUFFIX)).exists()
    assert staff.get(f"{PAGE}run/").status_code == 405

    viewer = UserFactory(is_staff=True)
    from django.contrib.auth.models import Permission

    viewer.user_permissions.add(Permission.objects.get(codename="view_backuprun"))
    client = Client()
    client.force_login(viewer)
    assert client.get(PAGE).status_code == 200
    assert "Back up now" not in client.get(PAGE).content.decode()
    assert client.post(f"{PAGE}run/").status_code == 403
    assert BackupRun.objects.filter(trigger=BackupRun.Trigger.ADMIN).count() == 1


def test_the_page_costs_the_same_queries_with_more_backups(backups, django_assert_num_queries):
    client = _client(is_staff=True, is_superuser=True)
    client.get(PAGE)
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as two:
        client.get(PAGE)
    backup_create(include_media=False)
    backup_create(include_media=False)
    with django_assert_num_queries(len(two.captured_queries)):
        html = client.get(PAGE).content.decode()
    assert html.count('class="backup-row"') == 4
