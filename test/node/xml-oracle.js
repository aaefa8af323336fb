'use strict';
// Plivo's official Node SDK (npm plivo, pinned in package.json) as an oracle
// for Trunkline's call-control XML parser. Run by plivoxml/oracle_test.go:
//
//   node xml-oracle.js
//
// Each case is a tree {el, body, attrs, kids} (a kid may also be {text}).
// The script builds it with the SDK's own builder, plivo.Response() and its
// addX methods, which check element nesting and attribute names, and prints
// one JSON object:
//
//   valid:    documents the SDK builds, as its toXML() prints them;
//             rawMatches says that our hand serialization of the same tree
//             gives the same bytes (so the invalid documents below are the
//             ones the SDK would have printed).
//   invalid:  trees the SDK refuses (it throws); error is its message and
//             xml our serialization of the tree.
//   stricter: documents the SDK builds but Plivo's documented value rules
//             refuse (the SDK checks names, not values); Trunkline refuses
//             them as Plivo's servers do.
//
// A case that the SDK does not treat as its list says is reported with
// sdkDisagrees, and the Go test fails on it.
const plivo = require('plivo');

const U = 'https://example.com';

// ---- building with the SDK -------------------------------------------------

// How each element is added: which SDK method, and whether it takes a body.
const ADDERS = {
  Speak: ['addSpeak', true], Play: ['addPlay', true], Wait: ['addWait', false],
  GetDigits: ['addGetDigits', false], GetInput: ['addGetInput', false],
  Record: ['addRecord', false], Dial: ['addDial', false], Number: ['addNumber', true],
  User: ['addUser', true], Message: ['addMessage', true], Redirect: ['addRedirect', true],
  Hangup: ['addHangup', false], PreAnswer: ['addPreAnswer', false], DTMF: ['addDTMF', true],
  Conference: ['addConference', true], Stream: ['addStream', true],
  MultiPartyCall: ['addMultiPartyCall', true],
  break: ['addBreak', false], emphasis: ['addEmphasis', true], lang: ['addLang', true],
  p: ['addP', true], phoneme: ['addPhoneme', true], prosody: ['addProsody', true],
  s: ['addS', true], 'say-as': ['addSayAs', true], sub: ['addSub', true], w: ['addW', true],
};

function addVia(parent, spec) {
  if (spec.text !== undefined) {
    parent.addText(spec.text);
    return;
  }
  const [method, hasBody] = ADDERS[spec.el];
  let child;
  if (spec.el === 'PreAnswer') child = parent.addPreAnswer();
  else if (hasBody) child = parent[method](spec.body === undefined ? null : spec.body, spec.attrs || {});
  else child = parent[method](spec.attrs || {});
  for (const k of spec.kids || []) addVia(child, k);
}

function sdkBuild(kids) {
  const r = plivo.Response();
  for (const k of kids) addVia(r, k);
  return r.toXML();
}

// ---- the same tree, serialized by hand -------------------------------------

const escText = (s) => String(s).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
const escAttr = (s) => String(s).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/"/g, '&quot;');

function raw(spec) {
  if (spec.text !== undefined) return escText(spec.text);
  let out = '<' + spec.el;
  for (const [k, v] of Object.entries(spec.attrs || {})) out += ' ' + k + '="' + escAttr(v) + '"';
  const inner = (spec.body ? escText(spec.body) : '') + (spec.kids || []).map(raw).join('');
  return inner === '' ? out + '/>' : out + '>' + inner + '</' + spec.el + '>';
}

const rawDoc = (kids) => raw({ el: 'Response', kids });

// ---- small constructors ----------------------------------------------------

const el = (name, attrs, ...kids) => ({ el: name, attrs, kids });
const txt = (name, body, attrs, ...kids) => ({ el: name, body, attrs, kids });
const text = (t) => ({ text: t });

// ---- cases -----------------------------------------------------------------

