"""Database, channel layer, cache and Celery: embedded defaults, production by variable."""

from __future__ import annotations

import dj_database_url

from chatlab_site import env

from .base import DATA_DIR, DATABASE_URL, REDIS_URL

if DATABASE_URL:
    DATABASES = {
        "default": dj_database_url.parse(
            DATABASE_URL,
            conn_max_age=env.integer("DATABASE_CONN_MAX_AGE", 60, minimum=0),
            conn_health_checks=True,
        )
    }
    # Under ASGI every request's sync code may run on a thread of its own, and a persistent
    # connection per thread piles up until PostgreSQL refuses more. A pool per process (psycopg's)
    # bounds them and still saves the connect per request.
    if DATABASES["default"]["ENGINE"].endswith("postgresql") and env.boolean("DATABASE_POOL", True):
        DATABASES["default"].update(CONN_MAX_AGE=0, CONN_HEALTH_CHECKS=False)
        DATABASES["default"].setdefault("OPTIONS", {})["pool"] = {
            "min_size": 1,
            "max_size": env.integer("DATABASE_POOL_MAX_SIZE", 20, minimum=1),
            "timeout": 10,
        }
else:
    DATA_DIR.mkdir(parents=True, exist_ok=True)
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": DATA_DIR / "chatlab.sqlite3",
            # WAL lets the chat stream save while pages read; the timeout rides out short locks.
            # IMMEDIATE: a transaction takes the write lock when it begins, so it waits its turn
            # (the timeout) instead of failing at once with "database is locked" when it moves
            # from reading to writing while another thread writes. NORMAL sync is safe under WAL
            # and keeps each commit short.
            "OPTIONS": {
                "timeout": 20,
                "transaction_mode": "IMMEDIATE",
                "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
            },
        }
    }

if REDIS_URL:
    # Pub/sub layer: one round trip per send instead of about four (see DESIGN.md).
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
            "CONFIG": {"hosts": [REDIS_URL], "prefix": "chatlab"},
        }
    }
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": "chatlab",
        }
    }
else:
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

CELERY_BROKER_URL = env.string("CELERY_BROKER_URL", REDIS_URL)
# Without a broker, tasks run in the process that sends them (the embedded mode).
CELERY_TASK_ALWAYS_EAGER = not CELERY_BROKER_URL
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BROKER_TRANSPORT_OPTIONS = {
    # A task whose worker died is handed to another worker after this long; replies are bounded
    # well below it (CHATLAB_REPLY_TIMEOUT), so a live task is never delivered twice.
    "visibility_timeout": env.integer("CELERY_VISIBILITY_TIMEOUT", 900, minimum=60),
}
CELERY_TASK_ROUTES = {
    "conversations.tasks.generate_reply": {"queue": "chat"},
    "conversations.tasks.*": {"queue": "maintenance"},
    "imaging.tasks.*": {"queue": "images"},
    # Messenger updates become replies: interactive work, like titles (DESIGN.md).
    "integrations.tasks.*": {"queue": "chat"},
    "analytics.tasks.*": {"queue": "maintenance"},
    "accounts.tasks.*": {"queue": "maintenance"},
}
CELERY_TASK_DEFAULT_QUEUE = "maintenance"
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
CELERY_TIMEZONE = "UTC"
