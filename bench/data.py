"""Chatlab's reads at scale on PostgreSQL (issue #20): builds a data set, times the reads that
grow with history, and writes their plans.

    .venv/bin/python bench/data.py                       # 1.03M messages (a few minutes)
    .venv/bin/python bench/data.py --messages 134000     # the issue's small size
    .venv/bin/python bench/data.py --messages 2000 --big-conversations 50 --long-messages 100

The data set (bulk SQL, seeded, so two runs build the same rows): `--users` people with 20
conversations each; one person ("big") with `--big-conversations` conversations of 6 messages;
one ("mid") with 100 conversations of 10 messages, one ("long") whose one conversation holds
`--long-messages` messages; the rest of `--messages` spread over the ordinary conversations.
Half the conversations are English, half Russian; words are drawn with a Zipf-like spread
(P(rank k) ~ 1/k) from a real head of common words and a made-up tail, so "the" is in most
English messages, "вода" in a few per cent of Russian ones and the tail words in a handful.

Then each read runs `--runs` times per person (after one warm-up run) and the p50/p95 are
printed (a table, then one JSON line with --json); EXPLAIN (ANALYZE, BUFFERS) of each read's
slowest query goes to `--plans` (bench/plans/ by default; --no-plans skips them). The database
is left in place for a look with psql (--drop removes it); `--reuse` times an existing one.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg

ROOT = Path(__file__).resolve().parent.parent
POSTGRES_URL = os.environ.get("CHATLAB_TEST_POSTGRES",
                              "postgres://postgres@127.0.0.1:5432/postgres")
VOCABULARY = 5000  # words per language, head and tail
ORDINARY_CONVERSATIONS = 20

# The head of each language's vocabulary, most frequent first; the tail is made up (_tail).
ENGLISH = (
    "the of and to a in is it you that he was for on are with as i his they be at one have "
    "this from or had by not word but what some we can out other were all there when up use "
    "your how said an each she which do their time if will way about many then them write "
    "would like so these her long make thing see him two has look more day could go come did "
    "number sound no most people my over know water than call first who may down side been "
    "now find any new work part take get place made live where after back little only round "
    "man year came show every good me give our under name very through just form sentence "
    "great think say help low line differ turn cause much mean before move right boy old too "
    "same tell does set three want air well also play small end put home read hand port large "
    "spell add even land here must big high such follow act why ask men change went light kind "
    "off need house picture try us again animal point mother world near build self earth "
    "father history garden river"
).split()
RUSSIAN = (
    "и в не на я быть он с что а по это она этот к но они мы как из у который то за свой весь "
    "год от так о для ты же все тот мочь вы человек такой его сказать только или еще бы себя "
    "один как уже до время если сам когда другой вот говорить наш мой знать стать при чтобы "
    "дело жизнь кто первый очень два день её новый рука даже во со раз где там под можно ну "
    "какой после их работа без самый потом надо хотеть ли слово идти большой должен место "
    "иметь ничто вода воды воду история истории историю город дом земля друг глаз лицо "
    "голова сторона страна мир случай ребенок сила конец вид система часть отношение женщина "
    "деньги земли машина вопрос руки люди война любовь жена работать думать понимать"
).split()
SYLLABLES_EN = "ba ko ri mu sel tan vor lin quo pe dra fin gu hel mox tri zan wel cor ny".split()
SYLLABLES_RU = "ба ко ри му сел тан вор лин кво пе дра фин гу хел мок три зан вел кор ны".split()

# What each timed search asks for: (kind, words). Tail ranks are fixed so the words exist.
RARE_RANK = 4000


def _tail(syllables: list[str], rank: int) -> str:
    n = len(syllables)
    return syllables[rank % n] + syllables[(rank // n) % n] + syllables[(rank // n // n) % n]


def vocabulary(head: list[str], syllables: list[str]) -> list[str]:
    words, seen = list(head), set(head)
    rank = 0
    while len(words) < VOCABULARY:
        rank += 1
        word = _tail(syllables, rank)
        if word not in seen:
            seen.add(word)
            words.append(word)
    return words


EN_WORDS = vocabulary(ENGLISH, SYLLABLES_EN)
RU_WORDS = vocabulary(RUSSIAN, SYLLABLES_RU)
SEARCHES = (
    ("common_en", "the"),
    ("common_ru", "и"),
    ("mid_en", "water"),
    ("mid_ru_two", "вода история"),
    ("two_en", "history garden"),
    ("rare_en", EN_WORDS[RARE_RANK]),
    ("rare_ru", RU_WORDS[RARE_RANK]),
    ("absent", "zzqxv"),
)


# Building ---------------------------------------------------------------------------------------

def database_url(name: str) -> str:
    return POSTGRES_URL.rsplit("/", 1)[0] + f"/{name}"


def database_create(name: str) -> None:
    with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    env = {**os.environ, "DATABASE_URL": database_url(name),
           "DJANGO_SETTINGS_MODULE": "tests.settings"}
    subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env,
                   check=True)


def database_drop(name: str) -> None:
    with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def django_setup(name: str) -> None:
    os.environ["DATABASE_URL"] = database_url(name)
    os.environ["DJANGO_SETTINGS_MODULE"] = "tests.settings"
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()


# One row per conversation: its number, owner, language and how many messages it holds.
PLAN_SQL = """
CREATE TEMP TABLE plan AS
SELECT row_number() OVER () AS n, owner_id, msgs, ''::text AS lang FROM (
  SELECT %(big)s::bigint AS owner_id, 6 AS msgs, g FROM generate_series(1, %(big_convs)s) g
  UNION ALL SELECT %(mid)s, 10, g FROM generate_series(1, %(mid_convs)s) g
  UNION ALL SELECT %(long)s, %(long_msgs)s, 1
  UNION ALL SELECT u, 1 + floor(random() * (2 * %(per)s - 1))::int, g
    FROM unnest(%(ordinary)s::bigint[]) u, generate_series(1, %(ordinary_convs)s) g
) s;
---
UPDATE plan SET lang = CASE WHEN n %% 2 = 0 THEN 'ru' ELSE 'en' END;
"""

CONVERSATIONS_SQL = """
CREATE TEMP TABLE conv AS
SELECT p.n, gen_random_uuid() AS id, p.owner_id, p.msgs, p.lang,
       now() - interval '400 days' + (p.n * interval '1 second') * %(spread)s AS started