const valid = {
  'empty': [],
  'pin-ivr': [
    el('GetDigits', { action: U + '/d', numDigits: 4, log: false }, txt('Speak', 'Enter PIN', { voice: 'WOMAN' })),
    el('Dial', { callerId: '14155550100' }, txt('Number', '14155550101', { sendDigits: 'wwww2410' })),
    txt('Message', 'hello', { src: '14155550100', dst: '14155550101', type: 'sms' }),
    el('Wait', { length: 3 }),
    el('Hangup', { reason: 'busy' }),
  ],
  'speak-defaults': [txt('Speak', 'Hello world')],
  'speak-attrs': [txt('Speak', 'Bonjour', { voice: 'MAN', language: 'fr-FR', loop: 3 })],
  'speak-loop-forever': [txt('Speak', 'Please hold', { loop: 0 })],
  'speak-escaping': [txt('Speak', 'Tom & Jerry <3 > 2')],
  'speak-polly-ssml': [txt('Speak', 'Hello', { voice: 'Polly.Joanna', language: 'en-US' },
    el('break', { time: '500ms', strength: 'medium' }),
    txt('emphasis', 'really', { level: 'strong' }),
    text(' and '),
    txt('prosody', 'slowly', { rate: 'slow', pitch: 'low', volume: 'loud' }),
    txt('say-as', '12345', { 'interpret-as': 'digits' }),
    txt('lang', 'Bonjour', { 'xml:lang': 'fr-FR' }),
    txt('p', 'A paragraph', {}, txt('s', 'A sentence', {})),
    txt('sub', 'W3C', { alias: 'World Wide Web Consortium' }),
    txt('w', 'read', { role: 'amazon:VBD' }),
    txt('phoneme', 'pecan', { alphabet: 'ipa', ph: 'pɪˈkɑːn' }),
  )],
  'play-defaults': [txt('Play', U + '/a.mp3')],
  'play-loop': [txt('Play', U + '/b.wav', { loop: 3 })],
  'wait-defaults': [el('Wait')],
  'wait-all': [el('Wait', { length: 10, silence: true, minSilence: 3000, beep: true })],
  'wait-min_silence': [el('Wait', { length: 5, silence: true, min_silence: 500 })],
  'getdigits-defaults': [el('GetDigits', { action: U + '/d' }, txt('Speak', 'Press 1'))],
  'getdigits-all': [el('GetDigits', {
    action: U + '/digits', method: 'GET', timeout: 10, digitTimeout: 3, finishOnKey: '*',
    numDigits: 6, retries: 3, redirect: false, playBeep: true, validDigits: '123',
    invalidDigitsSound: U + '/invalid.mp3', log: false,
  }, txt('Speak', 'Enter your code'), txt('Play', U + '/beep.wav'), el('Wait', { length: 2 }))],
  'getdigits-finish-none': [el('GetDigits', { action: U + '/d', finishOnKey: 'none' }),
    el('GetDigits', { action: U + '/d', finishOnKey: '' })],
  'getinput-defaults': [el('GetInput', { action: U + '/in', inputType: 'dtmf speech' }, txt('Speak', 'Say or press'))],
  'getinput-all': [el('GetInput', {
    action: U + '/in', method: 'GET', inputType: 'dtmf', executionTimeout: 20, digitEndTimeout: 3,
    speechEndTimeout: 'auto', finishOnKey: '#', numDigits: 4, speechModel: 'default', hints: 'yes,no',
    language: 'en-GB', interimSpeechResultsCallback: U + '/interim',
    interimSpeechResultsCallbackMethod: 'GET', log: false, redirect: false, profanityFilter: true,
  }, txt('Speak', 'Enter four digits'), txt('Play', U + '/p.mp3'), el('Wait', { length: 1 }))],
  'record-defaults': [el('Record', { action: U + '/rec' })],
  'record-all': [el('Record', {
    action: U + '/rec', method: 'GET', fileFormat: 'wav', redirect: false, timeout: 5, maxLength: 120,
    finishOnKey: '1234567890*#', playBeep: false, recordSession: true, startOnDialAnswer: true,
    recordChannelType: 'mono', transcriptionType: 'auto', transcriptionUrl: U + '/tr',
    transcriptionMethod: 'GET', callbackUrl: U + '/cb', callbackMethod: 'GET',
  })],
  'dial-defaults': [el('Dial', {}, txt('Number', '14155550101'))],
  'dial-all': [el('Dial', {
    action: U + '/dial', method: 'GET', timeout: 30, timeLimit: 600, callerId: '+14155550100',
    callerName: 'Trunkline Test', hangupOnStar: true, redirect: false, callbackUrl: U + '/dialcb',
    callbackMethod: 'GET', confirmSound: U + '/confirm', confirmKey: '5', confirmTimeout: 20,
    dialMusic: 'real', digitsMatch: '123,*9', digitsMatchBLeg: '#1', sipHeaders: 'Tenant=acme,Tier=gold',
  },
  txt('Number', '14155550101', { sendDigits: '1w2W3', sendOnPreanswer: true, sendDigitsMode: 'rtp', callerId: '14155550199', callerName: 'Desk' }),
  txt('User', 'sip:alice@example.com', { sendDigits: '9', sendOnPreanswer: false, sipHeaders: 'A=1,B=two', callerId: '14155550100', callerName: 'Alice' }))],
  'dial-simultaneous': [el('Dial', {}, txt('Number', '14155550101'), txt('Number', '+442071838750'), txt('User', 'sip:bob@example.com'))],
  'message': [txt('Message', 'Thanks & bye <3', { src: '14155550100', dst: '14155550101<14155550102', callbackUrl: U + '/sms', callbackMethod: 'GET' })],
  'redirect': [txt('Redirect', U + '/next?x=1&y=2', { method: 'GET' })],
  'redirect-defaults': [txt('Redirect', U + '/next')],
  'hangup-defaults': [el('Hangup')],
  'hangup-schedule': [el('Hangup', { schedule: 60, reason: 'rejected' }), txt('Speak', 'This call ends in a minute')],
  'preanswer': [el('PreAnswer', {},
    txt('Speak', 'Early media'), txt('Play', U + '/ring.mp3'),
    el('GetDigits', { action: U + '/pre' }, txt('Speak', 'Press a key')),
    el('Wait', { length: 2 }), txt('Message', 'hi', { src: '1', dst: '2' }), txt('DTMF', '1'),
    txt('Redirect', U + '/pre-next')),
  txt('Speak', 'Answered')],
  'dtmf': [txt('DTMF', '12w34#W*', { async: false })],
  'dtmf-defaults': [txt('DTMF', '1')],
  'conference-defaults': [txt('Conference', 'my-room')],
  'conference-all': [txt('Conference', 'Room 1', {
    muted: true, startConferenceOnEnter: false, endConferenceOnExit: true, waitSound: U + '/wait',
    enterSound: 'beep:1', exitSound: 'beep:2', timeLimit: 600, hangupOnStar: true, maxMembers: 5,
    record: true, recordWhenAlone: true, recordFileFormat: 'wav', action: U + '/conf', method: 'GET',
    redirect: false, digitsMatch: '123,456', callbackUrl: U + '/confcb', callbackMethod: 'GET',
    stayAlone: false, floorEvent: true, transcriptionType: 'auto', transcriptionUrl: U + '/ctr',
    transcriptionMethod: 'GET', relayDTMF: false,
  })],
  'stream-defaults': [txt('Stream', 'wss://stream.example.com/audio')],
  'stream-all': [txt('Stream', 'wss://stream.example.com/audio', {
    bidirectional: true, audioTrack: 'both', streamTimeout: 120, statusCallbackUrl: U + '/st',
    statusCallbackMethod: 'GET', contentType: 'audio/x-mulaw;rate=8000', extraHeaders: 'a=1,b=2',
    keepCallAlive: true,
  })],
  'multipartycall': [txt('MultiPartyCall', 'team-call', { role: 'Agent', maxParticipants: 5 })],
};

