"""Client helpers for end-to-end tests against real Chatlab processes (see tests/stack.py).

Signs up over HTTP like a browser (httpx), talks to the chat socket (websockets) and reads the
stack's database directly (psycopg) for assertions, which is much faster than `manage.py shell`.
"""

from __future__ import annotations

import asyncio
import json
import re
import secrets
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx
import psycopg
from psycopg.rows import dict_row
from websockets.asyncio.client import ClientConnection, connect

Frame = dict[str, Any]

CSRF_INPUT = re.compile(r'name="csrfmiddlewaretoken"\s+value="([^"]+)"')


@dataclass(frozen=True)
class Account:
    email: str
    password: str
    sessionid: str


def sign_up(base_url: str, email: str | None = None, password: str | None = None) -> Account:
    """Signs up through the allauth form, as a browser does; returns the logged-in session."""
    email = email or f"e2e-{secrets.token_hex(6)}@example.com"
    password = password or secrets.token_urlsafe(16)
    with httpx.Client(base_url=base_url, follow_redirects=False, timeout=15) as client:
        page = client.get("/accounts/signup/")
        page.raise_for_status()
        found = CSRF_INPUT.search(page.text)
        assert found, "no csrfmiddlewaretoken on the sign-up page"
        answer = client.post(
            "/accounts/signup/",
            data={"csrfmiddlewaretoken": found.group(1), "email": email,
                  "password1": password, "password2": password},
            headers={"Referer": f"{base_url}/accounts/signup/"},
        )
        assert answer.status_code == 302, (
            f"sign-up failed ({answer.status_code}): {answer.text[:2000]}")
        sessionid = client.cookies.get("sessionid")
        assert sessionid, "sign-up did not log in"
    return Account(email, password, sessionid)


def ws_url(base_url: str, conversation_id: str | None = None) -> str:
    parts = urlsplit(base_url)
    path = f"/ws/chat/{conversation_id}/" if conversation_id else "/ws/chat/"
    return f"ws://{parts.netloc}{path}"


class ChatSocket:
    """One chat socket. Every frame received is kept in `frames`, in arrival order."""

    def __init__(self, ws: ClientConnection, name: str = "") -> None:
        self.ws = ws
        self.name = name
        self.frames: list[Frame] = []
        self.decoder = FrameDecoder()
        self._unread: deque[Frame] = deque()

    @classmethod
    async def open(cls, base_url: str, account: Account, conversation_id: str | None = None,
                   *, name: str = "", timeout: float = 10) -> ChatSocket:
        ws = await connect(
            ws_url(base_url, conversation_id),
            origin=base_url,  # type: ignore[arg-type]
            additional_headers={"Cookie": f"sessionid={account.sessionid}"},
            open_timeout=timeout,
            close_timeout=2,
        )
        return cls(ws, name)

    async def send(self, frame: Frame) -> None:
        await self.ws.send(json.dumps(frame))

    async def recv(self, timeout: float = 10) -> Frame:
        if self._unread:
            return self._unread.popleft()
        try:
            raw = await asyncio.wait_for(self.ws.recv(), timeout)
        except TimeoutError:
            raise AssertionError(
                f"socket {self.name}: no frame within {timeout}s; got so far: {self.frames[-8:]}"
            ) from None
        frame = self.decoder(raw)
        self.frames.append(frame)
        return frame

    async def until(self, predicate: Callable[[Frame], bool], timeout: float = 10) -> list[Frame]:
        """Frames up to and including the first one that matches; the whole wait is bounded."""
        deadline = time.monotonic() + timeout
        seen: list[Frame] = []
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"socket {self.name}: no matching frame within {timeout}s; "
                                     f"got: {seen[-8:]}")
            frame = await self.recv(left)
            seen.append(frame)
            if predicate(frame):
                return seen

    async def barrier(self, timeout: float = 10) -> None:
        """Returns once the server has finished connecting this socket.

        The consumer accepts the socket before it joins the conversation's group, and handles
        frames only after `connect()` returns; so the answer to a frame it rejects proves it
        follows the conversation. Frames that arrive meanwhile are kept for the next reads.
        """
        await self.send({"type": "e2e-barrier"})
        frames = await self.until(
            lambda f: f.get("type") == "error" and f.get("code") == "invalid", timeout)
        self._unread.extend(frames[:-1])

    async def close(self) -> None:
        await self.ws.close()


