"""The terminal client shows a reasoning model's thoughts dimmed, before its answer, and keeps
them out of the answer (issue #18)."""

from __future__ import annotations

import io
import re

from rich.console import Console

from chatlab_cli.render import conversation_markdown, stream_reply

DIM = "\x1b[2m"
ESCAPES = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def _terminal() -> tuple[Console, io.StringIO]:
    out = io.StringIO()
    return Console(file=out, force_terminal=True, color_system="standard", width=80), out


def test_reasoning_is_printed_dimmed_before_the_answer():
    events = [
        ("snapshot", {"id": "m", "seq": 0, "content": "", "reasoning": "", "status": "streaming"}),
        ("delta", {"seq": 1, "text": "", "reasoning": "Light scatters "}),
        ("delta", {"seq": 2, "text": "The sky is blue.", "reasoning": "more at blue."}),
        ("done", {"status": "complete", "reasoning_ms": 900}),
    ]
    terminal, out = _terminal()
    reply = stream_reply(iter(events), out=terminal)
    assert reply.reasoning == "Light scatters more at blue."
    assert reply.text == "The sky is blue."
    screen = out.getvalue()
    last = screen.rindex("Light scatters")
    # The last drawing: the thoughts in the dim style, then the answer in the plain one.
    assert screen.rfind(DIM, 0, last) > screen.rfind("\x1b[0m", 0, last)
    assert last < screen.rindex("The sky is blue.")
    plain = ESCAPES.sub("", screen)
    assert "The sky is blue." in plain


def test_a_reply_without_reasoning_looks_as_before():
    terminal, out = _terminal()
    reply = stream_reply(iter([("snapshot", {"content": "Hi", "status": "streaming"}),
                               ("done", {"status": "complete"})]), out=terminal)
    assert reply.reasoning == "" and DIM not in out.getvalue()


def test_the_markdown_export_quotes_the_reasoning_apart():
    text = conversation_markdown(
        {"id": "c", "title": "Sky", "bot": "r1", "created_at": None},
        [{"role": "user", "content": "why blue?"},
         {"role": "assistant", "content": "Rayleigh.",
          "reasoning": "Light scatters.\nShort waves."}])
    assert "> *Thinking:*\n>\n> Light scatters.\n> Short waves.\n\nRayleigh." in text
