'use strict';
// Plivo's official Node SDK reads what an inbound call left behind on a real
// `trunkline serve`: the CDR (calls.list, calls.get) and the recording
// (recordings.list, recordings.get). Run by cmd/trunkline/e2e_voice_test.go
// after SIPp has called in. It prints one JSON line (what the SDK returned,
// so the Go test checks it too) and exits non-zero when a check fails.
//
//   PLIVO_TEST_BASE=https://127.0.0.1:PORT NODE_EXTRA_CA_CERTS=DATA/tls/ca.crt \
//   PLIVO_AUTH_ID=MA… PLIVO_AUTH_TOKEN=… node voice-sdk.js

require('./shim'); // before plivo: voice resources ignore the url option
const assert = require('node:assert/strict');
const plivo = require('plivo');

const id = process.env.PLIVO_AUTH_ID;
const token = process.env.PLIVO_AUTH_TOKEN;
const client = new plivo.Client(id, token);

(async () => {
  const calls = await client.calls.list({ limit: 5 });
  assert.ok(calls.length >= 1, 'calls.list returned no call');
  const call = await client.calls.get(calls[0].callUuid);
  for (const k of ['answerTime', 'billDuration', 'callDirection', 'callDuration', 'callUuid', 'endTime',
    'fromNumber', 'hangupCauseCode', 'hangupCauseName', 'hangupSource', 'initiationTime', 'toNumber']) {
    assert.ok(call[k] !== undefined && call[k] !== null, `calls.get lacks ${k}`);
  }
  const recs = await client.recordings.list({ limit: 5 });
  assert.ok(recs.length >= 1, 'recordings.list returned no recording');
  const rec = await client.recordings.get(recs[0].recordingId);
  assert.equal(rec.callUuid, call.callUuid, 'the recording belongs to the call');
  console.log(JSON.stringify({ call, recording: rec }));
})().catch((e) => {
  console.error('voice-sdk failed:', e && (e.stack || e));
  process.exit(1);
});
