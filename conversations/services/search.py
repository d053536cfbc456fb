"""Search over titles and message text: PostgreSQL full-text search on PostgreSQL, a plain
case-insensitive match elsewhere (SQLite). Results carry an HTML-safe highlighted snippet."""

from __future__ import annotations

import re

from django.db import connection
from django.db.models import BooleanField, CharField, OuterRef, Q, QuerySet, Subquery
from django.db.models.expressions import RawSQL
from django.utils.html import escape

from accounts.models import User
from conversations import selectors
from conversations.models import Conversation, Message

# A message's detected language -> the PostgreSQL text search configuration its words are
# stemmed with; any other language is matched by its words as written ("simple": no stemming,
# no stop words). Migration 0010 stores each message's vector with the same mapping.
LANGUAGE_CONFIGS = {
    "en": "english", "ru": "russian", "de": "german", "es": "spanish", "fr": "french",
    "it": "italian", "pt": "portuguese", "nl": "dutch",
}
SEARCH_CONFIG = "simple"
MAX_QUERY_CHARS = 200
SNIPPET_CHARS = 160
# Highlight markers no user text contains: the text is escaped first, then they become <mark>.
START, STOP = "\x02", "\x03"
HEADLINE_OPTIONS = (f"StartSel={START}, StopSel={STOP}, MaxWords=30, MinWords=12, ShortWord=2, "
                    "HighlightAll=false")


def is_postgres() -> bool:
    return connection.vendor == "postgresql"


def clean_query(query: str) -> str:
    return " ".join((query or "").replace(START, "").replace(STOP, "").split())[:MAX_QUERY_CHARS]


def conversations_search(
    *, user: User, query: str, include_archived: bool = True
) -> QuerySet[Conversation]:
    """The person's conversations (never the trash) whose title or messages match, newest first,
    each with ``snippet_raw`` (the matching text with highlight markers, or None)."""
    conversations = selectors.conversations_for(user)
    if not include_archived:
        conversations = conversations.filter(archived_at__isnull=True)
    query = clean_query(query)
    if not query:
        return conversations.none()
    if is_postgres():
        return _postgres_search(conversations, user, query)
    words = query.split()[:10]
    match = Q()
    title_match = Q()
    for word in words:
        match &= Q(content__icontains=word)
        title_match &= Q(title__icontains=word)
    mine = Message.objects.filter(conversation__owner=user, superseded_at__isnull=True)
    visible = Message.objects.filter(conversation=OuterRef("pk"), superseded_at__isnull=True)
    matching = mine.filter(match).values("conversation_id")
    first = visible.filter(match).order_by("created_at").values("content")[:1]
    return conversations.filter(title_match | Q(pk__in=matching)).annotate(
        snippet_raw=Subquery(first)
    )


def _tsquery(query: str) -> tuple[str, list[str]]:
    """The words as written, or as stemmed in any of the configured languages: each message's
    stored vector (migration 0010) holds both its words and their stems in its own language."""
    configs = [SEARCH_CONFIG, *dict.fromkeys(LANGUAGE_CONFIGS.values())]
    sql = " || ".join(f"websearch_to_tsquery('{config}'::regconfig, %s)" for config in configs)
    return f"({sql})", [query] * len(configs)


def _message_config(alias: str) -> str:
    whens = " ".join(f"WHEN '{code}' THEN '{config}'::regconfig"
                     for code, config in LANGUAGE_CONFIGS.items())
    return f"CASE {alias}.language {whens} ELSE '{SEARCH_CONFIG}'::regconfig END"


def _postgres_search(conversations: QuerySet[Conversation], user: User,
                     query: str) -> QuerySet[Conversation]:
    # Raw SQL for the columns migration 0010 adds outside the models (owner_id, search,
    # title_search). The table names are the outer query's own: this queryset is not meant to
    # be nested in another one.
    conv, msg = Conversation._meta.db_table, Message._meta.db_table
    ts, ts_params = _tsquery(query)
    # OFFSET 0 keeps PostgreSQL from hashing the probe (see _words_are_common).
    probe_end = " OFFSET 0" if _words_are_common(user, ts, ts_params) else ""
    matched = RawSQL(
        f"({conv}.title_search @@ {ts} OR EXISTS (SELECT 1 FROM {msg} m "
        f"WHERE m.conversation_id = {conv}.id AND m.owner_id = %s "
        f"AND m.superseded_at IS NULL AND m.search @@ {ts}{probe_end}))",
        [*ts_params, user.pk, *ts_params], output_field=BooleanField(),
    )
    # Worked out only for the rows of the page being shown.
    snippet = RawSQL(
        f"(SELECT ts_headline({_message_config('m')}, m.content, {ts}, %s) FROM {msg} m "
        f"WHERE m.conversation_id = {conv}.id AND m.superseded_at IS NULL "
        f"AND m.search @@ {ts} ORDER BY m.created_at LIMIT 1)",
        [*ts_params, HEADLINE_OPTIONS, *ts_params], output_field=CharField(),
    )
    return conversations.filter(matched).annotate(snippet_raw=snippet)


# How many of the person's latest conversations are sampled, and how many of them must hold
# the words for the words to count as common.
COMMON_SAMPLE, COMMON_MATCHES = 100, 20


def _words_are_common(user: User, ts: str, ts_params: list[str]) -> bool:
    """Whether the words are in many of the person's latest conversations, by probing them.

    The two plans PostgreSQL has for "conversations with a matching message" cost opposite
    things: walking the conversations newest first and probing each one's messages fills a
    page at once for common words but reads the whole history for rare ones; reading the
    person's matching messages first (the indexes on the stored vector and the owner) is
    quick for rare words and reads tens of thousands of rows for common ones. Its estimates
    do not see the LIMIT of a page, so it picks the second even for "the" (40 ms at 10,000
    conversations, issue #20); this sample (about 1 ms) picks instead.
    """
    conv, msg = Conversation._meta.db_table, Message._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT count(*) FROM (SELECT id FROM {conv} WHERE owner_id = %s "
            f"AND deleted_at IS NULL ORDER BY updated_at DESC LIMIT %s) c WHERE EXISTS "
            f"(SELECT 1 FROM {msg} m WHERE m.conversation_id = c.id "
            f"AND m.superseded_at IS NULL AND m.search @@ {ts} OFFSET 0)",
            [user.pk, COMMON_SAMPLE, *ts_params],
        )
        return cursor.fetchone()[0] >= COMMON_MATCHES


def highlight(text: str | None, query: str) -> str:
    """HTML-safe: the text is escaped, then the matches are wrapped in <mark>."""
    if not text:
        return ""
    if START not in text:
        text = _mark_words(_window(text, query), query)
    safe = escape(text)
    return safe.replace(START, "<mark>").replace(STOP, "</mark>")


def _window(text: str, query: str) -> str:
    """About SNIPPET_CHARS of the text around the first match (SQLite's snippet)."""
    text = " ".join(text.split())
    words = [re.escape(w) for w in clean_query(query).split() if w]
    found = re.search("|".join(words), text, re.IGNORECASE) if words else None
    start = max((found.start() if found else 0) - SNIPPET_CHARS // 3, 0)
    piece = text[start:start + SNIPPET_CHARS]
    return ("…" if start else "") + piece + ("…" if start + SNIPPET_CHARS < len(text) else "")


def _mark_words(text: str, query: str) -> str:
    words = [re.escape(w) for w in clean_query(query).split() if w]
    if not words:
        return text
    return re.sub("(" + "|".join(words) + ")", START + r"\1" + STOP, text, flags=re.IGNORECASE)
