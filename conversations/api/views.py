"""REST endpoints: thin views that validate, call one service and serialise.

Every object is looked up through selectors scoped to the asking user, so another person's
conversation or message is a 404, never data.
"""

from __future__ import annotations

from typing import Any

from asgiref.sync import async_to_sync
from django.core.files.base import ContentFile
from django.db.models import F
from django.http import HttpResponse
from django.http.response import HttpResponseBase
from django.utils import timezone
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import generics, status
from rest_framework.pagination import PageNumberPagination
from rest_framework.parsers import MultiPartParser
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.roles import policy_for
from accounts.services.quotas import allowance_for
from analytics.selectors import usage_history
from conversations import selectors
from conversations.downloads import streamed_download
from conversations.models import Channel, Message
from conversations.services import conversations as conversation_services
from conversations.services import edits, history_export, history_import, search, trash
from conversations.services import messages as message_services
from conversations.services.dispatch import reply_start_soon, reply_stop
from conversations.services.errors import ChatError

from . import serializers as s
from .paging import MorePages

ERRORS = {400: s.ErrorSerializer, 401: s.ErrorSerializer, 403: s.ErrorSerializer,
          404: s.ErrorSerializer, 409: s.ErrorSerializer, 413: s.ErrorSerializer,
          429: s.ErrorSerializer}


class Pages(PageNumberPagination):
    """`?page=` must be a page number (an empty or other value is a 404, as a page past the
    end is)."""

    def paginate_queryset(self, queryset: Any, request: Request, view: Any = None) -> Any:
        page = request.query_params.get(self.page_query_param)
        if page is not None and not page.isdigit():
            raise ChatError("not_found", "Invalid page.", status=404)
        return super().paginate_queryset(queryset, request, view)


def _not_found() -> ChatError:
    return ChatError("not_found", "Not found.", status=404)


class MeView(APIView):
    @extend_schema(responses={200: s.MeSerializer, **ERRORS}, summary="Who I am and what I have left today")
    def get(self, request: Request) -> Response:
        user = request.user
        allowance = allowance_for(user, policy=policy_for(user), with_images=True)
        return Response(s.MeSerializer({
            "email": user.email,
            "display_name": user.shown_name,
            "role": allowance.role,
            "used_today": allowance.used,
            "limits": {"messages_per_day": allowance.messages_per_day,
                       "tokens_per_day": allowance.tokens_per_day,
                       "images_per_day": allowance.images_per_day},
            "left_today": {"messages_per_day": allowance.messages_left,
                           "tokens_per_day": allowance.tokens_left,
                           "images_per_day": allowance.images_left},
            "resets_at": allowance.resets_at,
            "usage_history": usage_history(user_id=user.pk, days=30, today=timezone.localdate()),
        }).data)


class BotList(generics.ListAPIView):
    serializer_class = s.BotSerializer
    pagination_class = None

    def get_queryset(self) -> Any:
        return selectors.bots_for(self.request.user)

    @extend_schema(responses={200: s.BotSerializer(many=True), **ERRORS}, summary="The bots I may use")
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)


def _flag(request: Request, name: str) -> bool | None:
    value = request.query_params.get(name)
    if value is None or value == "":
        return None
    if value.lower() in ("true", "1", "yes"):
        return True
    if value.lower() in ("false", "0", "no"):
        return False
    raise ChatError("invalid", f"{name} must be true or false.")


