"""A small synchronous client for Chatlab's REST API, and its errors as one readable line."""

from __future__ import annotations

import io
import json
from collections.abc import Callable, Iterator
from typing import Any, BinaryIO

import httpx

TIMEOUT = httpx.Timeout(30.0, connect=10.0)
# A reply may take a while to start; the server sends a comment every few seconds meanwhile.
STREAM_TIMEOUT = httpx.Timeout(30.0, connect=10.0, read=120.0)


class ApiError(Exception):
    """What went wrong, worded for the person at the terminal."""

    def __init__(self, message: str, *, code: str = "error", status: int | None = None) -> None:
        super().__init__(message)
        self.message = " ".join(message.split())  # always one line
        self.code = code
        self.status = status

    def __str__(self) -> str:
        return self.message


def _wait(seconds: int) -> str:
    hours, rest = divmod(max(seconds, 0), 3600)
    minutes = max(rest // 60, 1) if not hours else rest // 60
    return f"{hours}h {minutes}m" if hours else f"{minutes}m"


def error_from_response(response: httpx.Response) -> ApiError:
    status = response.status_code
    code, message = f"http_{status}", ""
    try:
        error = response.json()["error"]
        code, message = str(error.get("code") or code), str(error.get("message") or "")
    except (ValueError, KeyError, TypeError, AttributeError):
        pass
    if not message:
        message = f"The server answered {status} {response.reason_phrase}."
    if status == 401:
        message += " Run `chatlab login` with a valid token."
    retry_after = response.headers.get("Retry-After", "")
    if status == 429 and retry_after.isdigit():
        message += f" (try again in {_wait(int(retry_after))})"
    return ApiError(message, code=code, status=status)


class Client:
    def __init__(self, server: str, token: str, *, transport: httpx.BaseTransport | None = None):
        self.server = server
        self.http = httpx.Client(
            base_url=f"{server}/api/v1", timeout=TIMEOUT, transport=transport,
            headers={"Authorization": f"Bearer {token}", "Accept": "application/json",
                     "User-Agent": "chatlab-cli"},
        )

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _request(self, method: str, path: str, **kwargs: Any) -> Any:
        try:
            response = self.http.request(method, path, **kwargs)
        except httpx.TimeoutException:
            raise ApiError(f"{self.server} did not answer in time.", code="timeout") from None
        except httpx.HTTPError as exc:
            raise ApiError(f"Cannot reach {self.server}: {exc or type(exc).__name__}.",
                           code="network") from None
        if response.status_code >= 400:
            raise error_from_response(response)
        if response.status_code == 204 or not response.content:
            return None
        try:
            return response.json()
        except ValueError:
            raise ApiError(f"{self.server} did not answer with JSON: is it a Chatlab server?",
                           code="not_json") from None

    def _all_pages(self, path: str, params: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        page = 1
        while True:
            data = self._request("GET", path, params={**(params or {}), "page": page})
            if isinstance(data, list):  # an endpoint without pagination
                return data
            items.extend(data["results"])
            if not data.get("next"):
                return items
            page += 1

    # Resources ---------------------------------------------------------------------------

    def me(self) -> dict[str, Any]:
        return self._request("GET", "/me/")

    def bots(self) -> list[dict[str, Any]]:
        return self._request("GET", "/bots/")

    def conversations(self, *, search: str = "", page: int = 1) -> dict[str, Any]:
        params: dict[str, Any] = {"page": page}
        if search:
            params["search"] = search
        return self._request("GET", "/conversations/", params=params)

    def conversation(self, conversation_id: str) -> dict[str, Any]:
        return self._request("GET", f"/conversations/{conversation_id}/")

    def conversation_create(self, *, bot: str | None, title: str) -> dict[str, Any]:
        body = {"title": title, **({"bot": bot} if bot else {})}
        return self._request("POST", "/conversations/", json=body)

    def messages(self, conversation_id: str) -> list[dict[str, Any]]:
        return self._all_pages(f"/conversations/{conversation_id}/messages/")

    def send(self, conversation_id: str, content: str, client_id: str) -> dict[str, Any]:
        return self._request("POST", f"/conversations/{conversation_id}/messages/",
                             json={"content": content, "client_id": client_id})

    def stop(self, message_id: str) -> None:
        self._request("POST", f"/messages/{message_id}/stop/")

    def stream(self, message_id: str) -> Iterator[tuple[str, dict[str, Any]]]:
        """The reply's server-sent events as (event, data) pairs, until `done`."""
        try:
            with self.http.stream("GET", f"/messages/{message_id}/stream/",
                                  headers={"Accept": "text/event-stream"},
                                  timeout=STREAM_TIMEOUT) as response:
                if response.status_code >= 400:
                    response.read()
                    raise error_from_response(response)
                yield from _sse(response.iter_lines())
        except httpx.TimeoutException:
            raise ApiError(f"{self.server} stopped sending the reply.", code="timeout") from None
        except ValueError:
            raise ApiError(f"{self.server} sent an event that is not JSON.",
                           code="not_json") from None
        except httpx.HTTPError as exc:
            raise ApiError(f"The connection to {self.server} was lost: {exc}.",
                           code="network") from None


def _sse(lines: Iterator[str]) -> Iterator[tuple[str, dict[str, Any]]]:
    event, data = "message", []
    for line in lines:
        if not line:
            if data:
                yield event, json.loads("\n".join(data))
            event, data = "message", []
        elif line.startswith("event:"):
            event = line[6:].strip()
        elif line.startswith("data:"):
            data.append(line[5:].lstrip())


class HistoryClient(Client):
    """The history endpoints: rename, pin, archive, trash, search, export, import, edit."""

    def conversation_update(self, conversation_id: str, **changes: Any) -> dict[str, Any]:
        return self._request("PATCH", f"/conversations/{conversation_id}/", json=changes)

    def conversation_delete(self, conversation_id: str) -> None:
        self._request("DELETE", f"/conversations/{conversation_id}/")

    def conversation_restore(self, conversation_id: str) -> dict[str, Any]:
        return self._request("POST", f"/conversations/{conversation_id}/restore/")

    def trash(self) -> list[dict[str, Any]]:
        return self._all_pages("/trash/")

    def export(self, conversation_id: str | None, kind: str) -> str:
        out = io.BytesIO()
        self.export_to(out, conversation_id, kind)
        return out.getvalue().decode()

    def export_to(self, out: BinaryIO, conversation_id: str | None, kind: str,
                  progress: Callable[[int], None] | None = None) -> int:
        """Writes the export to `out` as it arrives (an export can be large); returns its size."""
        path = f"/conversations/{conversation_id}/export/" if conversation_id else "/export/"
        received = 0
        try:
            with self.http.stream("GET", path, params={"format": kind}) as response:
                if response.status_code >= 400:
                    response.read()
                    raise error_from_response(response)
                for chunk in response.iter_bytes():
                    out.write(chunk)
                    received += len(chunk)
                    if progress is not None:
                        progress(received)
        except httpx.HTTPError as exc:
            raise ApiError(f"Cannot reach {self.server}: {exc or type(exc).__name__}.",
                           code="network") from None
        return received

    def import_file(self, name: str, data: bytes | BinaryIO) -> dict[str, Any]:
        return self._request("POST", "/imports/", files={"file": (name, data, "application/json")})

    def import_job(self, job_id: str) -> dict[str, Any]:
        return self._request("GET", f"/imports/{job_id}/")

    def edit(self, message_id: str, content: str) -> dict[str, Any]:
        return self._request("POST", f"/messages/{message_id}/edit/", json={"content": content})
