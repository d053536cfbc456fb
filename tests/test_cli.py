"""The terminal client: its config and error lines, and `chatlab` itself against a running daphne,
with `chatlab chat` driven through a pseudo-terminal (pexpect)."""

from __future__ import annotations

import json
import os
import re
import signal
import stat
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pexpect
import pytest

from chatlab_cli import config
from chatlab_cli.api import ApiError, Client, error_from_response
from chatlab_cli.main import main
from chatlab_cli.render import conversation_markdown
from tests.stack import Stack, free_port, postgres_available, stack

CHATLAB = str(Path(sys.executable).parent / "chatlab")
PROMPT = "you>"


def shown(*words: str) -> str:
    """A pattern for words on the terminal, with any styling escapes or spaces between them."""
    return r"(?:\s|\x1b\[[0-9;?]*[A-Za-z])+".join(re.escape(w) for w in words)

SETUP = """
from accounts.models import User
from accounts.services.tokens import api_token_create
user = User.objects.create_user(email="terminal@example.com", password="x-unused-x")
print(api_token_create(user=user, name="cli")[1])
"""

STATUSES = """
from conversations.models import Message
replies = Message.objects.filter(role="assistant",
                                 conversation__owner__email="terminal@example.com")
print(" ".join(replies.order_by("created_at").values_list("status", flat=True)))
"""


# Units ---------------------------------------------------------------------------------------

@pytest.fixture
def config_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    monkeypatch.delenv("CHATLAB_SERVER", raising=False)
    monkeypatch.delenv("CHATLAB_TOKEN", raising=False)
    return tmp_path / "xdg"


def test_the_token_is_stored_for_its_owner_only(config_home: Path) -> None:
    path = config.save(config.Config(server="http://chat.example", token="chl_secret"))
    assert path == config_home / "chatlab" / "config.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    os.chmod(path, 0o644)  # a wider mode from elsewhere is narrowed on the next save
    config.save(config.Config(server="http://chat.example", token="chl_new"))
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert config.load() == config.Config(server="http://chat.example", token="chl_new")


def test_the_environment_overrides_the_file(config_home: Path, monkeypatch) -> None:
    config.save(config.Config(server="http://a.example", token="chl_a"))
    monkeypatch.setenv("CHATLAB_SERVER", "b.example/")
    assert config.load() == config.Config(server="http://b.example", token="chl_a")


def test_not_logged_in_is_one_line(config_home: Path, capsys) -> None:
    assert main(["bots"]) == 1
    err = capsys.readouterr().err
    assert err == "chatlab: not logged in: run `chatlab login --server URL` first\n"


def test_server_errors_read_as_one_line() -> None:
    quota = error_from_response(httpx.Response(
        429, headers={"Retry-After": "7260"},
        json={"error": {"code": "quota", "message": "You have used all 5 messages\nfor today."}}))
    assert str(quota) == "You have used all 5 messages for today. (try again in 2h 1m)"
    assert quota.code == "quota" and quota.status == 429
    auth = error_from_response(httpx.Response(
        401, json={"error": {"code": "authentication_failed", "message": "The API token is "
                             "invalid or revoked."}}))
    assert str(auth).endswith("Run `chatlab login` with a valid token.")
    proxy = error_from_response(httpx.Response(502, text="<html>bad gateway</html>"))
    assert str(proxy) == "The server answered 502 Bad Gateway."


def test_an_unreachable_server_is_one_line() -> None:
    with Client(f"http://127.0.0.1:{free_port()}", "chl_x") as client:
        with pytest.raises(ApiError) as info:
            client.me()
    assert info.value.code == "network" and "Cannot reach" in str(info.value)


def test_the_markdown_export() -> None:
    conversation = {"id": "c1", "title": "Soup", "bot": "demo",
                    "created_at": "2026-01-02T03:04:05Z"}
    messages = [{"role": "user", "content": "A recipe?", "status": "complete"},
                {"role": "assistant", "content": "**Boil** water.", "status": "cancelled",
                 "error": ""}]
    text = conversation_markdown(conversation, messages)
    assert text.startswith("# Soup\n\n- Bot: demo\n- Started: 2026-01-02 03:04\n")
    assert ("## You\n\nA recipe?\n\n## demo (assistant)\n\n**Boil** water.\n\n*(cancelled)*\n"
            in text)


# Against a running server ---------------------------------------------------------------------