const invalid = {
  // attribute names (case-sensitive, per element)
  'attr-speak-foo': [txt('Speak', 'hi', { foo: '1' })],
  'attr-play-Loop': [txt('Play', U + '/a.mp3', { Loop: 2 })],
  'attr-getdigits-numdigits': [el('GetDigits', { action: U + '/d', numdigits: 4 })],
  'attr-getinput-timeout': [el('GetInput', { action: U + '/d', inputType: 'dtmf', timeout: 5 })],
  'attr-dial-callerID': [el('Dial', { callerID: '14155550100' }, txt('Number', '14155550101'))],
  'attr-number-foo': [el('Dial', {}, txt('Number', '14155550101', { foo: 'x' }))],
  'attr-user-timeout': [el('Dial', {}, txt('User', 'sip:a@example.com', { timeout: 5 }))],
  'attr-record-format': [el('Record', { format: 'wav' })],
  'attr-wait-duration': [el('Wait', { duration: 3 })],
  'attr-hangup-cause': [el('Hangup', { cause: 'busy' })],
  'attr-message-log': [txt('Message', 'hi', { src: '1', dst: '2', log: false })],
  'attr-redirect-timeout': [txt('Redirect', U + '/r', { timeout: 5 })],
  'attr-dtmf-foo': [txt('DTMF', '1', { foo: 1 })],
  'attr-conference-muteOnEntry': [txt('Conference', 'r', { muteOnEntry: true })],
  'attr-stream-track': [txt('Stream', 'wss://s.example.com', { track: 'both' })],
  'attr-break-foo': [txt('Speak', 'a', {}, el('break', { foo: '1' }))],
  'attr-prosody-speed': [txt('Speak', 'a', {}, txt('prosody', 'b', { speed: 'fast' }))],
  // nesting
  'nest-speak-in-dial': [el('Dial', {}, txt('Speak', 'x'))],
  'nest-wait-in-dial': [el('Dial', {}, txt('Number', '1'), el('Wait'))],
  'nest-dial-in-getdigits': [el('GetDigits', { action: U + '/d' }, el('Dial', {}, txt('Number', '1')))],
  'nest-record-in-getdigits': [el('GetDigits', { action: U + '/d' }, el('Record'))],
  'nest-getdigits-in-getdigits': [el('GetDigits', { action: U + '/d' }, el('GetDigits', { action: U + '/e' }))],
  'nest-message-in-getdigits': [el('GetDigits', { action: U + '/d' }, txt('Message', 'x', { src: '1', dst: '2' }))],
  'nest-user-in-getdigits': [el('GetDigits', { action: U + '/d' }, txt('User', 'sip:a@example.com'))],
  'nest-getdigits-in-getinput': [el('GetInput', { action: U + '/d', inputType: 'dtmf' }, el('GetDigits'))],
  'nest-hangup-in-preanswer': [el('PreAnswer', {}, el('Hangup'))],
  'nest-dial-in-preanswer': [el('PreAnswer', {}, el('Dial', {}, txt('Number', '1')))],
  'nest-record-in-preanswer': [el('PreAnswer', {}, el('Record'))],
  'nest-conference-in-preanswer': [el('PreAnswer', {}, txt('Conference', 'r'))],
  'nest-preanswer-in-preanswer': [el('PreAnswer', {}, el('PreAnswer'))],
  'nest-stream-in-preanswer': [el('PreAnswer', {}, txt('Stream', 'wss://s.example.com'))],
  'nest-number-in-response': [txt('Number', '14155550101')],
  'nest-break-in-response': [el('break', { time: '1s' })],
  'nest-play-in-speak': [txt('Speak', 'x', {}, txt('Play', U + '/a.mp3'))],
  'nest-speak-in-number': [el('Dial', {}, txt('Number', '1', {}, txt('Speak', 'x')))],
  'nest-play-in-play': [txt('Play', U + '/a.mp3', {}, txt('Play', U + '/b.mp3'))],
  'nest-speak-in-stream': [txt('Stream', 'wss://s.example.com', {}, txt('Speak', 'x'))],
  'nest-emphasis-in-break': [txt('Speak', 'a', {}, el('break', {}, txt('emphasis', 'b', {})))],
  'nest-p-in-w': [txt('Speak', 'a', {}, txt('w', 'b', {}, txt('p', 'c', {})))],
  'nest-p-in-p': [txt('Speak', 'a', {}, txt('p', 'b', {}, txt('p', 'c', {})))],
  'nest-phoneme-in-p': [txt('Speak', 'a', {}, txt('p', 'b', {}, txt('phoneme', 'c', { ph: 'x' })))],
  'nest-s-in-s': [txt('Speak', 'a', {}, txt('s', 'b', {}, txt('s', 'c', {})))],
  'nest-lang-in-w': [txt('Speak', 'a', {}, txt('w', 'b', {}, txt('lang', 'c', { 'xml:lang': 'fr-FR' })))],
  // values the SDK itself checks
  'speak-voice-robot': [txt('Speak', 'hi', { voice: 'Robot' })],
  'speak-voice-polly-three-parts': [txt('Speak', 'hi', { voice: 'Polly.Joanna.Neural' })],
  'speak-no-text': [txt('Speak', undefined)],
  'play-no-url': [txt('Play', undefined)],
  'stream-no-url': [txt('Stream', '')],
  'mpc-no-role': [txt('MultiPartyCall', 'c', {})],
  'mpc-bad-role': [txt('MultiPartyCall', 'c', { role: 'boss' })],
  'mpc-too-many-participants': [txt('MultiPartyCall', 'c', { role: 'agent', maxParticipants: 11 })],
  'mpc-short-duration': [txt('MultiPartyCall', 'c', { role: 'agent', maxDuration: 100 })],
  'mpc-record-yes': [txt('MultiPartyCall', 'c', { role: 'agent', record: 'yes' })],
  'mpc-method-put': [txt('MultiPartyCall', 'c', { role: 'agent', waitMusicMethod: 'PUT' })],
  'mpc-format-ogg': [txt('MultiPartyCall', 'c', { role: 'agent', recordFileFormat: 'ogg' })],
};

