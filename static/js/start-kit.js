// Oppstart: with script, choosing a kit fetches its proposed devices at once (htmx, hx-get on the
// select), so the «Foreslå enheter fra pakken» button, the fallback without script, is taken away
// (removed, not hidden: the site's button style would override the hidden attribute).
(function () {
  "use strict";
  document.querySelectorAll("[data-kit-propose]").forEach(function (button) {
    button.remove();
  });
})();