@dataclass
class Site:
    stack: Stack
    url: str
    token: str
    home: Path

    def env(self, **extra: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("CHATLAB_")}
        env.update(XDG_CONFIG_HOME=str(self.home), TERM="xterm", COLUMNS="120",
                   PROMPT_TOOLKIT_NO_CPR="1", **extra)
        return env

    def run(self, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([CHATLAB, *args], env=self.env(**env), capture_output=True,
                              text=True, timeout=60)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    home = tmp_path_factory.mktemp("cli-home")
    with stack(tmp_path_factory.mktemp("cli"), postgres=postgres_available(), redis=False,
               CHATLAB_DEMO_TOKENS_PER_SECOND="30") as s:
        token = [w for w in s.shell(SETUP).split() if w.startswith("chl_")][0]
        url = s.daphne()
        site = Site(stack=s, url=url, token=token, home=home)
        login = site.run("login", "--server", url, "--token", token)
        assert login.returncode == 0, login.stderr
        yield site


def test_login_asks_for_the_token_hidden_and_checks_it(site: Site, tmp_path: Path) -> None:
    home = tmp_path / "elsewhere"
    child = pexpect.spawn(CHATLAB, ["login", "--server", site.url], env={
        **site.env(), "XDG_CONFIG_HOME": str(home)}, encoding="utf-8", timeout=20)
    child.expect("API token")
    child.sendline(site.token)
    child.expect("Logged in to .* as terminal@example.com")
    child.expect(pexpect.EOF)
    assert site.token not in child.before  # not echoed
    child.close()
    assert child.exitstatus == 0
    saved = home / "chatlab" / "config.json"
    assert stat.S_IMODE(saved.stat().st_mode) == 0o600
    assert json.loads(saved.read_text()) == {"server": site.url, "token": site.token}


def test_bots(site: Site) -> None:
    done = site.run("bots")
    assert done.returncode == 0 and "demo" in done.stdout and "(default)" in done.stdout


def _interruptible() -> None:
    """A terminal's Ctrl-C works in the CLI even when the suite itself runs as a background job
    (`make test &`, `nohup`): those start with SIGINT ignored, which the child would inherit."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def test_chat_streams_the_reply_and_ctrl_c_stops_only_the_reply(site: Site) -> None:
    child = pexpect.spawn(CHATLAB, ["chat"], env=site.env(), encoding="utf-8", timeout=30,
                          dimensions=(40, 120), preexec_fn=_interruptible)
    child.expect(PROMPT)
    child.sendline("hello from the terminal")
    child.expect(shown("Demo", "reply."))  # rendered while it streams...
    assert not re.search(shown("def", "greet"), child.before + child.after)
    child.expect(shown("def", "greet"))  # ...and grows to the end
    child.expect(PROMPT)
    child.sendline("now a reply to interrupt")
    child.expect(shown("Demo", "reply."))
    child.sendintr()
    child.expect(r"\(stopped\)")
    child.expect(PROMPT)  # still running
    child.sendline("/exit")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0
    statuses = site.stack.shell(STATUSES).strip().splitlines()[-1].split()
    assert statuses[:2] == ["complete", "cancelled"]

    history = site.run("history")
    assert history.returncode == 0 and "hello from the terminal" in history.stdout
    conversation_id = history.stdout.split("hello from the terminal")[0].split()[-1]
    markdown = site.run("export", conversation_id)
    assert markdown.returncode == 0
    assert markdown.stdout.startswith("# hello from the terminal\n")
    assert "## You\n\nnow a reply to interrupt" in markdown.stdout
    assert "*(cancelled)*" in markdown.stdout
    exported = json.loads(site.run("export", conversation_id, "--json").stdout)
    assert [m["role"] for m in exported["messages"]] == ["user", "assistant"] * 2

    # Ctrl-D leaves; --continue picks the conversation up again.
    child = pexpect.spawn(CHATLAB, ["chat", "--continue", conversation_id], env=site.env(),
                          encoding="utf-8", timeout=30, dimensions=(40, 120))
    child.expect("Continuing “hello from the terminal” with demo \\(4 messages\\)")
    child.expect(PROMPT)
    child.sendeof()
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0


def test_server_errors_are_one_line_on_stderr(site: Site) -> None:
    cases = [
        (("bots",), {"CHATLAB_TOKEN": "chl_revoked"}, "The API token is invalid or revoked."),
        (("export", str(uuid.uuid4())), {}, "Not found."),
        (("history",), {"CHATLAB_SERVER": f"http://127.0.0.1:{free_port()}"}, "Cannot reach"),
        (("chat", "--bot", "demo"), {"CHATLAB_TOKEN": "chl_revoked"}, "invalid or revoked"),
        (("chat", "--bot", "nope"), {}, "There is no bot 'nope'"),
    ]
    for args, env, expected in cases:
        done = site.run(*args, **env)
        assert done.returncode == 1, (args, done.stdout, done.stderr)
        assert done.stderr.startswith("chatlab: ") and expected in done.stderr, done.stderr
        assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr
