"""REST endpoints: thin views that validate, call one service and serialise.

Every object is looked up through selectors scoped to the asking user, so another person's
conversation or message is a 404, never data.
"""

from __future__ import annotations

from typing import Any

from asgiref.sync import async_to_sync
from django.db.models import Q
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import generics, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.roles import policy_for
from accounts.services.quotas import allowance_for
from conversations import selectors
from conversations.models import Message
from conversations.services import conversations as conversation_services
from conversations.services import messages as message_services
from conversations.services.dispatch import reply_start_soon, reply_stop
from conversations.services.errors import ChatError

from . import serializers as s

ERRORS = {400: s.ErrorSerializer, 401: s.ErrorSerializer, 403: s.ErrorSerializer,
          404: s.ErrorSerializer, 409: s.ErrorSerializer, 413: s.ErrorSerializer,
          429: s.ErrorSerializer}


def _not_found() -> ChatError:
    return ChatError("not_found", "Not found.", status=404)


class MeView(APIView):
    @extend_schema(responses={200: s.MeSerializer, **ERRORS}, summary="Who I am and what I have left today")
    def get(self, request: Request) -> Response:
        user = request.user
        allowance = allowance_for(user, policy=policy_for(user))
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
        }).data)


class BotList(generics.ListAPIView):
    serializer_class = s.BotSerializer
    pagination_class = None

    def get_queryset(self) -> Any:
        return selectors.bots_for(self.request.user)

    @extend_schema(responses={200: s.BotSerializer(many=True), **ERRORS}, summary="The bots I may use")
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)


class ConversationList(generics.ListAPIView):
    serializer_class = s.ConversationSerializer

    def get_queryset(self) -> Any:
        conversations = selectors.conversations_for(self.request.user)
        query = self.request.query_params.get("search", "").strip()[:200]
        if query:
            matching = Message.objects.filter(content__icontains=query).values("conversation_id")
            conversations = conversations.filter(Q(title__icontains=query) | Q(pk__in=matching))
        return conversations

    @extend_schema(
        parameters=[OpenApiParameter("search", str, description="Words in the title or messages")],
        responses={200: s.ConversationSerializer(many=True), **ERRORS},
        summary="My conversations, newest first",
    )
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)

    @extend_schema(request=s.ConversationCreateSerializer,
                   responses={201: s.ConversationSerializer, **ERRORS}, summary="Start a conversation")
    def post(self, request: Request) -> Response:
        data = _valid(s.ConversationCreateSerializer, request)
        conversation = conversation_services.conversation_create(
            user=request.user, bot_slug=data.get("bot"), title=data.get("title", "")
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
                   responses={200: s.ConversationSerializer, **ERRORS}, summary="Rename")
    def patch(self, request: Request, conversation_id: Any) -> Response:
        self._get(request, conversation_id)
        data = _valid(s.ConversationUpdateSerializer, request)
        conversation = conversation_services.conversation_rename(
            user=request.user, conversation_id=conversation_id, title=data["title"]
        )
        return Response(s.ConversationSerializer(conversation).data)

    @extend_schema(responses={204: None, **ERRORS}, summary="Delete, with its messages")
    def delete(self, request: Request, conversation_id: Any) -> Response:
        conversation_services.conversation_delete(user=request.user, conversation_id=conversation_id)
        return Response(status=status.HTTP_204_NO_CONTENT)


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
            reply_start_soon(sent.reply.pk, sent.conversation.pk)
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
