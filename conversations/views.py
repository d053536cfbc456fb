"""The chat pages. Each shows only the asking person's data: a signed-in user's, or the
conversations a guest started in this browser session."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.contrib.auth.views import redirect_to_login
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render

from accounts.guests import guest_from_session, guests_enabled
from accounts.roles import policy_for
from accounts.services.quotas import Usage, allowance_for

from . import selectors
from .history_views import UNDO_TRASH_KEY
from .services.edits import conversation_thread
from .services.payloads import bot_payload, message_payload

SIDEBAR_LIMIT = 100
# A new chat's ⋯ menu is rendered with this id in its URLs; chat.js swaps in the real one.
MENU_PLACEHOLDER = str(uuid.UUID(int=0))


def chat(request: HttpRequest, conversation_id: uuid.UUID | None = None) -> HttpResponse:
    is_guest = not request.user.is_authenticated
    if is_guest and not guests_enabled():
        return redirect_to_login(request.get_full_path())
    actor = guest_from_session(request.session) if is_guest else request.user
    if is_guest:
        # The socket finds the guest through this session, so make sure it exists.
        request.session.setdefault("chatlab_visit", True)
    conversation = None
    messages: list[dict[str, object]] = []
    if conversation_id is not None:
        conversation = selectors.conversation_get(actor, conversation_id) if actor else None
        if conversation is None:
            raise Http404("Conversation not found")
        # The thread and its earlier versions (edits, regenerated replies) in one query.
        visible, versions = conversation_thread(conversation)
        messages = [message_payload(m) for m in visible]
        for m in messages:
            if m["id"] in versions:
                m["versions"] = versions[m["id"]]
    # Offered once, right after a move to the trash (history_views.conversation_action).
    undo_id = None if is_guest else request.session.pop(UNDO_TRASH_KEY, None)
    undo_trash = (selectors.trashed_conversations(request.user).filter(pk=undo_id).first()
                  if undo_id else None)
    policy = policy_for(actor)
    bots = list(selectors.bots_for(actor, policy))
    default_bot = next((b for b in bots if b.is_default), bots[0] if bots else None)
    context = {
        "conversation": conversation,
        "conversations": selectors.sidebar_conversations(actor)[:SIDEBAR_LIMIT] if actor else [],
        "is_guest": is_guest,
        # A visitor who has sent nothing yet has no account: nothing used today.
        "allowance": allowance_for(actor, policy=policy, usage=None if actor else Usage(0, 0)),
        "bots": bots,
        "menu_placeholder": MENU_PLACEHOLDER,
        "undo_trash": undo_trash,
        "chat_state": {
            "conversation": str(conversation.pk) if conversation else None,
            "bot": conversation.bot.slug if conversation else (default_bot.slug if default_bot else None),
            "bots": [bot_payload(b) for b in bots],
            "messages": messages,
            "maxChars": settings.CHATLAB_MAX_MESSAGE_CHARS,
        },
    }
    return render(request, "chat/chat.html", context)
