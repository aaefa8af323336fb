'use strict';
// smsc.js (the node-smpp SMSC) with two additions the messaging end-to-end tests
// (cmd/trunkline/e2e_messaging_test.go) need:
//
//   1. A trace on stdout, one JSON line per event, written as it happens (stdout is a
//      pipe: writes are synchronous on Linux, so a SIGKILL loses no line already traced):
//        {"bind":T}                                   a bind was accepted
//        {"acc":[T,"ID","DST","TEXT"]}                a submit_sm was answered ESME_ROK
//        {"dlr":[T,"ID",STATUS]}                       a receipt's deliver_sm_resp came back
//      T is the wall clock in milliseconds (fractional), ID the message_id of the answer,
//      TEXT the decoded short_message (the tests put a unique marker in every message).
//
//   2. Store-and-forward delivery receipts, as real SMSCs keep them: smsc.js's own
//      receipts are switched off (SMSC_RECEIPTS=0 for it) and this wrapper sends one per
//      accepted submit, on the submit's connection or any other bound receiver of the
//      same system_id; a receipt whose connection dies before its deliver_sm_resp, that
//      is refused (non-zero status), or that finds no bound receiver is kept and sent
//      again when a receiver is bound. So an ESME that crashes or reconnects still gets
//      every receipt, at least once.
//
// Everything else (binds, fault modes SMSC_THROTTLE_FIRST, SMSC_SILENT, SMSC_CLOSE_AFTER,
// id formats, {"port":N} and {"counts":{...}}) is smsc.js's. Environment as smsc.js, plus
//   SMS_RECEIPTS            "0": send no receipts at all (default: SMSC_RECEIPTS, else "1")
// and SMSC_RECEIPT_DELAY_MS, SMSC_RECEIPT_STAT, SMSC_RECEIPT_ERR, SMSC_RECEIPT_ID_FORMAT
// are honoured by the wrapper's receipts. On SIGTERM it prints
//   {"dlr_counts":{sent, acked, refused, requeued, pending}} before smsc.js's counts.

const fs = require('fs');
const smpp = require('smpp');

const env = process.env;
const RECEIPTS = (env.SMS_RECEIPTS || env.SMSC_RECEIPTS || '1') !== '0';
const DELAY_MS = parseInt(env.SMSC_RECEIPT_DELAY_MS || '5', 10);
const STAT = env.SMSC_RECEIPT_STAT || 'DELIVRD';
const ERR = env.SMSC_RECEIPT_ERR || '000';
const ID_FORMAT = env.SMSC_ID_FORMAT || 'hex';
const RECEIPT_ID_FORMAT = env.SMSC_RECEIPT_ID_FORMAT || ID_FORMAT;
const STATES = { ENROUTE: 1, DELIVRD: 2, EXPIRED: 3, DELETED: 4, UNDELIV: 5, ACCEPTD: 6, UNKNOWN: 7, REJECTD: 8 };
env.SMSC_RECEIPTS = '0'; // smsc.js's own receipts: off, this wrapper sends them

const now = () => performance.timeOrigin + performance.now();
const trace = (obj) => {
  const line = JSON.stringify(obj) + '\n';
  try { fs.writeSync(1, line); } catch (e) { /* stdout gone: the test ended */ }
};

const dlr = { sent: 0, acked: 0, refused: 0, requeued: 0 };
const sessions = new Set();
const queue = []; // receipts waiting for a bound receiver

const canReceive = (s) => (s.boundAs === 'bind_transceiver' || s.boundAs === 'bind_receiver') &&
  s.socket.writable && !s.socket.destroyed;

// The receipt's id in the configured receipt format (the answer's id re-encoded).
const receiptID = (id) => {
  if (RECEIPT_ID_FORMAT === ID_FORMAT) return id;
  const n = ID_FORMAT === 'hex' ? parseInt(id, 16) : parseInt(id, 10);
  return RECEIPT_ID_FORMAT === 'hex' ? n.toString(16).toUpperCase().padStart(8, '0') : String(n);
};

const receiptDate = (d) => {
  const p = (v) => String(v).padStart(2, '0');
  return p(d.getUTCFullYear() % 100) + p(d.getUTCMonth() + 1) + p(d.getUTCDate()) + p(d.getUTCHours()) + p(d.getUTCMinutes());
};

