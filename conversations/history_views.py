"""History pages for signed-in people: search, the trash, imports, exports, and the sidebar's
actions on one conversation (rename, pin, archive, delete to the trash).

Every lookup goes through selectors scoped to the asking person: another person's conversation
or import is a 404. Form posts redirect (post/redirect/get); bad input is a message, never a 500.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from . import selectors
from .downloads import streamed_download
from .services import history_export, history_import, search, trash
from .services import conversations as conversation_services
from .services.errors import ChatError

SEARCH_LIMIT = 50
# The conversation just moved to the trash, so the next chat page can offer to undo it.
UNDO_TRASH_KEY = "chatlab_undo_trash"


def _back(request: HttpRequest, default: str) -> HttpResponse:
    target = request.POST.get("next") or ""
    if not url_has_allowed_host_and_scheme(target, {request.get_host()}, request.is_secure()):
        target = default
    return redirect(target)


@login_required
@require_GET
def search_page(request: HttpRequest) -> HttpResponse:
    query = search.clean_query(request.GET.get("q", ""))
    results = []
    if query:
        found = search.conversations_search(user=request.user, query=query)[:SEARCH_LIMIT]
        results = [
            {"conversation": c, "title": search.highlight(c.title, query),
             "snippet": search.highlight(c.snippet_raw, query)}
            for c in found
        ]
    return render(request, "chat/search.html", {"query": query, "results": results,
                                                "limit": SEARCH_LIMIT})


@login_required
@require_GET
def trash_page(request: HttpRequest) -> HttpResponse:
    return render(request, "chat/trash.html", {
        "conversations": selectors.trashed_conversations(request.user)[:200],
        "retention_days": settings.CHATLAB_TRASH_RETENTION_DAYS,
    })


@login_required
@require_GET
def archive_page(request: HttpRequest) -> HttpResponse:
    return render(request, "chat/archive.html", {
        "conversations": selectors.archived_conversations(request.user)[:200],
    })


@login_required
@require_POST
def trash_action(request: HttpRequest, conversation_id: uuid.UUID, action: str) -> HttpResponse:
    try:
        if action == "restore":
            conversation = trash.conversation_restore(user=request.user,
                                                      conversation_id=conversation_id)
            messages.success(request, _("“%s” is back.") % (conversation.title or _("New chat")))
            # Undo on the chat page goes back to the conversation; the trash page stays put.
            return _back(request, reverse("trash"))
        elif action == "delete":
            trash.conversation_delete_forever(user=request.user, conversation_id=conversation_id)
            messages.success(request, _("Deleted for good."))
        else:
            raise Http404
    except ChatError:
        raise Http404("Not in your trash") from None
    return redirect("trash")


@login_required
@require_POST
def trash_empty(request: HttpRequest) -> HttpResponse:
    count = trash.trash_empty(user=request.user)
    messages.success(request, _("The trash is empty (%d deleted).") % count)
    return redirect("trash")


ACTIONS = {"pin": {"pinned": True}, "unpin": {"pinned": False},
           "archive": {"archived": True}, "unarchive": {"archived": False}}


@login_required
@require_POST
def conversation_action(request: HttpRequest, conversation_id: uuid.UUID) -> HttpResponse:
    action = request.POST.get("action", "")
    if selectors.conversation_get(request.user, conversation_id) is None:
        raise Http404("Conversation not found")
    here = reverse("conversation", args=[conversation_id])
    try:
        if action == "rename":
            conversation_services.conversation_update(
                user=request.user, conversation_id=conversation_id,
                title=request.POST.get("title", "")[:1000])
        elif action in ACTIONS:
            conversation_services.conversation_update(
                user=request.user, conversation_id=conversation_id, **ACTIONS[action])
            if action == "archive":
                # It leaves the sidebar: say where it went.
                messages.success(request, _("Archived: it is under Archive now."))
            elif action == "unarchive":
                messages.success(request, _("Back in your conversations."))
        elif action == "delete":
            conversation_services.conversation_delete(user=request.user,
                                                      conversation_id=conversation_id)
            messages.success(request, _("Moved to the trash."))
            # The conversation's own page is gone now: go to a new chat instead.
            if request.POST.get("next", here) == here:
                request.session[UNDO_TRASH_KEY] = str(conversation_id)
                return redirect("chat")
            return _back(request, reverse("chat"))
        else:
            messages.error(request, _("Unknown action."))
    except ChatError as exc:
        messages.error(request, exc.message)
    return _back(request, here)


@login_required
@require_GET
def export_download(request: HttpRequest, kind: str,
                    conversation_id: uuid.UUID | None = None) -> HttpResponse:
    if kind not in ("json", "md"):
        raise Http404("Export as .json or .md")
    conversations = history_export.exportable(request.user, conversation_id)
    if conversation_id is not None and not conversations.exists():
        raise Http404("Conversation not found")
    if kind == "json":
        pieces, mime = history_export.export_json_chunks(conversations), "application/json"
    else:
        pieces, mime = history_export.export_markdown_chunks(conversations), "text/markdown"
    name = f"chatlab-{conversation_id or 'history'}.{'json' if kind == 'json' else 'md'}"
    return streamed_download(request, pieces, mime=mime, filename=name)


@login_required
def import_page(request: HttpRequest) -> HttpResponse:
    if request.method == "POST":
        upload = request.FILES.get("file")
        if upload is None:
            messages.error(request, _("Choose a file to import."))
        else:
            try:
                history_import.import_job_create(user=request.user, upload=upload)
            except ChatError as exc:
                messages.error(request, exc.message)
        return redirect("import")
    jobs = list(selectors.import_jobs_for(request.user)[:20])
    running = any(j.status in ("queued", "running") for j in jobs)
    return render(request, "chat/import.html", {
        "jobs": jobs, "running": running,
        "max_mb": settings.CHATLAB_IMPORT_MAX_BYTES / (1024 * 1024),
    })
