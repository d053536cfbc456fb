"""What a person's text may hold: one check, the same at every door (socket, REST, /v1,
messengers, all through message_send and message_edit; the socket and /v1 also apply it to the
other strings they take before anything reads or stores them).

PostgreSQL cannot store a NUL character, and a lone UTF-16 surrogate (JSON's "\\ud800" without its
pair) is not a character at all: it cannot be encoded to UTF-8 for the database, a socket frame or
a provider. Both are refused with a clear message instead of failing later.
"""

from __future__ import annotations

import re

from django.conf import settings
from django.utils.text import format_lazy
from django.utils.translation import gettext_lazy as _

from .errors import ChatError, grouped

_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def text_refusal(text: str) -> ChatError | None:
    """Why this text cannot be stored or sent on, or None when it can."""
    found = _UNSTORABLE.search(text)
    if found is None:
        return None
    if found.group() == "\x00":
        return ChatError("invalid", _("The text contains a NUL character (U+0000), which "
                                      "cannot be stored."))
    return ChatError("invalid", _("The text contains an unpaired surrogate (U+D800 to "
                                  "U+DFFF), which is not a character."))


def clean_content(content: object) -> str:
    """A message's text, stripped; ChatError when it is not text, empty, too long or holds a
    character that cannot be stored (text_refusal)."""
    if not isinstance(content, str):
        raise ChatError("invalid", _("A message must be text."))
    text = content.strip()
    if not text:
        raise ChatError("empty", _("Write something first."))
    limit = settings.CHATLAB_MAX_MESSAGE_CHARS
    if len(text) > limit:
        raise ChatError(
            "too_long",
            format_lazy(_("The message is {length} characters long; the limit is {limit}."),
                        length=grouped(len(text)), limit=grouped(limit)),
            status=413,
        )
    if (refusal := text_refusal(text)) is not None:
        raise refusal
    return text
