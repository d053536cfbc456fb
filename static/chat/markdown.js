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
    const holder = document.createElement("div");
    holder.appendChild(fragment);
    return holder.innerHTML;
  };
})();
