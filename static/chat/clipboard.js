// Copy buttons: the one on every code block (built by markdown.js, so handled here by delegation,
// as the block is rebuilt on every streamed frame) and chat.js's copy of a whole message.
// The Clipboard API needs a secure context (https or localhost); elsewhere the old
// execCommand("copy") on a hidden textarea still works.
(function () {
  "use strict";
  const gettext = window.gettext || ((text) => text);
  const COPIED = gettext("Copied");
  const FAILED = gettext("Copy failed");

  function copyWithTextarea(text) {
    const area = document.createElement("textarea");
    area.value = text;
    area.setAttribute("readonly", "");
    area.className = "visually-hidden";
    document.body.append(area);
    area.select();
    let done = false;
    try { done = document.execCommand("copy"); } catch (e) { done = false; }
    area.remove();
    return done ? Promise.resolve() : Promise.reject(new Error("copy refused"));
  }

  function copyText(text) {
    if (navigator.clipboard && window.isSecureContext) {
      return navigator.clipboard.writeText(text).catch(() => copyWithTextarea(text));
    }
    return copyWithTextarea(text);
  }

  // The button says what happened for two seconds; aria-live makes a screen reader say it too.
  function flash(button, ok) {
    if (!button.dataset.label) button.dataset.label = button.textContent;
    button.textContent = ok ? COPIED : FAILED;
    button.classList.toggle("copied", ok);
    clearTimeout(button.copyTimer);
    button.copyTimer = setTimeout(() => {
      button.textContent = button.dataset.label;
      button.classList.remove("copied");
    }, 2000);
  }

  window.copyToClipboard = function (text, button) {
    return copyText(text).then(() => flash(button, true), () => flash(button, false));
  };

  document.addEventListener("click", (event) => {
    const button = event.target.closest && event.target.closest("button.code-copy");
    if (!button) return;
    const code = button.closest(".code-block").querySelector("pre > code");
    // marked ends every block with a newline the model did not write.
    window.copyToClipboard(code.textContent.replace(/\n$/, ""), button);
  });
})();
