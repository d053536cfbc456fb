from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.auth.models import AbstractUser, BaseUserManager
from django.db import models
from django.utils.translation import gettext_lazy as _


class UserManager(BaseUserManager["User"]):
    use_in_migrations = True

    def _create_user(self, email: str, password: str | None, **extra: Any) -> User:
        if not email:
            raise ValueError("An email address is required")
        user = self.model(email=self.normalize_email(email).lower(), **extra)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_user(self, email: str, password: str | None = None, **extra: Any) -> User:
        extra.setdefault("is_staff", False)
        extra.setdefault("is_superuser", False)
        return self._create_user(email, password, **extra)

    def create_superuser(self, email: str, password: str | None = None, **extra: Any) -> User:
        extra["is_staff"] = True
        extra["is_superuser"] = True
        return self._create_user(email, password, **extra)


class User(AbstractUser):
    """A person who signs in with their email address; there is no username."""

    username = None  # type: ignore[assignment]
    email = models.EmailField(_("email address"), unique=True)
    display_name = models.CharField(_("display name"), max_length=150, blank=True)
    # A visitor trying the site without an account: never logged in, owns the conversations
    # kept in their session until they sign up (then they move to the new account).
    is_guest = models.BooleanField(_("guest"), default=False, db_index=True)
    # The interface language they chose (empty: the browser's); replies still follow the
    # language they write in, and this is its fallback for text that does not tell.
    language = models.CharField(
        _("language"), max_length=12, blank=True, choices=settings.LANGUAGES
    )

    USERNAME_FIELD = "email"
    REQUIRED_FIELDS: list[str] = []

    objects = UserManager()  # type: ignore[misc]

    class Meta:
        verbose_name = _("user")
        verbose_name_plural = _("users")

    def __str__(self) -> str:
        return self.email

    @property
    def shown_name(self) -> str:
        return self.display_name or self.email.split("@", 1)[0]


class Role(models.TextChoices):
    GUEST = "guest", _("guest")
    USER = "user", _("user")
    ADMIN = "admin", _("admin")


class RolePolicy(models.Model):
    """What a role may do and how much. A role is a Django group; this row carries its limits.

    An empty limit means "no limit".
    """

    group = models.OneToOneField(
        "auth.Group", on_delete=models.CASCADE, related_name="policy", verbose_name=_("group")
    )
    role = models.CharField(_("role"), max_length=10, choices=Role.choices, unique=True)
    messages_per_day = models.PositiveIntegerField(_("messages per day"), null=True, blank=True)
    tokens_per_day = models.PositiveIntegerField(_("tokens per day"), null=True, blank=True)
    images_per_day = models.PositiveIntegerField(_("images per day"), null=True, blank=True)
    max_reply_tokens = models.PositiveIntegerField(
        _("longest reply (tokens)"), null=True, blank=True,
        help_text=_("Caps every bot's max output tokens for this role."),
    )
    api_access = models.BooleanField(_("API access"), default=False)
    all_bots = models.BooleanField(_("may use every bot"), default=True)
    bots = models.ManyToManyField(
        "conversations.Bot", blank=True, related_name="+", verbose_name=_("bots"),
        help_text=_("When 'may use every bot' is off, only these."),
    )

    class Meta:
        verbose_name = _("role and quota")
        verbose_name_plural = _("roles and quotas")

    def __str__(self) -> str:
        return self.get_role_display()


class ApiToken(models.Model):
    """A personal API token. Only a SHA-256 hash is stored; the token is shown once."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(_("name"), max_length=100)
    prefix = models.CharField(max_length=16, help_text=_("The token's first characters, to tell tokens apart."))
    digest = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = _("API token")
        verbose_name_plural = _("API tokens")

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None
