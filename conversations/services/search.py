"""Search over titles and message text: PostgreSQL full-text search on PostgreSQL, a plain
case-insensitive match elsewhere (SQLite). Results carry an HTML-safe highlighted snippet."""

from __future__ import annotations

import re

from django.contrib.postgres.search import SearchHeadline, SearchQuery, SearchVector
from django.db import connection
from django.db.models import OuterRef, Q, QuerySet, Subquery
from django.utils.html import escape

from accounts.models import User
from conversations import selectors
from conversations.models import Conversation, Message

# "simple": no stemming and no stop words, so every language is matched the same way.
SEARCH_CONFIG = "simple"
MAX_QUERY_CHARS = 200
SNIPPET_CHARS = 160
# Highlight markers no user text contains: the text is escaped first, then they become <mark>.
START, STOP = "\x02", "\x03"


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
    mine = Message.objects.filter(conversation__owner=user, superseded_at__isnull=True)
    visible = Message.objects.filter(conversation=OuterRef("pk"), superseded_at__isnull=True)
    if is_postgres():
        ts = SearchQuery(query, search_type="websearch", config=SEARCH_CONFIG)
        vector = SearchVector("content", config=SEARCH_CONFIG)
        # Which conversations match comes from the GIN index over message text (migration
        # 0004); the snippet is only worked out for the rows on the page being shown.
        matching = mine.annotate(fts=vector).filter(fts=ts).values("conversation_id")
        snippet = visible.annotate(fts=vector).filter(fts=ts).annotate(
            headline=SearchHeadline(
                "content", ts, config=SEARCH_CONFIG, start_sel=START, stop_sel=STOP,
                max_words=30, min_words=12, short_word=2, highlight_all=False,
            )
        ).order_by("created_at").values("headline")[:1]
        titled = conversations.annotate(title_fts=SearchVector("title", config=SEARCH_CONFIG))
        return titled.filter(Q(title_fts=ts) | Q(pk__in=matching)).annotate(
            snippet_raw=Subquery(snippet)
        )
    words = query.split()[:10]
    match = Q()
    title_match = Q()
    for word in words:
        match &= Q(content__icontains=word)
        title_match &= Q(title__icontains=word)
    matching = mine.filter(match).values("conversation_id")
    first = visible.filter(match).order_by("created_at").values("content")[:1]
    return conversations.filter(title_match | Q(pk__in=matching)).annotate(
        snippet_raw=Subquery(first)
    )


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
