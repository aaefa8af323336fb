// Trunkline console script: the WebAuthn (passkey) ceremonies. Every other page works
// without script. Options come from the server as JSON; binary fields are base64url.
"use strict";
(function () {
  function b64urlToBuf(s) {
    s = s.replace(/-/g, "+").replace(/_/g, "/");
    while (s.length % 4) s += "=";
    const bin = atob(s), out = new Uint8Array(bin.length);
    for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
    return out.buffer;
  }
  function bufToB64url(buf) {
    const bytes = new Uint8Array(buf);
    let s = "";
    for (let i = 0; i < bytes.length; i++) s += String.fromCharCode(bytes[i]);
    return btoa(s).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }
  async function fetchOptions(form) {
    const body = new URLSearchParams({ csrf: form.elements.csrf.value });
    const res = await fetch(form.dataset.options, { method: "POST", body: body, credentials: "same-origin" });
    if (!res.ok) throw new Error("could not start: " + res.status);
    return res.json();
  }
  async function register(form) {
    const o = (await fetchOptions(form)).publicKey;
    o.challenge = b64urlToBuf(o.challenge);
    o.user.id = b64urlToBuf(o.user.id);
    (o.excludeCredentials || []).forEach(function (c) { c.id = b64urlToBuf(c.id); });
    const cred = await navigator.credentials.create({ publicKey: o });
    return JSON.stringify({
      id: cred.id, rawId: bufToB64url(cred.rawId), type: cred.type,
      response: {
        attestationObject: bufToB64url(cred.response.attestationObject),
        clientDataJSON: bufToB64url(cred.response.clientDataJSON),
        transports: cred.response.getTransports ? cred.response.getTransports() : []
      }
    });
  }
  async function login(form) {
    const o = (await fetchOptions(form)).publicKey;
    o.challenge = b64urlToBuf(o.challenge);
    (o.allowCredentials || []).forEach(function (c) { c.id = b64urlToBuf(c.id); });
    const cred = await navigator.credentials.get({ publicKey: o });
    return JSON.stringify({
      id: cred.id, rawId: bufToB64url(cred.rawId), type: cred.type,
      response: {
        authenticatorData: bufToB64url(cred.response.authenticatorData),
        clientDataJSON: bufToB64url(cred.response.clientDataJSON),
        signature: bufToB64url(cred.response.signature),
        userHandle: cred.response.userHandle ? bufToB64url(cred.response.userHandle) : ""
      }
    });
  }
  document.querySelectorAll("form[data-webauthn]").forEach(function (form) {
    form.addEventListener("submit", async function (ev) {
      if (form.elements.credential.value) return;
      ev.preventDefault();
      const status = form.querySelector("[data-status]");
      try {
        form.elements.credential.value = form.dataset.webauthn === "register" ? await register(form) : await login(form);
        form.submit();
      } catch (e) {
        if (status) status.textContent = "The passkey step did not complete: " + e.message;
      }
    });
  });
})();
