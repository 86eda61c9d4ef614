// The proof of work in front of a hold: the ALTCHA widget (static/vendor/altcha), solving by
// itself as soon as the page is shown. Without this file (or JavaScript) the page says so, and
// the server refuses the hold with a message next to the same place.
(function () {
  "use strict";

  var box = document.querySelector("[data-proof-of-work]");
  if (!box || !window.$altcha || !window.customElements) { return; }
  var language = box.getAttribute("data-language") || "en";
  var strings = JSON.parse(box.getAttribute("data-strings") || "{}");
  var status = box.querySelector("[data-proof-of-work-status]");

  // Our own texts, over the widget's English ones (those of code challenges, never shown).
  window.$altcha.i18n.set(language, Object.assign({}, window.$altcha.i18n.get("en") || {}, strings));
  var workerUrl = box.getAttribute("data-worker-url");
  window.$altcha.algorithms.set("PBKDF2/SHA-256", function () { return new Worker(workerUrl); });

  var widget = document.createElement("altcha-widget");
  widget.setAttribute("challenge", box.getAttribute("data-challenge-url"));
  widget.setAttribute("name", "proof_of_work");
  widget.setAttribute("language", language);
  widget.setAttribute("type", "native");
  widget.setAttribute("auto", "onload");
  widget.setAttribute("configuration", JSON.stringify({
    hideLogo: true,
    hideFooter: true,
    humanInteractionSignature: false,
    validationMessage: strings.verificationRequired,
  }));
  box.insertBefore(widget, status);

  // A fresh challenge before this one expires: its lifetime is counted from when it was
  // asked for, by this browser's clock, since the server's and the phone's may differ.
  var asked = 0;
  var refresh = null;
  function lifetime(payload) {
    try {
      var data = JSON.parse(window.atob(payload)).challenge.parameters.data;
      return (data.expires - data.issued) * 1000;
    } catch (error) {
      return 0;
    }
  }
  function solveAgain() {
    widget.reset();
    widget.verify();
  }

  var described = [];
  ["proof-of-work-hint", "proof-of-work-error"].forEach(function (id) {
    if (document.getElementById(id)) { described.push(id); }
  });
  widget.addEventListener("load", function () {
    var checkbox = widget.querySelector("input[type=checkbox]");
    if (checkbox && described.length) {
      checkbox.setAttribute("aria-describedby", described.join(" "));
      if (described.length > 1) { checkbox.setAttribute("aria-invalid", "true"); }
    }
  });
  widget.addEventListener("statechange", function (event) {
    var state = event.detail && event.detail.state;
    if (state === "verifying") { asked = Date.now(); }
    if (status && strings[state]) { status.textContent = strings[state]; }
  });
  widget.addEventListener("verified", function (event) {
    var left = lifetime(event.detail.payload) * 0.9 - (Date.now() - asked);
    window.clearTimeout(refresh);
    refresh = window.setTimeout(solveAgain, Math.max(left, 1000));
    var checkbox = widget.querySelector("input[type=checkbox]");
    if (checkbox) { checkbox.removeAttribute("aria-invalid"); }
  });
  window.addEventListener("pageshow", function (event) {
    if (event.persisted) { solveAgain(); }  // back to a page whose proof may be spent
  });

  // A coarse fingerprint of the device beside the proof, for the review of bookings: a hash,
  // never the values themselves.
  var fingerprint = box.querySelector("[data-device-fingerprint]");
  if (fingerprint && window.crypto && window.crypto.subtle && window.TextEncoder) {
    var parts = [
      window.screen.width + "x" + window.screen.height,
      window.screen.colorDepth,
      window.devicePixelRatio,
      Intl.DateTimeFormat().resolvedOptions().timeZone || "",
      (navigator.languages || [navigator.language]).join(","),
      navigator.platform || "",
      navigator.hardwareConcurrency || "",
    ];
    window.crypto.subtle.digest("SHA-256", new TextEncoder().encode(parts.join("|")))
      .then(function (digest) {
        fingerprint.value = Array.from(new Uint8Array(digest)).slice(0, 16).map(function (byte) {
          return byte.toString(16).padStart(2, "0");
        }).join("");
      });
  }
})();
