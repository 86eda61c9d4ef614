// Waiting-room kiosk: one ticket per touch, a print button, and back to the start when idle.
(function () {
  "use strict";
  var body = document.body;

  // A form is sent once: a second tap, while the first is on its way, does nothing. The
  // button touched keeps its value (a disabled button would not be sent).
  document.querySelectorAll("form[data-kiosk-once]").forEach(function (form) {
    form.addEventListener("submit", function (event) {
      if (form.getAttribute("data-sent")) { event.preventDefault(); return; }
      form.setAttribute("data-sent", "1");
      var submitter = event.submitter;
      if (submitter && submitter.name) {
        var kept = document.createElement("input");
        kept.type = "hidden";
        kept.setAttribute("data-kept", "");
        kept.name = submitter.name;
        kept.value = submitter.value;
        form.appendChild(kept);
      }
      window.setTimeout(function () {
        form.querySelectorAll("button[type=submit]").forEach(function (button) {
          button.disabled = true;
          button.setAttribute("aria-disabled", "true");
        });
      }, 0);
    });
  });

  // Back on a page kept by the browser (bfcache): its buttons work again.
  window.addEventListener("pageshow", function (event) {
    if (!event.persisted) { return; }
    document.querySelectorAll("form[data-kiosk-once]").forEach(function (form) {
      form.removeAttribute("data-sent");
      form.querySelectorAll("input[type=hidden][data-kept]").forEach(function (input) { input.remove(); });
      form.querySelectorAll("button[type=submit]").forEach(function (button) {
        button.disabled = false;
        button.removeAttribute("aria-disabled");
      });
    });
  });

  // Printing needs the browser: the button shows only when there is script to press it.
  document.querySelectorAll("[data-kiosk-print]").forEach(function (button) {
    button.hidden = false;
    button.addEventListener("click", function () { window.print(); });
  });

  // After a while without a touch, the next visitor must not see this one's screen.
  var idle = parseInt(body.getAttribute("data-kiosk-idle") || "0", 10);
  if (idle > 0) {
    var timer = null;
    var leave = function () {
      var done = document.querySelector("form[data-kiosk-done]");
      if (done) { done.submit(); } else { window.location.assign(body.getAttribute("data-kiosk-home")); }
    };
    var touched = function () {
      window.clearTimeout(timer);
      timer = window.setTimeout(leave, idle * 1000);
    };
    ["pointerdown", "keydown", "touchstart", "input"].forEach(function (name) {
      document.addEventListener(name, touched, { passive: true });
    });
    touched();
  }
}());
