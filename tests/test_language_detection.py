"""Which language a message is in (conversations.services.language), what is stored, what the
model is asked for, and the demo bot's answer in that language."""

from __future__ import annotations

import pytest

from conversations.models import Message
from conversations.providers import ChatRequest
from conversations.providers.demo import DemoBackend, demo_reply
from conversations.services import language as language_service
from conversations.services.context import build_request, language_instruction
from conversations.services.language import detect_language, message_language
from conversations.services.messages import (
    NewConversationSend,
    message_send,
    new_conversations_send,
)

SENTENCES = {
    "en": "How do I reverse a list in Python without copying it?",
    "ru": "Как развернуть список в Python, не копируя его?",
    "de": "Wie kann ich eine Liste in Python umkehren, ohne sie zu kopieren?",
    "es": "¿Cómo invierto una lista en Python sin copiarla?",
    "fr": "Comment inverser une liste en Python sans la copier ?",
    "zh": "如何在 Python 中反转一个列表而不复制它？",
    "it": "Come posso invertire una lista in Python senza copiarla?",
    "pt": "Como faço para inverter uma lista em Python sem copiá-la?",
    "ja": "Pythonでリストをコピーせずに逆順にするにはどうすればいいですか？",
    "ko": "파이썬에서 리스트를 복사하지 않고 뒤집으려면 어떻게 하나요?",
    "tr": "Python'da bir listeyi kopyalamadan nasıl tersine çeviririm?",
    "pl": "Jak odwrócić listę w Pythonie bez jej kopiowania?",
    "nl": "Hoe draai ik een lijst om in Python zonder hem te kopiëren?",
    "ar": "كيف أعكس قائمة في بايثون دون نسخها؟",
}

HARD_CASES = [
    "",
    "   \n\t ",
    "😀🎉👍",
    "```python\ndef reverse(items):\n    return items[::-1]\n```",
    "x = [1, 2, 3]; print(x[::-1])",
    "`items.reverse()`",
    "https://example.com/some/long/path?query=1",
    "ok",
    "Спасибо",
    "12345 67890",
    "?!…",
]


@pytest.mark.parametrize("code", sorted(SENTENCES))
def test_it_detects_a_sentence_in_each_language(code):
    assert detect_language(SENTENCES[code], "xx") == code


@pytest.mark.parametrize("text", HARD_CASES)
def test_short_emoji_or_code_only_text_falls_back_in_order(text):
    assert detect_language(text, "ru", "de", "en") == "ru"
    assert detect_language(text, "", None, "de") == "de"
    assert detect_language(text) == "en"


def test_prose_around_code_is_what_counts():
    text = "Почему эта функция падает на пустом списке?\n```python\ndef f(x):\n    return x[0]\n```"
    assert detect_language(text, "en") == "ru"


def test_fallbacks_are_named_as_the_detector_names_languages():
    assert detect_language("", "zh-hans") == "zh"
    assert detect_language("", "en-us") == "en"
    assert detect_language("", "pt_BR") == "pt"


def test_a_failing_detector_never_stops_a_send(monkeypatch):
    def broken(prose):
        raise RuntimeError("model file is damaged")

    monkeypatch.setattr(language_service, "_detect", broken)
    assert detect_language(SENTENCES["fr"], "ru") == "ru"
    assert detect_language(None, None) == "en"  # type: ignore[arg-type]


def test_the_site_language_is_the_last_fallback(settings):
    settings.LANGUAGE_CODE = "de"
    assert message_language("👍") == "de"
    assert message_language("👍", "fr") == "fr"
    assert message_language(SENTENCES["es"], "fr") == "es"


