"""The terminal client shows a reasoning model's thoughts dimmed, before its answer, and keeps
them out of the answer (issue #18)."""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from pathlib import Path

import pexpect
import pytest
from rich.console import Console

from chatlab_cli.render import conversation_markdown, stream_reply
from tests.fakes.openai_server import FakeOpenAI
from tests.stack import postgres_available, stack
from tests.test_cli import CHATLAB, PROMPT, Site, _interruptible

DIM = "\x1b[2m"
ROOT = Path(__file__).resolve().parents[2]
ESCAPES = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def _terminal() -> tuple[Console, io.StringIO]:
    out = io.StringIO()
    return Console(file=out, force_terminal=True, color_system="standard", width=80), out


def test_reasoning_is_printed_dimmed_before_the_answer():
    events = [
        ("snapshot", {"id": "m", "seq": 0, "content": "", "reasoning": "", "status": "streaming"}),
        ("delta", {"seq": 1, "text": "", "reasoning": "Light scatters "}),
        ("delta", {"seq": 2, "text": "The sky is blue.", "reasoning": "more at blue."}),
        ("done", {"status": "complete", "reasoning_ms": 900}),
    ]
    terminal, out = _terminal()
    reply = stream_reply(iter(events), out=terminal)
    assert reply.reasoning == "Light scatters more at blue."
    assert reply.text == "The sky is blue."
    screen = out.getvalue()
    last = screen.rindex("Light scatters")
    # The last drawing: the thoughts in the dim style, then the answer in the plain one.
    assert screen.rfind(DIM, 0, last) > screen.rfind("\x1b[0m", 0, last)
    assert last < screen.rindex("The sky is blue.")
    plain = ESCAPES.sub("", screen)
    assert "The sky is blue." in plain


def test_a_reply_without_reasoning_looks_as_before():
    terminal, out = _terminal()
    reply = stream_reply(iter([("snapshot", {"content": "Hi", "status": "streaming"}),
                               ("done", {"status": "complete"})]), out=terminal)
    assert reply.reasoning == "" and DIM not in out.getvalue()


def test_the_markdown_export_quotes_the_reasoning_apart():
    text = conversation_markdown(
        {"id": "c", "title": "Sky", "bot": "r1", "created_at": None},
        [{"role": "user", "content": "why blue?"},
         {"role": "assistant", "content": "Rayleigh.",
          "reasoning": "Light scatters.\nShort waves."}])
    assert "> *Thinking:*\n>\n> Light scatters.\n> Short waves.\n\nRayleigh." in text


# `chatlab chat` against a running server ------------------------------------------------------

SETUP = """
from accounts.models import User
from accounts.services.tokens import api_token_create
from conversations.models import Bot, Provider
p = Provider.objects.create(name="F", kind="openai", base_url={url!r}, api_key="sk-x",
                            timeout=5, max_retries=0)
Bot.objects.create(slug="r1", name="R1", provider=p, model="deepseek-r1")
user = User.objects.create_user(email="terminal@example.com", password="x-unused-x")
print(api_token_create(user=user, name="cli")[1])
"""


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    home = tmp_path_factory.mktemp("cli-home")
    with FakeOpenAI() as fake, stack(tmp_path_factory.mktemp("cli-reasoning"),
                                     postgres=postgres_available(), redis=False) as s:
        fake.configure(ttft=0.0, rate=20, tokens=10)
        token = next(w for w in s.shell(SETUP.format(url=fake.url)).split()
                     if w.startswith("chl_"))
        site = Site(stack=s, url=s.daphne(), token=token, home=Path(home))
        login = site.run("login", "--server", site.url, "--token", token)
        assert login.returncode == 0, login.stderr
        yield site


def test_chat_prints_the_thoughts_dimmed_then_the_answer(site: Site) -> None:
    # The venv's `chatlab` script imports the checkout it was installed from: point it at
    # this one, the code under test.
    env = site.env(PYTHONPATH=str(ROOT))
    child = pexpect.spawn(CHATLAB, ["chat", "--bot", "r1"], env=env, encoding="utf-8",
                          timeout=30, dimensions=(40, 120), preexec_fn=_interruptible)
    child.expect(PROMPT)
    child.sendline("why is the sky blue")
    child.expect(re.escape(DIM) + r"Thinking")  # the thoughts, dimmed, while the model thinks
    child.expect(r"Echo:")
    child.expect(PROMPT)
    child.sendline("/exit")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0
