"""The offline demo backend: a clearly labelled reply, streamed like a real model's."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator

from django.conf import settings

from .base import ChatRequest, Usage

_TOKEN = re.compile(r"\s*\S+\s*|\s+")
_SENTENCE_END = re.compile(r"(?<=[.!?…])\s")

DEMO_TEMPLATE = """**Demo reply.** This bot runs on Chatlab's built-in demo provider: it works offline \
and no language model is involved. An administrator connects OpenAI or any OpenAI-compatible \
server (Ollama, vLLM, LM Studio, llama.cpp) in the admin under *Providers*.

You wrote {words} word{plural}:

> {quote}

A reply can carry code, rendered as a block:

```python
def greet(name: str) -> str:
    return f"Hello, {{name}}!"
```
"""

_CODE = """
```python
def greet(name: str) -> str:
    return f"Hello, {{name}}!"
```
"""

# The same reply in every UI language; the key is the detector's code (services.language).
DEMO_TEMPLATES = {
    "ru": """**Демонстрационный ответ.** Этот бот работает на встроенном демо-провайдере Chatlab: \
он работает без сети, и языковая модель здесь не участвует. Администратор может подключить OpenAI \
или любой совместимый с OpenAI сервер (Ollama, vLLM, LM Studio, llama.cpp) в админке, в разделе \
*Провайдеры*.

Определённый язык: русский. Слов в вашем сообщении: {words}.

> {quote}

Ответ может содержать код, он показывается отдельным блоком:
""" + _CODE,
    "de": """**Demo-Antwort.** Dieser Bot läuft auf dem eingebauten Demo-Anbieter von Chatlab: Er \
funktioniert offline, und kein Sprachmodell ist beteiligt. Eine Administratorin oder ein \
Administrator verbindet OpenAI oder einen OpenAI-kompatiblen Server (Ollama, vLLM, LM Studio, \
llama.cpp) in der Verwaltung unter *Anbieter*.

Erkannte Sprache: Deutsch. Wörter in Ihrer Nachricht: {words}.

> {quote}

Eine Antwort kann Code enthalten, der als Block dargestellt wird:
""" + _CODE,
    "es": """**Respuesta de demostración.** Este bot funciona con el proveedor de demostración \
integrado en Chatlab: trabaja sin conexión y no interviene ningún modelo de lenguaje. Un \
administrador puede conectar OpenAI o cualquier servidor compatible con OpenAI (Ollama, vLLM, \
LM Studio, llama.cpp) en la administración, en *Proveedores*.

Idioma detectado: español. Palabras en tu mensaje: {words}.

> {quote}

Una respuesta puede incluir código, que se muestra como un bloque:
""" + _CODE,
    "fr": """**Réponse de démonstration.** Ce bot fonctionne avec le fournisseur de démonstration \
intégré à Chatlab : il marche hors ligne et aucun modèle de langage n'intervient. Un \
administrateur peut connecter OpenAI ou tout serveur compatible OpenAI (Ollama, vLLM, \
LM Studio, llama.cpp) dans l'administration, sous *Fournisseurs*.

Langue détectée : français. Nombre de mots dans votre message : {words}.

> {quote}

Une réponse peut contenir du code, affiché sous forme de bloc :
""" + _CODE,
    "zh": """**演示回复。** 这个机器人使用 Chatlab 内置的演示提供方：它可以离线运行，不涉及任何语言模型。\
管理员可以在管理后台的“提供方”中连接 OpenAI 或任何兼容 OpenAI 的服务器（Ollama、vLLM、\
LM Studio、llama.cpp）。

检测到的语言：中文。你的消息包含 {words} 个词：

> {quote}

回复中可以包含代码，以代码块的形式显示：
""" + _CODE,
}
# Languages the UI does not have: the English text, saying which language a model would use.
DETECTED_NOTE = """
Detected language: {name} ({code}). A connected model is asked to answer in it.
"""


def demo_reply(user_text: str, language: str = "en") -> str:
    words = len(user_text.split())
    quote = " ".join(user_text.split())[:200] or "…"
    template = DEMO_TEMPLATES.get(language)
    if template is not None:
        return template.format(words=words, quote=quote)
    text = DEMO_TEMPLATE.format(words=words, plural="" if words == 1 else "s", quote=quote)
    if language and language != "en":
        from conversations.services.language import language_name

        text += DETECTED_NOTE.format(name=language_name(language), code=language)
    return text


def tokens_of(text: str) -> list[str]:
    return _TOKEN.findall(text)


def demo_summary(transcript: str, limit_chars: int = 1500) -> str:
    """An extractive summary, made offline: the start of each turn's first sentence, in order,
    the earlier summary's lines first; the oldest lines give way when it grows too long."""
    lines: list[str] = []
    for line in transcript.splitlines():
        if line.startswith("Earlier summary: "):
            lines.extend(x for x in line[17:].split(" | ") if x)
            continue
        role, _, text = line.partition(": ")
        text = " ".join(text.split())
        if text:
            sentence = _SENTENCE_END.split(text, maxsplit=1)[0][:60]
            lines.append(f"{role}: {sentence}")
    while len(lines) > 1 and len(" | ".join(lines)) > limit_chars:
        lines.pop(0)
    return " | ".join(lines)[:limit_chars]


class DemoBackend:
    async def stream(self, request: ChatRequest) -> AsyncIterator[str | Usage]:
        if request.purpose == "summary":
            text = demo_summary(request.messages[-1]["content"], request.max_tokens * 3)
            yield text
            yield Usage(prompt_tokens=None, completion_tokens=None, model="demo")
            return
        last_user = next(
            (m["content"] for m in reversed(request.messages) if m["role"] == "user"), ""
        )
        tokens = tokens_of(demo_reply(last_user, request.language))[: request.max_tokens]
        rate = settings.CHATLAB_DEMO_TOKENS_PER_SECOND
        delay = 1.0 / rate if rate > 0 else 0.0
        await asyncio.sleep(min(delay * 5, 0.3))
        for token in tokens:
            yield token
            if delay:
                await asyncio.sleep(delay)
        prompt_chars = sum(len(m["content"]) for m in request.messages)
        yield Usage(prompt_tokens=prompt_chars // 4 + 1, completion_tokens=len(tokens), model="demo")
