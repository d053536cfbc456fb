"""The admin's index names each app once, and the role quotas have room for their numbers."""

import re

import pytest

from accounts.models import User

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(client):
    client.force_login(User.objects.create_superuser(email="boss@acme.test", password="x" * 20))
    return client


def test_the_index_has_one_accounts_section(admin_client):
    page = admin_client.get("/admin/").content.decode()
    captions = re.findall(r'<caption>\s*<a [^>]*class="section"[^>]*>([^<]+)</a>', page)
    assert len(captions) == len(set(captions)), captions
    assert "Users and roles" in captions


@pytest.mark.parametrize("path", ["/admin/accounts/rolepolicy/", "/admin/auth/group/{pk}/change/"])
def test_quota_inputs_are_wide_enough_for_millions(admin_client, path):
    from accounts.models import RolePolicy

    policy = RolePolicy.objects.get(role="user")
    page = admin_client.get(path.format(pk=policy.group_id)).content.decode()
    inputs = re.findall(r'<input type="number" name="[^"]*tokens_per_day"[^>]*>', page)
    assert inputs and all('class="vBigIntegerField"' in i for i in inputs), inputs
