'use strict';
// End-to-end test of Plivo's official Node SDK (npm plivo, pinned in package.json)
// against a real `trunkline serve`. Run by cmd/trunkline/e2e_test.go (TestNodeSDK),
// which starts the server, imports testdata/sdk-e2e-numbers.csv and creates the main
// account. By hand:
//
//   PLIVO_TEST_BASE=https://127.0.0.1:PORT NODE_EXTRA_CA_CERTS=DATA/tls/ca.crt \
//   PLIVO_AUTH_ID=MA… PLIVO_AUTH_TOKEN=… [PLIVO_TEST_ACCOUNT_NAME=…] node sdk-e2e.js
//
// It prints one line per step and exits 0 only if every step passed. Method names and
// reply shapes are those of plivo 4.79.0 (dist/resources/*.js); the SDK camelCases
// every reply key (rest/utils.js camelCaseRequestWrapper).

const shim = require('./shim'); // before plivo: voice resources ignore the url option
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const plivo = require('plivo');

const BASE = shim.TARGET.replace(/\/+$/, '');
const AUTH_ID = process.env.PLIVO_AUTH_ID;
const AUTH_TOKEN = process.env.PLIVO_AUTH_TOKEN;
const ACCOUNT_NAME = process.env.PLIVO_TEST_ACCOUNT_NAME || '';
if (!AUTH_ID || !AUTH_TOKEN) {
  console.error('PLIVO_AUTH_ID and PLIVO_AUTH_TOKEN must be set');
  process.exit(2);
}

// The SDK logs every Application create with console.log (applications.js create());
// keep that noise but mark it so a reader of the test log knows where it comes from.
const origLog = console.log;
console.log = (...a) => origLog('  [sdk console.log]', ...a);
const say = (...a) => origLog(...a);

const clientFor = (id, token) => new plivo.Client(id, token, { url: BASE + '/v1/Account/' + id });

// The numbers the Go test imported: one source of truth for both sides.
const inventory = fs.readFileSync(path.join(__dirname, 'testdata', 'sdk-e2e-numbers.csv'), 'utf8')
  .trim().split('\n').slice(1).map((line) => {
    const [number, country, type, region, carrier, voice, sms, mms, rate] = line.split(',');
    return { number, country, type, region, carrier, voice: voice === 'true', sms: sms === 'true', mms: mms === 'true', rate };
  });
const usLocal = inventory.filter((n) => n.country === 'US' && n.type === 'local').map((n) => n.number).sort();

// Server/SDK mismatches found by this test and reported to the lead; a step marked with
// one of these fails until the server is fixed (the mark then only documents history).
const KNOWN = {
};

let steps = 0;
const failed = [];
// step runs one numbered check and prints one line. A failure is recorded and the run
// goes on (so one run shows every mismatch); opts.needs lists values earlier steps must
// have produced, and the step is skipped without them.
async function step(name, fn, opts = {}) {
  steps++;
  const label = String(steps).padStart(2, '0') + ' ' + name;
  const mark = opts.known ? ` [known server mismatch ${opts.known}, see below]` : '';
  if (opts.needs && opts.needs.some((v) => !v)) {
    say('SKIP ' + label + ' — an earlier step it depends on failed');
    failed.push(label + ' (skipped)');
    return;
  }
  try {
    const detail = await fn();
    say('ok   ' + label + (detail ? ' — ' + detail : '') + (opts.known ? ` (was known mismatch ${opts.known}: drop the mark)` : ''));
  } catch (err) {
    say('FAIL ' + label + mark);
    say(describe(err));
    failed.push(label + mark);
  }
}

// describe renders an assertion failure or an SDK error (PlivoRestError carries the
// HTTP status, the server's "error" text and api_id).
function describe(err) {
  if (err instanceof assert.AssertionError) {
    return '     ' + err.message.split('\n').join('\n     ');
  }
  if (err && typeof err === 'object' && 'status' in err) {
    return `     ${err.constructor && err.constructor.name}: HTTP ${err.status} error=${JSON.stringify(err.message)} api_id=${err.apiID}`;
  }
  return '     ' + String((err && err.stack) || err);
}

