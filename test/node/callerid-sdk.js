'use strict';
// Plivo's official Node SDK drives the VerifiedCallerId API of a real `trunkline serve`
// (client.verify: initiate, verify, getVerifiedCallerId, listVerifiedCallerId,
// updateVerifiedCallerId, deleteVerifiedCallerId) and shows what a verified caller ID
// is for: calls.create from the number is refused before, accepted after, refused again
// once it is deleted, and never accepted for another tenant. The codes are read where a
// default install sends them: the sandbox SMSC and sandbox phone, shown to loopback
// clients at /console/sandbox (its ?wait= holds until something reached the number).
// Run by cmd/trunkline/e2e_callerid_test.go. Exits non-zero when a check fails.
//
//   PLIVO_TEST_BASE=… NODE_EXTRA_CA_CERTS=… PLIVO_AUTH_ID=… PLIVO_AUTH_TOKEN=… \
//   OTHER_AUTH_ID=… OTHER_AUTH_TOKEN=… CALLER_ID=… CALLER_ID_VOICE=… ANSWER_URL=… node callerid-sdk.js

require('./shim');
const assert = require('node:assert/strict');
const https = require('node:https');
const plivo = require('plivo');

const BASE = process.env.PLIVO_TEST_BASE;
const client = new plivo.Client(process.env.PLIVO_AUTH_ID, process.env.PLIVO_AUTH_TOKEN);
const other = new plivo.Client(process.env.OTHER_AUTH_ID, process.env.OTHER_AUTH_TOKEN);
const PHONE = process.env.CALLER_ID;
const PHONE_VOICE = process.env.CALLER_ID_VOICE;
const ANSWER = process.env.ANSWER_URL;
const CALLEE = '14155550100';

function get(url) {
  return new Promise((resolve, reject) => {
    https.get(url, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d) => { body += d; });
      res.on('end', () => resolve({ status: res.statusCode, body }));
    }).on('error', reject);
  });
}

// sandboxCode returns the six digits that reached phone: the text of an SMS, or what
// the sandbox phone was told on a call ("1, 2, 3, 4, 5, 6").
async function sandboxCode(phone, channel) {
  const r = await get(BASE + '/console/sandbox?wait=' + phone);
  assert.equal(r.status, 200, 'nothing reached ' + phone + ' in the sandbox');
  const cell = channel === 'sms'
    ? new RegExp('<td class="to">' + phone + '</td><td>[^<]*</td><td class="text">([^<]*)</td>')
    : new RegExp('<td class="to">' + phone + '</td>.*?<td class="spoken">(.*?)</td>');
  const m = cell.exec(r.body);
  assert.ok(m, 'no ' + channel + ' row for ' + phone);
  const digits = m[1].replace(/[^0-9]/g, '');
  assert.ok(digits.length >= 6, 'no code in ' + JSON.stringify(m[1]));
  return digits.slice(0, 6);
}

async function fails(promise, re, what) {
  let err = null;
  try { await promise; } catch (e) { err = e; }
  assert.ok(err, what + ': it did not fail');
  assert.match(String(err.message || err), re, what);
}

const call = (c, from) => c.calls.create(from, CALLEE, ANSWER, { answerMethod: 'POST' });

(async () => {
  await fails(call(client, PHONE), /caller ID/, 'a call from a number not yet verified');

  // By SMS.
  const init = await client.verify.initiate(PHONE, { alias: 'desk', channel: 'sms' });
  assert.ok(init.verificationUuid, 'initiate returned no verification_uuid');
  const otp = await sandboxCode(PHONE, 'sms');
  // Another tenant cannot complete it (nor spend its tries), even with the right code.
  await fails(other.verify.verify(init.verificationUuid, otp), /ended/, 'another tenant completes the verification');
  await fails(client.verify.verify(init.verificationUuid, otp === '000000' ? '111111' : '000000'), /not right/, 'a wrong code');
  const ok = await client.verify.verify(init.verificationUuid, otp);
  assert.equal(ok.phoneNumber, PHONE);
  assert.equal(ok.alias, 'desk');
  assert.equal(ok.channel, 'sms');
  assert.equal(ok.verificationUuid, init.verificationUuid);
  await fails(client.verify.verify(init.verificationUuid, otp), /ended/, 'the same code a second time');

  const got = await client.verify.getVerifiedCallerId(PHONE);
  assert.equal(got.phoneNumber, PHONE);
  assert.equal(got.alias, 'desk');
  const list = await client.verify.listVerifiedCallerId();
  assert.deepEqual(list.objects.map((o) => o.phoneNumber || o.phone_number), [PHONE]);
  const changed = await client.verify.updateVerifiedCallerId(PHONE, { alias: 'front desk' });
  assert.equal(changed.alias, 'front desk');
  await fails(other.verify.getVerifiedCallerId(PHONE), /not found/, 'another tenant reads the caller ID');
  assert.equal((await other.verify.listVerifiedCallerId()).objects.length, 0);

  // What it is for.
  const placed = await call(client, PHONE);
  assert.ok(placed.requestUuid, 'a call from the verified caller ID was not placed');
  await fails(call(other, PHONE), /caller ID/, "a call from another tenant's verified caller ID");

  // By voice call.
  const byVoice = await client.verify.initiate(PHONE_VOICE, { channel: 'call' });
  const spoken = await sandboxCode(PHONE_VOICE, 'voice');
  const v = await client.verify.verify(byVoice.verificationUuid, spoken);
  assert.equal(v.channel, 'call');
  assert.equal((await client.verify.listVerifiedCallerId()).objects.length, 2);

  await client.verify.deleteVerifiedCallerId(PHONE);
  await fails(client.verify.getVerifiedCallerId(PHONE), /not found/, 'a deleted caller ID');
  await fails(call(client, PHONE), /caller ID/, 'a call from a deleted caller ID');
  console.log(JSON.stringify({ ok: true, verified: [PHONE, PHONE_VOICE] }));
})().catch((e) => {
  console.error('callerid-sdk failed:', e && (e.stack || e));
  process.exit(1);
});
