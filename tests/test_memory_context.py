"""The context budget and the rolling summary (issue #6, part 1).

No request may exceed the bot's window: prompt tokens (as counted by the counter in use) plus
the reply's max_tokens stay within context_window, for long histories, one huge message, huge
system prompts and tiny windows alike; and both counters (the estimate, and a tiktoken-like
exact one) are exercised.
"""

from __future__ import annotations

import random
from datetime import timedelta

import pytest
from django.utils import timezone

from conversations.models import Conversation, Message
from conversations.services import tokens
from conversations.services.context import SUMMARY_PREFIX, build_request, counter_for, plan_context
from conversations.services.messages import message_send
from conversations.services.summaries import conversation_summarise
from tests.factories import BotFactory, ConversationFactory, MessageFactory


@pytest.fixture(autouse=True)
def _follow_ups_inline(monkeypatch):
    # Summaries and titles run on a background thread in the embedded mode; here, at once.
    from conversations.services import background

    monkeypatch.setattr(background, "INLINE", True)


class ByteEncoding:
    """A tokenizer shaped like tiktoken's Encoding: one token per UTF-8 byte."""

    def encode(self, text: str, disallowed_special: object = ()) -> list[int]:
        return list(text.encode())

    def decode(self, ids: list[int]) -> str:
        return bytes(ids).decode(errors="ignore")


def prompt_tokens(counter: tokens.TokenCounter, messages: list[dict[str, str]]) -> int:
    return tokens.REPLY_PRIMING_TOKENS + sum(counter.message(m["content"]) for m in messages)


def long_conversation(owner, bot, turns: int, words: int = 40) -> Conversation:
    conversation = ConversationFactory(owner=owner, bot=bot)
    start = timezone.now() - timedelta(hours=1)
    for i in range(turns):
        asked = MessageFactory(conversation=conversation, content=f"question {i} " + "word " * words)
        answer = MessageFactory(conversation=conversation, role=Message.Role.ASSISTANT,
                                reply_to=asked, content=f"answer {i} " + "reply " * words)
        Message.objects.filter(pk=asked.pk).update(created_at=start + timedelta(seconds=2 * i))
        Message.objects.filter(pk=answer.pk).update(created_at=start + timedelta(seconds=2 * i + 1))
    return conversation


@pytest.mark.parametrize("counter", [tokens.TokenCounter("unknown-model"),
                                     tokens.TokenCounter("x", encoding=ByteEncoding())],
                         ids=["estimate", "exact"])
