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
