"""Messenger integrations: the connected bot accounts, the people behind messenger ids, and what
each chat is talking about."""

from __future__ import annotations

import json
import secrets
from typing import Any

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from chatlab_site.fields import EncryptedTextField


def new_webhook_secret() -> str:
    # Telegram accepts 1-256 characters of A-Z, a-z, 0-9, _ and -; token_urlsafe stays inside.
    return secrets.token_urlsafe(32)


class Platform(models.TextChoices):
    TELEGRAM = "telegram", _("Telegram")
    SLACK = "slack", _("Slack")
    DISCORD = "discord", _("Discord")


# The secrets each platform needs (Integration.credentials keys), in the admin's order.
CREDENTIAL_KEYS: dict[str, tuple[str, ...]] = {
    Platform.TELEGRAM: ("token",),
    Platform.SLACK: ("bot_token", "signing_secret"),
    Platform.DISCORD: ("application_id", "public_key", "bot_token"),
}


class Integration(models.Model):
    """One connected bot account on a messenger, serving one Chatlab bot."""

    platform = models.CharField(_("platform"), max_length=12, choices=Platform.choices)
    name = models.CharField(_("name"), max_length=100)
    bot = models.ForeignKey(
        "conversations.Bot", on_delete=models.PROTECT, related_name="integrations",
        verbose_name=_("bot"),
        help_text=_("The Chatlab bot that answers (people whose role may not use it get their "
                    "role's default bot)."),
    )
    enabled = models.BooleanField(_("enabled"), default=True)
    # A JSON object of the platform's secrets (CREDENTIAL_KEYS), encrypted at rest; the admin
    # only ever writes it.
    credentials = EncryptedTextField(_("credentials"), blank=True)
    webhook_secret = EncryptedTextField(_("webhook secret"), default=new_webhook_secret)
    # The bot's own name on the platform (Telegram username), learnt by "test connection" and
    # "register webhook": group messages count as addressed to the bot when they mention it.
    account_name = models.CharField(_("account name"), max_length=100, blank=True)
    last_error = models.TextField(_("last error"), blank=True)
    last_error_at = models.DateTimeField(_("last error at"), null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["platform", "name"]
        verbose_name = _("messenger integration")
        verbose_name_plural = _("messenger integrations")

    def __str__(self) -> str:
        return f"{self.get_platform_display()}: {self.name}"

    def credential_map(self) -> dict[str, str]:
        try:
            data = json.loads(self.credentials or "{}")
        except ValueError:
            return {}
        return {str(k): str(v) for k, v in data.items()} if isinstance(data, dict) else {}

    def credential(self, key: str) -> str:
        return self.credential_map().get(key, "")

    def set_credentials(self, **values: str) -> None:
        """Merges the given secrets; an empty value keeps the stored one."""
        data = self.credential_map()
        data.update({k: v for k, v in values.items() if v})
        self.credentials = json.dumps(data)

    def secrets(self) -> list[str]:
        """Every secret this row holds, for scrubbing them out of error messages."""
        return [v for v in (*self.credential_map().values(), self.webhook_secret) if len(v) >= 6]


class Delivery(models.Model):
    """A platform update already accepted: the same one delivered again is answered once."""

    integration = models.ForeignKey(Integration, on_delete=models.CASCADE,
                                    related_name="deliveries")
    key = models.CharField(max_length=200)
    received_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["integration", "key"], name="delivery_once")
        ]


class MessengerIdentity(models.Model):
    """A person on a messenger. Their Chatlab user is a guest until they link their account."""

    platform = models.CharField(_("platform"), max_length=12, choices=Platform.choices)
    external_id = models.CharField(_("id on the platform"), max_length=100)
    name = models.CharField(_("name"), max_length=200, blank=True)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE,
                             related_name="messenger_identities", verbose_name=_("user"))
    linked_at = models.DateTimeField(_("linked"), null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["platform", "external_id"], name="identity_once")
        ]
        verbose_name = _("messenger account")
        verbose_name_plural = _("messenger accounts")

    def __str__(self) -> str:
        return f"{self.get_platform_display()} {self.name or self.external_id}"


class LinkCode(models.Model):
    """A one-time code from the profile page that links a messenger account (/link CODE).
    Only its SHA-256 digest is stored; the code is shown once."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE,
                             related_name="messenger_link_codes")
    digest = models.CharField(max_length=64, unique=True)
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)


class ChatBinding(models.Model):
    """What one person is talking about in one chat: the current conversation (/new starts a
    fresh one) and the bot they picked with /bot."""

    integration = models.ForeignKey(Integration, on_delete=models.CASCADE,
                                    related_name="bindings")
    chat_id = models.CharField(max_length=100)
    identity = models.ForeignKey(MessengerIdentity, on_delete=models.CASCADE,
                                 related_name="bindings")
    conversation = models.ForeignKey("conversations.Conversation", on_delete=models.SET_NULL,
                                     null=True, blank=True, related_name="+")
    bot = models.ForeignKey("conversations.Bot", on_delete=models.SET_NULL, null=True,
                            blank=True, related_name="+")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["integration", "chat_id", "identity"],
                                    name="binding_once")
        ]


class ImageDelivery(models.Model):
    """Where to send the pictures of an image job asked for from a messenger."""

    job = models.OneToOneField("imaging.ImageJob", on_delete=models.CASCADE,
                               related_name="messenger_delivery")
    integration = models.ForeignKey(Integration, on_delete=models.CASCADE, related_name="+")
    chat_id = models.CharField(max_length=100)
    thread_id = models.CharField(max_length=100, blank=True)
    reply_ref = models.JSONField(default=dict, blank=True)

    def target_data(self) -> dict[str, Any]:
        return {"chat_id": self.chat_id, "thread_id": self.thread_id, "reply_ref": self.reply_ref}


class ReplyPost(models.Model):
    """Where a messenger reply is shown: the platform messages it fills, so that a reply whose
    process died can be marked interrupted there too (services.interrupted). Written when the
    reply's first message is sent, again only when it continues in another message."""

    reply = models.OneToOneField("conversations.Message", on_delete=models.CASCADE,
                                 primary_key=True, related_name="+")
    integration = models.ForeignKey(Integration, on_delete=models.CASCADE, related_name="+")
    chat_id = models.CharField(max_length=100)
    thread_id = models.CharField(max_length=100, blank=True)
    reply_ref = models.JSONField(default=dict, blank=True)
    refs = models.JSONField(default=list)  # the platform's message ids, one per piece
    language = models.CharField(max_length=16, blank=True)  # the person's, for the notice
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    def target_data(self) -> dict[str, Any]:
        return {"chat_id": self.chat_id, "thread_id": self.thread_id, "reply_ref": self.reply_ref}