def test_no_plan_ever_exceeds_the_window(counter):
    rng = random.Random(6)
    alphabet = "abc de fgh ij 0123 ,.!? 日本語 текст 🙂\n"

    def text(k: int) -> str:  # random, but built from a short random piece to stay quick
        piece = "".join(rng.choices(alphabet, k=min(k, 97))) or "x"
        return (piece * (k // len(piece) + 1))[:k]

    for _ in range(150):
        window = rng.choice([256, 300, 512, 1024, 4096, 8192])
        max_tokens = rng.choice([16, 100, 1024, 4096, 100_000])
        system = text(rng.choice([0, 10, 500, 20_000]))
        summary = text(rng.choice([0, 50, 5000]))
        rows = [(rng.choice(["user", "assistant"]), text(rng.choice([1, 30, 400, 3000, 60_000])))
                for _ in range(rng.randint(1, 60))]
        plan = plan_context(counter, window=window, max_tokens=max_tokens, system_prompt=system,
                            summary=summary, newest_first=rows)
        assert plan.max_tokens >= 1
        assert prompt_tokens(counter, plan.messages) + plan.max_tokens <= window
        assert plan.prompt_tokens == prompt_tokens(counter, plan.messages)
        # The newest message is always there (maybe cut to its end), last.
        assert plan.messages[-1]["role"] == rows[0][0]
        assert rows[0][1].endswith(plan.messages[-1]["content"])


def test_a_long_history_is_cut_to_the_newest_turns_that_fit(user, demo_bot):
    demo_bot.context_window, demo_bot.max_output_tokens = 1024, 256
    demo_bot.save()
    conversation = long_conversation(user, demo_bot, turns=100)
    sent = message_send(user=user, content="and now?", conversation_id=conversation.pk)
    request = build_request(sent.reply)
    counter = counter_for(demo_bot.model)
    assert prompt_tokens(counter, request.messages) + request.max_tokens <= 1024
    assert request.messages[0] == {"role": "system", "content": demo_bot.system_prompt}
    assert request.messages[-1] == {"role": "user", "content": "and now?"}
    assert "answer 99" in request.messages[-2]["content"]
    assert not any("question 0 " in m["content"] for m in request.messages)
    assert request.max_tokens == 256


def test_one_huge_message_is_sent_by_its_end(user, demo_bot):
    demo_bot.context_window, demo_bot.max_output_tokens = 512, 128
    demo_bot.save()
    text = "filler " * 20_000 + "THE QUESTION?"
    sent = message_send(user=user, content=text[-30_000:])
    request = build_request(sent.reply, history=[{"role": "user", "content": text}])
    counter = counter_for(demo_bot.model)
    assert prompt_tokens(counter, request.messages) + request.max_tokens <= 512
    assert request.messages[-1]["content"].endswith("THE QUESTION?")


def test_a_new_conversation_with_its_history_costs_no_query(user, demo_bot,
                                                             django_assert_num_queries):
    sent = message_send(user=user, content="hello")
    with django_assert_num_queries(0):
        build_request(sent.reply, history=[{"role": "user", "content": "hello"}],
                      policy=sent.policy)


def test_the_estimate_is_conservative_for_non_latin_text():
    # cl100k/o200k take about 1-1.3 tokens a CJK character; the estimate takes 1.5.
    assert tokens.estimate("日本語のテキスト") >= len("日本語のテキスト") * 1.5
    assert tokens.estimate("four chars a token in English") >= len("four chars a token in English") / 3


def test_tiktoken_is_used_only_when_its_encoding_is_on_disk(tmp_path, monkeypatch):
    import tiktoken.load

    def no_network(*args, **kwargs):
        raise AssertionError("tiktoken tried to download its encoding")

    monkeypatch.setattr(tiktoken.load, "read_file", no_network)
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", str(tmp_path))
    tokens._encoding.cache_clear()
    try:
        assert not tokens.cached_locally("o200k_base")
        assert tokens.encoding_for("gpt-4o-mini") is None
        # A damaged file is not used either (tiktoken would fetch it again).
        import hashlib

        url = tokens._BLOBS + "o200k_base.tiktoken"
        (tmp_path / hashlib.sha1(url.encode()).hexdigest()).write_bytes(b"not the encoding")
        tokens._encoding.cache_clear()
        assert tokens.encoding_for("gpt-4o-mini") is None
        assert tokens.TokenCounter("gpt-4o-mini").count("abcdef") == 2  # the estimate
        assert tokens.encoding_for("llama3.2") is None  # not an OpenAI model
    finally:
        tokens._encoding.cache_clear()


def test_outgrowing_the_window_summarises_the_oldest_turns_locally_with_the_demo_bot(
        user, demo_bot, django_capture_on_commit_callbacks):
    demo_bot.context_window, demo_bot.max_output_tokens = 1024, 256
    demo_bot.save()
    conversation = long_conversation(user, demo_bot, turns=60)
    sent = message_send(user=user, content="what did we say first?", conversation_id=conversation.pk)
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        first = build_request(sent.reply)  # asks for a summary (maintenance queue; eager here)
    assert len(callbacks) == 1
    conversation.refresh_from_db()
    # The demo bot's offline summary: the start of each folded turn, oldest first, the oldest
    # giving way to stay within the summary's size.
    assert conversation.summary.startswith("user: question ")
    assert "assistant: answer " in conversation.summary
    assert len(conversation.summary) <= 128 * 3
    assert conversation.summary_through is not None
    sent.reply.conversation = conversation
    second = build_request(sent.reply)
    assert second.messages[2]["role"] == "system"
    assert second.messages[2]["content"].startswith(SUMMARY_PREFIX)
    counter = counter_for(demo_bot.model)
    assert prompt_tokens(counter, second.messages) + second.max_tokens <= 1024
    assert len(first.messages) >= 3


def test_the_summary_comes_from_the_bots_own_model(user, openai_bot, fake_openai):
    openai_bot.context_window, openai_bot.max_output_tokens = 1024, 256
    openai_bot.save()
    conversation = long_conversation(user, openai_bot, turns=20)
    from tests.fakes.openai_server import Behaviour

    fake_openai.script(*[Behaviour(text=f"Summary {i}.") for i in range(8)])
    assert conversation_summarise(conversation_id=conversation.pk)
    calls = [r["body"] for r in fake_openai.requests]
    # Turns are folded oldest first, one model call at a time, each carrying the last summary.
    assert 1 < len(calls) <= 8
    assert all(c["model"] == openai_bot.model for c in calls)
    assert calls[0]["messages"][-1]["content"].startswith("user: question 0 ")
    assert calls[1]["messages"][-1]["content"].startswith("Earlier summary: Summary 0.")
    conversation.refresh_from_db()
    assert conversation.summary == f"Summary {len(calls) - 1}."
    # What is left is the newest turns, sent as they are: nothing more to summarise.
    assert not conversation_summarise(conversation_id=conversation.pk)
    assert len(fake_openai.requests) == len(calls)


def test_a_failing_provider_leaves_the_summary_alone(user, openai_bot, fake_openai):
    openai_bot.context_window, openai_bot.max_output_tokens = 1024, 256
    openai_bot.save()
    conversation = long_conversation(user, openai_bot, turns=40)
    from tests.fakes.openai_server import Behaviour

    fake_openai.script(Behaviour(status=400), Behaviour(status=400))
    assert not conversation_summarise(conversation_id=conversation.pk)
    conversation.refresh_from_db()
    assert conversation.summary == "" and conversation.summary_through is None


# Titles ---------------------------------------------------------------------------------------

def _first_exchange(user, bot, text: str):
    sent = message_send(user=user, content=text, bot_slug=bot.slug)
    Message.objects.filter(pk=sent.reply.pk).update(status="complete", content="Gern: Suppe.")
    return message_send(user=user, content="Und weiter?", conversation_id=sent.conversation.pk)


def test_the_model_titles_the_first_exchange(user, openai_bot, fake_openai, settings,
                                             django_capture_on_commit_callbacks):
    from tests.fakes.openai_server import Behaviour

    settings.CHATLAB_AUTO_TITLES = True
    second = _first_exchange(user, openai_bot, "Wie koche ich eine gute Tomatensuppe für vier?")
    assert second.conversation.title == "Wie koche ich eine gute Tomatensuppe für vier?"
    fake_openai.script(Behaviour(text='Titel: "Tomatensuppe für vier".'))
    with django_capture_on_commit_callbacks(execute=True):
        build_request(second.reply)
    second.conversation.refresh_from_db()
    assert second.conversation.title == "Tomatensuppe für vier"
    asked = fake_openai.requests[-1]["body"]
    assert asked["max_tokens"] == 24 and "language" in asked["messages"][0]["content"]
    assert "Tomatensuppe" in asked["messages"][1]["content"]


def test_a_title_the_person_chose_is_kept(user, openai_bot, fake_openai, settings,
                                          django_capture_on_commit_callbacks):
    settings.CHATLAB_AUTO_TITLES = True
    second = _first_exchange(user, openai_bot, "Soup?")
    Conversation.objects.filter(pk=second.conversation.pk).update(title="My soup")
    second.reply.conversation.title = "My soup"
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        build_request(second.reply)
    assert callbacks == [] and fake_openai.requests == []
    assert Conversation.objects.get(pk=second.conversation.pk).title == "My soup"


def test_the_demo_bot_keeps_the_first_message_as_title(user, demo_bot, settings,
                                                       django_capture_on_commit_callbacks):
    settings.CHATLAB_AUTO_TITLES = True
    second = _first_exchange(user, demo_bot, "  Hello   there, how are you?  ")
    with django_capture_on_commit_callbacks(execute=True):
        build_request(second.reply)
    assert Conversation.objects.get(pk=second.conversation.pk).title == "Hello there, how are you?"


def test_in_the_embedded_mode_follow_ups_do_not_hold_up_the_reply(monkeypatch):
    from conversations.services import background

    monkeypatch.setattr(background, "INLINE", False)
    started, ran = [], []

    class Task:
        name = "conversations.tasks.summarise_conversation"

        def delay(self, *args):
            ran.append(("delay", args))

        def apply(self, args):
            ran.append(("apply", args))

    class FakeThread:
        def __init__(self, target, name, daemon):
            started.append((name, daemon))
            self.target = target

        def start(self):
            pass  # not run: the caller must not wait for it

    monkeypatch.setattr(background.threading, "Thread", FakeThread)
    background.run_soon(Task(), "c1")
    assert started == [("bg-summarise_conversation", True)] and ran == []


@pytest.mark.django_db(transaction=True)
async def test_through_the_real_pipeline_the_provider_gets_a_request_within_the_window(
        user, openai_bot, fake_openai):
    """The reply is written by the generation service against the fake OpenAI server: the
    request it received fits the window, the reply's usage is the provider's own, and the
    conversation that outgrew the window got a summary from the same model."""
    from asgiref.sync import sync_to_async

    from conversations.services.runner import runner
    from tests.fakes.openai_server import Behaviour

    openai_bot.context_window, openai_bot.max_output_tokens = 512, 128
    await openai_bot.asave()
    conversation = await sync_to_async(long_conversation)(user, openai_bot, turns=30)
    # The reply first: the summary it asks for is queued only once the reply is done.
    fake_openai.script(Behaviour(), *[Behaviour(text=f"Summary {i}.") for i in range(8)])
    sent = await sync_to_async(message_send)(
        user=user, content="and the answer is?", conversation_id=conversation.pk,
        reply_status=Message.Status.STREAMING)
    live = runner().start(sent.reply.pk, sent.conversation.pk)
    await live.task
    reply = await Message.objects.aget(pk=sent.reply.pk)
    assert reply.status == "complete"
    asked = [r["body"] for r in fake_openai.requests if r["body"]["max_tokens"] == 128]
    assert len(asked) == 1
    counter = counter_for(openai_bot.model)
    assert prompt_tokens(counter, asked[0]["messages"]) + 128 <= 512
    assert asked[0]["messages"][-1]["content"] == "and the answer is?"
    assert reply.prompt_tokens is not None and reply.completion_tokens is not None
    summarised = [r for r in fake_openai.requests if r["body"]["max_tokens"] != 128]
    assert summarised  # the summary was asked of the same model
    await conversation.arefresh_from_db()
    assert conversation.summary.startswith("Summary ")


def test_titles_go_to_the_chat_queue_and_summaries_to_maintenance(monkeypatch, settings):
    from chatlab_site.celery import app
    from conversations.services import background
    from conversations.tasks import summarise_conversation, title_conversation

    calls = []
    monkeypatch.setattr(background, "INLINE", True)
    for task in (title_conversation, summarise_conversation):
        monkeypatch.setattr(task, "apply_async",
                            lambda args, _t=task, **kw: calls.append((_t.name, kw)))
    background.run_soon(title_conversation, "c1", queue="chat")
    background.run_soon(summarise_conversation, "c1")
    router = app.amqp.router
    queues = [router.route(kw, name, ("c1",), {})["queue"].name for name, kw in calls]
    assert queues == ["chat", "maintenance"]
