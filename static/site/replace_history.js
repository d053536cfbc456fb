// Turns the page's history entry into a plain GET of data-url (default: this page), so that a
// reload does not post the form again. A file, not inline: the Content-Security-Policy allows
// no inline script.
(function () {
  "use strict";
  history.replaceState(null, "", document.currentScript.dataset.url || location.href);
})();