FROM plan p;
---
INSERT INTO conversations_conversation (id, owner_id, bot_id, title, created_at, updated_at,
    pinned_at, archived_at, deleted_at, summary, summary_through, language, channel)
SELECT c.id, c.owner_id, %(bot)s,
       (SELECT string_agg(w.words[floor(exp(random() * ln(%(vocab)s + 1)))::int], ' ')
          FROM generate_series(1, 2 + c.n %% 4) k,
               (SELECT CASE WHEN c.lang = 'ru' THEN %(ru)s::text[] ELSE %(en)s::text[] END
                AS words) w),
       c.started, c.started + c.msgs * interval '1 minute',
       CASE WHEN c.n %% 97 = 0 THEN c.started + interval '1 day' END,
       CASE WHEN c.n %% 53 = 0 THEN c.started + interval '2 days' END,
       CASE WHEN c.n %% 101 = 0 THEN now() - interval '1 day' END,
       '', NULL, c.lang, 'web'
FROM conv c;
"""

# Messages alternate user / assistant; a user message carries its detected language, a reply
# none (as the product stores them). Today's messages: the newest few of each person.
MESSAGES_SQL = """
INSERT INTO conversations_message (id, conversation_id, role, content, language, status, error,
    reply_to_id, client_id, superseded_at, replaces_id, model, prompt_tokens, completion_tokens,
    ttft_ms, total_ms, created_at, updated_at, reasoning, parts, imported)
SELECT gen_random_uuid(), c.id, CASE WHEN i %% 2 = 1 THEN 'user' ELSE 'assistant' END,
       (SELECT string_agg(w.words[floor(exp(random() * ln(%(vocab)s + 1)))::int], ' ')
          FROM generate_series(1, 4 + (i * 7 + c.n) %% 17) k,
               (SELECT CASE WHEN c.lang = 'ru' THEN %(ru)s::text[] ELSE %(en)s::text[] END
                AS words) w),
       CASE WHEN i %% 2 = 1 THEN c.lang ELSE '' END, 'complete', '', NULL, NULL, NULL, NULL,
       CASE WHEN i %% 2 = 0 THEN 'demo' ELSE '' END,
       CASE WHEN i %% 2 = 0 THEN 200 + i END, CASE WHEN i %% 2 = 0 THEN 80 END,
       NULL, NULL, t, t, '', '[]'::jsonb, false
