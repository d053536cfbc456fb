from __future__ import annotations

import secrets
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

from chatlab_site import env

BASE_DIR = Path(__file__).resolve().parent.parent.parent
DATA_DIR = Path(env.string("CHATLAB_DATA_DIR", str(BASE_DIR / "var"))).resolve()

# Production is any deployment that names an external database or Redis: then nothing is guessed.
DATABASE_URL = env.url("DATABASE_URL", schemes=("postgres", "postgresql", "pgsql", "sqlite"))
REDIS_URL = env.url("REDIS_URL", schemes=("redis", "rediss", "unix"))
PRODUCTION = bool(DATABASE_URL or REDIS_URL)
DEBUG = env.boolean("DEBUG", False)


def _secret_key() -> str:
    key = env.string("SECRET_KEY")
    if key:
        if len(key) < 50 or len(set(key)) < 5:
            raise ImproperlyConfigured("SECRET_KEY must be at least 50 characters of random text")
        return key
    if PRODUCTION:
        raise ImproperlyConfigured("SECRET_KEY is required when DATABASE_URL or REDIS_URL is set")
    # Embedded mode keeps a generated key on disk so sessions survive a restart.
    path = DATA_DIR / "secret_key"
    if not path.exists():
        DATA_DIR.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_urlsafe(64))
        path.chmod(0o600)
    return path.read_text().strip()


SECRET_KEY = _secret_key()
# Extra keys for field encryption, newest first: lets an operator rotate SECRET_KEY without losing
# the provider API keys and integration secrets encrypted under the old one.
ENCRYPTION_KEYS = env.csv("CHATLAB_ENCRYPTION_KEYS")

ALLOWED_HOSTS = env.csv("ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]"])
if PRODUCTION and not env.raw("ALLOWED_HOSTS"):
    raise ImproperlyConfigured("ALLOWED_HOSTS is required when DATABASE_URL or REDIS_URL is set")
CSRF_TRUSTED_ORIGINS = env.csv("CSRF_TRUSTED_ORIGINS")
SITE_URL = env.url("SITE_URL", schemes=("http", "https"), default="http://127.0.0.1:8000")
# With SITE_URL's host, what emails call the site (accounts/site_identity.py).
SITE_NAME = env.string("SITE_NAME", "Chatlab")

INSTALLED_APPS = [
    "daphne",
    # Before the admin: it patches the model admin to show every language's field.
    "modeltranslation",
    "chatlab_site.admin.ChatlabAdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.sites",
    "django.contrib.humanize",
    "channels",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",  # Swagger UI served from here, not a CDN
    "django_celery_beat",
    "allauth",
    "allauth.account",
    "allauth.socialaccount",
    # Social and OpenID Connect login: each is off until an admin adds its Social application.
    "allauth.socialaccount.providers.openid_connect",
    "allauth.socialaccount.providers.google",
    "allauth.socialaccount.providers.github",
    "allauth.socialaccount.providers.gitlab",
    "allauth.socialaccount.providers.microsoft",
    "accounts",
    "conversations",
    "imaging",
    "integrations",
    "analytics",
    "chatlab_site.ops",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    # Before anything that may read the session or the user from the database.
    "chatlab_site.health.health_middleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # A signed-in person's saved language wins over the cookie and Accept-Language.
    "accounts.middleware.UserLanguageMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "allauth.account.middleware.AccountMiddleware",
    # The Content-Security-Policy header (settings/content_security_policy.py).
    "csp.middleware.CSPMiddleware",
]

ROOT_URLCONF = "chatlab_site.urls"
ASGI_APPLICATION = "chatlab_site.asgi.application"
WSGI_APPLICATION = "chatlab_site.wsgi.application"
SITE_ID = 1

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "django.template.context_processors.i18n",
            ],
        },
    },
]

LANGUAGE_CODE = env.string("LANGUAGE_CODE", "en")
LANGUAGES = [
    ("en", "English"),
    ("ru", "Русский"),
    ("de", "Deutsch"),
    ("es", "Español"),
    ("fr", "Français"),
    ("zh-hans", "简体中文"),
]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = env.string("TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = Path(env.string("STATIC_ROOT", str(BASE_DIR / "staticfiles")))
STATICFILES_DIRS = [BASE_DIR / "static"]
MEDIA_URL = "/media/"
MEDIA_ROOT = Path(env.string("MEDIA_ROOT", str(DATA_DIR / "media")))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}

FORMS_URLFIELD_ASSUME_HTTPS = True  # Django 6 behaviour now; silences its warning
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
AUTH_USER_MODEL = "accounts.User"

LOG_LEVEL = env.choice("LOG_LEVEL", ("debug", "info", "warning", "error"), "info").upper()
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        "django.channels.server": {"level": "WARNING"},
        "httpx": {"level": "WARNING"},
        "httpx2": {"level": "WARNING"},  # a line per model request, on the event loop
    },
}
