'use strict';
// Messaging with Plivo's official Node SDK (npm plivo, pinned) against a real
// `trunkline serve` bound to node-smpp SMSCs. Run by cmd/trunkline/e2e_messaging_test.go
// (TestMessaging/sdk), which starts everything and checks the SMSCs, the callbacks and
// their signatures. By hand:
//
//   PLIVO_TEST_BASE=https://127.0.0.1:PORT NODE_EXTRA_CA_CERTS=DATA/tls/ca.crt \
//   PLIVO_AUTH_ID=MA… PLIVO_AUTH_TOKEN=… SMS_SRC=447700900001 \
//   SMS_DST=447700900101,447700900102,447700900103,447700900104 \
//   SMS_CALLBACK_URL=http://127.0.0.1:PORT/status SMS_MARKER=abc node sms-sdk.js
//
// It prints one line per step ("ok …" / "FAIL …") and, last, one line
//   RESULT {"messages":[{uuid, dst, text, form, state}], "list":{count, total, uuids}, "failed":[…]}
// and exits 0 only if every step passed. Reply keys are camelCased by the SDK
// (plivo 4.79.0 rest/utils.js), so message_state arrives as messageState.

const shim = require('./shim'); // before plivo: keeps every request on the local server
const assert = require('node:assert/strict');
const plivo = require('plivo');

const BASE = shim.TARGET.replace(/\/+$/, '');
const AUTH_ID = process.env.PLIVO_AUTH_ID;
const AUTH_TOKEN = process.env.PLIVO_AUTH_TOKEN;
const SRC = process.env.SMS_SRC;
const DSTS = (process.env.SMS_DST || '').split(',').filter(Boolean);
const CALLBACK = process.env.SMS_CALLBACK_URL;
const MARKER = process.env.SMS_MARKER || 'sdk';
const DEADLINE_MS = parseInt(process.env.SMS_DEADLINE_MS || '60000', 10);
if (!AUTH_ID || !AUTH_TOKEN || !SRC || DSTS.length < 4 || !CALLBACK) {
  console.error('PLIVO_AUTH_ID, PLIVO_AUTH_TOKEN, SMS_SRC, SMS_DST (4 numbers) and SMS_CALLBACK_URL must be set');
  process.exit(2);
}

const say = (...a) => console.log(...a);
const client = new plivo.Client(AUTH_ID, AUTH_TOKEN, { url: BASE + '/v1/Account/' + AUTH_ID });
const field = (o, camel, snake) => (o[camel] !== undefined ? o[camel] : o[snake]);

const failed = [];
async function step(name, fn) {
  try {
    const detail = await fn();
    say('ok   ' + name + (detail ? ' — ' + detail : ''));
    return true;
  } catch (err) {
    say('FAIL ' + name);
    say('     ' + (err && err.status ? `HTTP ${err.status} ${JSON.stringify(err.message)}` : String((err && err.stack) || err)));
    failed.push(name);
    return false;
  }
}

const sent = []; // {uuid, dst, text, form}

function uuidsOf(resp) {
  const ids = field(resp, 'messageUuid', 'message_uuid');
  assert.ok(Array.isArray(ids), `message_uuid is an array: ${JSON.stringify(resp)}`);
  assert.equal(field(resp, 'message', 'message'), 'message(s) queued');
  assert.equal(typeof field(resp, 'apiId', 'api_id'), 'string', 'api_id');
  return ids;
}

// Polls GET Message/{uuid} (bounded) until the message is final.
async function untilFinal(uuid) {
  const end = Date.now() + DEADLINE_MS;
  let m;
  let wait = 20;
  for (;;) {
    m = await client.messages.get(uuid);
    const state = field(m, 'messageState', 'message_state');
    if (state !== 'queued' && state !== 'sent') return m;
    if (Date.now() > end) throw new Error(`message ${uuid} still ${state} after ${DEADLINE_MS} ms`);
    await new Promise((r) => setTimeout(r, wait));
    wait = Math.min(wait * 2, 250);
  }
}

