"""Creates the first administrator when there is none, and says how to log in."""

from __future__ import annotations

import secrets
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser

from accounts.models import User


class Command(BaseCommand):
    help = "Create the first admin account if no superuser exists, printing its password once."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--email", default="admin@localhost")

    def handle(self, *args: Any, email: str, **options: Any) -> None:
        login_url = f"{settings.SITE_URL.rstrip('/')}/accounts/login/"
        existing = User.objects.filter(is_superuser=True).order_by("pk").first()
        if existing:
            self.stdout.write(
                f"Admin account: {existing.email} (log in at {login_url}; "
                f"forgot the password? python manage.py changepassword {existing.email})"
            )
            return
        password = secrets.token_urlsafe(12)
        User.objects.create_superuser(email=email, password=password)
        self.stdout.write(self.style.SUCCESS("Created the first admin account."))
        self.stdout.write(f"  Log in at {login_url}")
        self.stdout.write(f"  email:    {email}")
        self.stdout.write(f"  password: {password}   (shown once: write it down or change it)")
