// The clerk's day page: say what the last action did, and refresh the lists by themselves.
// The page works without this file (the lists are then as of the last load).
(function () {
  "use strict";
  var root = document.querySelector("[data-queue-refresh]");
  if (!root) { return; }

  // A live region's text present at load is not read out: put it in again once loaded.
  var status = document.getElementById("queue-status");
  var said = status && status.getAttribute("data-announce");
  if (said) {
    status.textContent = "";
    window.setTimeout(function () { status.textContent = said; }, 250);
  }

  var seconds = parseInt(root.getAttribute("data-queue-refresh"), 10);
  if (!(seconds > 0) || !window.fetch || !window.DOMParser) { return; }

  // A region is left alone while the clerk works in it (focus inside, a field changed).
  function busy(region) {
    if (region.contains(document.activeElement)) { return true; }
    return Array.prototype.some.call(region.querySelectorAll("input, select, textarea"), function (field) {
      if (field.type === "hidden") { return false; }
      if (field.type === "checkbox" || field.type === "radio") { return field.checked !== field.defaultChecked; }
      if (field.tagName === "SELECT") {
        return Array.prototype.some.call(field.options, function (o) { return o.selected !== o.defaultSelected; });
      }
      return field.value !== field.defaultValue;
    });
  }

  function refresh() {
    if (document.hidden) { return schedule(); }
    fetch(window.location.pathname + window.location.search, {
      credentials: "same-origin",
      cache: "no-store",
      headers: { "X-Queue-Refresh": "1" }
    })
      .then(function (response) {
        // 401: the session ended (idle or too old): show the sign-in page, which says why.
        if (response.status === 401) {
          window.location.assign(response.headers.get("X-Sign-In") || window.location.href);
          return null;
        }
        // 204: the session has a message for the next page; a redirect: signed out.
        if (response.status !== 200 || response.redirected) { return null; }
        return response.text();
      })
      .then(function (html) {
        if (!html) { return; }
        var fresh = new DOMParser().parseFromString(html, "text/html");
        document.querySelectorAll("[data-refresh][id]").forEach(function (region) {
          var replacement = fresh.getElementById(region.id);
          if (replacement && !busy(region) && replacement.innerHTML !== region.innerHTML) {
            region.innerHTML = replacement.innerHTML;
          }
        });
      })
      .catch(function () { /* try again at the next tick */ })
      .finally(schedule);
  }

  function schedule() { window.setTimeout(refresh, seconds * 1000); }
  schedule();
})();