FROM conv c, generate_series(1, c.msgs) i,
     LATERAL (SELECT CASE WHEN c.n %% 50 = 0 AND i > c.msgs - 4
                          THEN now() - (c.msgs - i) * interval '1 minute'
                          ELSE c.started + i * interval '1 minute' END AS t) at
WHERE c.n BETWEEN %(first)s AND %(last)s;
"""


def build(*, messages: int, users: int, big_conversations: int, long_messages: int,
          say: Callable[[str], None]) -> dict[str, int]:
    """Fills the database Django is connected to; returns the people's ids."""
    from django.db import connection, transaction

    from accounts.models import User
    from conversations.models import Bot, Provider

    provider = Provider.objects.create(name="demo", kind=Provider.Kind.DEMO)
    bot = Bot.objects.create(name="Demo", slug="demo", provider=provider, model="demo",
                             is_default=True)
    people = User.objects.bulk_create(
        User(email=f"person{i}@bench.example", password="!", language="en")
        for i in range(users + 3)
    )
    big, mid, long_owner, *ordinary = [u.pk for u in people]
    mid_convs = min(100, big_conversations)
    fixed = big_conversations * 6 + mid_convs * 10 + long_messages
    per = max((messages - fixed) // max(len(ordinary) * ORDINARY_CONVERSATIONS, 1), 1)
    started = time.monotonic()
    with connection.cursor() as cursor:
        cursor.execute("SELECT setseed(0.2026)")
        shape = {"big": big, "big_convs": big_conversations, "mid": mid, "mid_convs": mid_convs,
                 "long": long_owner, "long_msgs": long_messages, "per": per,
                 "ordinary": ordinary, "ordinary_convs": ORDINARY_CONVERSATIONS}
        for statement in PLAN_SQL.split("---"):
            cursor.execute(statement, shape)
        cursor.execute("SELECT count(*), sum(msgs) FROM plan")
        conversations, total = cursor.fetchone()
        words = {"vocab": VOCABULARY, "en": EN_WORDS, "ru": RU_WORDS}
        with transaction.atomic():
            for statement in CONVERSATIONS_SQL.split("---"):
                cursor.execute(statement, {"bot": bot.pk, "spread": 60, **words})
        say(f"  {conversations} conversations ({time.monotonic() - started:.0f} s)")
        # In slices, so progress shows and no one statement holds everything.
        step = max(conversations // 20, 1)
        for first in range(1, conversations + 1, step):
            with transaction.atomic():
                cursor.execute(MESSAGES_SQL, {"first": first, "last": first + step - 1,
                                              **words})
            say(f"  messages: conversations {first}-{min(first + step - 1, conversations)} "
                f"of {conversations} ({time.monotonic() - started:.0f} s)")
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE")
    say(f"  {total} messages in {time.monotonic() - started:.0f} s")
    return {"big": big, "mid": mid, "long": long_owner, "ordinary": ordinary[0]}


# Timing -----------------------------------------------------------------------------------------

def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, math.ceil(q * len(ordered)) - 1)]


