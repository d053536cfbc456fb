"""Popular topics: a period's conversations grouped by the keyword most of them share (TF-IDF
weighted keywords, English and Russian stop words, Snowball stems), greedily, biggest group
first; each group named by the default bot's model where a real provider is configured, else by
its top keywords. A topic needs conversations of MIN_PEOPLE different people, so no name or
keyword ever comes from one person's chats alone."""

from __future__ import annotations

import logging
import math
import re
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from analytics.models import Topic
from conversations.models import Bot, Channel, Message, Provider
from conversations.providers import ChatRequest, ProviderError
from conversations.providers.capabilities import bot_capabilities

from .keywords import keywords_of
from .rollups import day_bounds

log = logging.getLogger(__name__)

MAX_TOPICS = 12
MIN_PEOPLE = 2
MESSAGES_PER_CONVERSATION = 3
CHARS_PER_MESSAGE = 1000
MAX_CONVERSATIONS = 20_000
NAMING_INSTRUCTIONS = (
    "Below are groups of chat conversations, each with its keywords and a few titles. Name each "
    "group's topic in at most four words, in the language of its titles. Answer with one line "
    "per group, as '<number>. <name>', nothing else."
)


@dataclass
class _Doc:
    conversation_id: str
    owner_id: int
    language: str
    title: str
    stems: set[str] = field(default_factory=set)


@dataclass
class TopicGroup:
    lead: str
    docs: list[_Doc]
    keywords: list[str]
    label: str = ""
    previous: int | None = None

    @property
    def language(self) -> str:
        counts = Counter(d.language for d in self.docs if d.language)
        return counts.most_common(1)[0][0] if counts else ""


def _documents(start: date, end: date, forms: dict[str, Counter[str]]) -> list[_Doc]:
    since, _ = day_bounds(start)
    _, until = day_bounds(end)
    rows = (Message.objects.filter(role=Message.Role.USER, created_at__gte=since,
                                   created_at__lt=until, conversation__deleted_at__isnull=True)
            .exclude(conversation__channel=Channel.IMPORT)
            .order_by("conversation_id", "created_at")
            .values_list("conversation_id", "conversation__owner_id", "conversation__language",
                         "conversation__title", "content")
            .iterator(chunk_size=2000))
    docs: dict[str, _Doc] = {}
    seen: Counter[str] = Counter()
    for conversation_id, owner_id, language, title, content in rows:
        key = str(conversation_id)
        if key not in docs:
            if len(docs) >= MAX_CONVERSATIONS:
                continue
            docs[key] = _Doc(key, owner_id, language or "", title or "")
        if seen[key] >= MESSAGES_PER_CONVERSATION:
            continue
        seen[key] += 1
        docs[key].stems |= keywords_of(content[:CHARS_PER_MESSAGE], language=language or "en",
                                       forms=forms)
    return list(docs.values())


