"""schemathesis against /api/schema/: generated requests to every REST operation find no 5xx and
no response that breaks the schema (status, content type, headers, body).

Runs in-process through the WSGI application with a token. Path ids are either generated or, half
the time, ids of real objects of the token's owner, so the 200 answers are checked too. The SSE
stream is left out: for a reply still being written it is, by design, an open-ended response.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from schemathesis.specs.openapi.checks import positive_data_acceptance
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from accounts.services.tokens import api_token_create
from conversations.models import Message
from tests.factories import BotFactory, ConversationFactory, MessageFactory, UserFactory

EXAMPLES = 20  # per operation
MODEL_DEPENDENT = {"POST /api/v1/images/jobs/"}


# Loaded once at collection: the schema view needs no database. (schemathesis' lazy
# `from_fixture` loader does not run under pytest 9: it sets `Function._nodeid`, which is gone.)
schema = schemathesis.openapi.from_wsgi("/api/schema/", get_wsgi_application()).exclude(
    path_regex=r"/stream/$")
# The token and the ids of its owner's own objects, filled per test by the `token` fixture.
REAL: dict[str, str] = {}


@schema.auth(refresh_interval=None)  # a new token per test: never cached
class Token:
    def get(self, case: schemathesis.Case, context: Any) -> str:
        return REAL.get("token", "")

    def set(self, case: schemathesis.Case, data: str, context: Any) -> None:
        case.headers = {**(case.headers or {}), "Authorization": f"Bearer {data}"}


@schema.hook
def flatmap_path_parameters(context: Any, path_parameters: dict[str, Any] | None) -> Any:
    if not path_parameters:
        return st.just(path_parameters)
    known = {k: REAL[k] for k in path_parameters if k in REAL}
    return st.sampled_from([path_parameters, {**path_parameters, **known}])


@pytest.fixture
def token(db: Any) -> Iterator[str]:
    # Calls go straight to the WSGI app, whose request signals would close the test's database
    # connection (and with it the test's transaction) on PostgreSQL; Django's own test client
    # disconnects the same handler for the same reason.
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    user = UserFactory()
    bot = BotFactory(slug="demo", is_default=True)
    conversation = ConversationFactory(owner=user, bot=bot, title="Soup")
    asked = MessageFactory(conversation=conversation, content="A recipe?")
    answer = MessageFactory(conversation=conversation, role=Message.Role.ASSISTANT,
                            reply_to=asked, content="Boil water.")
    token = api_token_create(user=user, name="schemathesis")[1]
    REAL.update(token=token, conversation_id=str(conversation.pk), message_id=str(answer.pk))
    yield token
    REAL.clear()
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@schema.parametrize()
@settings(max_examples=EXAMPLES, derandomize=True, deadline=None, database=None,
          suppress_health_check=list(HealthCheck))
def test_the_api_keeps_to_its_schema(case: schemathesis.Case, token: str) -> None:
    if case.operation.label in MODEL_DEPENDENT:
        # Sizes, qualities and counts depend on the image model the body names: a body the
        # schema allows may still be refused with 400 and a reason.
        case.call_and_validate(excluded_checks=[positive_data_acceptance])
        return
    case.call_and_validate()
