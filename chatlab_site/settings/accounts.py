"""django-allauth: email is the login; email delivery from the environment."""

from __future__ import annotations

from chatlab_site import env

AUTHENTICATION_BACKENDS = [
    "django.contrib.auth.backends.ModelBackend",
    "allauth.account.auth_backends.AuthenticationBackend",
]
LOGIN_URL = "account_login"
LOGIN_REDIRECT_URL = "chat"
ACCOUNT_LOGOUT_REDIRECT_URL = "account_login"

ACCOUNT_USER_MODEL_USERNAME_FIELD = None
ACCOUNT_LOGIN_METHODS = {"email"}
ACCOUNT_SIGNUP_FIELDS = ["email*", "password1*", "password2*"]
ACCOUNT_UNIQUE_EMAIL = True
ACCOUNT_EMAIL_VERIFICATION = env.choice(
    "ACCOUNT_EMAIL_VERIFICATION", ("none", "optional", "mandatory"), "optional"
)
ACCOUNT_LOGOUT_ON_GET = False
ACCOUNT_SESSION_REMEMBER = True
ACCOUNT_ALLOW_SIGNUPS = env.boolean("CHATLAB_ALLOW_SIGNUPS", True)
ACCOUNT_ADAPTER = "accounts.adapters.AccountAdapter"

DEFAULT_FROM_EMAIL = env.string("DEFAULT_FROM_EMAIL", "Chatlab <chatlab@localhost>")
SERVER_EMAIL = DEFAULT_FROM_EMAIL
_email_url = env.url("EMAIL_URL", schemes=("smtp", "smtps", "console"))
if _email_url and not _email_url.startswith("console"):
    from urllib.parse import unquote, urlsplit

    _parts = urlsplit(_email_url)
    EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    EMAIL_HOST = _parts.hostname or "localhost"
    EMAIL_PORT = _parts.port or (465 if _parts.scheme == "smtps" else 587)
    EMAIL_HOST_USER = unquote(_parts.username or "")
    EMAIL_HOST_PASSWORD = unquote(_parts.password or "")
    EMAIL_USE_SSL = _parts.scheme == "smtps"
    EMAIL_USE_TLS = _parts.scheme == "smtp" and env.boolean("EMAIL_USE_TLS", True)
    EMAIL_TIMEOUT = 15
else:
    EMAIL_BACKEND = "django.core.mail.backends.console.EmailBackend"

# Failed logins, sign-ups and password resets, per address and per account (allauth).
ACCOUNT_RATE_LIMITS = {
    "login_failed": "10/m/ip,5/5m/key",
    "signup": "20/h/ip",
    "reset_password": "20/h/ip,5/h/key",
    "reset_password_from_key": "20/h/ip",
    "change_password": "5/m/user",
    "manage_email": "10/m/user",
    "confirm_email": "1/3m/key",
}

# Visitors may try the default bot before signing up (the guest role's quota applies).
CHATLAB_GUEST_CHAT = env.boolean("CHATLAB_GUEST_CHAT", True)
# Guests and their conversations are deleted after this many days.
CHATLAB_GUEST_RETENTION_DAYS = env.integer("CHATLAB_GUEST_RETENTION_DAYS", 7, minimum=1)
