'use strict';
// Plivo's official Node SDK drives every MultiPartyCall method (19) against a live MPC on
// a Trunkline node: MPC_NAME holds an agent (member 1) and a customer (member 2); the
// live call MOVE_CALL is added by the API. Run by cmd/trunkline/conference_sdk_test.go.
// It prints one JSON line per step and a final {"methods": n, "passed": [...]} line.

require('./shim');
const assert = require('node:assert/strict');
const plivo = require('plivo');

const client = new plivo.Client(process.env.PLIVO_AUTH_ID, process.env.PLIVO_AUTH_TOKEN);
const mpc = client.multiPartyCalls;
const name = process.env.MPC_NAME;
// The SDK deletes friendlyName from the object it is given: a fresh one each time.
const id = () => ({ friendlyName: name });
const passed = [];
const step = async (n, fn) => {
  const res = await fn();
  passed.push(n);
  console.log(JSON.stringify({ step: n, res }));
  return res;
};
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

(async () => {
  const list = await step('list', () => mpc.list({ status: 'active' }));
  assert.ok(list.some((m) => m.friendlyName === name), 'list shows the MPC');
  const got = await step('get', () => mpc.get({ friendlyName: name }));
  assert.equal(got.status, 'Active');
  const uuid = got.mpcUuid;
  await step('start', () => mpc.start({ uuid, status: 'active' }));
  await step('addParticipant', () => mpc.addParticipant('supervisor', { friendlyName: name, callUuid: process.env.MOVE_CALL }));
  for (let i = 0; i < 100; i++) {
    const ps = await mpc.listParticipants({ friendlyName: name });
    if (ps.objects.length === 3) break;
    await sleep(100);
  }
  const parts = await step('listParticipants', () => mpc.listParticipants({ friendlyName: name }));
  assert.deepEqual(parts.objects.map((p) => p.role).sort(), ['agent', 'customer', 'supervisor']);
  const p2 = await step('getParticipant', () => mpc.getParticipant('2', { friendlyName: name }));
  assert.equal(p2.role, 'customer');
  await step('updateParticipant', () => mpc.updateParticipant('2', { friendlyName: name, hold: true, mute: true }));
  const held = await mpc.getParticipant('2', id());
  assert.equal(held.hold, true, 'customer on hold');
  assert.equal(held.mute, true, 'customer muted');
  await mpc.updateParticipant('2', { friendlyName: name, hold: false, mute: false });
  await step('startRecording', () => mpc.startRecording({ friendlyName: name, fileFormat: 'wav' }));
  await step('pauseRecording', () => mpc.pauseRecording(id()));
  assert.equal((await mpc.get(id())).recording, 'paused');
  await step('resumeRecording', () => mpc.resumeRecording(id()));
  await step('stopRecording', () => mpc.stopRecording(id()));
  await step('startParticipantRecording', () => mpc.startParticipantRecording('1', { friendlyName: name, fileFormat: 'mp3' }));
  await step('pauseParticipantRecording', () => mpc.pauseParticipantRecording('1', id()));
  await step('resumeParticipantRecording', () => mpc.resumeParticipantRecording('1', id()));
  await step('stopParticipantRecording', () => mpc.stopParticipantRecording('1', id()));
  await step('startPlayAudio', () => mpc.startPlayAudio('1', process.env.PLAY_URL, id()));
  await step('stopPlayAudio', () => mpc.stopPlayAudio('1', id()));
  if (process.env.DIAL_TO) {
    // addParticipant placing a call (from and to): the callee answers, the call joins as
    // member 4. Not a step of its own: the method is counted above.
    const added = await mpc.addParticipant('customer', { friendlyName: name, from: process.env.DIAL_FROM, to: process.env.DIAL_TO });
    console.log(JSON.stringify({ added }));
    let placed;
    for (let i = 0; i < 150 && !placed; i++) {
      const ps = await mpc.listParticipants({ friendlyName: name });
      placed = ps.objects.find((p) => p.memberId === '4');
      if (!placed) await sleep(100);
    }
    assert.ok(placed, 'the placed call joined the MPC');
    assert.equal(placed.role, 'customer');
    await sleep(1000); // a second of the MPC's audio reaches the callee
  }
  await step('kickParticipant', () => mpc.kickParticipant('2', id()));
  await step('stop', () => mpc.stop({ uuid }));
  const ended = await mpc.get({ uuid });
  assert.equal(ended.status, 'Ended');
  await assert.rejects(mpc.get({ friendlyName: 'no such mpc' }), (e) => e && (e.constructor.name === 'ResourceNotFoundError' || /not found/i.test(String(e.message || e))));
  console.log(JSON.stringify({ methods: passed.length, passed }));
})().catch((e) => {
  console.error('mpc-sdk failed:', e && (e.stack || e));
  process.exit(1);
});