// rejects asserts that p fails with the SDK error for an HTTP status: 401
// AuthenticationError, 404 ResourceNotFoundError, 400 InvalidRequestError
// (rest/axios.js exceptionClass maps). The class itself cannot be asserted: the SDK's
// Babel-compiled classes extend Error the ES5 way (utils/restException.js), so every
// instance is a plain Error; status, message (the server's "error") and apiID are set.
async function rejects(p, status, name) {
  let got;
  try {
    got = await p;
  } catch (err) {
    assert.ok(err instanceof Error, `expected an Error, got ${describe(err)}`);
    assert.equal(err.status, status, `HTTP status of ${describe(err)}`);
    assert.equal(typeof err.apiID, 'string', 'the error reply carries api_id');
    assert.equal(typeof err.message, 'string', 'the error reply carries error');
    return err;
  }
  assert.fail(`expected ${name} (HTTP ${status}), but the call succeeded: ${JSON.stringify(got)}`);
}
const AuthenticationError = 401;
const ResourceNotFoundError = 404;
const InvalidRequestError = 400;
const unauthorized = (p) => rejects(p, AuthenticationError, 'AuthenticationError');
const notFound = (p) => rejects(p, ResourceNotFoundError, 'ResourceNotFoundError');
const invalid = (p) => rejects(p, InvalidRequestError, 'InvalidRequestError');

const isApiID = (v) => typeof v === 'string' && v.length >= 8;