class ConversationList(generics.ListAPIView):
    pagination_class = MorePages
    # One shape with or without a search (highlights are then the plain escaped title and "").
    serializer_class = s.SearchResultSerializer

    def get_serializer_context(self) -> dict[str, Any]:
        return {**super().get_serializer_context(), "query": self._query()}

    def _query(self) -> str:
        return search.clean_query(self.request.query_params.get("search", ""))

    def get_queryset(self) -> Any:
        archived = _flag(self.request, "archived")
        pinned = _flag(self.request, "pinned")
        query = self._query()
        if query:
            conversations = search.conversations_search(user=self.request.user, query=query)
        else:
            conversations = selectors.conversations_for(self.request.user)
        if archived is not None:
            conversations = conversations.filter(archived_at__isnull=not archived)
        if pinned is not None:
            conversations = conversations.filter(pinned_at__isnull=not pinned)
        return conversations.order_by(F("pinned_at").desc(nulls_last=True), "-updated_at")

    @extend_schema(
        parameters=[
            OpenApiParameter("search", str, description="Words in the title or messages; results "
                             "then carry HTML-safe highlights"),
            OpenApiParameter("archived", bool, description="Only archived (true) or not (false)"),
            OpenApiParameter("pinned", bool, description="Only pinned (true) or not (false)"),
        ],
        responses={200: s.SearchResultSerializer(many=True), **ERRORS},
        summary="My conversations (not the trash): pinned first, then newest first",
    )
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)

    @extend_schema(request=s.ConversationCreateSerializer,
                   responses={201: s.ConversationSerializer, **ERRORS}, summary="Start a conversation")
    def post(self, request: Request) -> Response:
        data = _valid(s.ConversationCreateSerializer, request)
        conversation = conversation_services.conversation_create(
            user=request.user, bot_slug=data.get("bot"), title=data.get("title", ""),
            channel=Channel.API,
        )
        return Response(s.ConversationSerializer(conversation).data, status=status.HTTP_201_CREATED)


class ConversationDetail(APIView):
    def _get(self, request: Request, conversation_id: Any) -> Any:
        conversation = selectors.conversation_get(request.user, conversation_id)
        if conversation is None:
            raise _not_found()
        return conversation

    @extend_schema(responses={200: s.ConversationSerializer, **ERRORS}, summary="One conversation")
    def get(self, request: Request, conversation_id: Any) -> Response:
        return Response(s.ConversationSerializer(self._get(request, conversation_id)).data)

    @extend_schema(request=s.ConversationUpdateSerializer,
                   responses={200: s.ConversationSerializer, **ERRORS},
                   summary="Rename, pin or unpin, archive or unarchive")
    def patch(self, request: Request, conversation_id: Any) -> Response:
        self._get(request, conversation_id)
        data = _valid(s.ConversationUpdateSerializer, request)
        conversation = conversation_services.conversation_update(
            user=request.user, conversation_id=conversation_id, title=data.get("title"),
            pinned=data.get("pinned"), archived=data.get("archived"),
        )
        return Response(s.ConversationSerializer(conversation).data)

    @extend_schema(responses={204: None, **ERRORS},
                   summary="Move to the trash (restorable until it is emptied)")
    def delete(self, request: Request, conversation_id: Any) -> Response:
        conversation_services.conversation_delete(user=request.user, conversation_id=conversation_id)
        return Response(status=status.HTTP_204_NO_CONTENT)


class ConversationRestore(APIView):
    @extend_schema(request=None, responses={200: s.ConversationSerializer, **ERRORS},
                   summary="Take a conversation back out of the trash")
    def post(self, request: Request, conversation_id: Any) -> Response:
        conversation = trash.conversation_restore(user=request.user, conversation_id=conversation_id)
        return Response(s.ConversationSerializer(conversation).data)


