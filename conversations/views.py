"""The chat pages. Each shows only the asking person's data: a signed-in user's, or the
conversations a guest started in this browser session."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.contrib.auth.views import redirect_to_login
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render

from accounts.guests import guest_from_session, guests_enabled
from accounts.models import User
from accounts.roles import policy_for
from accounts.services.quotas import Usage, allowance_for

from . import selectors
from .history_views import UNDO_TRASH_KEY
from .services.payloads import bot_payload
from .services.thread_pages import thread_page

SIDEBAR_LIMIT = 100
# A new chat's ⋯ menu is rendered with this id in its URLs; chat.js swaps in the real one.
MENU_PLACEHOLDER = str(uuid.UUID(int=0))


def _actor(request: HttpRequest) -> User | None:
    """The signed-in user, or the guest this browser session started as (None if none yet)."""
    if request.user.is_authenticated:
        return request.user
    return guest_from_session(request.session)


def chat(request: HttpRequest, conversation_id: uuid.UUID | None = None) -> HttpResponse:
    is_guest = not request.user.is_authenticated
    if is_guest and not guests_enabled():
        return redirect_to_login(request.get_full_path())
    actor = _actor(request)
    if is_guest:
        # The socket finds the guest through this session, so make sure it exists.
        request.session.setdefault("chatlab_visit", True)
    conversation = None
    messages: list[dict[str, object]] = []
    has_earlier = False
    if conversation_id is not None:
        conversation = selectors.conversation_get(actor, conversation_id) if actor else None
        if conversation is None:
            raise Http404("Conversation not found")
        # Only the newest messages: chat.js fetches earlier ones (thread_earlier) on scroll up.
        page = thread_page(conversation=conversation)
        messages, has_earlier = page.messages, page.has_earlier
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
            "hasEarlier": has_earlier,
            "maxChars": settings.CHATLAB_MAX_MESSAGE_CHARS,
        },
    }
    return render(request, "chat/chat.html", context)


def thread_earlier(request: HttpRequest, conversation_id: uuid.UUID) -> JsonResponse:
    """The page of the thread before `?before=<message id>`, in the chat page's shape. Like the
    page: the owner's conversation, or one this browser session's guest started; else a 404."""
    if not request.user.is_authenticated and not guests_enabled():
        raise Http404("Conversation not found")
    actor = _actor(request)
    conversation = selectors.conversation_get(actor, conversation_id) if actor else None
    if conversation is None:
        raise Http404("Conversation not found")
    try:
        before = uuid.UUID(request.GET.get("before", ""))
    except ValueError:
        return JsonResponse({"error": "`before` must be the id of a message."}, status=400)
    page = thread_page(conversation=conversation, before=before)
    if page is None:
        raise Http404("Message not found")
    return JsonResponse({"messages": page.messages, "hasEarlier": page.has_earlier})
