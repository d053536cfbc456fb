"""Creates the first administrator when there is none, and says how to log in.

`make run` runs this last before serving (daphne starts quietly), so the box with the one-time
password is the last thing on the screen, not lost among migrations and server logs."""

from __future__ import annotations

import os
import secrets
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser

from accounts.models import User


def serve_url(host: str | None, port: str | None) -> str:
    """Where people open the site: SITE_URL when the operator set it (a proxy, a domain), else
    the address `make run` serves on (HOST and PORT); a wildcard host is opened as 127.0.0.1."""
    if os.environ.get("SITE_URL") or not (host or port):
        return settings.SITE_URL.rstrip("/") + "/"
    host = host or "127.0.0.1"
    if host in ("0.0.0.0", "::", "[::]"):
        host = "127.0.0.1"
    elif ":" in host and not host.startswith("["):
        host = f"[{host}]"
    return f"http://{host}:{port or 8000}/"


def boxed(lines: list[str]) -> str:
    width = max(len(line) for line in lines)
    rule = "+" + "-" * (width + 2) + "+"
    return "\n".join([rule, *(f"| {line.ljust(width)} |" for line in lines), rule])


class Command(BaseCommand):
    help = "Create the first admin account if no superuser exists, printing its password once."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--email", default="admin@localhost")
        parser.add_argument("--host", help="the address the site is served on (make run's HOST)")
        parser.add_argument("--port", help="the port it is served on (make run's PORT)")

    def handle(self, *args: Any, email: str, host: str | None = None, port: str | None = None,
                **options: Any) -> None:
        url = serve_url(host, port)
        existing = User.objects.filter(is_superuser=True).order_by("pk").first()
        if existing:
            self.stdout.write(boxed([
                f"Chatlab is serving on {url}  (Ctrl-C stops it)",
                f"Admin account: {existing.email}  ({url}admin/)",
                f"Forgot the password? python manage.py changepassword {existing.email}",
            ]))
            return
        password = secrets.token_urlsafe(12)
        User.objects.create_superuser(email=email, password=password)
        self.stdout.write(self.style.SUCCESS(boxed([
            f"Chatlab is serving on {url}  (Ctrl-C stops it)",
            "",
            "Created the first admin account:",
            f"  email:    {email}",
            f"  password: {password}",
            "  (shown once: write it down or change it)",
            "",
            f"Log in at {url}accounts/login/",
            f"The admin is at {url}admin/",
        ])))
