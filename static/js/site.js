// Small progressive enhancements; every page works without this file.
(function () {
  "use strict";

  // Move focus to an error summary so that screen readers announce it.
  var summary = document.querySelector("[data-focus-on-load]");
  if (summary) { summary.focus(); }

  // Change the language as soon as it is chosen with a mouse or by touch. The arrow keys fire
  // "change" at every step through the list, so keyboard users confirm with the button.
  document.querySelectorAll("select[data-autosubmit]").forEach(function (select) {
    var byKeyboard = false;
    select.addEventListener("keydown", function () { byKeyboard = true; });
    select.addEventListener("pointerdown", function () { byKeyboard = false; });
    select.addEventListener("change", function () {
      if (!byKeyboard) { select.form.submit(); }
    });
  });

  // Count down the hold; when it reaches zero, reload so the server says what happened.
  document.querySelectorAll("[data-countdown]").forEach(function (element) {
    var left = parseInt(element.getAttribute("data-countdown"), 10);
    var value = element.querySelector(".countdown-value");
    if (isNaN(left) || !value) { return; }
    var deadline = Date.now() + left * 1000;
    element.hidden = false;
    function tick() {
      var seconds = Math.max(0, Math.round((deadline - Date.now()) / 1000));
      var minutes = Math.floor(seconds / 60);
      value.textContent = minutes + ":" + String(seconds % 60).padStart(2, "0");
      if (seconds === 60) { element.setAttribute("aria-live", "polite"); }
      if (seconds === 0) { window.location.reload(); return; }
      window.setTimeout(tick, 1000);
    }
    tick();
  });

  document.querySelectorAll("[data-print]").forEach(function (button) {
    button.hidden = false;
    button.addEventListener("click", function () { window.print(); });
  });
})();
