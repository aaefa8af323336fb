'use strict';
// Plivo's official Node SDK drives every call Stream method against a live call
// through a real `trunkline serve`: stream (start), getAllStream (list), getStream
// (get), stopStream (one) and stopAllStream (all), and a refused start.
// Run by cmd/trunkline/e2e_stream_test.go (TestStreamSDK), which points the trunk at a
// SIPp UAS and runs the WebSocket servers. Prints one JSON line; exits non-zero when a
// check fails.
//
//   PLIVO_TEST_BASE=… NODE_EXTRA_CA_CERTS=… PLIVO_AUTH_ID=… PLIVO_AUTH_TOKEN=… CALL_FROM=… \
//   CALL_TO=… ANSWER_URL=… STREAM_URL_1=… STREAM_URL_2=… STATUS_URL=… READY_URL=… node voice-streams.js

require('./shim');
const assert = require('node:assert/strict');
const plivo = require('plivo');

const client = new plivo.Client(process.env.PLIVO_AUTH_ID, process.env.PLIVO_AUTH_TOKEN);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const pick = (o, camel, snake) => (o[camel] !== undefined ? o[camel] : o[snake]);

(async () => {
  await client.calls.create(process.env.CALL_FROM, process.env.CALL_TO, process.env.ANSWER_URL, { answerMethod: 'POST', ringTimeout: 20 });
  let live = [];
  for (let i = 0; i < 100 && live.length === 0; i++) {
    live = (await client.calls.listLiveCalls()).map((c) => c.callUuid);
    if (live.length === 0) await sleep(100);
  }
  assert.equal(live.length, 1, 'the call never showed as live');
  const uuid = live[0];

  const one = await client.calls.stream(uuid, process.env.STREAM_URL_1, {
    audioTrack: 'both', contentType: 'audio/x-mulaw;rate=8000', extraHeaders: 'agent=7,team=blue',
    statusCallbackUrl: process.env.STATUS_URL, statusCallbackMethod: 'POST', streamTimeout: 120,
  });
  assert.match(String(one.message), /audio streaming started/);
  assert.ok(one.streamId, 'stream returned no stream_id');
  const two = await client.calls.stream(uuid, process.env.STREAM_URL_2, { bidirectional: true });
  assert.ok(two.streamId && two.streamId !== one.streamId);

  // A service_url that is not a WebSocket URL is refused with a clear 400.
  let refused = null;
  try { await client.calls.stream(uuid, 'https://example.com/not-a-socket'); } catch (e) { refused = e; }
  assert.ok(refused && /wss/.test(String(refused.message || refused)), 'an https service_url should be refused: ' + refused);

  // Both connect (bounded wait), then list and get show them.
  let all;
  for (let i = 0; i < 100; i++) {
    all = await client.calls.getAllStream(uuid);
    const objs = all.objects || all.body?.objects || [];
    if (objs.length === 2 && objs.every((o) => o.status === 'in-progress')) break;
    await sleep(100);
  }
  const objs = all.objects;
  assert.equal(objs.length, 2, 'getAllStream: ' + JSON.stringify(all));
  assert.deepEqual(objs.map((o) => o.status), ['in-progress', 'in-progress'], 'getAllStream: ' + JSON.stringify(objs));
  // Audio flows: the test's stream server says when it has half a second of it.
  let heard = false;
  for (let i = 0; i < 100 && !heard; i++) {
    heard = (await fetch(process.env.READY_URL)).status === 200;
    if (!heard) await sleep(100);
  }
  assert.ok(heard, 'the stream server got no audio');
  const got = await client.calls.getStream(uuid, one.streamId);
  assert.equal(pick(got, 'streamId', 'stream_id'), one.streamId);
  assert.equal(pick(got, 'callUuid', 'call_uuid'), uuid);
  assert.equal(pick(got, 'audioTrack', 'audio_track'), 'both');
  assert.equal(pick(got, 'serviceUrl', 'service_url'), process.env.STREAM_URL_1);
  assert.equal(pick(got, 'contentType', 'content_type'), 'audio/x-mulaw;rate=8000');

  // Stop one: it ends, the other runs on.
  await client.calls.stopStream(uuid, one.streamId);
  let after;
  for (let i = 0; i < 100; i++) {
    after = await client.calls.getStream(uuid, one.streamId);
    if (after.status === 'stopped') break;
    await sleep(100);
  }
  assert.equal(after.status, 'stopped');
  assert.equal((await client.calls.getStream(uuid, two.streamId)).status, 'in-progress');
  // Stop all.
  await client.calls.stopAllStream(uuid);
  let rest;
  for (let i = 0; i < 100; i++) {
    rest = await client.calls.getStream(uuid, two.streamId);
    if (rest.status === 'stopped') break;
    await sleep(100);
  }
  assert.equal(rest.status, 'stopped');
  // An unknown stream is a clean 404.
  let missing = null;
  try { await client.calls.getStream(uuid, '00000000-0000-0000-0000-000000000000'); } catch (e) { missing = e; }
  assert.ok(missing && /not found|no such stream/i.test(String(missing.message || missing)), 'unknown stream: ' + missing);
  await client.calls.hangup(uuid);
  console.log(JSON.stringify({ callUuid: uuid, streams: [one.streamId, two.streamId] }));
})().catch((e) => {
  console.error('voice-streams failed:', e && (e.stack || e));
  process.exit(1);
});
