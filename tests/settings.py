"""Test settings: the real settings, with fast hashing and the demo bot typing instantly.

The database follows DATABASE_URL like the site does (SQLite when unset, PostgreSQL under CI).
"""

import os
import tempfile

os.environ.setdefault("SECRET_KEY", "test-secret-key-" + "x7Hq2Lm9Vb4Nc8Zr1Pw6Ts3Ky5Jd0Fg" * 2)
os.environ.setdefault("ALLOWED_HOSTS", "localhost,127.0.0.1,testserver")
os.environ.setdefault("CHATLAB_HTTPS", "false")
# Model-written titles would take scripted answers from the fake OpenAI server; the tests that
# want them switch them on (tests/test_memory_context.py).
os.environ.setdefault("CHATLAB_AUTO_TITLES", "false")
os.environ.setdefault("CHATLAB_DATA_DIR", tempfile.mkdtemp(prefix="chatlab-test-"))
# Channels and Celery stay in-process for the ordinary suite; the multi-process tests start
# their own daphne and Celery processes with REDIS_URL set.
os.environ.pop("REDIS_URL", None)
os.environ.pop("CELERY_BROKER_URL", None)

from chatlab_site.settings import *  # noqa: E402,F401,F403

# The in-process suite keeps one plain connection (pytest-django's transactions); the daphne and
# Celery processes the multi-process tests start use the production pool.
if DATABASES["default"].get("OPTIONS", {}).pop("pool", None) is not None:  # noqa: F405
    DATABASES["default"]["CONN_MAX_AGE"] = 0  # noqa: F405

# SQLite's in-memory test database shares one cache between connections, where a writer meeting
# a reader fails at once ("database table is locked") instead of waiting as the site's file in
# WAL mode does; a file keeps the threads of the in-process tests as patient as production.
if DATABASES["default"]["ENGINE"].endswith("sqlite3"):  # noqa: F405
    DATABASES["default"]["TEST"] = {  # noqa: F405
        "NAME": os.path.join(os.environ["CHATLAB_DATA_DIR"], "test.sqlite3")
    }

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
CHATLAB_DEMO_TOKENS_PER_SECOND = 0
# In-process tests keep the socket's writes on the shared thread: a pool thread's connection
# would outlive the test that opened it. The daphne the multi-process tests start uses the pool.
CHATLAB_CHAT_DB_THREADS = 0
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    "dbbackup": STORAGES["dbbackup"],  # noqa: F405
}
STATIC_ROOT = os.path.join(os.environ["CHATLAB_DATA_DIR"], "static")
os.makedirs(STATIC_ROOT, exist_ok=True)
WHITENOISE_USE_FINDERS = True
# Logins and errors wait in memory until a test flushes them (analytics.recorder.flush).
CHATLAB_ANALYTICS_FLUSH_SECONDS = 0
