// A guest's chat page: the banner counts down the day's messages as they are sent (the server
// counts each new or edited message), and a refusal for the quota links to the sign-up page.
// Hooks into chat.js's frame handlers, like images.js.
(function () {
  "use strict";
  const chat = window.chatlab, banner = document.getElementById("guest-banner");
  if (!chat || !banner) return;
  const gettext = window.gettext || ((text) => text);
  const ngettext = window.ngettext || ((one, many, n) => (n === 1 ? one : many));
  const interpolate = window.interpolate || ((fmt, obj) => fmt.replace("%(left)s", obj.left));
  const allowance = document.getElementById("guest-allowance");
  const signUp = banner.querySelector("a");

  function showLeft(left) {
    if (!allowance || banner.dataset.left === undefined) return;
    banner.dataset.left = String(left);
    allowance.textContent = interpolate(ngettext(
      "You are trying Chatlab as a guest: %(left)s message left today.",
      "You are trying Chatlab as a guest: %(left)s messages left today.", left), { left }, true);
  }

  const sent = chat.handlers.sent;
  chat.handlers.sent = function (f) {
    sent(f);
    // This tab's own new message (a regenerated reply is not one; other tabs' are "follow").
    const mine = (f.type === "sent" && f.message_id) || (f.type === "edited" && !f.follow);
    if (mine) showLeft(Math.max(Number(banner.dataset.left) - 1, 0));
  };

  const error = chat.handlers.error;
  chat.handlers.error = function (f) {
    error(f);
    if (f.code !== "quota") return;
    showLeft(0);
    const link = document.createElement("a");
    link.href = signUp.getAttribute("href");
    link.id = "quota-sign-up";
    link.textContent = gettext("Sign up for more messages");
    document.getElementById("composer-error").append(" ", link);
  };
})();