const stricter = {
  'dial-empty': [el('Dial', { callerId: '14155550100' })],
  'speak-empty': [txt('Speak', '')],
  'getdigits-timeout-abc': [el('GetDigits', { action: U + '/d', timeout: 'abc' })],
  'getdigits-numdigits-0': [el('GetDigits', { action: U + '/d', numDigits: 0 })],
  'getdigits-finishonkey-two': [el('GetDigits', { action: U + '/d', finishOnKey: '#*' })],
  'getdigits-redirect-yes': [el('GetDigits', { action: U + '/d', redirect: 'yes' })],
  'getdigits-action-relative': [el('GetDigits', { action: '/digits' })],
  'getinput-no-action': [el('GetInput', { inputType: 'dtmf' })],
  'getinput-execution-timeout-100': [el('GetInput', { action: U + '/d', inputType: 'dtmf', executionTimeout: 100 })],
  'record-fileformat-ogg': [el('Record', { fileFormat: 'ogg' })],
  'hangup-reason-angry': [el('Hangup', { reason: 'angry' })],
  'redirect-method-put': [txt('Redirect', U + '/r', { method: 'PUT' })],
  'play-relative-url': [txt('Play', '/a.mp3')],
  'wait-length-0': [el('Wait', { length: 0 })],
  'number-letters': [el('Dial', {}, txt('Number', 'call-me'))],
  'user-not-sip': [el('Dial', {}, txt('User', 'alice'))],
  'dtmf-letters': [txt('DTMF', '12x')],
  'stream-http': [txt('Stream', 'http://s.example.com')],
  'conference-maxmembers-50': [txt('Conference', 'r', { maxMembers: 50 })],
  'dial-callername-long': [el('Dial', { callerName: 'x'.repeat(51) }, txt('Number', '1'))],
  'ssml-break-time-words': [txt('Speak', 'a', {}, el('break', { time: 'one second' }))],
};

