'use strict';
// Plivo's official Node SDK places an outbound call through a real `trunkline serve`
// (calls.create), finds it live (listLiveCalls, getLiveCall), speaks, sends digits,
// records, transfers and hangs it up.
// Run by cmd/trunkline/e2e_voice_test.go (TestOutboundCallSDK), which points the server's
// trunk at a SIPp UAS. Prints one JSON line; exits non-zero when a check fails.
//
//   PLIVO_TEST_BASE=… NODE_EXTRA_CA_CERTS=… PLIVO_AUTH_ID=… PLIVO_AUTH_TOKEN=… \
//   CALL_FROM=… CALL_TO=… ANSWER_URL=… HANGUP_URL=… node voice-calls.js

require('./shim');
const assert = require('node:assert/strict');
const plivo = require('plivo');

const client = new plivo.Client(process.env.PLIVO_AUTH_ID, process.env.PLIVO_AUTH_TOKEN);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

(async () => {
  const created = await client.calls.create(process.env.CALL_FROM, process.env.CALL_TO, process.env.ANSWER_URL,
    { answerMethod: 'POST', hangupUrl: process.env.HANGUP_URL, hangupMethod: 'POST', ringTimeout: 20 });
  assert.ok(created.requestUuid, 'calls.create returned no request_uuid');
  // The callee (SIPp) answers at once; wait (bounded) for the call to be live.
  let live = [];
  for (let i = 0; i < 100 && live.length === 0; i++) {
    // The SDK turns {"calls": [uuid, …]} into [{id, callUuid}, …].
    live = (await client.calls.listLiveCalls()).map((c) => c.callUuid);
    if (live.length === 0) await sleep(100);
  }
  assert.equal(live.length, 1, 'listLiveCalls: the call never showed as live');
  const call = await client.calls.getLiveCall(live[0]);
  assert.equal(call.callStatus, 'in-progress');
  assert.equal(call.direction, 'outbound');
  assert.equal(call.requestUuid, created.requestUuid);
  // Live-call control, each checked by the Go test on the wire or in the app.
  const spoke = await client.calls.speakText(live[0], 'This is a live announcement');
  assert.match(String(spoke.message), /speak started/);
  const dtmf = await client.calls.sendDigits(live[0], '42');
  assert.match(String(dtmf.message), /digits sent/);
  const rec = await client.calls.record(live[0], { fileFormat: 'wav' });
  assert.ok(rec.recordingId, 'record returned no recording_id');
  await client.calls.stopRecording(live[0]);
  const moved = await client.calls.transfer(live[0], { legs: 'aleg', alegUrl: process.env.TRANSFER_URL, alegMethod: 'POST' });
  assert.match(String(moved.message), /transferred/);
  await client.calls.hangup(live[0]);
  // Once hung up it is no longer live, and a second hang-up is a clean 404.
  let after = live;
  for (let i = 0; i < 100 && after.length !== 0; i++) {
    after = (await client.calls.listLiveCalls()).map((c) => c.callUuid);
    if (after.length !== 0) await sleep(100);
  }
  assert.equal(after.length, 0, 'the call is still live after hangup');
  let second = null;
  try { await client.calls.hangup(live[0]); } catch (e) { second = e; }
  assert.ok(second && /not found/i.test(String(second.message || second)), 'a second hangup should be "not found": ' + second);
  console.log(JSON.stringify({ requestUuid: created.requestUuid, callUuid: live[0], live: call, recordingId: rec.recordingId }));
})().catch((e) => {
  console.error('voice-calls failed:', e && (e.stack || e));
  process.exit(1);
});
