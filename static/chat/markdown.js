// Markdown to safe HTML. Model output is untrusted: marked renders it, DOMPurify removes every
// script, event handler and style, and the hook below drops javascript:, data: and vbscript:
// links (DOMPurify allows data: images by default).
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
  };

  marked.setOptions({ gfm: true, breaks: true });

  window.renderMarkdown = function (text) {
    return DOMPurify.sanitize(marked.parse(text || ""), PURIFY);
  };
})();
