"""Markdown (what the models write) -> the HTML subset Telegram renders (parse_mode HTML).

markdown-it-py parses; this walks its tokens and writes only tags Telegram accepts (b, i, s,
code, pre, a, blockquote), escaping every piece of text with aiogram's own HTML quoting. Raw
HTML in a reply is shown as text, never passed through. Lists, headings, rules and tables, which
Telegram has no tags for, become plain-text shapes. Unfinished markdown (a growing reply)
renders as far as it goes.
"""

from __future__ import annotations

from functools import lru_cache

from aiogram.utils.text_decorations import html_decoration
from markdown_it import MarkdownIt
from markdown_it.token import Token

_INLINE_TAGS = {
    "strong_open": "<b>", "strong_close": "</b>",
    "em_open": "<i>", "em_close": "</i>",
    "s_open": "<s>", "s_close": "</s>",
}
_SAFE_SCHEMES = ("http://", "https://", "tg://", "mailto:")


@lru_cache(maxsize=1)
def _parser() -> MarkdownIt:
    return MarkdownIt("commonmark", {"linkify": False}).enable(["strikethrough", "table"])


def _quote(text: str) -> str:
    return html_decoration.quote(text)


def _inline(children: list[Token]) -> str:
    out: list[str] = []
    link_open = False
    for token in children:
        kind = token.type
        if kind == "text":
            out.append(_quote(token.content))
        elif kind in _INLINE_TAGS:
            out.append(_INLINE_TAGS[kind])
        elif kind == "code_inline":
            out.append(f"<code>{_quote(token.content)}</code>")
        elif kind in ("softbreak", "hardbreak"):
            out.append("\n")
        elif kind == "link_open":
            href = str(token.attrs.get("href", ""))
            link_open = href.lower().startswith(_SAFE_SCHEMES)
            if link_open:
                out.append(f'<a href="{_quote(href)}">')
        elif kind == "link_close":
            if link_open:
                out.append("</a>")
            link_open = False
        elif kind == "image":
            out.append(_quote(token.content or str(token.attrs.get("src", ""))))
        else:  # html_inline and anything new: shown as written
            out.append(_quote(token.content))
    return "".join(out)


def markdown_to_telegram_html(markdown: str) -> str:
    tokens = _parser().parse(markdown)
    out: list[str] = []
    lists: list[list[int]] = []  # per open list: [next number] ([0] for bullets)
    for token in tokens:
        kind = token.type
        if kind == "inline":
            out.append(_inline(token.children or []))
        elif kind == "paragraph_close" and not token.hidden:
            out.append("\n\n")
        elif kind == "paragraph_close":
            out.append("\n")
        elif kind == "heading_open":
            out.append("<b>")
        elif kind == "heading_close":
            out.append("</b>\n\n")
        elif kind == "bullet_list_open":
            lists.append([0])
        elif kind == "ordered_list_open":
            lists.append([int(token.attrs.get("start", 1) or 1)])
        elif kind in ("bullet_list_close", "ordered_list_close"):
            lists.pop()
            if not lists:
                out.append("\n")
        elif kind == "list_item_open":
            indent = "  " * (len(lists) - 1)
            counter = lists[-1] if lists else [0]
            if counter[0]:
                out.append(f"{indent}{counter[0]}. ")
                counter[0] += 1
            else:
                out.append(f"{indent}• ")
        elif kind in ("fence", "code_block"):
            language = (token.info or "").strip().split(" ")[0]
            body = _quote(token.content.rstrip("\n"))
            attr = f' class="language-{_quote(language)}"' if language else ""
            out.append(f"<pre><code{attr}>{body}</code></pre>\n\n")
        elif kind == "blockquote_open":
            out.append("<blockquote>")
        elif kind == "blockquote_close":
            while out and out[-1].endswith("\n"):
                out[-1] = out[-1].rstrip("\n")
                if not out[-1]:
                    out.pop()
            out.append("</blockquote>\n\n")
        elif kind == "hr":
            out.append("———\n\n")
        elif kind in ("th_close", "td_close"):
            out.append(" | ")
        elif kind == "tr_close":
            if out and out[-1] == " | ":
                out.pop()
            out.append("\n")
        elif kind == "table_close":
            out.append("\n")
        elif kind == "html_block":
            out.append(_quote(token.content) + "\n")
    return "".join(out).strip()
