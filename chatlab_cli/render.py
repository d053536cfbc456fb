"""What the client shows: tables, a reply growing as rendered markdown, and Markdown exports."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.markdown import Markdown
from rich.table import Table
from rich.text import Text

console = Console(highlight=False)
errors = Console(stderr=True, highlight=False, soft_wrap=True)


def when(stamp: str | None) -> str:
    # "2026-11-24T16:03:12.123456Z" -> "2026-11-24 16:03"
    return (stamp or "")[:16].replace("T", " ")


def bots_table(bots: list[dict[str, Any]]) -> Table:
    table = Table(box=None, header_style="bold")
    for column in ("slug", "name", "model", "description"):
        table.add_column(column)
    for bot in bots:
        name = bot["name"] + (" (default)" if bot.get("is_default") else "")
        table.add_row(bot["slug"], name, bot.get("model", ""), bot.get("description", ""))
    return table


def history_table(conversations: list[dict[str, Any]]) -> Table:
    table = Table(box=None, header_style="bold")
    for column in ("id", "title", "bot", "updated"):
        table.add_column(column, no_wrap=column != "title")
    for conversation in conversations:
        title = conversation["title"] or "(untitled)"
        if conversation.get("pinned"):
            title = "📌 " + title
        if conversation.get("archived"):
            title += " (archived)"
        table.add_row(conversation["id"], title,
                      conversation["bot"] or "", when(conversation["updated_at"]))
    return table


@dataclass
class Reply:
    text: str = ""
    # What a reasoning model thought first: shown dimmed above the answer, kept apart from it.
    reasoning: str = ""
    done: dict[str, Any] | None = None
    interrupted: bool = False

    def renderable(self) -> RenderableType:
        if not self.reasoning:
            return Markdown(self.text)
        return Group(Text(self.reasoning, style="dim"), Text(""), Markdown(self.text))


def stream_reply(events: Iterable[tuple[str, dict[str, Any]]], out: Console = console) -> Reply:
    """Renders the reply as it grows; Ctrl-C ends the rendering (the caller stops the reply)."""
    reply = Reply()
    with Live(Markdown(""), console=out, refresh_per_second=12) as live:
        try:
            for event, data in events:
                if event == "snapshot":
                    reply.text = data.get("content", "")
                    reply.reasoning = data.get("reasoning") or ""
                elif event == "delta":
                    reply.text += data.get("text", "")
                    reply.reasoning += data.get("reasoning") or ""
                elif event == "done":
                    reply.done = data
                    break
                live.update(reply.renderable())
        except KeyboardInterrupt:
            reply.interrupted = True
        live.update(reply.renderable())
    return reply


def quoted_reasoning(reasoning: str) -> str:
    """A reply's reasoning as a Markdown quote, so an export keeps it apart from the answer."""
    body = "\n".join(f"> {line}".rstrip() for line in reasoning.splitlines())
    return f"> *Thinking:*\n>\n{body}"


def _speaker(message: dict[str, Any], bot: str) -> str:
    return "You" if message["role"] == "user" else f"{bot} (assistant)"


def conversation_markdown(conversation: dict[str, Any], messages: list[dict[str, Any]]) -> str:
    bot = conversation.get("bot") or "assistant"
    lines = [f"# {conversation.get('title') or 'Untitled conversation'}", "",
             f"- Bot: {bot}", f"- Started: {when(conversation.get('created_at'))}",
             f"- Id: {conversation['id']}", ""]
    for message in messages:
        lines += [f"## {_speaker(message, bot)}", ""]
        if message.get("reasoning"):
            lines += [quoted_reasoning(message["reasoning"]), ""]
        lines += [message.get("content") or "", ""]
        if message.get("status") in ("failed", "cancelled"):
            note = message.get("error") or message["status"]
            lines += [f"*({note})*", ""]
    return "\n".join(lines).rstrip() + "\n"
