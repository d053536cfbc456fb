// Markdown to safe HTML. Model output is untrusted: marked renders it, DOMPurify removes every
// script, event handler and style, and the hook below drops javascript:, data: and vbscript:
// links (DOMPurify allows data: images by default). Images from other sites are not loaded:
// they become links, so a reply cannot leak the conversation through an image URL that the
// browser would fetch on its own (a known prompt-injection trick).
(function () {
  "use strict";
  const UNSAFE_URL = /^\s*(javascript|data|vbscript|file):/i;
  const URL_ATTRS = ["href", "src", "xlink:href", "action", "formaction", "srcset", "poster"];

  DOMPurify.addHook("afterSanitizeAttributes", function (node) {
    for (const name of URL_ATTRS) {
      if (node.hasAttribute && node.hasAttribute(name) && UNSAFE_URL.test(node.getAttribute(name))) {
        node.removeAttribute(name);
      }
    }
    if (node.tagName === "A" && node.hasAttribute("href")) {
      node.setAttribute("target", "_blank");
      node.setAttribute("rel", "noopener noreferrer nofollow");
    }
  });

  const PURIFY = {
    USE_PROFILES: { html: true },
    FORBID_TAGS: ["style", "form", "input", "button", "textarea", "select", "iframe", "object", "embed"],
    FORBID_ATTR: ["style", "srcset"],
    ALLOW_DATA_ATTR: false,
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
    const fragment = DOMPurify.sanitize(marked.parse(text || ""), PURIFY);
    for (const img of fragment.querySelectorAll("img")) {
      if (!sameOrigin(img.getAttribute("src") || "")) imageToLink(img);
    }
    const holder = document.createElement("div");
    holder.appendChild(fragment);
    return holder.innerHTML;
  };
})();