def operations(people: dict[str, int]) -> list[tuple[str, Callable[[], Any]]]:
    """(name, call) for every read timed: each runs what the page or endpoint runs."""
    from rest_framework.test import APIClient

    from accounts.models import User
    from accounts.services.quotas import usage_today
    from conversations import selectors
    from conversations.services.search import conversations_search

    ops: list[tuple[str, Callable[[], Any]]] = []
    for who in ("big", "mid", "ordinary"):
        user = User.objects.get(pk=people[who])
        client = APIClient()
        client.force_authenticate(user)
        for kind, words in SEARCHES:
            ops.append((f"search {kind} ({who})",
                        lambda u=user, w=words: list(conversations_search(user=u, query=w)[:21])))
        ops.append((f"usage_today ({who})", lambda u=user: usage_today(u)))
        ops.append((f"sidebar ({who})",
                    lambda u=user: list(selectors.sidebar_conversations(u)[:100])))
        listed = selectors.conversations_for(user).count()
        deep = max((listed - 1) // 20, 0) + 1
        for label, page in (("first", 1), ("deep", deep)):
            ops.append((f"api list {label} page ({who})",
                        lambda c=client, p=page: _ok(c.get("/api/v1/conversations/",
                                                           {"page": p}))))
        ops.append((f"api search common_en ({who})",
                    lambda c=client: _ok(c.get("/api/v1/conversations/", {"search": "the"}))))
    return ops


def _ok(response: Any) -> Any:
    assert response.status_code == 200, response.content[:300]
    return response


def measure(ops: list[tuple[str, Callable[[], Any]]], runs: int,
            plans: Path | None) -> dict[str, dict[str, float]]:
    from django.core.signals import request_finished, request_started
    from django.db import close_old_connections, connection, reset_queries
    from django.test.utils import CaptureQueriesContext

    # Production keeps connections in a pool: a request must not pay for a new one.
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    figures: dict[str, dict[str, float]] = {}
    for name, call in ops:
        reset_queries()  # the log keeps 9,000 queries: a full one captures nothing
        with CaptureQueriesContext(connection) as queries:
            call()  # warm-up, and the queries to explain
        captured = queries.captured_queries  # now: a request's start clears the log later
        times = []
        for _ in range(runs):
            started = time.perf_counter()
            call()
            times.append((time.perf_counter() - started) * 1000)
        figures[name] = {"p50_ms": round(statistics.median(times), 2),
                         "p95_ms": round(percentile(times, 0.95), 2),
                         "queries": len(captured)}
        if plans is not None:
            _explain(name, captured, plans)
    return figures


def _explain(name: str, captured: list[dict[str, str]], plans: Path) -> None:
    from django.db import connection

    slowest = max((q for q in captured if q["sql"].lstrip().upper().startswith("SELECT")),
                  key=lambda q: float(q["time"]), default=None)
    if slowest is None:
        return
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + slowest["sql"])
        plan = "\n".join(row[0] for row in cursor.fetchall())
    slug = "".join(ch if ch.isalnum() else "_" for ch in name).strip("_")
    slug = "_".join(part for part in slug.split("_") if part)
    (plans / f"{slug}.txt").write_text(f"-- {name}\n{slowest['sql']}\n\n{plan}\n")


def render(result: dict[str, Any]) -> str:
    lines = [f"{result['messages']} messages, {result['conversations']} conversations",
             f"{'read':44} {'p50 ms':>9} {'p95 ms':>9} {'queries':>8}"]
    for name, f in result["figures"].items():
        lines.append(f"{name:44} {f['p50_ms']:9.2f} {f['p95_ms']:9.2f} {f['queries']:8d}")
    return "\n".join(lines)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=1_030_000)
    parser.add_argument("--users", type=int, default=1000)
    parser.add_argument("--big-conversations", type=int, default=10_000)
    parser.add_argument("--long-messages", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--database", default="chatlab_bench_data")
    parser.add_argument("--plans", type=Path, default=ROOT / "bench" / "plans")
    parser.add_argument("--no-plans", action="store_true")
    parser.add_argument("--reuse", action="store_true", help="time the existing database")
    parser.add_argument("--drop", action="store_true", help="drop the database at the end")
    parser.add_argument("--only", default="", help="time only the reads whose name has this")
    parser.add_argument("--build-only", action="store_true", help="build, time nothing")
    parser.add_argument("--json", action="store_true")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)

    def say(text: str) -> None:
        print(text, file=sys.stderr, flush=True)

    try:
        if not args.reuse:
            say(f"building {args.database}")
            database_create(args.database)
        django_setup(args.database)
        from django.db import connection

        from accounts.models import User

        if args.reuse:
            ids = list(User.objects.order_by("pk").values_list("pk", flat=True)[:4])
            people = {"big": ids[0], "mid": ids[1], "long": ids[2], "ordinary": ids[3]}
        else:
            people = build(messages=args.messages, users=args.users,
                           big_conversations=args.big_conversations,
                           long_messages=args.long_messages, say=say)
        if args.build_only:
            return 0
        plans = None if args.no_plans else args.plans
        if plans is not None:
            plans.mkdir(parents=True, exist_ok=True)
        ops = [(name, call) for name, call in operations(people) if args.only in name]
        figures = measure(ops, args.runs, plans)
        with connection.cursor() as cursor:
            cursor.execute("SELECT (SELECT count(*) FROM conversations_message), "
                           "(SELECT count(*) FROM conversations_conversation)")
            messages, conversations = cursor.fetchone()
        connection.close()
        result = {"messages": messages, "conversations": conversations, "figures": figures}
        print(render(result))
        if args.json:
            print(json.dumps(result))
    finally:
        if args.drop:
            database_drop(args.database)
    return 0


if __name__ == "__main__":
    sys.exit(main())
