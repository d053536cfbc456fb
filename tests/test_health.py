from __future__ import annotations

import pytest

from chatlab_site import health


@pytest.mark.django_db
def test_it_reports_every_service(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {
        "status": "ok",
        "checks": {"database": "ok", "channel_layer": "ok", "broker": "in-process"},
        "down": [],
    }


@pytest.mark.django_db
def test_it_names_what_is_down(client, monkeypatch, settings):
    def broken_database(deadline):
        raise OSError("database unreachable")

    monkeypatch.setattr(health, "_database", broken_database)
    settings.CELERY_TASK_ALWAYS_EAGER = False
    settings.CELERY_BROKER_URL = "redis://127.0.0.1:1/0"
    from chatlab_site.celery import app

    monkeypatch.setattr(app.conf, "broker_url", "redis://127.0.0.1:1/0")
    response = client.get("/healthz")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "down"
    assert set(body["down"]) == {"database", "broker"}
    assert body["checks"]["channel_layer"] == "ok"