@pytest.mark.django_db
def test_the_language_is_stored_on_the_message_and_the_conversation(user, demo_bot):
    sent = message_send(user=user, content=SENTENCES["ru"])
    assert sent.user_message.language == "ru" and sent.reply.language == ""
    sent.conversation.refresh_from_db()
    assert sent.conversation.language == "ru"
    # A reply too short to tell keeps the conversation's language.
    Message.objects.filter(pk=sent.reply.pk).update(status=Message.Status.COMPLETE)
    short = message_send(user=user, content="ok", conversation_id=sent.conversation.pk)
    assert short.user_message.language == "ru"
    # Writing in another language moves the conversation to it.
    Message.objects.filter(pk=short.reply.pk).update(status=Message.Status.COMPLETE)
    german = message_send(user=user, content=SENTENCES["de"], conversation_id=sent.conversation.pk)
    assert german.user_message.language == "de"
    german.conversation.refresh_from_db()
    assert german.conversation.language == "de"


@pytest.mark.django_db
def test_batched_first_messages_store_their_languages(user, other_user, demo_bot, settings):
    settings.LANGUAGE_CODE = "fr"
    results = new_conversations_send([
        NewConversationSend(user=user, content=SENTENCES["es"]),
        NewConversationSend(user=other_user, content="🙂"),
    ])
    languages = [(r.user_message.language, r.conversation.language) for r in results]
    assert languages == [("es", "es"), ("fr", "fr")]
    stored = dict(Message.objects.filter(role="user").values_list("content", "language"))
    assert stored == {SENTENCES["es"]: "es", "🙂": "fr"}


@pytest.mark.django_db
def test_the_model_is_told_the_language_after_the_bots_own_prompt(user, demo_bot):
    sent = message_send(user=user, content=SENTENCES["ja"])
    request = build_request(sent.reply)
    assert request.language == "ja"
    assert request.messages[0] == {"role": "system", "content": demo_bot.system_prompt}
    assert request.messages[1] == {"role": "system", "content": language_instruction("ja")}
    assert "Japanese" in request.messages[1]["content"]
    assert "unless the user asks for another language" in request.messages[1]["content"]
    assert request.messages[-1] == {"role": "user", "content": SENTENCES["ja"]}


@pytest.mark.django_db
def test_a_given_history_is_planned_without_a_query(user, demo_bot, django_assert_num_queries):
    sent = message_send(user=user, content="hello")
    history = [{"role": "user", "content": SENTENCES["ko"]}]
    with django_assert_num_queries(0):
        request = build_request(sent.reply, history=history, policy=sent.policy)
    assert request.language == "ko"
    # A short message in a Korean conversation is still answered in Korean.
    sent.conversation.language = "ko"
    with django_assert_num_queries(0):
        short = build_request(sent.reply, history=[{"role": "user", "content": "ok"}],
                              policy=sent.policy)
    assert short.language == "ko"


async def _demo_text(language: str, text: str) -> str:
    request = ChatRequest(model="demo", messages=[{"role": "user", "content": text}],
                          temperature=0.0, max_tokens=2000, language=language)
    return "".join([d async for d in DemoBackend().stream(request) if isinstance(d, str)])


@pytest.mark.parametrize(("code", "marker"), [
    ("en", "Demo reply."), ("ru", "Демонстрационный ответ."), ("de", "Demo-Antwort."),
    ("es", "Respuesta de demostración."), ("fr", "Réponse de démonstration."),
    ("zh", "演示回复。"),
])
async def test_the_demo_bot_answers_in_every_ui_language(code, marker, settings):
    settings.CHATLAB_DEMO_TOKENS_PER_SECOND = 0
    text = await _demo_text(code, SENTENCES[code])
    assert text.startswith(f"**{marker}**")
    assert "def greet" in text


async def test_the_demo_bot_names_a_language_the_ui_does_not_have(settings):
    settings.CHATLAB_DEMO_TOKENS_PER_SECOND = 0
    text = await _demo_text("ja", SENTENCES["ja"])
    assert text.startswith("**Demo reply.**")
    assert "Detected language: Japanese (ja)" in text
    assert demo_reply("hi") == demo_reply("hi", "en")
    assert "Detected language" not in demo_reply("hi")
