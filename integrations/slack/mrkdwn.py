"""Markdown (what the models write) to Slack's mrkdwn.

Parsed with markdown-it-py, so code spans and blocks keep their asterisks and the structure is
right; then written in mrkdwn: *bold*, _italic_, ~strike~, <url|label>, bullets, quotes, fences.
The two converters on PyPI pass Slack control sequences such as ``<!channel>`` through (one on
purpose, to keep mentions) and leave ``<``/``&`` unescaped in code: a model's reply must never
ping a channel or forge a link, so every ``&``, ``<`` and ``>`` of the text is escaped here, as
Slack's formatting guide asks.
"""

from __future__ import annotations

from functools import lru_cache

from markdown_it import MarkdownIt
from markdown_it.token import Token

SAFE_SCHEMES = ("http://", "https://", "mailto:")
INDENT = "    "


def escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


@lru_cache(maxsize=1)
def _parser() -> MarkdownIt:
    return MarkdownIt("commonmark", {"html": False}).enable(["strikethrough", "table"])


def _link_target(href: str) -> str | None:
    if not href.lower().startswith(SAFE_SCHEMES):
        return None
    # `|` and `>` end Slack's <url|label>; percent-encode them rather than let a URL cut it short.
    return escape(href.replace("|", "%7C")).replace("&gt;", "%3E").replace("&lt;", "%3C")


def _inline(children: list[Token]) -> str:
    out: list[str] = []
    links: list[str | None] = []
    for tok in children:
        kind = tok.type
        if kind == "text":
            out.append(escape(tok.content))
        elif kind in ("softbreak", "hardbreak"):
            out.append("\n")
        elif kind in ("strong_open", "strong_close"):
            out.append("*")
        elif kind in ("em_open", "em_close"):
            out.append("_")
        elif kind in ("s_open", "s_close"):
            out.append("~")
        elif kind == "code_inline":
            out.append(f"`{escape(tok.content)}`")
        elif kind == "link_open":
            target = _link_target(str(tok.attrs.get("href", "")))
            links.append(target)
            out.append(f"<{target}|" if target else "")
        elif kind == "link_close":
            out.append(">" if links and links.pop() else "")
        elif kind == "image":
            target = _link_target(str(tok.attrs.get("src", "")))
            label = escape(tok.content) or "image"
            out.append(f"<{target}|{label}>" if target else label)
    return "".join(out)


class _Writer:
    """Collects blocks with the prefixes their list items and quotes give them."""

    def __init__(self) -> None:
        # (text, group): blocks of one top-level list or one table share a group and are
        # written on consecutive lines; everything else is separated by a blank line.
        self.parts: list[tuple[str, int | None]] = []
        self.group: int | None = None
        self._groups = 0
        self.lists: list[list[int | None]] = []  # per open list: [next number or None]
        self.marker: str | None = None
        self.quote = 0

    def open_item(self, token: Token) -> None:
        counter = self.lists[-1]
        if counter[0] is None:
            bullets = "•◦▪"
            self.marker = bullets[(len(self.lists) - 1) % 3] + " "
        else:
            self.marker = f"{counter[0]}. "
            counter[0] += 1

    def block(self, text: str) -> None:
        depth = max(len(self.lists) - 1, 0)
        lines = text.split("\n")
        if self.lists:
            first = INDENT * depth + (self.marker or INDENT)
            lines = [first + lines[0]] + [INDENT * (depth + 1) + line for line in lines[1:]]
            self.marker = None
        if self.quote:
            lines = ["> " + line for line in lines]
        self.parts.append(("\n".join(lines), self.group))

    def start_group(self) -> None:
        if self.group is None:
            self._groups += 1
            self.group = self._groups

    def text(self) -> str:
        out = ""
        for i, (text, group) in enumerate(self.parts):
            if i:
                out += "\n" if group is not None and group == self.parts[i - 1][1] else "\n\n"
            out += text
        return out


def to_mrkdwn(markdown: str) -> str:
    writer = _Writer()
    heading = in_cell = False
    row: list[str] = []
    for tok in _parser().parse(markdown):
        kind = tok.type
        if kind == "heading_open":
            heading = True
        elif kind == "heading_close":
            heading = False
        elif kind == "inline":
            text = _inline(tok.children or [])
            if in_cell:
                row.append(text)
            elif heading:
                writer.block(f"*{text}*" if text.strip() else text)
            else:
                writer.block(text)
        elif kind in ("bullet_list_open", "ordered_list_open"):
            start = tok.attrs.get("start", 1) if kind == "ordered_list_open" else None
            if not writer.lists:
                writer.start_group()
            writer.lists.append([int(start) if start is not None else None])
        elif kind in ("bullet_list_close", "ordered_list_close"):
            writer.lists.pop()
            if not writer.lists:
                writer.group = None
        elif kind == "table_open":
            writer.start_group()
        elif kind == "table_close":
            writer.group = None
        elif kind == "list_item_open":
            writer.open_item(tok)
        elif kind == "blockquote_open":
            writer.quote += 1
        elif kind == "blockquote_close":
            writer.quote -= 1
        elif kind in ("fence", "code_block"):
            writer.block("```\n" + escape(tok.content.rstrip("\n")) + "\n```")
        elif kind == "hr":
            writer.block("──────────")
        elif kind in ("th_open", "td_open"):
            in_cell = True
        elif kind in ("th_close", "td_close"):
            in_cell = False
        elif kind == "tr_open":
            row = []
        elif kind == "tr_close":
            writer.block(" | ".join(row))
            row = []
    return writer.text()

