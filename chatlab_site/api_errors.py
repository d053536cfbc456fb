"""Every API error is JSON: {"error": {"code": <stable code>, "message": <readable>}}."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import RequestDataTooBig
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from conversations.services.errors import ChatError


def error_response(code: str, message: str, status_code: int, **extra: Any) -> Response:
    body: dict[str, Any] = {"code": code, "message": message}
    body.update(extra)
    return Response({"error": body}, status=status_code)


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    if isinstance(exc, ChatError):
        response = error_response(exc.code, exc.message, exc.status)
        if exc.retry_after is not None:
            response["Retry-After"] = str(exc.retry_after)
        return response
    if isinstance(exc, RequestDataTooBig):
        return error_response("too_large", "The request body is too large.",
                              status.HTTP_413_REQUEST_ENTITY_TOO_LARGE)
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, exceptions.ValidationError):
        response.data = {"error": {"code": "invalid", "message": _first_message(exc.detail),
                                   "fields": exc.detail}}
    elif isinstance(exc, exceptions.APIException):
        code = exc.get_codes()
        message = exc.detail if isinstance(exc.detail, str) else str(exc.detail)
        response.data = {"error": {"code": code if isinstance(code, str) else "error",
                                   "message": str(message)}}
    return response


def _first_message(detail: Any) -> str:
    if isinstance(detail, dict):
        for field, value in detail.items():
            return f"{field}: {_first_message(value)}" if field != "non_field_errors" else _first_message(value)
    if isinstance(detail, list) and detail:
        return _first_message(detail[0])
    return str(detail)
