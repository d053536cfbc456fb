// Markdown to safe HTML. Model output is untrusted: marked renders it, DOMPurify keeps only the
// tags and attributes listed below (an allow-list: whatever HTML grows next is dropped, not let
// through). Nothing kept may make the browser fetch from another site by itself: a prompt-injected
// reply could put the conversation into such a URL (video/audio/source/poster, srcset, a
// `background` attribute, style url(), svg image...). The only element with a URL that loads on
// its own is <img>, and only from this site; any other image becomes a link. Links a person clicks
// are kept (http, https, mailto and relative), opening in a new tab without referrer.
(function () {
  "use strict";
  const ALLOWED_TAGS = [
    "a", "abbr", "b", "blockquote", "br", "caption", "code", "dd", "del", "details", "div", "dl",
    "dt", "em", "h1", "h2", "h3", "h4", "h5", "h6", "hr", "i", "img", "ins", "kbd", "li", "mark",
    "ol", "p", "pre", "q", "s", "samp", "small", "span", "strong", "sub", "summary", "sup",
    "table", "tbody", "td", "tfoot", "th", "thead", "tr", "u", "ul", "var",
  ];
  // `class` is kept only as marked's "language-x" on code (see the hook); `src` only on <img>.
  const ALLOWED_ATTR = ["href", "src", "alt", "title", "align", "start", "colspan", "rowspan",
                        "open", "class"];
  // http(s), mailto and relative URLs; DOMPurify's own list also has ftp, tel, sms, xmpp...
  const ALLOWED_URI_REGEXP = /^(?:(?:https?|mailto):|[^a-z]|[a-z+.-]+(?:[^a-z+.\-:]|$))/i;
  const LANGUAGE_CLASS = /^language-[\w+#.-]+$/;

  DOMPurify.addHook("afterSanitizeAttributes", function (node) {
    if (node.hasAttribute("src") && node.tagName !== "IMG") node.removeAttribute("src");
    // DOMPurify lets data: through on <img src>; a reply has no reason to inline images.
    if (node.hasAttribute("src") && /^\s*data:/i.test(node.getAttribute("src"))) {
      node.removeAttribute("src");
    }
    if (node.hasAttribute("class")
        && !(node.tagName === "CODE" && LANGUAGE_CLASS.test(node.getAttribute("class")))) {
      node.removeAttribute("class");
    }
    if (node.tagName === "A" && node.hasAttribute("href")) {
      node.setAttribute("target", "_blank");
      node.setAttribute("rel", "noopener noreferrer nofollow");
    }
  });

  const PURIFY = {
    ALLOWED_TAGS: ALLOWED_TAGS,
    ALLOWED_ATTR: ALLOWED_ATTR,
    ALLOWED_URI_REGEXP: ALLOWED_URI_REGEXP,
    ALLOW_DATA_ATTR: false,
    ALLOW_ARIA_ATTR: false,
    RETURN_DOM_FRAGMENT: true,
  };

  function sameOrigin(src) {
    try { return new URL(src, location.href).origin === location.origin; } catch (e) { return false; }
  }

  function imageToLink(img) {
    const src = img.getAttribute("src") || "";
    const label = img.getAttribute("alt") || src;
    let replacement;
    if (/^https?:/i.test(src)) {
      replacement = document.createElement("a");
      replacement.href = src;
      replacement.target = "_blank";
      replacement.rel = "noopener noreferrer nofollow";
      replacement.className = "image-link";
    } else {
      replacement = document.createElement("span");
    }
    replacement.textContent = label;
    img.replaceWith(replacement);
  }

  marked.setOptions({ gfm: true, breaks: true });

  // Maths. The TeX is taken out before markdown sees it (its `_` and `*` are not emphasis) and
  // travels through the sanitiser as the text of a <code class="language-math-…">; KaTeX turns
  // it into MathML afterwards (see renderMaths). A `$` opens inline maths only before a
  // non-space and closes only after one, not before a digit: "$5 and $6" stays prose.
  function escapeHtml(text) {
    return text.replace(/[&<>"]/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" })[c]);
  }
  function mathHtml(tex, display) {
    return `<code class="language-math-${display ? "display" : "inline"}">${escapeHtml(tex.trim())}</code>`;
  }
  const INLINE_MATH = [
    [/^\$\$(?!\$)((?:\\.|[^\\$])+?)\$\$/, true],
    [/^\\\[([\s\S]+?)\\\]/, true],
    [/^\\\(([\s\S]+?)\\\)/, false],
    [/^\$(?![\s$])((?:\\.|[^\\$\n])+?)(?<![\s\\])\$(?!\d)/, false],
  ];
  marked.use({ extensions: [
    {
      name: "mathBlock",
      level: "block",
      tokenizer(src) {
        const m = /^ {0,3}(?:\$\$([\s\S]+?)\$\$|\\\[([\s\S]+?)\\\]) *(?:\n+|$)/.exec(src);
        if (m) return { type: "mathBlock", raw: m[0], text: m[1] ?? m[2] };
      },
      renderer(token) { return `<div>${mathHtml(token.text, true)}</div>\n`; },
    },
    {
      name: "mathInline",
      level: "inline",
      start(src) { const i = src.search(/\$|\\[([]/); return i < 0 ? undefined : i; },
      tokenizer(src) {
        for (const [pattern, display] of INLINE_MATH) {
          const m = pattern.exec(src);
          if (m) return { type: "mathInline", raw: m[0], text: m[1], display };
        }
      },
      renderer(token) { return mathHtml(token.text, token.display); },
    },
  ] });

  // A streamed reply is rendered again on every frame: earlier blocks come from these caches.
  function cached(cache, key, make) {
    if (cache.has(key)) return cache.get(key);
    const value = make();
    if (cache.size > 200) cache.delete(cache.keys().next().value);
    cache.set(key, value);
    return value;
  }
  const mathCache = new Map(), codeCache = new Map();

  // output "mathml": KaTeX's HTML output needs style="" attributes, which the page's
  // Content-Security-Policy refuses; Chromium, Firefox and Safari draw MathML themselves.
  // trust false: no \href, \url, \includegraphics. On a TeX error (or while a formula is half
  // streamed) its source stays shown as code, no red inline-styled message.
  function renderMaths(root) {
    if (!window.katex) return;
    for (const code of root.querySelectorAll(
        "code.language-math-inline, code.language-math-display, pre > code.language-math")) {
      const display = !code.classList.contains("language-math-inline");
      const tex = code.textContent;
      const rendered = cached(mathCache, (display ? "D" : "I") + tex, () => {
        const box = document.createElement(display ? "div" : "span");
        box.className = display ? "math-display" : "math-inline";
        try {
          katex.render(tex, box, { output: "mathml", displayMode: display, throwOnError: true,
                                   trust: false, strict: "ignore", maxExpand: 500, maxSize: 50 });
        } catch (e) { return null; }
        return box;
      });
      if (!rendered) continue;
      const target = display && code.parentElement !== root
        && ["PRE", "DIV", "P"].includes(code.parentElement.tagName)
        && code.parentElement.childNodes.length === 1 ? code.parentElement : code;
      target.replaceWith(rendered.cloneNode(true));
    }
  }

  // Code blocks: highlighted on the sanitised DOM (highlight.js escapes the code it wraps in
  // <span class="hljs-…">), under a bar with the language and a copy button (clipboard.js).
  function decorateCodeBlocks(root) {
    const label = (window.gettext || ((t) => t))("Copy code");
    for (const code of root.querySelectorAll("pre > code")) {
      const pre = code.parentElement;
      const named = (/^language-([\w+#.-]+)$/.exec(code.className) || [])[1] || "";
      let language = named;
      if (window.hljs) {
        const known = named && hljs.getLanguage(named);
        const text = code.textContent;
        if (known || !named) {
          const result = cached(codeCache, named + "\0" + text, () => known
            ? hljs.highlight(text, { language: named, ignoreIllegals: true })
            : hljs.highlightAuto(text));
          code.innerHTML = result.value;
          code.classList.add("hljs");
          if (!named && result.relevance >= 5) language = result.language || "";
        }
      }
      const block = document.createElement("div");
      block.className = "code-block";
      const head = document.createElement("div");
      head.className = "code-head";
      const name = document.createElement("span");
      name.className = "code-lang";
      name.textContent = language;
      const copy = document.createElement("button");
      copy.type = "button";
      copy.className = "code-copy";
      copy.textContent = label;
      head.append(name, copy);
      pre.replaceWith(block);
      block.append(head, pre);
    }
  }

  // Wide tables scroll sideways in their own box, not the page.
  function wrapTables(root) {
    for (const table of root.querySelectorAll("table")) {
      const box = document.createElement("div");
      box.className = "table-scroll";
      table.replaceWith(box);
      box.append(table);
    }
  }

  window.renderMarkdown = function (text) {
    // The fragment belongs to DOMPurify's inert document: nothing in it loads until it is
    // adopted below, so foreign images are replaced before that.
    const fragment = DOMPurify.sanitize(marked.parse(text || ""), PURIFY);
    if (!fragment) {
      // DOMPurify gives up on a document without a body (a leading <frameset>): show the text.
      const plain = document.createElement("p");
      plain.textContent = text;
      return plain.outerHTML;
    }
    for (const img of fragment.querySelectorAll("img")) {
      if (!img.hasAttribute("src") || !sameOrigin(img.getAttribute("src"))) imageToLink(img);
    }
    renderMaths(fragment);
    decorateCodeBlocks(fragment);
    wrapTables(fragment);
    const holder = document.createElement("div");
    holder.appendChild(fragment);
    return holder.innerHTML;
  };
})();
