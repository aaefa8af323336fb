'use strict';
// Plivo's official Node SDK drives every Conference method against live rooms on a
// Trunkline node: ROOM_A holds members 1..3 (three SIP callers), ROOM_B one caller.
// Run by cmd/trunkline/conference_sdk_test.go. It prints one JSON line per step and
// a final {"methods": n, "passed": [...]} line, and exits non-zero when a check fails.
//
//   PLIVO_TEST_BASE=https://127.0.0.1:PORT NODE_EXTRA_CA_CERTS=… PLIVO_AUTH_ID=… \
//   PLIVO_AUTH_TOKEN=… ROOM_A=… ROOM_B=… PLAY_URL=… RECORD_CALLBACK=… node conference-sdk.js

require('./shim');
const assert = require('node:assert/strict');
const plivo = require('plivo');

const client = new plivo.Client(process.env.PLIVO_AUTH_ID, process.env.PLIVO_AUTH_TOKEN);
const A = process.env.ROOM_A;
const B = process.env.ROOM_B;
const passed = [];
const step = async (name, fn) => {
  const res = await fn();
  passed.push(name);
  console.log(JSON.stringify({ step: name, res }));
  return res;
};
const member = async (id) => {
  const c = await client.conferences.get(A);
  return c.members.find((m) => m.memberId === id);
};

(async () => {
  const list = await step('list', () => client.conferences.list());
  assert.deepEqual([...list.conferences].sort(), [A, B].sort(), 'conferences.list names both rooms');
  const conf = await step('get', () => client.conferences.get(A));
  assert.equal(conf.conferenceName, A);
  assert.equal(conf.conferenceMemberCount, '3');
  assert.deepEqual(conf.members.map((m) => m.memberId).sort(), ['1', '2', '3']);

  await step('muteMember', () => client.conferences.muteMember(A, '1'));
  assert.equal((await member('1')).muted, true, 'member 1 muted');
  await step('unmuteMember', () => client.conferences.unmuteMember(A, '1'));
  assert.equal((await member('1')).muted, false, 'member 1 unmuted');
  await step('deafMember', () => client.conferences.deafMember(A, '2'));
  assert.equal((await member('2')).deaf, true, 'member 2 deaf');
  await step('undeafMember', () => client.conferences.undeafMember(A, '2'));
  assert.equal((await member('2')).deaf, false, 'member 2 hears again');

  await step('playAudioToMember', () => client.conferences.playAudioToMember(A, '1', process.env.PLAY_URL));
  await step('stopPlayingAudioToMember', () => client.conferences.stopPlayingAudioToMember(A, '1'));
  await step('speakTextToMember', () => client.conferences.speakTextToMember(A, 'all', 'Welcome to the room', { voice: 'WOMAN', language: 'en-US' }));
  await step('stopSpeakingTextToMember', () => client.conferences.stopSpeakingTextToMember(A, 'all'));

  const rec = await step('record', () => client.conferences.record(A, { fileFormat: 'wav', callbackUrl: process.env.RECORD_CALLBACK }));
  assert.ok(rec.recordingId, 'record gives a recording_id');
  await new Promise((r) => setTimeout(r, 1500)); // a second and a half of the room in the recording
  await step('stopRecording', () => client.conferences.stopRecording(A));
  const rec2 = await step('startRecording', () => client.conferences.startRecording(A, { fileFormat: 'mp3' }));
  assert.ok(rec2.recordingId && rec2.recordingId !== rec.recordingId, 'a new recording');
  await client.conferences.stopRecording(A);

  await step('kickMember', () => client.conferences.kickMember(A, '3'));
  await step('hangupMember', () => client.conferences.hangupMember(A, '2'));
  const after = await client.conferences.get(A);
  assert.deepEqual(after.members.map((m) => m.memberId), ['1'], 'members 2 and 3 left');

  await step('hangup', () => client.conferences.hangup(A));
  await step('hangupAll', () => client.conferences.hangupAll());
  const none = await client.conferences.list();
  assert.deepEqual(none.conferences, [], 'no room left');

  // Bad input: an unknown room and an unknown member are Plivo's 404.
  for (const [what, fn] of [['get unknown room', () => client.conferences.get('no such room')],
    ['mute in unknown room', () => client.conferences.muteMember('no such room', '1')]]) {
    await assert.rejects(fn(), (e) => e && (e.constructor.name === 'ResourceNotFoundError' || /not found/i.test(String(e.message || e))), what);
  }
  console.log(JSON.stringify({ methods: passed.length, passed }));
})().catch((e) => {
  console.error('conference-sdk failed:', e && (e.stack || e));
  process.exit(1);
});
