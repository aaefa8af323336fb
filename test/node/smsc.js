'use strict';
// A real, external SMSC for Trunkline's Go tests and benchmarks: node-smpp (npm `smpp`,
// pinned in package.json) run as an SMPP 3.4 server. It accepts binds with one
// system_id/password, answers submit_sm with a message id, and sends a delivery receipt
// (deliver_sm, esm_class 0x04) shortly after each accepted submit. Faults are switched on
// by environment variables, so the same script serves the session tests, carrier failover
// tests and benchmarks.
//
//   node smsc.js            prints {"port":N} on stdout once listening;
//                           on SIGTERM or SIGINT prints {"counts":{...}} and exits 0.
//
// Environment (all optional):
//   SMSC_HOST               listen address (default 127.0.0.1)
//   SMSC_PORT               listen port (default 0: any free port; read it from stdout)
//   SMSC_SYSTEM_ID          system_id to accept (default "trunkline")
//   SMSC_PASSWORD           password to accept (default "secret"); anything else gets
//                           ESME_RBINDFAIL and the connection is closed
//   SMSC_ID_FORMAT          message ids in submit_sm_resp: "hex" (8 upper-case hex digits,
//                           default) or "decimal"
//   SMSC_RECEIPT_ID_FORMAT  the id quoted in receipts ("id:" and receipted_message_id):
//                           "hex" or "decimal" (default: SMSC_ID_FORMAT). Different
//                           formats exercise receipt correlation, as real SMSCs need.
//   SMSC_ID_START           first message id number (default 439041024, 0x1A2B3C00)
//   SMSC_RECEIPTS           "0" sends no receipts (default "1")
//   SMSC_RECEIPT_DELAY_MS   delay between submit_sm_resp and its receipt (default 5)
//   SMSC_RECEIPT_STAT       receipt stat (default DELIVRD; e.g. UNDELIV) and
//   SMSC_RECEIPT_ERR        its err field (default 000)
//   SMSC_THROTTLE_FIRST=N   answer ESME_RTHROTTLED (0x58) to the first N submit_sm received
//                           (counted over the whole process)
//   SMSC_SILENT=1           never answer submit_sm (timeout mode); binds and enquire_link
//                           are still answered
//   SMSC_CLOSE_AFTER=N      on each connection, answer N submit_sm, then destroy the
//                           connection when the next one arrives (it stays unanswered)
//
// Counts (all integers): connections, binds, bind_failures, submits (every submit_sm
// received, retries included), accepted, throttled, unanswered, closes, receipts_sent,
// receipts_acked, receipts_refused (non-zero deliver_sm_resp), receipts_unsent (no bound
// receiver), enquire_links, unbinds, errors.

const smpp = require('smpp');

const env = process.env;
const HOST = env.SMSC_HOST || '127.0.0.1';
const PORT = parseInt(env.SMSC_PORT || '0', 10);
const SYSTEM_ID = env.SMSC_SYSTEM_ID || 'trunkline';
const PASSWORD = env.SMSC_PASSWORD || 'secret';
const ID_FORMAT = env.SMSC_ID_FORMAT || 'hex';
const RECEIPT_ID_FORMAT = env.SMSC_RECEIPT_ID_FORMAT || ID_FORMAT;
const ID_START = parseInt(env.SMSC_ID_START || '439041024', 10);
const RECEIPTS = (env.SMSC_RECEIPTS || '1') !== '0';
const RECEIPT_DELAY_MS = parseInt(env.SMSC_RECEIPT_DELAY_MS || '5', 10);
const RECEIPT_STAT = env.SMSC_RECEIPT_STAT || 'DELIVRD';
const RECEIPT_ERR = env.SMSC_RECEIPT_ERR || '000';
const THROTTLE_FIRST = parseInt(env.SMSC_THROTTLE_FIRST || '0', 10);
const SILENT = env.SMSC_SILENT === '1';
const CLOSE_AFTER = parseInt(env.SMSC_CLOSE_AFTER || '0', 10);

for (const f of [ID_FORMAT, RECEIPT_ID_FORMAT]) {
  if (f !== 'hex' && f !== 'decimal') {
    console.error(`smsc.js: unknown id format ${f} (hex or decimal)`);
    process.exit(2);
  }
}

// message_state TLV values of SMPP 3.4 for the receipt's stat.
const STATES = { ENROUTE: 1, DELIVRD: 2, EXPIRED: 3, DELETED: 4, UNDELIV: 5, ACCEPTD: 6, UNKNOWN: 7, REJECTD: 8 };

const counts = {
  connections: 0, binds: 0, bind_failures: 0, submits: 0, accepted: 0, throttled: 0,
  unanswered: 0, closes: 0, receipts_sent: 0, receipts_acked: 0, receipts_refused: 0,
  receipts_unsent: 0, enquire_links: 0, unbinds: 0, errors: 0,
};

let nextID = ID_START;
const formatID = (n, format) => (format === 'hex' ? n.toString(16).toUpperCase().padStart(8, '0') : String(n));

