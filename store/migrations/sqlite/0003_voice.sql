-- Voice: call detail records, recordings, and per-account data keys.

-- One row per call leg, inserted when the leg starts (ringing) and completed when it
-- ends; the call API lists only completed rows (CDRs). Numbers are as the voice engine
-- stores them (E.164 digits without "+", or a SIP URI). parent_uuid names the A leg of a
-- B leg; hangup_reason is our own plain-words explanation next to Plivo's cause fields.
-- Rows go with their account (as messages do): a deleted subaccount takes its CDRs.
CREATE TABLE calls (
    uuid              TEXT PRIMARY KEY,
    account_id        TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    direction         TEXT NOT NULL,
    from_number       TEXT NOT NULL DEFAULT '',
    to_number         TEXT NOT NULL DEFAULT '',
    parent_uuid       TEXT NOT NULL DEFAULT '',
    request_uuid      TEXT NOT NULL DEFAULT '',
    state             TEXT NOT NULL,
    trunk             TEXT NOT NULL DEFAULT '',
    app_id            TEXT NOT NULL DEFAULT '',
    initiated_at      BIGINT NOT NULL,
    answered_at       BIGINT,
    ended_at          BIGINT,
    duration_s        INTEGER NOT NULL DEFAULT 0,
    bill_duration_s   INTEGER NOT NULL DEFAULT 0,
    hangup_cause_code INTEGER NOT NULL DEFAULT 0,
    hangup_cause_name TEXT NOT NULL DEFAULT '',
    hangup_source     TEXT NOT NULL DEFAULT '',
    hangup_reason     TEXT NOT NULL DEFAULT ''
);
-- CDR listings: an account's (or its subaccounts') completed calls by end time.
CREATE INDEX calls_account_ended ON calls(account_id, ended_at);

-- Recordings: the metadata; the audio itself is a file encrypted under the account's
-- data key, outside the database. A deleted recording's row is deleted (the audit log
-- keeps the fact). call_uuid is not a foreign key: a recording may be stored before or
-- after its call row changes, and keeps its call's id for the listing filter.
CREATE TABLE recordings (
    id             TEXT PRIMARY KEY,
    account_id     TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    call_uuid      TEXT NOT NULL DEFAULT '',
    format         TEXT NOT NULL,
    recording_type TEXT NOT NULL DEFAULT 'call',
    duration_ms    BIGINT NOT NULL DEFAULT 0,
    start_ms       BIGINT NOT NULL DEFAULT 0,
    end_ms         BIGINT NOT NULL DEFAULT 0,
    size_bytes     BIGINT NOT NULL DEFAULT 0,
    from_number    TEXT NOT NULL DEFAULT '',
    to_number      TEXT NOT NULL DEFAULT '',
    created_at     BIGINT NOT NULL
);
CREATE INDEX recordings_account ON recordings(account_id, created_at);
CREATE INDEX recordings_call ON recordings(call_uuid);

-- Per-account data keys (AES-256), each wrapped by the server's key-encryption key,
-- one per purpose (e.g. "recordings"). Deleting an account deletes its keys, which
-- crypto-shreds whatever was encrypted under them, backups and stray files included.
CREATE TABLE account_data_keys (
    account_id TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    purpose    TEXT NOT NULL,
    wrapped    BLOB NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (account_id, purpose)
);
