'use strict';
// Checks Trunkline webhook signatures with Plivo's official Node SDK, as a
// customer's server would. Used by webhook/node_test.go:
//
//   node validate-signature.js cases.json
//
// cases.json is an array of
//   {name, kind: "v3"|"v2", method, uri, nonce, token, signature, params}
// and the script prints an array of {name, valid} (or {name, error}, or
// {name, skipped} when this SDK version lacks the V2 validator).
const fs = require('fs');
const plivo = require('plivo');

const cases = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
const out = cases.map((c) => {
  try {
    if (c.kind === 'v3') {
      const valid = plivo.validateV3Signature(c.method, c.uri, c.nonce, c.token, c.signature, c.params || {});
      return { name: c.name, valid: valid === true };
    }
    if (c.kind === 'v2') {
      if (typeof plivo.validateSignature !== 'function') {
        return { name: c.name, skipped: true };
      }
      const valid = plivo.validateSignature(c.uri, c.nonce, c.signature, c.token);
      return { name: c.name, valid: valid === true };
    }
    throw new Error('unknown kind ' + c.kind);
  } catch (e) {
    return { name: c.name, error: String((e && e.message) || e) };
  }
});
process.stdout.write(JSON.stringify(out));
