// Passkeys for staff: register one on the security page, use one at the second sign-in step.
// The server sends WebAuthn options as JSON (base64url for the binary fields) and checks the
// answer; this file only moves them between the server and navigator.credentials.
(function () {
  "use strict";

  function toBytes(text) {
    var base64 = text.replace(/-/g, "+").replace(/_/g, "/");
    while (base64.length % 4) { base64 += "="; }
    var raw = atob(base64);
    var bytes = new Uint8Array(raw.length);
    for (var i = 0; i < raw.length; i++) { bytes[i] = raw.charCodeAt(i); }
    return bytes.buffer;
  }

  function toText(buffer) {
    var bytes = new Uint8Array(buffer);
    var raw = "";
    for (var i = 0; i < bytes.length; i++) { raw += String.fromCharCode(bytes[i]); }
    return btoa(raw).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }

  // Browsers that predate PublicKeyCredential.parse…FromJSON and toJSON get the same by hand.
  function creationOptions(json) {
    if (PublicKeyCredential.parseCreationOptionsFromJSON) {
      return PublicKeyCredential.parseCreationOptionsFromJSON(json);
    }
    json.challenge = toBytes(json.challenge);
    json.user.id = toBytes(json.user.id);
    (json.excludeCredentials || []).forEach(function (c) { c.id = toBytes(c.id); });
    return json;
  }

  function requestOptions(json) {
    if (PublicKeyCredential.parseRequestOptionsFromJSON) {
      return PublicKeyCredential.parseRequestOptionsFromJSON(json);
    }
    json.challenge = toBytes(json.challenge);
    (json.allowCredentials || []).forEach(function (c) { c.id = toBytes(c.id); });
    return json;
  }

  function credentialJSON(credential) {
    if (typeof credential.toJSON === "function") { return credential.toJSON(); }
    var response = credential.response;
    var out = {
      id: credential.id,
      rawId: toText(credential.rawId),
      type: credential.type,
      clientExtensionResults: credential.getClientExtensionResults(),
      response: { clientDataJSON: toText(response.clientDataJSON) }
    };
    if (response.attestationObject) {
      out.response.attestationObject = toText(response.attestationObject);
      if (response.getTransports) { out.response.transports = response.getTransports(); }
    } else {
      out.response.authenticatorData = toText(response.authenticatorData);
      out.response.signature = toText(response.signature);
      if (response.userHandle) { out.response.userHandle = toText(response.userHandle); }
    }
    return out;
  }

  function post(url, csrf, body) {
    return fetch(url, {
      method: "POST",
      credentials: "same-origin",
      cache: "no-store",
      headers: { "Content-Type": "application/json", "X-CSRFToken": csrf },
      body: JSON.stringify(body || {})
    }).then(function (response) {
      return response.json().catch(function () { return {}; }).then(function (answer) {
        if (!response.ok) { throw new Error(answer.message || ""); }
        return answer;
      });
    });
  }

  function say(element, text) {
    var status = document.getElementById(element.dataset.status);
    if (!status) { return; }
    status.textContent = text;
    status.hidden = !text;
  }

  function supported(element) {
    if (window.PublicKeyCredential && navigator.credentials) { return true; }
    say(element, element.dataset.unsupported);
    return false;
  }

  function failed(element, button) {
    return function (error) {
      // A message from the server says why; the browser's own (cancelled, timed out) does not.
      var fromServer = error && error.message && !(error instanceof DOMException);
      say(element, fromServer ? error.message : element.dataset.failed);
      if (button) { button.disabled = false; }
    };
  }

  document.querySelectorAll("[data-passkey-sign-in]").forEach(function (button) {
    button.addEventListener("click", function () {
      if (!supported(button)) { return; }
      button.disabled = true;
      say(button, "");
      post(button.dataset.optionsUrl, button.dataset.csrf)
        .then(function (options) {
          return navigator.credentials.get({ publicKey: requestOptions(options) });
        })
        .then(function (credential) {
          return post(button.dataset.verifyUrl, button.dataset.csrf, {
            credential: credentialJSON(credential)
          });
        })
        .then(function (answer) { window.location.assign(answer.redirect); })
        .catch(failed(button, button));
    });
  });

  document.querySelectorAll("[data-passkey-register]").forEach(function (form) {
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      if (!supported(form)) { return; }
      var button = form.querySelector("button[type=submit]");
      button.disabled = true;
      say(form, "");
      post(form.dataset.optionsUrl, form.dataset.csrf)
        .then(function (options) {
          return navigator.credentials.create({ publicKey: creationOptions(options) });
        })
        .then(function (credential) {
          return post(form.dataset.registerUrl, form.dataset.csrf, {
            name: form.elements.name.value,
            credential: credentialJSON(credential)
          });
        })
        .then(function (answer) { window.location.assign(answer.redirect); })
        .catch(failed(form, button));
    });
  });
})();
