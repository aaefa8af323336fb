-- Messages: every accepted message is a row before the API answers 202. What is needed to
-- send it (the full destination and the text) is kept only encrypted (payload_enc,
-- AES-256-GCM under the KEK) and erased once the message is final when its log mode
-- redacts them; to_number and body_text hold what may be shown (possibly redacted).
CREATE TABLE messages (
    uuid            TEXT PRIMARY KEY,
    account_id      TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    direction       TEXT NOT NULL,
    message_type    TEXT NOT NULL DEFAULT 'sms',
    log_mode        TEXT NOT NULL DEFAULT 'true',
    from_number     TEXT NOT NULL,
    to_number       TEXT NOT NULL,
    body_text       TEXT NOT NULL DEFAULT '',
    payload_enc     BLOB,
    coding          INTEGER NOT NULL DEFAULT 0,
    units           INTEGER NOT NULL DEFAULT 1,
    state           TEXT NOT NULL,
    error_code      TEXT NOT NULL DEFAULT '',
    carrier         TEXT NOT NULL DEFAULT '',
    callback_url    TEXT NOT NULL DEFAULT '',
    callback_method TEXT NOT NULL DEFAULT 'POST',
    requester_ip    TEXT NOT NULL DEFAULT '',
    created_at      BIGINT NOT NULL,
    sent_at         BIGINT,
    updated_at      BIGINT NOT NULL,
    expires_at      BIGINT NOT NULL,
    next_attempt_at BIGINT NOT NULL,
    lease_until     BIGINT NOT NULL DEFAULT 0,
    lease_owner     TEXT NOT NULL DEFAULT '',
    attempts        INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX messages_work ON messages(state, next_attempt_at);
CREATE INDEX messages_account ON messages(account_id, created_at);

-- One row per SMS segment submitted to a carrier; smsc_key is a normalised form of the
-- id the SMSC gave (several rows per segment when the id has several readings, e.g. hex
-- and decimal), so a receipt finds its segment whatever form it carries.
CREATE TABLE message_parts (
    message_uuid TEXT NOT NULL REFERENCES messages(uuid) ON DELETE CASCADE,
    seq          INTEGER NOT NULL,
    carrier      TEXT NOT NULL,
    smsc_key     TEXT NOT NULL,
    state        TEXT NOT NULL DEFAULT 'sent',
    error_code   TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (message_uuid, seq, smsc_key)
);
CREATE INDEX message_parts_key ON message_parts(carrier, smsc_key);

-- Receipts that arrived before their submit_sm_resp was recorded: matched when it is.
CREATE TABLE early_receipts (
    carrier     TEXT NOT NULL,
    smsc_key    TEXT NOT NULL,
    state       TEXT NOT NULL,
    error_code  TEXT NOT NULL DEFAULT '',
    received_at BIGINT NOT NULL,
    PRIMARY KEY (carrier, smsc_key)
);

-- Every carrier attempt of a message: which carrier, the outcome, how long it took.
CREATE TABLE message_attempts (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    message_uuid TEXT NOT NULL REFERENCES messages(uuid) ON DELETE CASCADE,
    carrier      TEXT NOT NULL,
    status       TEXT NOT NULL,
    latency_us   BIGINT NOT NULL,
    at           BIGINT NOT NULL
);
CREATE INDEX message_attempts_message ON message_attempts(message_uuid);

-- Callbacks to customer URLs waiting to be delivered (an outbox: a status change and its
-- callback are written in one transaction, so no callback is lost in a crash). The
-- parameters may carry message text meant for the customer's app only, so they are kept
-- encrypted and the row is deleted once delivered.
CREATE TABLE callbacks (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    account_id      TEXT NOT NULL,
    kind            TEXT NOT NULL,
    object_id       TEXT NOT NULL,
    url             TEXT NOT NULL,
    method          TEXT NOT NULL,
    params_enc      BLOB NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    created_at      BIGINT NOT NULL,
    next_attempt_at BIGINT NOT NULL,
    lease_until     BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX callbacks_due ON callbacks(next_attempt_at);
