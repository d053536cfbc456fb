"""Adds the endpoints that are not DRF views (the SSE stream) to the OpenAPI schema."""

from __future__ import annotations

from typing import Any

ERROR = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}


def add_stream_endpoint(result: dict[str, Any], generator: Any, request: Any, public: bool) -> dict[str, Any]:
    result["paths"]["/api/v1/messages/{message_id}/stream/"] = {
        "get": {
            "operationId": "messages_stream",
            "summary": "Follow one reply as server-sent events",
            "description": (
                "Events: `snapshot` {id, seq, content, status} first, then `delta` {seq, text}, "
                "then `done` {the message without its content}. Attach at any time; "
                "disconnecting does not stop the reply."
            ),
            "tags": ["messages"],
            "parameters": [{"name": "message_id", "in": "path", "required": True,
                            "schema": {"type": "string", "format": "uuid"}}],
            "security": [{"apiToken": []}, {"cookieAuth": []}],
            "responses": {
                "200": {"description": "The event stream",
                        "content": {"text/event-stream": {"schema": {"type": "string"}}}},
                "401": {"description": "Not authenticated", "content": ERROR},
                "403": {"description": "No API access", "content": ERROR},
                "404": {"description": "Not found", "content": ERROR},
            },
        }
    }
    return result
