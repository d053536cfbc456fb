"""Keeps the garbage collector off the objects every process makes at start-up.

A full collection walks every tracked object. In a web process that is the whole framework
(Django, DRF, allauth, the openai SDK, ...): 85-110 ms with the event loop stopped, measured
in the middle of 50 streaming replies (bench/README.md). gc.freeze() moves what exists after
start-up into a generation the collector never visits, so later collections walk only what
the process made since.
"""

from __future__ import annotations

import gc
from typing import Any


def freeze_startup_objects() -> int:
    """Collects once, then freezes what is left; returns how many objects were frozen."""
    gc.collect()
    gc.freeze()
    return gc.get_freeze_count()


def load_web_app_and_freeze() -> int:
    """Imports the ASGI application, every URLconf (views included) and what each app's
    `warm_up()` loads before serving, then freezes."""
    import chatlab_site.asgi  # noqa: F401  (django.setup and the routing)
    from django.apps import apps
    from django.urls import get_resolver

    get_resolver().url_patterns  # noqa: B018  (imports each app's urls and views)
    for config in apps.get_app_configs():
        if callable(warm_up := getattr(config, "warm_up", None)):
            warm_up()
    return freeze_startup_objects()


def on_worker_start(**kwargs: Any) -> None:
    """Celery's worker_init / worker_process_init."""
    import django
    from django.apps import apps

    django.setup()  # idempotent; the signal may come before Celery's Django fix-up sets it up
    # A `chat` worker starts replies in bursts, like a web process: the first burst must not
    # load the language model (~180 ms holding the GIL, profiled) while its requests wait.
    apps.get_app_config("conversations").warm_up()
    freeze_startup_objects()
