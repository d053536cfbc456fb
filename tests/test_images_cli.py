"""`chatlab image`: the terminal client against the real API (in-process, over WSGI)."""

from __future__ import annotations

import contextlib
import io

import httpx
import pytest
from django.core.handlers.wsgi import WSGIHandler
from django.core.signals import request_finished, request_started
from django.db import close_old_connections

from accounts.services.tokens import api_token_create
from chatlab_cli import main as cli
from chatlab_cli.api import Client
from tests.fakes.openai_server import Behaviour
from tests.images_support import (  # noqa: F401
    _images_inline, demo_images, fake_provider, gpt_image, picture,
)

pytestmark = pytest.mark.django_db


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.fixture
def chatlab(user, monkeypatch, tmp_path):
    """Runs `chatlab ...` with a terminal for stderr; returns (status, stdout, stderr)."""
    # The WSGI app's request signals would close the test's connection (and transaction) on
    # PostgreSQL; Django's test client disconnects them for the same reason.
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    _, token = api_token_create(user=user, name="cli")
    transport = httpx.WSGITransport(app=WSGIHandler())
    monkeypatch.setattr(cli, "_client", lambda: Client("http://testserver", token,
                                                       transport=transport))
    monkeypatch.chdir(tmp_path)

    def run(*argv: str) -> tuple[int, str, str]:
        out, err = io.StringIO(), Terminal()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            status = cli.main(list(argv))
        return status, out.getvalue(), err.getvalue()

    yield run
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


def test_it_saves_the_image_and_shows_progress(chatlab, demo_images, tmp_path):
    status, out, err = chatlab("image", "a lighthouse at dusk", "-o", "light.png")
    assert status == 0 and out.strip() == "light.png"
    assert picture((tmp_path / "light.png").read_bytes()).size == (512, 512)
    assert "100%" in err and "done" in err


def test_several_images_get_numbered_names(chatlab, gpt_image, fake_openai, tmp_path):
    status, out, _ = chatlab("image", "two foxes", "--model", "gpt-image", "--size", "1024x1536",
                             "-n", "2", "-o", "fox.png")
    assert status == 0 and out.split() == ["fox-1.png", "fox-2.png"]
    assert picture((tmp_path / "fox-2.png").read_bytes()).size == (128, 192)
    assert fake_openai.image_requests[-1]["body"]["n"] == 2


def test_without_a_name_the_file_is_named_after_the_job(chatlab, demo_images, tmp_path):
    status, out, _ = chatlab("image", "a cat")
    name = out.strip()
    assert status == 0 and name.startswith("chatlab-") and name.endswith(".png")
    assert (tmp_path / name).exists()


def test_a_refusal_is_one_line_and_status_1(chatlab, gpt_image, fake_openai, tmp_path):
    fake_openai.script_images(Behaviour(status=400, code="content_policy_violation",
                                        text="rejected by the safety system"))
    status, out, err = chatlab("image", "something refused", "--model", "gpt-image")
    assert status == 1 and out == ""
    assert err.strip().splitlines()[-1].startswith(
        "chatlab: No image: The provider refused this prompt")
    assert list(tmp_path.iterdir()) == []


def test_bad_input_is_refused_before_any_job(chatlab, demo_images):
    status, _, err = chatlab("image", "a cat", "--size", "1x1")
    assert status == 1 and "makes these sizes" in err
