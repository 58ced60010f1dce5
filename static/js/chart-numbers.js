// A trend chart's numbers («Vis tallene») fetched the first time they are opened: the patient page is
// sent without the hundreds of table rows most visits never open (tenants.charts, numbers_url). A file,
// not an inline script, so the Content-Security-Policy needs no 'unsafe-inline'.
(function () {
  "use strict";
  function failed(details, status) {
    delete details.dataset.asked;  // closed and opened again, it asks again
    status.querySelector(".chart-numbers-message").textContent = details.dataset.failed;
  }
  // toggle does not bubble: caught on its way down to the <details>
  document.addEventListener("toggle", function (e) {
    var details = e.target;
    if (!details.matches || !details.matches("details[data-numbers-url]") || !details.open) { return; }
    if (details.dataset.asked) { return; }
    details.dataset.asked = "1";
    var rows = details.querySelector(".chart-numbers-rows");
    var status = rows.querySelector("[role=status]");
    status.querySelector(".chart-numbers-message").textContent = details.dataset.loading;  // without script: the link alone
    fetch(details.dataset.numbersUrl, { credentials: "same-origin", headers: { "HX-Request": "true" } })
      .then(function (response) {
        // a redirect is the login page (the session ended): not the numbers
        if (!response.ok || response.redirected) { throw new Error(String(response.status)); }
        return response.text();
      })
      .then(function (html) { rows.innerHTML = html; })  // the server's escaped HTML: a table, no script
      .catch(function () { failed(details, status); });
  }, true);
})();