def group_documents(docs: list[_Doc], forms: dict[str, Counter[str]]) -> list[TopicGroup]:
    """Greedy: the keyword shared by the most unassigned conversations (of enough people) makes
    a topic of them; repeat. Keywords in over half of a big period's chats say nothing."""
    df = Counter(stem for d in docs for stem in d.stems)
    total = len(docs)
    limit = total // 2 if total >= 20 else total
    left = list(docs)
    groups: list[TopicGroup] = []
    while left and len(groups) < MAX_TOPICS:
        holders: dict[str, list[_Doc]] = {}
        for d in left:
            for stem in d.stems:
                if df[stem] <= limit:
                    holders.setdefault(stem, []).append(d)
        best = None
        for stem, members in holders.items():
            if len(members) < 2 or len({m.owner_id for m in members}) < MIN_PEOPLE:
                continue
            score = (len(members), math.log(1 + total / df[stem]), stem)
            if best is None or score > best[0]:
                best = (score, stem, members)
        if best is None:
            break
        _, lead, members = best
        inside = Counter(stem for m in members for stem in m.stems)
        ranked = sorted(inside, key=lambda s: (-(inside[s] * math.log(1 + total / df[s])), s))
        shared = [s for s in ranked if inside[s] >= max(2, len(members) // 2)]
        keywords = [lead] + [s for s in shared if s != lead][:3]
        groups.append(TopicGroup(lead=lead, docs=members,
                                 keywords=[surface(s, forms) for s in keywords]))
        chosen = {id(m) for m in members}
        left = [d for d in left if id(d) not in chosen]
    return groups


def surface(stem: str, forms: dict[str, Counter[str]]) -> str:
    counted = forms.get(stem)
    return counted.most_common(1)[0][0] if counted else stem


def naming_bot() -> Bot | None:
    """The default bot when it has a real provider, else the first active bot that does."""
    bots = list(Bot.objects.active().exclude(provider__kind=Provider.Kind.DEMO)
                .select_related("provider").order_by("-is_default", "position", "name")[:1])
    return bots[0] if bots else None


def _name_with_model(bot: Bot, groups: list[TopicGroup]) -> bool:
    from conversations.services.summaries import _collect
    from conversations.worker_loop import run_on_shared_loop

    lines = []
    for number, group in enumerate(groups, 1):
        titles = "; ".join(d.title[:80] for d in group.docs[:3] if d.title)
        lines.append(f"{number}. keywords: {', '.join(group.keywords)}; titles: {titles}")
    request = ChatRequest(model=bot.model, temperature=0.2, max_tokens=24 * len(groups) + 16,
                          messages=[{"role": "system", "content": NAMING_INSTRUCTIONS},
                                    {"role": "user", "content": "\n".join(lines)}],
                          purpose="topics", capabilities=bot_capabilities(bot),
                          bot_id=bot.pk)
    try:
        text = run_on_shared_loop(_collect(bot.provider, request),
                                  timeout=settings.CHATLAB_REPLY_TIMEOUT)
    except (ProviderError, TimeoutError) as exc:
        log.info("naming topics with %s failed: %s", bot.slug, exc)
        return False
    named = 0
    for match in re.finditer(r"^\s*(\d+)[.)]\s*(.+?)\s*$", text, flags=re.MULTILINE):
        index = int(match.group(1)) - 1
        name = match.group(2).strip(" \"'«»*")[:200]
        if 0 <= index < len(groups) and name:
            groups[index].label = name
            named += 1
    return named > 0


@transaction.atomic
def _store(start: date, end: date, groups: list[TopicGroup], named_by: str) -> list[Topic]:
    Topic.objects.filter(period_start=start, period_end=end).delete()
    return Topic.objects.bulk_create([
        Topic(period_start=start, period_end=end, label=g.label[:200],
              keywords=", ".join(g.keywords)[:300], language=g.language,
              conversations=len(g.docs), previous=g.previous, named_by=named_by,
              examples=[d.conversation_id for d in g.docs[:5]])
        for g in groups
    ])


def topics_find(*, end: date | None = None, days: int | None = None) -> list[Topic]:
    """The topics of the `days` ending with `end` (yesterday), each with its count in the
    `days` before them for the trend."""
    days = days or settings.CHATLAB_TOPICS_DAYS
    end = end or timezone.localdate(timezone.now(), timezone.get_default_timezone()) \
        - timedelta(days=1)
    start = end - timedelta(days=days - 1)
    forms: dict[str, Counter[str]] = {}
    docs = _documents(start, end, forms)
    earlier = _documents(start - timedelta(days=days), start - timedelta(days=1), {})
    groups = group_documents(docs, forms)
    for group in groups:
        before = sum(1 for d in earlier if group.lead in d.stems)
        group.previous = before or None
        group.label = " · ".join(group.keywords[:2])
    named_by = "keywords"
    bot = naming_bot()
    if groups and bot is not None and _name_with_model(bot, groups):
        named_by = f"{bot.name} ({bot.model})"
    topics = _store(start, end, groups, named_by)
    log.info("topics of %s..%s: %d from %d conversations", start, end, len(topics), len(docs))
    return topics
