"""A download streamed as it is written (history exports), under WSGI and ASGI alike."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Iterator
from typing import Any

from asgiref.sync import sync_to_async
from django.http import StreamingHttpResponse

from conversations.services.history_export import encoded

_DONE = object()


async def _pulled(chunks: Iterator[bytes]) -> AsyncIterator[bytes]:
    # Django turns a sync iterator into a list before an ASGI server sends it, which would build
    # the whole export in memory again; pulled a chunk at a time it stays one chunk. The pulls run
    # thread-sensitive: the database cursor the export reads through belongs to that thread.
    pull = sync_to_async(next, thread_sensitive=True)
    try:
        while (chunk := await pull(chunks, _DONE)) is not _DONE:
            yield chunk
    finally:
        await sync_to_async(getattr(chunks, "close", lambda: None), thread_sensitive=True)()


def streamed_download(request: Any, pieces: Iterable[str], *, mime: str,
                      filename: str) -> StreamingHttpResponse:
    """`request` is Django's or DRF's (which passes `scope` through): only ASGI's has one."""
    chunks = encoded(pieces)
    body = _pulled(chunks) if getattr(request, "scope", None) is not None else chunks
    response = StreamingHttpResponse(body, content_type=f"{mime}; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response
