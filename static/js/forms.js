// Every page: after a refused submit the keyboard and the screen reader start at the error summary
// (the first `.error[role=alert]` in main), and each field's error text is tied to its input. The
// server marks refused inputs aria-invalid (Django does for {{ field }}); this adds what a template
// cannot know: which error span describes which input.
(function () {
  "use strict";
  var summary = document.querySelector("main .error[role=alert]");
  if (summary) {
    if (!summary.hasAttribute("tabindex")) { summary.setAttribute("tabindex", "-1"); }
    summary.focus();
  }
  document.querySelectorAll(".field-error[id]").forEach(function (error) {
    var box = error.closest(".field, fieldset");
    if (!box) { return; }
    box.querySelectorAll("input, select, textarea").forEach(function (input) {
      var ids = (input.getAttribute("aria-describedby") || "").split(/\s+/).filter(Boolean);
      if (ids.indexOf(error.id) < 0) { ids.push(error.id); }
      input.setAttribute("aria-describedby", ids.join(" "));
      input.setAttribute("aria-invalid", "true");
    });
  });
})();

// Every page: a form is sent once. A second click while the first answer is on its way (a slow
// server, an import, a PDF) would send it again: a second contact, a second note to the EPJ. The
// button the user pressed says «Arbeider …» and is marked busy; a second submit of any form on the
// page is dropped while one is under way. The button is not `disabled` while the form is being
// sent: a disabled button's name and value would be left out of what is sent. A page shown again
// from the browser's back-forward cache starts afresh. Forms whose own script handles the submit
// (preventDefault, the session warning's keep-alive) and forms sent to another window are left be.
(function () {
  "use strict";
  var script = document.currentScript;
  var working = (script && script.getAttribute("data-working")) || "Arbeider …";
  var sending = null;

  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (event.defaultPrevented || !(form instanceof HTMLFormElement)) { return; }
    if ((form.getAttribute("method") || "get").toLowerCase() !== "post") { return; }
    if (form.target && form.target !== "_self") { return; }
    if (sending) {
      event.preventDefault();
      return;
    }
    sending = form;
    form.setAttribute("aria-busy", "true");
    var button = event.submitter || form.querySelector("button[type=submit], button:not([type]), input[type=submit]");
    if (!button) { return; }
    button.setAttribute("aria-disabled", "true");
    button.classList.add("working");
    if (button.tagName === "BUTTON") {  // an input's value is sent with the form: its text stays
      button.setAttribute("data-label", button.innerHTML);
      button.textContent = working;
    }
    var live = document.getElementById("live-status");
    if (live) { live.textContent = working; }
  });

  window.addEventListener("pageshow", function (event) {
    if (!event.persisted) { return; }
    sending = null;
    document.querySelectorAll("form[aria-busy]").forEach(function (form) { form.removeAttribute("aria-busy"); });
    document.querySelectorAll(".working[aria-disabled]").forEach(function (button) {
      button.removeAttribute("aria-disabled");
      button.classList.remove("working");
      if (button.hasAttribute("data-label")) {
        button.innerHTML = button.getAttribute("data-label");
        button.removeAttribute("data-label");
      }
    });
  });
})();
