"""Telegram's webhook: POST /integrations/telegram/<integration id>/.

Telegram sends the secret given to setWebhook in X-Telegram-Bot-Api-Secret-Token; a request
without it (or with another) is refused with 403 and starts nothing. Anything else is answered
200 at once, since Telegram re-sends an update until it gets a 2xx: a body that is not JSON, an
update type the bot does not handle, a repeat of an update already accepted. An update the
broker cannot take gets 503 and is not recorded, so Telegram's next try is handled. The reply
runs on the `chat` queue.
"""

from __future__ import annotations

import hmac
import json

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from ..models import Integration, Platform
from ..services.inbound import InboundUnavailable, inbound_accept

HEADER = "HTTP_X_TELEGRAM_BOT_API_SECRET_TOKEN"


def _ok() -> HttpResponse:
    return JsonResponse({"ok": True})


@csrf_exempt
@require_POST
def webhook(request: HttpRequest, integration_id: int) -> HttpResponse:
    integration = Integration.objects.filter(
        pk=integration_id, platform=Platform.TELEGRAM, enabled=True).first()
    given = request.META.get(HEADER, "")
    expected = integration.webhook_secret if integration is not None else ""
    # Compared in constant time; an unknown or disabled integration is refused the same way,
    # so the answer does not tell which ids exist.
    if not expected or not hmac.compare_digest(given.encode(), expected.encode()):
        return JsonResponse({"ok": False, "error": "forbidden"}, status=403)
    assert integration is not None
    try:
        data = json.loads(request.body)
    except ValueError:
        return _ok()
    # aiogram's types cost 3-4 s of CPU to import: only a process that gets Telegram updates
    # pays for them, not every process that loads the URLconf.
    from .parse import inbound_from_update, update_parse

    update = update_parse(data)
    if update is None:
        return _ok()
    inbound = inbound_from_update(update, integration)
    if inbound is not None:
        try:
            inbound_accept(inbound)
        except InboundUnavailable:
            return JsonResponse({"ok": False, "error": "try again later"}, status=503)
    return _ok()