// YYMMDDhhmm in UTC, as receipts carry dates.
const receiptDate = (d) => {
  const p = (v) => String(v).padStart(2, '0');
  return p(d.getUTCFullYear() % 100) + p(d.getUTCMonth() + 1) + p(d.getUTCDate()) + p(d.getUTCHours()) + p(d.getUTCMinutes());
};

// The first 20 characters of the submitted text, printable ASCII only, for "text:".
const receiptText = (pdu) => {
  const sm = pdu.short_message;
  let text = '';
  if (sm && sm.message !== undefined) text = String(sm.message);
  else if (Buffer.isBuffer(sm)) text = sm.toString('latin1');
  return text.replace(/[^\x20-\x7e]/g, '.').slice(0, 20);
};

const sessions = new Set();

const canReceive = (s) => s.boundAs === 'bind_transceiver' || s.boundAs === 'bind_receiver';

function sendReceipt(origin, submit, n, submitted) {
  // Prefer the connection the submit came on; else any receiver of the same system_id.
  let target = canReceive(origin) && origin.socket.writable ? origin : null;
  if (!target) {
    for (const s of sessions) {
      if (canReceive(s) && s.socket.writable && s.systemID === origin.systemID) { target = s; break; }
    }
  }
  if (!target) { counts.receipts_unsent++; return; }
  const rid = formatID(n, RECEIPT_ID_FORMAT);
  const text = `id:${rid} sub:001 dlvrd:${RECEIPT_STAT === 'DELIVRD' ? '001' : '000'} ` +
    `submit date:${receiptDate(submitted)} done date:${receiptDate(new Date())} ` +
    `stat:${RECEIPT_STAT} err:${RECEIPT_ERR} text:${receiptText(submit)}`;
  const sent = target.deliver_sm({
    source_addr_ton: submit.dest_addr_ton, source_addr_npi: submit.dest_addr_npi,
    source_addr: submit.destination_addr,
    dest_addr_ton: submit.source_addr_ton, dest_addr_npi: submit.source_addr_npi,
    destination_addr: submit.source_addr,
    esm_class: 0x04,
    data_coding: 0,
    short_message: Buffer.from(text, 'latin1'),
    receipted_message_id: rid,
    message_state: STATES[RECEIPT_STAT] || STATES.UNKNOWN,
  }, (resp) => {
    if (resp.command_status === 0) counts.receipts_acked++;
    else counts.receipts_refused++;
  });
  if (sent) counts.receipts_sent++;
  else counts.receipts_unsent++;
}

const server = smpp.createServer({}, (session) => {
  counts.connections++;
  sessions.add(session);
  session.submits = 0;
  session.socket.on('close', () => sessions.delete(session));
  // node-smpp emits 'error' for socket errors and unparsable input; count, never crash.
  session.on('error', () => { counts.errors++; session.destroy(); });

  for (const cmd of ['bind_transceiver', 'bind_transmitter', 'bind_receiver']) {
    session.on(cmd, (pdu) => {
      if (session.boundAs) {
        session.send(pdu.response({ command_status: smpp.ESME_RALYBND }));
        return;
      }
      if (pdu.system_id !== SYSTEM_ID || pdu.password !== PASSWORD) {
        counts.bind_failures++;
        session.send(pdu.response({ command_status: smpp.ESME_RBINDFAIL }), () => session.close());
        return;
      }
      counts.binds++;
      session.boundAs = cmd;
      session.systemID = pdu.system_id;
      session.send(pdu.response({ system_id: 'node-smsc' }));
    });
  }

  session.on('submit_sm', (pdu) => {
    counts.submits++;
    if (!session.boundAs || session.boundAs === 'bind_receiver') {
      session.send(pdu.response({ command_status: smpp.ESME_RINVBNDSTS }));
      return;
    }
    session.submits++;
    if (CLOSE_AFTER > 0 && session.submits > CLOSE_AFTER) {
      counts.closes++;
      counts.unanswered++;
      session.destroy();
      return;
    }
    if (SILENT) { counts.unanswered++; return; }
    if (counts.submits <= THROTTLE_FIRST) {
      counts.throttled++;
      session.send(pdu.response({ command_status: smpp.ESME_RTHROTTLED }));
      return;
    }
    const n = nextID++;
    counts.accepted++;
    const submitted = new Date();
    session.send(pdu.response({ message_id: formatID(n, ID_FORMAT) }));
    if (RECEIPTS) setTimeout(() => sendReceipt(session, pdu, n, submitted), RECEIPT_DELAY_MS);
  });

  session.on('enquire_link', (pdu) => {
    counts.enquire_links++;
    session.send(pdu.response());
  });

  session.on('unbind', (pdu) => {
    counts.unbinds++;
    session.send(pdu.response(), () => session.close());
  });
});

server.on('error', (e) => {
  console.error(`smsc.js: ${e.message}`);
  process.exit(1);
});

server.listen(PORT, HOST, () => {
  process.stdout.write(JSON.stringify({ port: server.address().port }) + '\n');
});

const finish = () => {
  process.stdout.write(JSON.stringify({ counts }) + '\n', () => process.exit(0));
};
process.on('SIGTERM', finish);
process.on('SIGINT', finish);