async function main() {
  say(`plivo-node ${require('plivo/package.json').version} against ${BASE}`);

  await step('messages.create(src, dst, text, {url}) (positional form)', async () => {
    const text = `sdk ${MARKER} positional`;
    const resp = await client.messages.create(SRC, DSTS[0], text, { url: CALLBACK });
    const ids = uuidsOf(resp);
    assert.equal(ids.length, 1);
    sent.push({ uuid: ids[0], dst: DSTS[0], text, form: 'positional' });
    return ids[0];
  });

  await step('messages.create({src, dst, text, url}) (object form)', async () => {
    const text = `sdk ${MARKER} object`;
    const resp = await client.messages.create({ src: SRC, dst: DSTS[1], text, url: CALLBACK, method: 'POST' });
    const ids = uuidsOf(resp);
    assert.equal(ids.length, 1);
    sent.push({ uuid: ids[0], dst: DSTS[1], text, form: 'object' });
    return ids[0];
  });

  await step('messages.create(src, "a<b", text, {url}) (several destinations)', async () => {
    const text = `sdk ${MARKER} multi`;
    const resp = await client.messages.create(SRC, DSTS[2] + '<' + DSTS[3], text, { url: CALLBACK });
    const ids = uuidsOf(resp);
    assert.equal(ids.length, 2, `one uuid per destination: ${JSON.stringify(ids)}`);
    assert.notEqual(ids[0], ids[1]);
    sent.push({ uuid: ids[0], dst: DSTS[2], text, form: 'multi' }, { uuid: ids[1], dst: DSTS[3], text, form: 'multi' });
    return ids.join(', ');
  });

  for (const s of sent) {
    await step(`messages.get(${s.uuid}) until delivered (${s.form})`, async () => {
      const m = await untilFinal(s.uuid);
      s.state = field(m, 'messageState', 'message_state');
      assert.equal(s.state, 'delivered', `message_state: ${JSON.stringify(m)}`);
      assert.equal(field(m, 'messageUuid', 'message_uuid'), s.uuid);
      assert.equal(field(m, 'toNumber', 'to_number'), s.dst);
      assert.equal(field(m, 'fromNumber', 'from_number'), SRC);
      assert.equal(field(m, 'messageDirection', 'message_direction'), 'outbound');
      assert.equal(field(m, 'messageType', 'message_type'), 'sms');
      assert.equal(String(field(m, 'units', 'units')), '1');
      assert.ok(field(m, 'messageSentTime', 'message_sent_time'), 'message_sent_time is set once sent');
      return s.state;
    });
  }

  const list = {};
  await step('messages.list({limit: 5})', async () => {
    const r = await client.messages.list({ limit: 5 });
    assert.ok(Array.isArray(r), 'a list');
    list.count = r.length;
    list.uuids = r.map((m) => field(m, 'messageUuid', 'message_uuid'));
    const meta = r.meta || {};
    list.total = field(meta, 'totalCount', 'total_count');
    assert.equal(r.length, Math.min(5, sent.length), `5 or fewer objects: ${r.length}`);
    for (const id of list.uuids) {
      assert.ok(sent.some((s) => s.uuid === id), `listed message ${id} is one of ours`);
    }
    return `${r.length} listed, total_count ${list.total}`;
  });

  await step('messages.list({message_state: "delivered", limit: 5})', async () => {
    const r = await client.messages.list({ message_state: 'delivered', limit: 5 });
    assert.ok(r.length > 0, 'delivered messages are listed');
    for (const m of r) assert.equal(field(m, 'messageState', 'message_state'), 'delivered');
    return `${r.length} listed`;
  });

  say('RESULT ' + JSON.stringify({ messages: sent, list, failed }));
  process.exit(failed.length ? 1 : 0);
}

main().catch((err) => {
  say('FAIL (unexpected) ' + String((err && err.stack) || err));
  say('RESULT ' + JSON.stringify({ messages: sent, failed: failed.concat(['unexpected']) }));
  process.exit(1);
});
