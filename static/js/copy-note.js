// "Kopier til journal" on the patient page: copies a journal note's text to the clipboard.
// A file, not an inline script, so the Content-Security-Policy needs no 'unsafe-inline'.
(function () {
  "use strict";
  function copied(button) {
    var text = button.dataset.copied || "Kopiert";
    button.textContent = text;
    // The button's new text is not announced; the page's live region is (templates/base.html).
    var live = document.getElementById("live-status");
    if (live) { live.textContent = ""; window.setTimeout(function () { live.textContent = text; }, 50); }
  }
  document.querySelectorAll("button.copy[data-copy]").forEach(function (button) {
    button.addEventListener("click", function () {
      var text = document.getElementById(button.dataset.copy);
      if (!text) { return; }
      text.select();
      var fallback = function () { if (document.execCommand("copy")) { copied(button); } };
      if (navigator.clipboard && window.isSecureContext) {
        navigator.clipboard.writeText(text.value).then(function () { copied(button); }, fallback);
      } else {
        fallback();
      }
    });
  });
})();
