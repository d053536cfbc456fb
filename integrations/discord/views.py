"""Discord's Interactions Endpoint URL, one per integration.

Every request's Ed25519 signature is checked with the application's public key (401 otherwise,
and nothing happens). PING is answered with PONG; an application command with a deferred
response (type 5) at once, and the handler edits that response as the answer grows. Discord
never re-sends an interaction: one the broker cannot take is answered with a notice only the
person sees, and nothing is recorded.
"""

from __future__ import annotations

import json

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from ..models import Integration, Platform
from ..services.inbound import InboundUnavailable, inbound_accept, unavailable_text
from .parse import (
    APPLICATION_COMMAND, AUTOCOMPLETE, COMPONENT, MODAL_SUBMIT, PING, deferred_response,
    discord_interaction_parse,
)
from .verify import discord_request_verified


@csrf_exempt
@require_POST
def discord_interactions(request: HttpRequest, integration_id: int) -> HttpResponse:
    integration = (Integration.objects.filter(pk=integration_id, platform=Platform.DISCORD,
                                              enabled=True).only("credentials").first())
    if integration is None:
        return HttpResponse(status=404)
    body = request.body
    if not discord_request_verified(public_key=integration.credential("public_key"),
                                    body=body, headers=request.headers):
        return HttpResponse("invalid request signature", status=401, content_type="text/plain")
    try:
        payload = json.loads(body)
    except ValueError:
        return HttpResponse("body is not JSON", status=400, content_type="text/plain")
    kind = payload.get("type") if isinstance(payload, dict) else None
    if kind == PING:
        return JsonResponse({"type": 1})
    if kind == APPLICATION_COMMAND:
        inbound = discord_interaction_parse(integration_id, payload)
        if inbound is None:
            return HttpResponse("not an application command", status=400,
                                content_type="text/plain")
        try:
            inbound_accept(inbound)  # a second delivery of the same interaction is not handled
        except InboundUnavailable:
            return JsonResponse({"type": 4, "data": {
                "content": unavailable_text(inbound.language), "flags": 64,
                "allowed_mentions": {"parse": []}}})
        return JsonResponse(deferred_response(inbound))
    if kind == AUTOCOMPLETE:
        return JsonResponse({"type": 8, "data": {"choices": []}})
    if kind in (COMPONENT, MODAL_SUBMIT):  # this app sends no buttons or forms
        return JsonResponse({"type": 4, "data": {
            "content": _("This action is not supported."), "flags": 64}})
    return HttpResponse("unknown interaction type", status=400, content_type="text/plain")
