"""The three roles with sensible starting quotas; administrators edit them in the admin."""

from django.db import migrations

ROLES = {
    "guest": {"messages_per_day": 10, "tokens_per_day": 20_000, "images_per_day": 0,
              "max_reply_tokens": 1024, "api_access": False},
    "user": {"messages_per_day": 500, "tokens_per_day": 2_000_000, "images_per_day": 50,
             "max_reply_tokens": None, "api_access": True},
    "admin": {"messages_per_day": None, "tokens_per_day": None, "images_per_day": None,
              "max_reply_tokens": None, "api_access": True},
}


def create(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    RolePolicy = apps.get_model("accounts", "RolePolicy")
    for role, limits in ROLES.items():
        group, _ = Group.objects.get_or_create(name=role.capitalize())
        RolePolicy.objects.get_or_create(role=role, defaults={"group": group, **limits})


def remove(apps, schema_editor):
    apps.get_model("accounts", "RolePolicy").objects.filter(role__in=ROLES).delete()


class Migration(migrations.Migration):
    dependencies = [("accounts", "0002_roles_and_tokens")]
    operations = [migrations.RunPython(create, remove)]
