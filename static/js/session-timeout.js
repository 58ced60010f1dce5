/* The warning before the session ends (tenants/sessions.py; the dialog is
 * templates/tenants/_session_warning.html).
 *
 * The server says when the session ends: 30 minutes after the last user action, 8 hours after the
 * login at the most. A minute before, the dialog opens; «Fortsett innlogget» posts the keep-alive, a
 * real user action, and the clock starts again. Before warning and before leaving, the page asks
 * the server again (the status check does not count as an action): another tab may have kept the
 * session alive meanwhile. At the end the page goes to the login, which says why.
 */
(function () {
  "use strict";

  var dialog = document.getElementById("session-warning");
  if (!dialog || typeof dialog.showModal !== "function" || !window.fetch) {
    return;
  }
  var data = dialog.dataset;
  var warningMs = Number(data.warningSeconds) * 1000;
  // The server's clock, not the client's: deadlines are the server's milliseconds.
  var skew = Date.now() - Number(data.serverNow);
  var idleEnd = Number(data.idleDeadline) + skew;
  var absoluteEnd = Number(data.absoluteDeadline) + skew;
  var keepalive = dialog.querySelector("form[data-keepalive]");
  var countdowns = dialog.querySelectorAll("[data-countdown]");
  var timer = null;
  var ticker = null;
  var returnFocus = null;

  function end() {
    return Math.min(idleEnd, absoluteEnd);
  }

  function fromServer(state) {
    skew = Date.now() - state.now * 1000;
    idleEnd = state.idle_deadline * 1000 + skew;
    absoluteEnd = state.absolute_deadline * 1000 + skew;
  }

  function leave() {
    var here = window.location.pathname + window.location.search;
    window.location.assign(data.loginUrl + "?next=" + encodeURIComponent(here));
  }

  function tick() {
    var seconds = Math.max(0, Math.ceil((end() - Date.now()) / 1000));
    countdowns.forEach(function (el) { el.textContent = String(seconds); });
  }

  function show() {
    var absolute = absoluteEnd <= idleEnd;  // the 8 hours come first: no staying
    dialog.querySelectorAll("[data-when]").forEach(function (el) {
      el.hidden = el.getAttribute("data-when") !== (absolute ? "absolute" : "idle");
    });
    tick();
    if (!dialog.open) {
      returnFocus = document.activeElement;
      dialog.showModal();
      var first = dialog.querySelector("form:not([hidden]) button");
      if (first) { first.focus(); }
      ticker = window.setInterval(tick, 1000);
    }
  }

  function hide() {
    if (dialog.open) {
      dialog.close();
    }
    window.clearInterval(ticker);
    if (returnFocus && typeof returnFocus.focus === "function") {
      returnFocus.focus();
      returnFocus = null;
    }
  }

  function schedule() {
    window.clearTimeout(timer);
    var left = end() - Date.now();
    if (left > warningMs) {
      hide();
      timer = window.setTimeout(check, left - warningMs);
    } else {
      show();
      timer = window.setTimeout(check, Math.max(left, 0) + 1000);
    }
  }

  function answer(response) {
    if (!response.ok) { return { authenticated: false }; }
    return response.json();
  }

  function update(state) {
    if (!state.authenticated) {
      leave();
      return;
    }
    fromServer(state);
    schedule();
  }

  function check() {
    fetch(data.statusUrl, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(answer)
      .then(update)
      .catch(function () { timer = window.setTimeout(check, 5000); });  // offline: ask again soon
  }

  function stay(event) {
    if (event) { event.preventDefault(); }
    fetch(keepalive.action, {
      method: "POST",
      body: new FormData(keepalive),
      credentials: "same-origin",
      headers: { Accept: "application/json" },
    })
      .then(answer)
      .then(update)
      .catch(function () { keepalive.submit(); });  // let the form post the ordinary way
  }

  keepalive.addEventListener("submit", stay);
  // Escape closes a dialog; someone pressing it is at the screen, so it counts as staying.
  dialog.addEventListener("cancel", function (event) {
    event.preventDefault();
    if (absoluteEnd <= idleEnd) { hide(); return; }
    stay();
  });
  schedule();
})();
