"""Imports: Chatlab's JSON export and the conversations.json of ChatGPT's data export.

A file is checked whole before anything is written (size, encoding, JSON, format, version, the
number of conversations: history_reading, a streamed first pass); then its conversations are read
one at a time, validated, and written in batches, each row once; a conversation that fails is
skipped and never half-imported. Nothing in a file is trusted as a database id: every row is new
and owned by the importing person, and nothing that exists is changed. Text is stored as text (pages escape
it, the chat sanitises markdown), NUL characters removed.
"""

from __future__ import annotations

import io
import logging
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import IO, Any

from django.conf import settings
from django.core.files.base import File
from django.db import DatabaseError, transaction
from django.utils.translation import gettext_lazy as _
from django.utils.translation import gettext_noop

from accounts.models import User
from conversations import selectors
from conversations.models import Bot, Channel, Conversation, ImportJob, Message

from .errors import ChatError
from .history_reading import conversation_items, file_check, refusal, too_big
from .history_rows import rows_insert
from .messages import _title_from

MAX_MESSAGES = 20_000
MAX_TEXT = 1_000_000
MAX_CHATGPT_NODES = 100_000
INTERRUPTED = gettext_noop("This reply was still being written when it was exported.")
_STATUSES = {s.value for s in Message.Status}
_ACTIVE = {Message.Status.PENDING, Message.Status.STREAMING}


class Invalid(ValueError):
    """This conversation cannot be imported (the rest of the file may still be)."""


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

def read_file(raw: bytes) -> tuple[str, int]:
    """(format, number of conversations) of a file in memory, or ChatError with the reason."""
    return file_check(io.BytesIO(raw))


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
    last_user: int | None = None
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
        reply_to = last_user if role == "assistant" else None
        if role == "user":
            last_user = len(messages)
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
            raise refusal(_("No bot is available to hold imported conversations."), status=409)
        return bot


Rows = dict[str, Any]


def _rows(*, user: User, parsed: ParsedConversation, bot: Bot) -> tuple[Rows, list[Rows]]:
    """The conversation and its messages as rows, every field final (the file's times too), so
    each is written by one INSERT and never updated."""
    conversation_id = uuid.uuid4()
    conversation = {
        "id": conversation_id, "owner_id": user.pk, "bot_id": bot.pk, "title": parsed.title,
        "channel": Channel.IMPORT, "created_at": parsed.created_at,
        "updated_at": parsed.updated_at, "pinned_at": parsed.pinned_at,
        "archived_at": parsed.archived_at, "summary": parsed.summary,
        "summary_through": parsed.summary_through,
    }
    rows: list[Rows] = []
    for m in parsed.messages:
        status, error = m.status, m.error
        if status in _ACTIVE:
            status, error = Message.Status.FAILED, INTERRUPTED
        rows.append({
            "id": uuid.uuid4(), "conversation_id": conversation_id, "role": m.role,
            "content": m.content, "status": status, "error": str(error), "model": m.model,
            "prompt_tokens": m.prompt_tokens, "completion_tokens": m.completion_tokens,
            "ttft_ms": m.ttft_ms, "total_ms": m.total_ms, "reasoning": m.reasoning,
            "reasoning_ms": m.reasoning_ms, "reasoning_tokens": m.reasoning_tokens,
            "superseded_at": m.superseded_at, "imported": True,
            "created_at": m.created_at, "updated_at": m.created_at,
            # reply_to points backwards only, so rows inserted in order satisfy the foreign key.
            "reply_to_id": rows[m.reply_to]["id"] if m.reply_to is not None else None,
        })
    return conversation, rows


def _write(batch: list[tuple[Rows, list[Rows]]]) -> None:
    with transaction.atomic():
        rows_insert(Conversation, [conversation for conversation, _ in batch])
        rows_insert(Message, [m for _, messages in batch for m in messages])


def _write_batch(batch: list[tuple[Rows, list[Rows]]]) -> int:
    """Writes the batch in one transaction; returns how many conversations could not be.

    A database error (rare: everything was validated) rolls the batch back and the
    conversations are written one by one, so only the one at fault is skipped.
    """
    try:
        _write(batch)
        return 0
    except DatabaseError:
        if len(batch) == 1:
            return 1
    return sum(_write_batch([one]) for one in batch)


# A batch is written when it holds this many messages or conversations: few, large INSERTs and
# one commit for many small conversations, with memory bounded whatever the file's size.
BATCH_MESSAGES = 5000
BATCH_CONVERSATIONS = 500
PROGRESS_SECONDS = 0.5


def import_file(*, user: User, file: IO[bytes], job: ImportJob | None = None) -> tuple[int, int]:
    """Imports a whole file, read as a stream; returns (imported, skipped). Refuses a bad file
    with ChatError before writing anything."""
    kind, total = file_check(file)
    parse = parse_chatlab if kind == "chatlab" else parse_chatgpt
    bots = _Bots(user)
    imported = skipped = done = 0
    last_report = time.monotonic()
    if job is not None:
        ImportJob.objects.filter(pk=job.pk).update(format=kind, total=total,
                                                   status=ImportJob.Status.RUNNING)
    batch: list[tuple[Rows, list[Rows]]] = []
    held = 0

    def flush() -> None:
        nonlocal batch, held, imported, skipped, done, last_report
        failed = _write_batch(batch) if batch else 0
        imported += len(batch) - failed
        skipped += failed
        done = imported + skipped
        batch, held = [], 0
        if job is not None and (time.monotonic() - last_report > PROGRESS_SECONDS
                                or done == total):
            last_report = time.monotonic()
            ImportJob.objects.filter(pk=job.pk).update(done=done, imported=imported,
                                                       skipped=skipped)

    for item in conversation_items(file, kind):
        try:
            parsed = parse(item)
            batch.append(_rows(user=user, parsed=parsed, bot=bots.pick(parsed.bot)))
            held += len(parsed.messages)
        except (Invalid, AttributeError, TypeError, ValueError, OverflowError):
            skipped += 1  # nothing of it was written
        if held >= BATCH_MESSAGES or len(batch) >= BATCH_CONVERSATIONS:
            flush()
    flush()
    return imported, skipped


def import_bytes(*, user: User, raw: bytes, job: ImportJob | None = None) -> tuple[int, int]:
    """import_file for a file already in memory."""
    return import_file(user=user, file=io.BytesIO(raw), job=job)


# Jobs ------------------------------------------------------------------------------------------

def import_job_create(*, user: User, upload: File) -> ImportJob:
    """Stores the upload and queues its import (queue `maintenance`).

    The upload is copied to storage a chunk at a time (Django has already spooled a large one
    to a temporary file), never joined in memory.
    """
    limit = settings.CHATLAB_IMPORT_MAX_BYTES
    if upload.size > limit:
        raise refusal(too_big(upload.size, limit), status=413)
    job = ImportJob(owner=user, filename=(upload.name or "import.json")[-255:], size=upload.size)
    job.file.save(f"{uuid.uuid4().hex}.json", upload, save=False)
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
            imported, skipped = import_file(user=job.owner, file=f, job=job)
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