class TrashList(generics.ListAPIView):
    serializer_class = s.TrashedConversationSerializer
    pagination_class = Pages

    def get_queryset(self) -> Any:
        return selectors.trashed_conversations(self.request.user)

    @extend_schema(responses={200: s.TrashedConversationSerializer(many=True), **ERRORS},
                   summary="The trash, most recently deleted first")
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)

    @extend_schema(responses={204: None, **ERRORS}, summary="Empty the trash for good",
                   operation_id="trash_empty")
    def delete(self, request: Request) -> Response:
        trash.trash_empty(user=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


class TrashDetail(APIView):
    @extend_schema(responses={204: None, **ERRORS},
                   summary="Delete one conversation in the trash for good")
    def delete(self, request: Request, conversation_id: Any) -> Response:
        trash.conversation_delete_forever(user=request.user, conversation_id=conversation_id)
        return Response(status=status.HTTP_204_NO_CONTENT)


EXPORT_FORMAT = OpenApiParameter("format", str, enum=["json", "markdown"],
                                 description="json (Chatlab's versioned format, default) or markdown")


def _export_response(request: Request, conversations: Any, name: str) -> HttpResponseBase:
    kind = request.query_params.get("format", "json")
    if kind == "json":
        pieces, mime, ext = (history_export.export_json_chunks(conversations),
                             "application/json", "json")
    elif kind in ("markdown", "md"):
        pieces, mime, ext = (history_export.export_markdown_chunks(conversations),
                             "text/markdown", "md")
    else:
        raise ChatError("invalid", "format must be json or markdown.")
    return streamed_download(request, pieces, mime=mime, filename=f"{name}.{ext}")


class _Exporting(APIView):
    # ?format= names the export's format here, not a DRF renderer; errors are still JSON.
    def perform_content_negotiation(self, request: Request, force: bool = False) -> Any:
        return (JSONRenderer(), "application/json")


class ConversationExport(_Exporting):
    @extend_schema(parameters=[EXPORT_FORMAT], responses={(200, "application/json"): dict,
                   (200, "text/markdown"): str, **ERRORS}, summary="Export one conversation")
    def get(self, request: Request, conversation_id: Any) -> HttpResponse:
        conversations = history_export.exportable(request.user, conversation_id)
        if not conversations.exists():
            raise _not_found()
        return _export_response(request, conversations, f"chatlab-{conversation_id}")


class ExportAll(_Exporting):
    @extend_schema(parameters=[EXPORT_FORMAT], responses={(200, "application/json"): dict,
                   (200, "text/markdown"): str, **ERRORS},
                   summary="Export all my conversations (not the trash)")
    def get(self, request: Request) -> HttpResponse:
        return _export_response(request, history_export.exportable(request.user), "chatlab-history")


class ImportList(APIView):
    parser_classes = [MultiPartParser]

    @extend_schema(request={"multipart/form-data": s.ImportUploadSerializer},
                   responses={202: s.ImportJobSerializer, **ERRORS},
                   summary="Import a Chatlab export or ChatGPT's conversations.json (a background job)")
    def post(self, request: Request) -> Response:
        upload = request.FILES.get("file")
        if upload is None and "file" in request.data:
            upload = ContentFile(b"", name="empty.json")  # an empty part: the job says so
        if upload is None:
            raise ChatError("invalid", "Attach the file as `file` (multipart/form-data).")
        unknown = (set(request.data) | set(request.FILES)) - {"file"}
        if unknown:
            raise ChatError("invalid", f"Unknown field(s): {', '.join(sorted(unknown))}.")
        job = history_import.import_job_create(user=request.user, upload=upload)
        job.refresh_from_db()
        return Response(s.ImportJobSerializer(job).data, status=status.HTTP_202_ACCEPTED)


class ImportDetail(APIView):
    @extend_schema(responses={200: s.ImportJobSerializer, **ERRORS},
                   summary="An import's progress and outcome")
    def get(self, request: Request, job_id: Any) -> Response:
        job = selectors.import_jobs_for(request.user).filter(pk=job_id).first()
        if job is None:
            raise _not_found()
        return Response(s.ImportJobSerializer(job).data)


class MessageList(generics.ListAPIView):
    serializer_class = s.MessageSerializer

    def get_queryset(self) -> Any:
        conversation = selectors.conversation_get(self.request.user, self.kwargs["conversation_id"])
        if conversation is None:
            raise _not_found()
        return selectors.visible_messages(conversation)

    @extend_schema(responses={200: s.MessageSerializer(many=True), **ERRORS},
                   summary="The conversation's messages, oldest first")
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)

    @extend_schema(request=s.SendSerializer, responses={202: s.SentSerializer, **ERRORS},
                   summary="Send a message; the reply is written in the background")
    def post(self, request: Request, conversation_id: Any) -> Response:
        if selectors.conversation_get(request.user, conversation_id) is None:
            raise _not_found()
        data = _valid(s.SendSerializer, request)
        sent = message_services.message_send(
            user=request.user, content=data["content"], conversation_id=conversation_id,
            client_id=data.get("client_id"), reply_status=Message.Status.STREAMING,
        )
        if sent.is_new:
            history = ([{"role": "user", "content": sent.user_message.content}]
                       if sent.first_message else None)
            reply_start_soon(sent.reply.pk, sent.conversation.pk, history=history)
        return Response(_sent(sent.user_message, sent.reply), status=status.HTTP_202_ACCEPTED)


