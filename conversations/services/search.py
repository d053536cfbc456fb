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
    ts, common = _tsquery_and_commonness(user, query)
    if ts is None:
        return conversations.none()  # nothing but punctuation
    if common:
        # Walk the person's conversations in the page's order and probe each one's messages:
        # OFFSET 0 keeps PostgreSQL from hashing the probe into "read every match first", and
        # ts_match_vq (@@ in a form no index answers) from intersecting the whole database's
        # matches once per conversation (the loops).
        matched = RawSQL(
            f"({conv}.title_search @@ %s::tsquery OR EXISTS (SELECT 1 FROM {msg} m "
            f"WHERE m.conversation_id = {conv}.id AND m.superseded_at IS NULL "
            f"AND ts_match_vq(m.search, %s::tsquery) OFFSET 0))",
            [ts, ts], output_field=BooleanField(),
        )
    else:
        # Read the person's few matches from the indexes (the stored vectors, the owner),
        # then fetch just those conversations.
        matched = RawSQL(
            f"{conv}.id IN (SELECT m.conversation_id FROM {msg} m WHERE m.owner_id = %s "
            f"AND m.superseded_at IS NULL AND m.search @@ %s::tsquery UNION "
            f"SELECT t.id FROM {conv} t WHERE t.owner_id = %s AND t.title_search @@ %s::tsquery)",
            [user.pk, ts, user.pk, ts], output_field=BooleanField(),
        )
    # Worked out only for the rows of the page being shown, from the conversation's own
    # messages in order: ts_match_vq is @@ in a form no index answers, so PostgreSQL cannot
    # intersect the whole database's matches once per row (the loops).
    snippet = RawSQL(
        f"(SELECT ts_headline({_message_config('m')}, m.content, %s::tsquery, %s) "
        f"FROM {msg} m WHERE m.conversation_id = {conv}.id AND m.superseded_at IS NULL "
        f"AND ts_match_vq(m.search, %s::tsquery) ORDER BY m.created_at LIMIT 1)",
        [ts, HEADLINE_OPTIONS, ts], output_field=CharField(),
    )
    return conversations.filter(matched).annotate(snippet_raw=snippet)


# How many of the person's latest conversations are sampled; the words are common when at least
# one in COMMON_SHARE of them holds them.
COMMON_SAMPLE, COMMON_SHARE = 100, 5


def _tsquery_and_commonness(user: User, query: str) -> tuple[str | None, bool]:
    """The query as a tsquery (None when it has no words), and whether its words are in many
    of the person's latest conversations: one round trip.

    The tsquery matches the words as written or as stemmed in any configured language (each
    message's stored vector holds both, migration 0010), each distinct form once: the same
    form repeated by several languages would make PostgreSQL think the words several times
    more common than they are, and pick its plans by that.

    Which plan: walking the person's conversations newest first and probing each one's
    messages fills a page at once for common words but reads the whole history for rare ones;
    reading the person's matches first is quick for rare words and reads tens of thousands of
    rows for common ones. PostgreSQL's estimates do not see a page's LIMIT, so it reads every
    match even for "the" (40 ms at 10,000 conversations, issue #20); a sample of the person's
    latest conversations (about 1 ms) picks instead.
    """
    conv, msg = Conversation._meta.db_table, Message._meta.db_table
    configs = [SEARCH_CONFIG, *dict.fromkeys(LANGUAGE_CONFIGS.values())]
    forms = ", ".join(f"websearch_to_tsquery('{config}'::regconfig, %s)::text"
                      for config in configs)
    either = " || ".join(f"websearch_to_tsquery('{config}'::regconfig, %s)" for config in configs)
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT ARRAY[{forms}], count(*), count(*) FILTER (WHERE EXISTS (SELECT 1 FROM "
            f"{msg} m WHERE m.conversation_id = c.id AND m.superseded_at IS NULL "
            f"AND ts_match_vq(m.search, {either}) OFFSET 0)) FROM (SELECT id FROM {conv} "
            f"WHERE owner_id = %s AND deleted_at IS NULL ORDER BY updated_at DESC LIMIT %s) c",
            [*[query] * len(configs), *[query] * len(configs), user.pk, COMMON_SAMPLE],
        )
        texts, sampled, matching = cursor.fetchone()
    # texts is None when the person has no conversations (the sample has no rows).
    distinct = [text for text in dict.fromkeys(texts or []) if text]
    if not distinct:
        return None, False
    # A history the sample covered whole is walked whatever the words: at most COMMON_SAMPLE
    # probes, where the matches-first plan may read a common word's whole index entry (50 ms
    # for "the" at 1M messages) for a person who never wrote it.
    common = sampled < COMMON_SAMPLE or matching * COMMON_SHARE >= sampled
    return " | ".join(f"( {text} )" for text in distinct), common


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
