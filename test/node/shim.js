'use strict';
// Test-only shim: points every request of Plivo's official Node SDK at a local Trunkline.
//
// It mirrors ../shared/reference/plivo-node-test-shim.js (and plivo-api.md §4): the SDK
// honours the `url` client option for messaging, account and number resources, but
// "voice" resources (Application, Call, Endpoint, Recording, Conference…) always build
// https://api.plivo.com/v1/Account/… and send it through axios.create(). Patching the
// axios module the SDK itself loaded rewrites both paths.
//
// Load it before require('plivo'). PLIVO_TEST_BASE is the server, e.g.
// https://127.0.0.1:8443 (TLS stays on: trust its CA with NODE_EXTRA_CA_CERTS).

const path = require('path');

const TARGET = process.env.PLIVO_TEST_BASE;
if (!TARGET) {
  throw new Error('PLIVO_TEST_BASE is not set (e.g. https://127.0.0.1:8443)');
}

// The axios instance plivo's dist/rest/axios.js requires: resolve it from plivo's own
// directory, so the patch lands on the same module whatever npm's hoisting did.
const plivoDir = path.dirname(require.resolve('plivo/package.json'));
const axios = require(require.resolve('axios', { paths: [plivoDir] }));

const rewrite = (cfg) => {
  if (cfg.url) {
    cfg.url = cfg.url.replace(/^https:\/\/(api|lookup)\.plivo\.com/, TARGET.replace(/\/+$/, ''));
    // Nothing in a test may ever reach the real Plivo.
    if (/^https?:\/\/[^/]*plivo\.com/i.test(cfg.url)) {
      throw new Error('test shim: refusing a request to ' + cfg.url);
    }
  }
  return cfg;
};

axios.interceptors.request.use(rewrite); // non-voice path: the default instance
const origCreate = axios.create;
axios.create = function (c) { // voice path: a fresh instance per request
  const inst = origCreate.call(this, c);
  inst.interceptors.request.use(rewrite);
  return inst;
};

module.exports = { axios, TARGET };
