// The worklist's live refresh (htmx, every 5 s). A file, not an inline script, so the
// Content-Security-Policy needs no 'unsafe-inline'. htmx's own settings are in the page's
// <meta name="htmx-config">: no injected indicator <style>, no eval, no scripts in swapped HTML.
(function () {
  "use strict";
  // CSRF for htmx POSTs; the token is in the cookie-less form fields of each row as well.
  document.body.addEventListener("htmx:configRequest", function (e) {
    var t = document.querySelector("[name=csrfmiddlewaretoken]");
    if (t) { e.detail.headers["X-CSRFToken"] = t.value; }
  });
})();
