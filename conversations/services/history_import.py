"""Imports: Chatlab's JSON export and the conversations.json of ChatGPT's data export.

A file is checked whole before anything is written (size, encoding, JSON, format, version); then
each conversation is validated and written in its own transaction, so a bad one is skipped and
never half-imported. Nothing in a file is trusted as a database id: every row is new and owned by
the importing person, and nothing that exists is changed. Text is stored as text (pages escape
it, the chat sanitises markdown), NUL characters removed.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.files.base import ContentFile
from django.db import DatabaseError, transaction
from django.utils.functional import Promise
from django.utils.text import format_lazy
from django.utils.translation import gettext_lazy as _
from django.utils.translation import gettext_noop

from accounts.models import User
from conversations import selectors
from conversations.models import Bot, Channel, Conversation, ImportJob, Message

from .errors import ChatError, grouped
from .history_export import FORMAT, VERSION
from .messages import _title_from

MAX_MESSAGES = 20_000
MAX_TEXT = 1_000_000
MAX_CHATGPT_NODES = 100_000
INTERRUPTED = gettext_noop("This reply was still being written when it was exported.")
_STATUSES = {s.value for s in Message.Status}
_ACTIVE = {Message.Status.PENDING, Message.Status.STREAMING}


class Invalid(ValueError):
    """This conversation cannot be imported (the rest of the file may still be)."""


def _refuse(reason: str | Promise, status: int = 400) -> ChatError:
    return ChatError("import_refused", reason, status=status)


def _too_big(size: int, limit: int) -> Promise:
    return format_lazy(_("The file is {size} bytes; the limit is {limit}."),
                       size=grouped(size), limit=grouped(limit))


@dataclass
class ParsedMessage:
    role: str
    content: str
    created_at: datetime
    status: str = Message.Status.COMPLETE
    error: str = ""
    model: str = ""
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    ttft_ms: int | None = None
    total_ms: int | None = None
    reasoning: str = ""
    reasoning_ms: int | None = None
    reasoning_tokens: int | None = None
    reply_to: int | None = None
    superseded_at: datetime | None = None


@dataclass
class ParsedConversation:
    title: str
    bot: str
    created_at: datetime
    updated_at: datetime
    messages: list[ParsedMessage] = field(default_factory=list)
    pinned_at: datetime | None = None
    archived_at: datetime | None = None
    summary: str = ""
    summary_through: datetime | None = None


# Reading the file ------------------------------------------------------------------------------

def read_file(raw: bytes) -> tuple[str, list[Any]]:
    """(format, the raw conversation items) or ChatError with the reason."""
    kind, items = _read_items(raw)
    limit = settings.CHATLAB_IMPORT_MAX_CONVERSATIONS
    if len(items) > limit:
        # Refused whole, before anything is written: a partial import would leave the person
        # guessing which conversations made it.
        raise _refuse(format_lazy(
            _("The file holds {count} conversations; one import takes at most {limit}. Split "
              "the file, or ask an administrator to raise CHATLAB_IMPORT_MAX_CONVERSATIONS."),
            count=grouped(len(items)), limit=grouped(limit)), status=413)
    return kind, items


def _read_items(raw: bytes) -> tuple[str, list[Any]]:
    limit = settings.CHATLAB_IMPORT_MAX_BYTES
    if len(raw) > limit:
        raise _refuse(_too_big(len(raw), limit), status=413)
    if not raw.strip():
        raise _refuse(_("The file is empty."))
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise _refuse(_("The file is not UTF-8 text.")) from None
    try:
        data = json.loads(text)
    except RecursionError:
        raise _refuse(_("The file is nested too deeply to be an export.")) from None
    except ValueError as exc:
        raise _refuse(format_lazy(_("The file is not valid JSON (it may be truncated): {error}."),
                                   error=str(exc))) from None
    if isinstance(data, dict) and data.get("format") == FORMAT:
        version = data.get("version")
        if not isinstance(version, int) or isinstance(version, bool) or version < 1:
            raise _refuse(_("The Chatlab export has no valid version."))
        if version > VERSION:
            raise _refuse(format_lazy(
                _("This export is version {version}; this server reads up to {latest}."),
                version=version, latest=VERSION))
        items = data.get("conversations")
        if not isinstance(items, list):
            raise _refuse(_("The Chatlab export has no list of conversations."))
        return "chatlab", items
    if isinstance(data, list) and all(isinstance(i, dict) and "mapping" in i for i in data):
        return "chatgpt", data
    raise _refuse(_("This is neither a Chatlab export nor ChatGPT's conversations.json."))


def _text(value: Any, name: str, limit: int = MAX_TEXT, *, required: bool = False) -> str:
    if value is None and not required:
        return ""
    if not isinstance(value, str):
        raise Invalid(f"{name} must be text")
    if len(value) > limit:
        raise Invalid(f"{name} is longer than {limit:,} characters")
    return value.replace("\x00", "")


def _count(value: Any, name: str) -> int | None:
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value < 2**31:
        raise Invalid(f"{name} must be a whole number")
    return value


def _when(value: Any, name: str, *, required: bool = False) -> datetime | None:
    if value is None and not required:
        return None
    try:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return datetime.fromtimestamp(value, tz=UTC)
        moment = datetime.fromisoformat(value)
    except (TypeError, ValueError, OverflowError, OSError):
        raise Invalid(f"{name} is not a date") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def parse_chatlab(item: Any) -> ParsedConversation:
    if not isinstance(item, dict):
        raise Invalid("a conversation must be an object")
    raw_messages = item.get("messages")
    if not isinstance(raw_messages, list) or len(raw_messages) > MAX_MESSAGES:
        raise Invalid("messages must be a list")
    messages = []
    for index, m in enumerate(raw_messages):
        if not isinstance(m, dict):
            raise Invalid("a message must be an object")
        role = m.get("role")
        if role not in (Message.Role.USER, Message.Role.ASSISTANT):
            raise Invalid(f"unknown role {str(role)[:20]!r}")
        status = m.get("status", Message.Status.COMPLETE)
        if status not in _STATUSES:
            raise Invalid("unknown status")
        reply_to = m.get("reply_to")
        if reply_to is not None and (
            not isinstance(reply_to, int) or isinstance(reply_to, bool) or not 0 <= reply_to < index
        ):
            raise Invalid("reply_to must point at an earlier message")
        messages.append(ParsedMessage(
            role=role,
            content=_text(m.get("content"), "content"),
            created_at=_when(m.get("created_at"), "created_at", required=True),
            status=status,
            error=_text(m.get("error"), "error", 500),
            model=_text(m.get("model"), "model", 200),
            prompt_tokens=_count(m.get("prompt_tokens"), "prompt_tokens"),
            completion_tokens=_count(m.get("completion_tokens"), "completion_tokens"),
            ttft_ms=_count(m.get("ttft_ms"), "ttft_ms"),
            total_ms=_count(m.get("total_ms"), "total_ms"),
            reasoning=_text(m.get("reasoning"), "reasoning"),
            reasoning_ms=_count(m.get("reasoning_ms"), "reasoning_ms"),
            reasoning_tokens=_count(m.get("reasoning_tokens"), "reasoning_tokens"),
            reply_to=reply_to,
            superseded_at=_when(m.get("superseded_at"), "superseded_at"),
        ))
    return ParsedConversation(
        title=_text(item.get("title"), "title", 200),
        bot=_text(item.get("bot"), "bot", 60),
        created_at=_when(item.get("created_at"), "created_at", required=True),
        updated_at=_when(item.get("updated_at"), "updated_at", required=True),
        pinned_at=_when(item.get("pinned_at"), "pinned_at"),
        archived_at=_when(item.get("archived_at"), "archived_at"),
        summary=_text(item.get("summary"), "summary"),
        summary_through=_when(item.get("summary_through"), "summary_through"),
        messages=messages,
    )


def _node_time(node: dict[str, Any]) -> float:
    message = node.get("message")
    moment = message.get("create_time") if isinstance(message, dict) else None
    if isinstance(moment, (int, float)) and not isinstance(moment, bool):
        return float(moment)
    return float("-inf")


def _chatgpt_branch(mapping: dict[str, Any], current: Any) -> list[dict[str, Any]]:
    """The nodes from the shown branch's end back to the root.

    The end is `current_node`; when it is missing or names no node, the newest leaf (the
    branch last written to, as ChatGPT shows it). A node is linked to its parent by its own
    `parent` or by the node whose `children` list it, so one broken link does not cut the
    thread down to its last message.
    """
    for key, node in mapping.items():
        if not isinstance(node, dict):
            raise Invalid("a node must be an object")
    parents: dict[str, str] = {}
    for key, node in mapping.items():
        children = node.get("children")
        for child in children if isinstance(children, list) else []:
            if isinstance(child, str) and child in mapping:
                parents.setdefault(child, key)
    for key, node in mapping.items():
        if isinstance(node.get("parent"), str) and node["parent"] in mapping:
            parents[key] = node["parent"]
    node_id = current if isinstance(current, str) and current in mapping else None
    if node_id is None:
        has_child = set(parents.values())
        leaves = [key for key in mapping if key not in has_child]
        node_id = max(leaves, key=lambda key: _node_time(mapping[key]), default=None)
    path, seen = [], set()
    while node_id is not None and node_id not in seen:
        seen.add(node_id)
        path.append(mapping[node_id])
        node_id = parents.get(node_id)
    return path


def parse_chatgpt(item: Any) -> ParsedConversation:
    """The branch ChatGPT shows (current_node back to the root); other branches are left out."""
    mapping = item.get("mapping")
    if not isinstance(mapping, dict) or len(mapping) > MAX_CHATGPT_NODES:
        raise Invalid("mapping must be an object")
    created = _when(item.get("create_time"), "create_time") or datetime.now(UTC)
    updated = _when(item.get("update_time"), "update_time") or created
    path = _chatgpt_branch(mapping, item.get("current_node"))
    messages: list[ParsedMessage] = []
    last = created
    for node in reversed(path):
        message = node.get("message")
        if not isinstance(message, dict):
            continue
        author = message.get("author") if isinstance(message.get("author"), dict) else {}
        role = author.get("role")
        if role not in ("user", "assistant"):
            continue  # system and tool messages are not part of the visible thread
        content = message.get("content") if isinstance(message.get("content"), dict) else {}
        parts = content.get("parts") if isinstance(content.get("parts"), list) else []
        text = "\n\n".join(p for p in parts if isinstance(p, str)).strip()
        if not text:
            continue
        when = _when(message.get("create_time"), "create_time") or last
        if when <= last and messages:
            when = last + timedelta(microseconds=1)  # keep the thread's order
        last = when
        reply_to = None
        if role == "assistant":
            reply_to = next((i for i in range(len(messages) - 1, -1, -1)
                             if messages[i].role == "user"), None)
        messages.append(ParsedMessage(role=role, content=_text(text, "content"), created_at=when,
                                      reply_to=reply_to,
                                      model=_text(message.get("metadata", {}).get("model_slug")
                                                  if isinstance(message.get("metadata"), dict)
                                                  else "", "model", 200)))
        if len(messages) > MAX_MESSAGES:
            raise Invalid("too many messages")
    updated = max(updated, last)
    title = _text(item.get("title"), "title", 10_000).strip()[:200]
    if not title:
        # Titled as a conversation started on the site is: by its first message (an empty one
        # is shown as "New chat").
        title = next((_title_from(m.content) for m in messages if m.role == "user"), "")
    return ParsedConversation(
        title=title, bot="", created_at=created, updated_at=updated, messages=messages,
        archived_at=updated if item.get("is_archived") is True else None,
    )


# Writing ---------------------------------------------------------------------------------------

class _Bots:
    def __init__(self, user: User) -> None:
        self.by_slug = {b.slug: b for b in selectors.bots_for(user)}
        self.default = next((b for b in self.by_slug.values() if b.is_default), None) or next(
            iter(self.by_slug.values()), None)

    def pick(self, slug: str) -> Bot:
        bot = self.by_slug.get(slug) or self.default
        if bot is None:
            raise _refuse(_("No bot is available to hold imported conversations."), status=409)
        return bot


@transaction.atomic
def conversation_import(*, user: User, parsed: ParsedConversation, bot: Bot) -> Conversation:
    conversation = Conversation.objects.create(owner=user, bot=bot, title=parsed.title,
                                               channel=Channel.IMPORT)
    Conversation.objects.filter(pk=conversation.pk).update(
        created_at=parsed.created_at, updated_at=parsed.updated_at, pinned_at=parsed.pinned_at,
        archived_at=parsed.archived_at, summary=parsed.summary,
        summary_through=parsed.summary_through,
    )
    rows = []
    for m in parsed.messages:
        status, error = m.status, m.error
        if status in _ACTIVE:
            status, error = Message.Status.FAILED, INTERRUPTED
        rows.append(Message(
            id=uuid.uuid4(), conversation=conversation, role=m.role, content=m.content,
            status=status, error=error, model=m.model, prompt_tokens=m.prompt_tokens,
            completion_tokens=m.completion_tokens, ttft_ms=m.ttft_ms, total_ms=m.total_ms,
            reasoning=m.reasoning, reasoning_ms=m.reasoning_ms,
            reasoning_tokens=m.reasoning_tokens, superseded_at=m.superseded_at,
            reply_to=None,
        ))
    for row, m in zip(rows, parsed.messages, strict=True):
        if m.reply_to is not None:
            row.reply_to_id = rows[m.reply_to].pk
    # reply_to points backwards only, so one insert in order satisfies the foreign keys.
    Message.objects.bulk_create(rows, batch_size=500)
    for row, m in zip(rows, parsed.messages, strict=True):
        row.created_at = row.updated_at = m.created_at
    # bulk_create stamps auto_now(_add) fields with the present; bulk_update writes the file's.
    Message.objects.bulk_update(rows, ["created_at", "updated_at"], batch_size=500)
    return conversation


def import_bytes(*, user: User, raw: bytes, job: ImportJob | None = None) -> tuple[int, int]:
    """Imports a whole file; returns (imported, skipped). Refuses a bad file with ChatError."""
    kind, items = read_file(raw)
    parse = parse_chatlab if kind == "chatlab" else parse_chatgpt
    bots = _Bots(user)
    imported = skipped = 0
    last_report = time.monotonic()
    if job is not None:
        ImportJob.objects.filter(pk=job.pk).update(format=kind, total=len(items),
                                                   status=ImportJob.Status.RUNNING)
    for index, item in enumerate(items, start=1):
        try:
            parsed = parse(item)
            conversation_import(user=user, parsed=parsed, bot=bots.pick(parsed.bot))
            imported += 1
        except (Invalid, AttributeError, TypeError, ValueError, OverflowError, DatabaseError):
            # The conversation's transaction rolled back: nothing of it was written.
            skipped += 1
        if job is not None and (time.monotonic() - last_report > 0.5 or index == len(items)):
            last_report = time.monotonic()
            ImportJob.objects.filter(pk=job.pk).update(done=index, imported=imported,
                                                       skipped=skipped)
    return imported, skipped


# Jobs ------------------------------------------------------------------------------------------

def import_job_create(*, user: User, name: str, size: int, chunks: Any) -> ImportJob:
    """Stores the upload and queues its import (queue `maintenance`)."""
    limit = settings.CHATLAB_IMPORT_MAX_BYTES
    if size > limit:
        raise _refuse(_too_big(size, limit), status=413)
    data = b"".join(chunks)
    if len(data) > limit:
        raise _refuse(format_lazy(_("The file is larger than the limit of {limit} bytes."),
                                  limit=grouped(limit)), status=413)
    job = ImportJob(owner=user, filename=(name or "import.json")[-255:], size=len(data))
    job.file.save(f"{uuid.uuid4().hex}.json", ContentFile(data), save=False)
    job.save()
    from conversations.tasks import run_import

    transaction.on_commit(lambda: run_import.delay(str(job.pk)))
    return job


def import_job_run(*, job_id: str) -> str:
    job = ImportJob.objects.select_related("owner").filter(pk=job_id).first()
    if job is None or job.status not in (ImportJob.Status.QUEUED, ImportJob.Status.RUNNING):
        return "missing" if job is None else job.status
    try:
        with job.file.open("rb") as f:
            raw = f.read(settings.CHATLAB_IMPORT_MAX_BYTES + 1)
        imported, skipped = import_bytes(user=job.owner, raw=raw, job=job)
    except ChatError as exc:
        ImportJob.objects.filter(pk=job.pk).update(status=ImportJob.Status.FAILED,
                                                   error=exc.message[:500])
        status = ImportJob.Status.FAILED
    except Exception:
        logging.getLogger(__name__).exception("import %s failed", job.pk)
        ImportJob.objects.filter(pk=job.pk).update(
            status=ImportJob.Status.FAILED, error=str(_("The import failed unexpectedly.")))
        status = ImportJob.Status.FAILED
    else:
        ImportJob.objects.filter(pk=job.pk).update(
            status=ImportJob.Status.DONE, imported=imported, skipped=skipped)
        status = ImportJob.Status.DONE
    job.file.delete(save=False)  # the file is not kept once read
    ImportJob.objects.filter(pk=job.pk).update(file="")
    return status