async function main() {
  say(`plivo-node ${require('plivo/package.json').version} against ${BASE} as ${AUTH_ID}`);
  const client = clientFor(AUTH_ID, AUTH_TOKEN);
  const mainURI = `/v1/Account/${AUTH_ID}/`;

  // ---- Account ----------------------------------------------------------------------
  await step('accounts.get()', async () => {
    const a = await client.accounts.get();
    if (ACCOUNT_NAME) assert.equal(a.name, ACCOUNT_NAME);
    assert.equal(a.accountType, 'standard');
    assert.equal(a.resourceUri, mainURI);
    assert.ok(isApiID(a.apiId), 'apiId');
    assert.equal(typeof a.cashCredits, 'string');
    assert.equal(typeof a.billingMode, 'string');
    return `name=${a.name} type=${a.accountType}`;
  });

  await step('accounts.update({name, city, address})', async () => {
    const r = await client.accounts.update({ name: 'Trunkline E2E Ltd', city: 'Lisbon', address: '1 Rua do Teste' });
    assert.equal(r.message, 'changed');
    assert.ok(isApiID(r.apiId), 'apiId');
  });

  await step('accounts.get() shows the update', async () => {
    const a = await client.accounts.get();
    assert.equal(a.name, 'Trunkline E2E Ltd');
    assert.equal(a.city, 'Lisbon');
    assert.equal(a.address, '1 Rua do Teste');
  });

  await step('wrong Auth Token → AuthenticationError (accounts.get)', async () => {
    const bad = clientFor(AUTH_ID, AUTH_TOKEN.slice(0, -4) + 'XXXX');
    await unauthorized(bad.accounts.get());
  });

  await step('wrong Auth Token → AuthenticationError (applications.list, voice path)', async () => {
    const bad = clientFor(AUTH_ID, 'not-the-token-at-all');
    await unauthorized(bad.applications.list());
  });

  // ---- Applications -----------------------------------------------------------------
  let appID;
  await step('applications.create(appName, {answer_url, …})', async () => {
    const r = await client.applications.create('e2e_app', {
      answer_url: 'https://example.com/answer', answer_method: 'GET',
      hangup_url: 'https://example.com/hangup', message_url: 'https://example.com/message',
    });
    assert.equal(r.message, 'created');
    assert.match(String(r.appId), /^\d+$/);
    assert.ok(isApiID(r.apiId), 'apiId');
    appID = String(r.appId);
    return 'app_id=' + appID;
  });

  await step('applications.get(appId)', async () => {
    const a = await client.applications.get(appID);
    assert.equal(a.appId, appID);
    assert.equal(a.appName, 'e2e_app');
    assert.equal(a.answerUrl, 'https://example.com/answer');
    assert.equal(a.answerMethod, 'GET');
    assert.equal(a.hangupMethod, 'POST');
    assert.equal(a.messageMethod, 'POST');
    assert.equal(a.enabled, true);
    assert.equal(a.defaultApp, false);
    assert.equal(a.subAccount, null);
    assert.equal(a.resourceUri, `${mainURI}Application/${appID}/`);
    assert.match(a.sipUri, new RegExp(`^sip:${appID}@`));
  }, { needs: [appID] });

  await step('applications.list()', async () => {
    const list = await client.applications.list();
    assert.ok(Array.isArray(list));
    assert.ok(list.some((a) => String(a.appId) === appID), 'the new application is listed');
    assert.equal(list.meta.totalCount, list.length);
    assert.equal(list.meta.offset, 0);
    assert.equal(list.meta.previous, null);
    const page = await client.applications.list({ limit: 1, offset: 0 });
    assert.equal(page.length, 1);
    assert.equal(page.meta.limit, 1);
    return `${list.length} application(s)`;
  }, { needs: [appID] });

  await step('applications.update(appId, {answer_url, answer_method})', async () => {
    const r = await client.applications.update(appID, { answer_url: 'https://example.com/answer2', answer_method: 'POST' });
    assert.equal(r.message, 'changed');
    const a = await client.applications.get(appID);
    assert.equal(a.answerUrl, 'https://example.com/answer2');
    assert.equal(a.answerMethod, 'POST');
    assert.equal(a.appName, 'e2e_app', 'fields not sent are kept');
  }, { needs: [appID] });

  await step('applications.create with a bad app_name → InvalidRequestError', async () => {
    const err = await invalid(client.applications.create('bad name!', { answer_url: 'https://example.com/a' }));
    assert.match(err.message, /app_name/);
  });

  // ---- Numbers ----------------------------------------------------------------------
  await step("numbers.search('US', {type: 'local'})", async () => {
    const found = await client.numbers.search('US', { type: 'local' });
    assert.deepEqual(found.map((n) => n.number).sort(), usLocal);
    assert.equal(found.meta.totalCount, usLocal.length);
    const n = found.find((x) => x.number === '14155550102');
    assert.equal(n.country, 'US');
    assert.equal(n.type, 'local');
    assert.equal(n.region, 'California');
    assert.equal(Number(n.monthlyRentalRate), 0.8);
    assert.equal(n.voiceEnabled, true);
    assert.equal(n.smsEnabled, true);
    assert.equal(n.resourceUri, `${mainURI}PhoneNumber/14155550102/`);
    return `${found.length} found`;
  });

  await step('numbers.search filters: pattern, services, other type and country', async () => {
    const sf = await client.numbers.search('US', { type: 'local', pattern: '415' });
    assert.deepEqual(sf.map((n) => n.number).sort(), usLocal.filter((n) => n.includes('415')));
    const mms = await client.numbers.search('US', { services: 'mms' });
    assert.deepEqual(mms.map((n) => n.number), inventory.filter((n) => n.country === 'US' && n.mms).map((n) => n.number));
    const tf = await client.numbers.search('US', { type: 'tollfree' });
    assert.deepEqual(tf.map((n) => n.number), ['18005550100']);
    const gb = await client.numbers.search('GB', {});
    assert.deepEqual(gb.map((n) => n.number), ['447700900100']);
  });

  const num = '14155550100';
  let bought = false;
  await step(`numbers.buy(${num}, appId)`, async () => {
    const r = await client.numbers.buy(num, appID);
    assert.equal(r.statusCode, 201);
    assert.equal(r.status, 'fulfilled');
    assert.equal(r.message, 'created');
    assert.ok(Array.isArray(r.numbers) && r.numbers.length === 1, 'numbers[]');
    assert.equal(r.numbers[0].number, num);
    assert.equal(r.numbers[0].status, 'Success');
    bought = true;
  }, { needs: [appID] });

  await step('numbers.search no longer offers the rented number', async () => {
    const found = await client.numbers.search('US', { type: 'local' });
    assert.ok(!found.some((n) => n.number === num));
    assert.equal(found.length, usLocal.length - 1);
  }, { needs: [bought] });

  await step('numbers.buy of a rented number → ResourceNotFoundError', async () => {
    await notFound(client.numbers.buy(num));
  }, { needs: [bought] });

  await step('numbers.list()', async () => {
    const list = await client.numbers.list();
    assert.deepEqual(list.map((n) => n.number), [num]);
    assert.equal(list.meta.totalCount, 1);
    assert.equal(list[0].id, num);
    assert.equal(list[0].application, `${mainURI}Application/${appID}/`);
  }, { needs: [bought] });

  await step('numbers.get(number)', async () => {
    const n = await client.numbers.get(num);
    assert.equal(n.number, num);
    assert.equal(n.numberType, 'local');
    assert.equal(n.country, 'US');
    assert.equal(n.region, 'California');
    assert.equal(n.carrier, 'sandbox');
    assert.equal(n.application, `${mainURI}Application/${appID}/`);
    assert.equal(n.subAccount, null);
    assert.equal(n.voiceEnabled, true);
    assert.equal(n.smsEnabled, true);
    assert.match(String(n.addedOn), /^\d{4}-\d{2}-\d{2}$/);
    assert.equal(n.resourceUri, `${mainURI}Number/${num}/`);
  }, { needs: [bought] });

  let app2;
  await step('numbers.update(number, {app_id, alias}) assigns another application', async () => {
    app2 = String((await client.applications.create('e2e_app_two', { answer_url: 'https://example.com/two' })).appId);
    const r = await client.numbers.update(num, { app_id: app2, alias: 'e2e-line' });
    assert.equal(r.message, 'changed');
    const n = await client.numbers.get(num);
    assert.equal(n.application, `${mainURI}Application/${app2}/`);
    assert.equal(n.alias, 'e2e-line');
  }, { needs: [bought] });

  // ---- Subaccounts ------------------------------------------------------------------
  let subID, subToken;
  await step("subaccounts.create('e2e-sub', true)", async () => {
    const r = await client.subaccounts.create('e2e-sub', true);
    assert.equal(r.message, 'created');
    assert.match(r.authId, /^SA[A-Z0-9]{18}$/);
    assert.equal(typeof r.authToken, 'string');
    assert.ok(r.authToken.length >= 32, 'auth token length');
    assert.ok(isApiID(r.apiId), 'apiId');
    subID = r.authId;
    subToken = r.authToken;
    return 'auth_id=' + subID;
  });

  // listedSub finds the subaccount in subaccounts.list() (used to check changes without
  // subaccounts.get, so one broken call does not hide the others).
  const listedSub = async () => (await client.subaccounts.list({ limit: 20, offset: 0 })).find((x) => x.authId === subID);

  await step('subaccounts.list()', async () => {
    const list = await client.subaccounts.list();
    const s = list.find((x) => x.authId === subID);
    assert.ok(s, 'the new subaccount is listed');
    assert.equal(s.id, subID);
    assert.equal(s.name, 'e2e-sub');
    assert.equal(s.enabled, true);
    assert.equal(s.account, mainURI);
    assert.equal(list.meta.totalCount, list.length);
  }, { needs: [subID] });

  await step('subaccounts.get(authId)', async () => {
    const s = await client.subaccounts.get(subID);
    assert.equal(s.authId, subID);
    assert.equal(s.name, 'e2e-sub');
    assert.equal(s.enabled, true);
    assert.equal(s.account, mainURI);
    assert.equal(s.resourceUri, `${mainURI}Subaccount/${subID}/`);
    assert.match(String(s.created), /^\d{4}-\d{2}-\d{2}/);
  }, { needs: [subID] });

  await step('subaccounts.update(authId, name, enabled)', async () => {
    const r = await client.subaccounts.update(subID, 'e2e-sub-renamed', true);
    assert.equal(r.message, 'changed');
    assert.equal((await listedSub()).name, 'e2e-sub-renamed');
  }, { needs: [subID] });

  const sub = subID ? clientFor(subID, subToken) : null;
  await step("subaccount's own credentials: accounts.get()", async () => {
    const a = await sub.accounts.get();
    assert.equal(a.name, 'e2e-sub-renamed');
    assert.equal(a.resourceUri, `/v1/Account/${subID}/`);
  }, { needs: [sub] });

  await step("subaccount cannot see the main account's application → ResourceNotFoundError", async () => {
    await notFound(sub.applications.get(appID));
    const list = await sub.applications.list();
    assert.ok(!list.some((a) => String(a.appId) === appID || String(a.appId) === app2), 'main apps not listed');
  }, { needs: [sub, appID] });

  await step("subaccount cannot see the main account's number → ResourceNotFoundError", async () => {
    await notFound(sub.numbers.get(num));
    assert.equal((await sub.numbers.list()).length, 0);
  }, { needs: [sub, bought] });

  await step("subaccount cannot change or delete the main account's application", async () => {
    await notFound(sub.applications.update(appID, { answer_url: 'https://evil.example/x' }));
    await notFound(sub.applications.delete(appID));
    assert.equal((await client.applications.get(appID)).answerUrl, 'https://example.com/answer2');
  }, { needs: [sub, appID] });

  let subApp;
  await step('subaccount creates its own application; the main account sees it', async () => {
    subApp = String((await sub.applications.create('e2e_sub_app', { answer_url: 'https://example.com/sub' })).appId);
    const a = await client.applications.get(subApp);
    assert.equal(a.subAccount, `${mainURI}Subaccount/${subID}/`);
  }, { needs: [sub] });

  await step('disabled subaccount → AuthenticationError; enabled again → works', async () => {
    await client.subaccounts.update(subID, 'e2e-sub-renamed', false);
    assert.equal((await listedSub()).enabled, false);
    await unauthorized(sub.numbers.list());
    await client.subaccounts.update(subID, 'e2e-sub-renamed', true);
    assert.equal((await sub.numbers.list()).length, 0);
  }, { needs: [sub] });

  // A rotation's old token (our extension: POST .../Subaccount/{id}/AuthToken/) keeps
  // what a deployment needs and nothing that manages the account.
  await step("rotated subaccount token: the old one reads, managing needs the newest (403)", async () => {
    const r = await shim.axios.post(`${BASE}/v1/Account/${AUTH_ID}/Subaccount/${subID}/AuthToken/`, { overlap: 3600 },
      { auth: { username: AUTH_ID, password: AUTH_TOKEN } });
    assert.equal(r.status, 200);
    const fresh = clientFor(subID, r.data.auth_token);
    assert.equal((await sub.accounts.get()).name, 'e2e-sub-renamed', 'the old token still reads');
    let refused;
    try {
      refused = await sub.applications.create('e2e_old_token_app', { answer_url: 'https://example.com/old' });
    } catch (err) {
      refused = err;
    }
    // Plivo's SDK has no class for 403: a plain Error carrying axios's message.
    assert.ok(refused instanceof Error && /403/.test(String(refused.message)), `old token creating an application: ${describe(refused)}`);
    const list = await fresh.applications.list();
    assert.ok(!list.some((a) => a.appName === 'e2e_old_token_app'), 'the refused application was not made');
    const made = await fresh.applications.create('e2e_new_token_app', { answer_url: 'https://example.com/new' });
    assert.ok(made.appId, 'the newest token creates an application');
  }, { needs: [sub] });

  await step('subaccounts.delete(authId, cascade=true)', async () => {
    assert.equal(await client.subaccounts.delete(subID, true), true);
    assert.equal(await listedSub(), undefined, 'no longer listed');
    await notFound(client.applications.get(subApp));
    await unauthorized(sub.numbers.list());
  }, { needs: [sub, subApp] });

  // ---- Clean up: unrent, delete ------------------------------------------------------
  await step('numbers.unrent(number)', async () => {
    assert.equal(await client.numbers.unrent(num), true);
    assert.equal((await client.numbers.list()).length, 0);
    await notFound(client.numbers.get(num));
    const found = await client.numbers.search('US', { type: 'local' });
    assert.ok(found.some((n) => n.number === num), 'back in the inventory');
  }, { needs: [bought] });

  await step('applications.delete(appId)', async () => {
    assert.equal(await client.applications.delete(appID), true);
    assert.equal(await client.applications.delete(app2, { cascade: true }), true);
    await notFound(client.applications.get(appID));
    const list = await client.applications.list();
    assert.ok(!list.some((a) => String(a.appId) === appID || String(a.appId) === app2));
  }, { needs: [appID, app2] });

  if (failed.length) {
    say(`FAILED: ${failed.length} of ${steps} steps:`);
    failed.forEach((f) => say('  - ' + f));
    const marks = [...new Set(failed.map((f) => (f.match(/mismatch (M\d+)/) || [])[1]).filter(Boolean))];
    marks.forEach((m) => say(`${m}: ${KNOWN[m]}`));
    process.exit(1);
  }
  say(`PASS: ${steps} steps`);
}

main().then(() => process.exit(0), (err) => {
  say('FAIL (outside a step)');
  say(describe(err));
  process.exit(1);
});