// ---- run -------------------------------------------------------------------

function attempt(kids) {
  try {
    return { xml: sdkBuild(kids) };
  } catch (e) {
    return { error: String((e && e.message) || e), errorType: (e && e.constructor && e.constructor.name) || typeof e };
  }
}

const out = { sdkVersion: require('plivo/package.json').version, valid: [], invalid: [], stricter: [] };
for (const [name, kids] of Object.entries(valid)) {
  const r = attempt(kids);
  if (r.error) out.valid.push({ name, sdkDisagrees: 'the SDK threw: ' + r.error });
  else out.valid.push({ name, xml: r.xml, rawMatches: rawDoc(kids) === r.xml, raw: rawDoc(kids) });
}
for (const [name, kids] of Object.entries(invalid)) {
  const r = attempt(kids); // the SDK may add defaults to attrs before it throws: serialize after
  if (!r.error) out.invalid.push({ name, xml: r.xml, sdkDisagrees: 'the SDK accepted it' });
  else out.invalid.push({ name, xml: rawDoc(kids), error: r.error, errorType: r.errorType });
}
for (const [name, kids] of Object.entries(stricter)) {
  const r = attempt(kids);
  if (r.error) out.stricter.push({ name, sdkDisagrees: 'the SDK threw: ' + r.error });
  else out.stricter.push({ name, xml: r.xml });
}
process.stdout.write(JSON.stringify(out, null, 1) + '\n');
