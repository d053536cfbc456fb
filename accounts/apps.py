from typing import Any

from django.apps import AppConfig
from django.db.models.signals import post_migrate
from django.utils.translation import gettext_lazy as _


def _grant_admin_role_every_permission(sender: Any, **kwargs: Any) -> None:
    # Permissions are created after migrations run, so the admin role is completed here.
    from django.contrib.auth.models import Permission

    from accounts.models import RolePolicy
    from accounts.roles import ensure_default_roles

    ensure_default_roles()
    policy = RolePolicy.objects.filter(role="admin").select_related("group").first()
    if policy is not None:
        policy.group.permissions.set(Permission.objects.all())


class AccountsConfig(AppConfig):
    name = "accounts"
    # allauth's email addresses are "Accounts" in the admin already: one heading each.
    verbose_name = _("Users and roles")

    def ready(self) -> None:
        # Sent once per app; the last call sees every permission.
        post_migrate.connect(_grant_admin_role_every_permission)
        from django.apps import apps

        from .site_identity import site_sync

        # After the sites app's own handler, which makes the example.com row.
        post_migrate.connect(site_sync, sender=apps.get_app_config("sites"),
                             dispatch_uid="chatlab-site-identity")
        from django.db.models.signals import post_save

        from .signals import close_sockets_of_deactivated

        post_save.connect(close_sockets_of_deactivated, sender=self.get_model("User"))
        from django.contrib.auth.signals import user_logged_in

        from .guests import on_login

        # Logging in (sign-up logs in too) keeps the conversations tried as a guest.
        user_logged_in.connect(on_login, dispatch_uid="chatlab-guest-adopt")
        from .language_views import remember_visitor_language

        user_logged_in.connect(remember_visitor_language, dispatch_uid="chatlab-language")
