"""Emails name the site from SITE_NAME and SITE_URL, never django.contrib.sites' example.com."""

import pytest
from django.contrib.sites.models import Site
from django.core import mail

from accounts.site_identity import site_sync

pytestmark = pytest.mark.django_db


def test_migrate_names_the_site_from_the_settings(settings):
    site = Site.objects.get_current()
    assert site.name == settings.SITE_NAME == "Chatlab"
    assert site.domain == settings.SITE_URL.split("//", 1)[1].rstrip("/")


def test_emails_say_the_configured_name_and_domain(client, settings):
    settings.SITE_URL = "https://chat.acme.test"
    settings.SITE_NAME = "Acme Chat"
    site_sync()
    client.post("/accounts/signup/", {"email": "someone@acme.test",
                                      "password1": "a-Long-passphrase-1",
                                      "password2": "a-Long-passphrase-1"})
    (confirm,) = mail.outbox
    assert confirm.subject.startswith("[Acme Chat] ")
    assert "Hello from Acme Chat!" in confirm.body
    assert "chat.acme.test" in confirm.body
    assert "example.com" not in confirm.subject + confirm.body