function textOf(pdu) {
  const sm = pdu.short_message;
  if (sm && sm.message !== undefined) return Buffer.isBuffer(sm.message) ? sm.message.toString('latin1') : String(sm.message);
  if (Buffer.isBuffer(sm)) return sm.toString('latin1');
  if (pdu.message_payload !== undefined) {
    const mp = pdu.message_payload;
    return mp && mp.message !== undefined ? String(mp.message) : String(mp);
  }
  return '';
}

function send(r) {
  let target = canReceive(r.origin) ? r.origin : null;
  if (!target) {
    for (const s of sessions) {
      if (canReceive(s) && s.systemID === r.systemID) { target = s; break; }
    }
  }
  if (!target) { queue.push(r); return; }
  const rid = receiptID(r.id);
  const text = `id:${rid} sub:001 dlvrd:${STAT === 'DELIVRD' ? '001' : '000'} ` +
    `submit date:${receiptDate(r.submitted)} done date:${receiptDate(new Date())} ` +
    `stat:${STAT} err:${ERR} text:${r.text.replace(/[^\x20-\x7e]/g, '.').slice(0, 20)}`;
  const pdu = new smpp.PDU('deliver_sm', {
    source_addr_ton: r.submit.dest_addr_ton, source_addr_npi: r.submit.dest_addr_npi,
    source_addr: r.submit.destination_addr,
    dest_addr_ton: r.submit.source_addr_ton, dest_addr_npi: r.submit.source_addr_npi,
    destination_addr: r.submit.source_addr,
    esm_class: 0x04,
    data_coding: 0,
    short_message: Buffer.from(text, 'latin1'),
    receipted_message_id: rid,
    message_state: STATES[STAT] || STATES.UNKNOWN,
  });
  const ok = target.send(pdu, (resp) => {
    target.pendingDLR.delete(pdu.sequence_number);
    trace({ dlr: [now(), r.id, resp.command_status] });
    if (resp.command_status === 0) {
      dlr.acked++;
    } else {
      dlr.refused++;
      dlr.requeued++;
      setTimeout(() => send(r), 100); // the ESME could not store it: again, later
    }
  });
  if (!ok) { queue.push(r); return; }
  dlr.sent++;
  target.pendingDLR.set(pdu.sequence_number, r);
}

// Receipts queued for lack of a receiver go out as soon as one is bound.
setInterval(() => {
  if (queue.length === 0) return;
  const waiting = queue.splice(0, queue.length);
  for (const r of waiting) send(r);
}, 25).unref();

const origCreate = smpp.createServer;
smpp.createServer = function (options, listener) {
  return origCreate.call(this, options, (session) => {
    sessions.add(session);
    session.pendingDLR = new Map();
    const submits = new Map(); // sequence_number -> submit_sm awaiting its answer
    session.socket.on('close', () => {
      sessions.delete(session);
      // Receipts written to a connection that died unanswered: send them again.
      for (const r of session.pendingDLR.values()) { dlr.requeued++; queue.push(r); }
      session.pendingDLR.clear();
    });
    session.on('submit_sm', (pdu) => submits.set(pdu.sequence_number, pdu));
    const origSend = session.send;
    session.send = function (pdu, ...rest) {
      if (pdu.command === 'submit_sm_resp') {
        const submit = submits.get(pdu.sequence_number);
        submits.delete(pdu.sequence_number);
        if (submit && pdu.command_status === 0 && this.socket.writable) {
          const r = { origin: session, systemID: session.systemID, submit, id: String(pdu.message_id),
            text: textOf(submit), submitted: new Date() };
          trace({ acc: [now(), r.id, String(submit.destination_addr), r.text] });
          if (RECEIPTS) setTimeout(() => send(r), DELAY_MS);
        }
      } else if (/^bind_(transceiver|transmitter|receiver)_resp$/.test(pdu.command) && pdu.command_status === 0) {
        trace({ bind: now() });
      }
      return origSend.call(this, pdu, ...rest);
    };
    listener(session);
  });
};

// Registered before smsc.js's handler, so this line comes first.
const finish = () => {
  let pending = queue.length;
  for (const s of sessions) pending += s.pendingDLR.size;
  trace({ dlr_counts: Object.assign({ pending }, dlr) });
};
process.on('SIGTERM', finish);
process.on('SIGINT', finish);

require('./smsc.js');