class FrameDecoder:
    """Server frames as uniform dicts, the way the page's script reads them: a delta
    [k, n, text] becomes {"k", "n", "d"} (and [k, n, text, reasoning] also "r"); a reply is always {"id", ...}; a done frame gets the
    reply id its stream key stands for, and its status ("complete" when it says none)."""

    def __init__(self) -> None:
        self.replies: dict[int, str] = {}  # stream key -> reply id

    def __call__(self, raw: str) -> Frame:
        frame = json.loads(raw)
        if isinstance(frame, list):
            key, seq, text, *reasoning = frame
            return {"k": key, "n": seq, "d": text, "r": "".join(reasoning)}
        kind = frame.get("type")
        if kind in ("sent", "regenerated"):
            if isinstance(frame.get("reply"), str):
                frame["reply"] = {"id": frame["reply"]}
            self.replies[frame["k"]] = frame["reply"]["id"]
        elif kind in ("snapshot", "message"):
            self.replies.setdefault(frame.get("k"), frame.get("id") or frame["message"]["id"])
        elif kind == "done":
            frame.setdefault("id", self.replies.get(frame["k"]))
            frame.setdefault("status", "complete")
            frame.setdefault("error", "")
        return frame


def conversation_id_of(frames: list[Frame]) -> str:
    """The id of the conversation a first message created (sent with the "sent" frame)."""
    for frame in frames:
        found = frame.get("conversation") if frame.get("type") in ("sent", "conversation") else None
        if found:
            return found if isinstance(found, str) else found["id"]
    raise AssertionError(f"no conversation in {frames[:4]}")


def is_done(frame: Frame, reply_id: str | None = None) -> bool:
    return frame.get("type") == "done" and (reply_id is None or frame.get("id") == reply_id)


def deltas(frames: list[Frame], key: int) -> list[Frame]:
    return [f for f in frames if "d" in f and f.get("k") == key]


def assembled(frames: list[Frame], key: int) -> str:
    """The text of one stream from its deltas, checking they are numbered 1..n without gaps."""
    found = sorted(deltas(frames, key), key=lambda f: f["n"])
    numbers = [f["n"] for f in found]
    assert numbers == list(range(1, len(found) + 1)), f"gaps or repeats in the deltas: {numbers}"
    return "".join(f["d"] for f in found)


def resumed(frames: list[Frame], key: int) -> str:
    """The text of a stream followed from a snapshot: its content, then the later deltas."""
    snapshot = next(f for f in frames if f.get("type") == "snapshot" and f["k"] == key)
    later = sorted((f for f in deltas(frames, key) if f["n"] > snapshot["n"]),
                   key=lambda f: f["n"])
    numbers = [f["n"] for f in later]
    assert numbers == list(range(snapshot["n"] + 1, snapshot["n"] + 1 + len(later))), numbers
    return snapshot["content"] + "".join(f["d"] for f in later)


class Database:
    """Reads the stack's own database."""

    def __init__(self, url: str) -> None:
        self.url = url

    def rows(self, sql: str, *params: Any) -> list[dict[str, Any]]:
        with psycopg.connect(self.url, row_factory=dict_row, autocommit=True) as conn:
            return conn.execute(sql, params).fetchall()

    def message(self, message_id: str) -> dict[str, Any]:
        found = self.rows("SELECT * FROM conversations_message WHERE id = %s", message_id)
        assert found, f"no message {message_id}"
        return found[0]

    def replies_to(self, user_message_id: str) -> list[dict[str, Any]]:
        return self.rows(
            "SELECT * FROM conversations_message WHERE reply_to_id = %s ORDER BY created_at",
            user_message_id,
        )

    def wait_for(self, message_id: str, predicate: Callable[[dict[str, Any]], bool],
                 timeout: float = 10) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            row = self.message(message_id)
            if predicate(row):
                return row
            if time.monotonic() > deadline:
                raise AssertionError(f"message {message_id} did not get there: {row}")
            time.sleep(0.05)
