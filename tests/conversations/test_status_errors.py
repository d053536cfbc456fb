"""The chat request's refusals become the openai SDK's public error classes, with the body's
code and param (what a bot's self-correction reads), as the SDK's own client raises them."""

from __future__ import annotations

import httpx2
import openai
import pytest

from conversations.providers.openai_compat import status_error

REQUEST = httpx2.Request("POST", "http://fake/v1/chat/completions")


@pytest.mark.parametrize(("status", "expected"), [
    (400, openai.BadRequestError), (401, openai.AuthenticationError),
    (403, openai.PermissionDeniedError), (404, openai.NotFoundError),
    (409, openai.ConflictError), (422, openai.UnprocessableEntityError),
    (429, openai.RateLimitError), (500, openai.InternalServerError),
    (503, openai.InternalServerError), (418, openai.APIStatusError),
])
def test_each_status_gets_the_sdks_class(status, expected):
    error = status_error(httpx2.Response(status, json={"error": {"message": "no"}},
                                         request=REQUEST))
    assert type(error) is expected and error.status_code == status


def test_the_refused_parameter_is_readable():
    body = {"error": {"message": "Unsupported parameter: 'max_tokens'", "type":
                      "invalid_request_error", "param": "max_tokens",
                      "code": "unsupported_parameter"}}
    error = status_error(httpx2.Response(400, json=body, request=REQUEST))
    assert (error.code, error.param) == ("unsupported_parameter", "max_tokens")
    assert str(error).startswith("Error code: 400 - ")


def test_a_body_that_is_not_json_still_says_what_came_back():
    error = status_error(httpx2.Response(502, text="Bad gateway", request=REQUEST))
    assert isinstance(error, openai.InternalServerError) and "Bad gateway" in str(error)
