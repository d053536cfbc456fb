"""Slack's Request URL: Events API callbacks and slash commands, one URL per integration.

Every request must carry a valid signature made with the app's signing secret within the last
five minutes (401 otherwise, and nothing happens). The answer goes back at once (Slack waits
3 s, then retries an event up to three times, with X-Slack-Retry-Num): the reply is written by
the handler through chat.postMessage / chat.update. A retried event is accepted once, by its
event_id. An event the broker cannot take gets 503 and is not recorded, so Slack's retry is
handled; a slash command (which Slack never retries) is answered with a private notice instead.
"""

from __future__ import annotations

import json
import logging

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from ..models import Integration, Platform
from ..services.inbound import InboundUnavailable, inbound_accept, unavailable_text
from .parse import slack_command_parse, slack_event_parse
from .verify import slack_request_verified

log = logging.getLogger(__name__)


@csrf_exempt
@require_POST
def slack_webhook(request: HttpRequest, integration_id: int) -> HttpResponse:
    integration = (Integration.objects.filter(pk=integration_id, platform=Platform.SLACK,
                                              enabled=True).only("credentials").first())
    if integration is None:
        return HttpResponse(status=404)
    body = request.body
    if not slack_request_verified(signing_secret=integration.credential("signing_secret"),
                                  body=body, headers=request.headers):
        return HttpResponse("invalid signature", status=401, content_type="text/plain")
    if request.content_type == "application/x-www-form-urlencoded":
        return _slash_command(request, integration_id)
    try:
        payload = json.loads(body)
    except ValueError:
        return HttpResponse("body is not JSON", status=400, content_type="text/plain")
    if not isinstance(payload, dict):
        return HttpResponse(status=200)
    kind = payload.get("type")
    if kind == "url_verification":
        return JsonResponse({"challenge": str(payload.get("challenge", ""))})
    if kind == "event_callback":
        inbound = slack_event_parse(integration_id, payload)
        if inbound is not None:
            try:
                accepted = inbound_accept(inbound)
            except InboundUnavailable:
                return HttpResponse("try again later", status=503, content_type="text/plain")
            if not accepted:
                log.info("slack integration %s: event %s again (retry %s), answered once",
                         integration_id, inbound.delivery_key,
                         request.headers.get("X-Slack-Retry-Num", "-"))
    # Anything else (app_rate_limited notices, new event types) is acknowledged and ignored,
    # so Slack does not retry it.
    return HttpResponse(status=200)


def _slash_command(request: HttpRequest, integration_id: int) -> HttpResponse:
    if "payload" in request.POST:  # a button or shortcut: this app offers none
        return HttpResponse(status=200)
    inbound = slack_command_parse(integration_id, request.POST)
    if inbound is None:
        return HttpResponse("not a slash command", status=400, content_type="text/plain")
    try:
        inbound_accept(inbound)
    except InboundUnavailable:
        # Slack does not retry a slash command: the person is told, and only they see it.
        return JsonResponse({"response_type": "ephemeral", "text": unavailable_text(inbound.language)})
    # An empty 200 acknowledges without a message; the answer is posted in the channel.
    return HttpResponse(status=200)