class MessageDetail(APIView):
    @extend_schema(responses={200: s.MessageSerializer, **ERRORS}, summary="A message and its state")
    def get(self, request: Request, message_id: Any) -> Response:
        message = selectors.message_get(request.user, message_id)
        if message is None:
            raise _not_found()
        return Response(s.MessageSerializer(message).data)


class MessageStop(APIView):
    @extend_schema(request=None, responses={202: s.MessageSerializer, **ERRORS},
                   summary="Stop a reply that is being written")
    def post(self, request: Request, message_id: Any) -> Response:
        message = selectors.message_get(request.user, message_id)
        if message is None:
            raise _not_found()
        if message.is_active:
            async_to_sync(reply_stop)(message.pk)
        return Response(s.MessageSerializer(message).data, status=status.HTTP_202_ACCEPTED)


class MessageRegenerate(APIView):
    @extend_schema(request=None, responses={202: s.SentSerializer, **ERRORS},
                   summary="Write the last reply again (also retries a failed one)")
    def post(self, request: Request, message_id: Any) -> Response:
        reply = message_services.reply_regenerate(
            user=request.user, message_id=message_id, reply_status=Message.Status.STREAMING
        )
        reply_start_soon(reply.pk, reply.conversation_id)
        return Response(_sent(reply.reply_to, reply), status=status.HTTP_202_ACCEPTED)


def _valid(serializer_class: type, request: Request) -> dict[str, Any]:
    if not isinstance(request.data, dict):
        raise ChatError("invalid", "The body must be a JSON object.")
    serializer = serializer_class(data=request.data)
    serializer.is_valid(raise_exception=True)
    unknown = set(request.data) - set(serializer.fields)
    if unknown:
        raise ChatError("invalid", f"Unknown field(s): {', '.join(sorted(unknown))}.")
    return serializer.validated_data


def _sent(message: Message | None, reply: Message) -> dict[str, Any]:
    return {
        "message": s.MessageSerializer(message).data if message else None,
        "reply": s.MessageSerializer(reply).data,
        "stream_url": f"/api/v1/messages/{reply.pk}/stream/",
    }


class MessageEdit(APIView):
    @extend_schema(request=s.EditSerializer, responses={202: s.SentSerializer, **ERRORS},
                   summary="Edit the last user message: a new version with a new reply (the old "
                           "ones stay as previous versions)")
    def post(self, request: Request, message_id: Any) -> Response:
        if selectors.message_get(request.user, message_id) is None:
            raise _not_found()  # before reading the body: another person's message is a 404
        data = _valid(s.EditSerializer, request)
        message, reply, _ = edits.message_edit(
            user=request.user, message_id=message_id, content=data["content"],
            reply_status=Message.Status.STREAMING,
        )
        reply_start_soon(reply.pk, reply.conversation_id)
        return Response(_sent(message, reply), status=status.HTTP_202_ACCEPTED)


class MessageVersions(APIView):
    @extend_schema(responses={200: s.VersionSerializer(many=True), **ERRORS},
                   summary="Earlier versions of a message (edits, regenerated replies), oldest first")
    def get(self, request: Request, message_id: Any) -> Response:
        message = selectors.message_get(request.user, message_id)
        if message is None:
            raise _not_found()
        _, versions = edits.conversation_thread(message.conversation)
        versions = versions.get(str(message.pk), [])
        return Response(s.VersionSerializer(versions, many=True).data)
