from __future__ import annotations

from typing import Any

from drf_spectacular.extensions import OpenApiSerializerExtension
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers
from rest_framework.validators import ProhibitSurrogateCharactersValidator

from django.core.validators import ProhibitNullCharactersValidator, RegexValidator
from django.utils.html import escape

from conversations.models import Bot, Conversation, ImportJob, Message
from conversations.services.message_text import text_refusal


class StrictCharField(serializers.CharField):
    """Text only: DRF's CharField would quietly turn 5 or true into "5" or "True"."""

    def to_internal_value(self, data: object) -> str:
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


def _storable(text: str) -> None:
    if (refusal := text_refusal(text)) is not None:
        raise serializers.ValidationError(refusal.message, code=refusal.code)


class MessageTextField(StrictCharField):
    """A message's text, checked by the one check every door uses (services.message_text) in
    place of DRF's own NUL and surrogate validators, so the API words it as the socket does."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.validators = [
            v for v in self.validators
            if not isinstance(v, ProhibitNullCharactersValidator | ProhibitSurrogateCharactersValidator)
        ] + [_storable]


class StrictBodySerializer(serializers.Serializer):
    """Fields other than these are refused (400)."""

    # views._valid refuses unknown fields; StrictBodySchema tells the schema so.


class StrictBodySchema(OpenApiSerializerExtension):
    target_class = StrictBodySerializer
    match_subclasses = True

    def map_serializer(self, auto_schema: Any, direction: Any) -> dict[str, Any]:
        schema = auto_schema._map_basic_serializer(self.target, direction)
        return {**schema, "additionalProperties": False}


class BotSerializer(serializers.ModelSerializer):
    class Meta:
        model = Bot
        fields = ["slug", "name", "description", "model", "is_default"]


class ConversationSerializer(serializers.ModelSerializer):
    bot = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    pinned = serializers.SerializerMethodField()
    archived = serializers.SerializerMethodField()

    class Meta:
        model = Conversation
        fields = ["id", "title", "bot", "created_at", "updated_at", "pinned", "archived"]

    def get_pinned(self, obj: Conversation) -> bool:
        return obj.pinned_at is not None

    def get_archived(self, obj: Conversation) -> bool:
        return obj.archived_at is not None


class SearchResultSerializer(ConversationSerializer):
    title_highlight = serializers.SerializerMethodField(
        help_text="The title, HTML-escaped, matches in <mark>.")
    highlight = serializers.SerializerMethodField(
        help_text="The first matching message text, HTML-escaped, matches in <mark>; "
                  "empty when only the title matched.")

    class Meta(ConversationSerializer.Meta):
        fields = [*ConversationSerializer.Meta.fields, "title_highlight", "highlight"]

    def get_title_highlight(self, obj: Conversation) -> str:
        from conversations.services.search import highlight

        return highlight(obj.title, self.context.get("query", "")) or escape(obj.title)

    def get_highlight(self, obj: Conversation) -> str:
        from conversations.services.search import highlight

        return highlight(getattr(obj, "snippet_raw", None), self.context.get("query", ""))


class TrashedConversationSerializer(ConversationSerializer):
    class Meta(ConversationSerializer.Meta):
        fields = [*ConversationSerializer.Meta.fields, "deleted_at"]


class ConversationCreateSerializer(StrictBodySerializer):
    bot = serializers.SlugField(required=False, allow_blank=True, max_length=60)
    title = StrictCharField(required=False, allow_blank=True, max_length=200)


class StrictBooleanField(serializers.BooleanField):
    """true or false only: DRF's BooleanField would also take "yes", 1 or "on"."""

    def to_internal_value(self, data: object) -> bool:
        if not isinstance(data, bool):
            self.fail("invalid", input=data)
        return data


class ConversationUpdateSerializer(StrictBodySerializer):
    title = StrictCharField(max_length=200, allow_blank=False, trim_whitespace=True,
                            required=False)
    pinned = StrictBooleanField(required=False)
    archived = StrictBooleanField(required=False)


class EditSerializer(StrictBodySerializer):
    content = MessageTextField(trim_whitespace=False, max_length=1_000_000,
                               validators=[RegexValidator(r"\S", "Write something first.")])


class VersionSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    content = serializers.CharField(allow_blank=True)
    status = serializers.CharField()
    answer = serializers.CharField(required=False, allow_blank=True,
                                   help_text="For an earlier question: the reply it got.")


class ImportJobSerializer(serializers.ModelSerializer):
    class Meta:
        model = ImportJob
        fields = ["id", "filename", "size", "status", "format", "total", "done", "imported",
                  "skipped", "error", "created_at", "updated_at"]


@extend_schema_field({"type": "string", "format": "binary", "minLength": 1})
class NonEmptyFileField(serializers.FileField):
    """A file with something in it (browsers and clients drop an empty part altogether)."""


class ImportUploadSerializer(StrictBodySerializer):
    file = NonEmptyFileField(help_text="A Chatlab JSON export or ChatGPT's conversations.json")


class MessageSerializer(serializers.ModelSerializer):
    class Meta:
        model = Message
        fields = [
            "id", "role", "content", "status", "error", "reply_to", "replaces", "created_at", "model",
            "prompt_tokens", "completion_tokens", "ttft_ms", "total_ms",
            # What a reasoning model thought, apart from its answer (issue #18).
            "reasoning", "reasoning_tokens", "reasoning_ms",
        ]


class SendSerializer(StrictBodySerializer):
    content = MessageTextField(trim_whitespace=False, allow_blank=True, max_length=1_000_000)
    client_id = serializers.UUIDField(required=False, allow_null=True)


class SentSerializer(serializers.Serializer):
    message = MessageSerializer()
    reply = MessageSerializer()
    stream_url = serializers.CharField()


class UsageSerializer(serializers.Serializer):
    messages = serializers.IntegerField()
    tokens = serializers.IntegerField()
    images = serializers.IntegerField()


class LimitsSerializer(serializers.Serializer):
    messages_per_day = serializers.IntegerField(allow_null=True)
    tokens_per_day = serializers.IntegerField(allow_null=True)
    images_per_day = serializers.IntegerField(allow_null=True)


class UsageDaySerializer(serializers.Serializer):
    day = serializers.DateField()
    replies = serializers.IntegerField()
    tokens = serializers.IntegerField()
    images = serializers.IntegerField()


class MeSerializer(serializers.Serializer):
    email = serializers.EmailField()
    display_name = serializers.CharField()
    role = serializers.CharField()
    used_today = UsageSerializer()
    limits = LimitsSerializer()
    left_today = LimitsSerializer()
    resets_at = serializers.DateTimeField()
    # The last 30 days, oldest first, from the analytics rollups (updated every ten minutes).
    usage_history = UsageDaySerializer(many=True)


class ErrorBodySerializer(serializers.Serializer):
    code = serializers.CharField()
    message = serializers.CharField()


class ErrorSerializer(serializers.Serializer):
    error = ErrorBodySerializer()
