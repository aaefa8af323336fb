-- Foundation schema: accounts, credentials, applications, numbers, audit log, webhook attempts.
-- Times are Unix microseconds (UTC) so both dialects compare and sort them the same way.
CREATE TABLE accounts (
    id          TEXT PRIMARY KEY,
    parent_id   TEXT REFERENCES accounts(id),
    name        TEXT NOT NULL,
    enabled     BOOLEAN NOT NULL DEFAULT TRUE,
    city        TEXT NOT NULL DEFAULT '',
    address     TEXT NOT NULL DEFAULT '',
    state       TEXT NOT NULL DEFAULT '',
    timezone    TEXT NOT NULL DEFAULT 'UTC',
    created_at  BIGINT NOT NULL,
    modified_at BIGINT NOT NULL
);
CREATE INDEX accounts_parent ON accounts(parent_id);

CREATE TABLE credentials (
    id         TEXT PRIMARY KEY,
    account_id TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    token_mac  BLOB NOT NULL,
    token_enc  BLOB NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT,
    revoked_at BIGINT
);
CREATE INDEX credentials_account ON credentials(account_id);

CREATE TABLE applications (
    id                   TEXT PRIMARY KEY,
    account_id           TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    app_name             TEXT NOT NULL,
    answer_url           TEXT NOT NULL DEFAULT '',
    answer_method        TEXT NOT NULL DEFAULT 'POST',
    hangup_url           TEXT NOT NULL DEFAULT '',
    hangup_method        TEXT NOT NULL DEFAULT 'POST',
    fallback_answer_url  TEXT NOT NULL DEFAULT '',
    fallback_method      TEXT NOT NULL DEFAULT 'POST',
    message_url          TEXT NOT NULL DEFAULT '',
    message_method       TEXT NOT NULL DEFAULT 'POST',
    default_number_app   BOOLEAN NOT NULL DEFAULT FALSE,
    default_endpoint_app BOOLEAN NOT NULL DEFAULT FALSE,
    log_incoming_messages BOOLEAN NOT NULL DEFAULT TRUE,
    public_uri           BOOLEAN NOT NULL DEFAULT FALSE,
    enabled              BOOLEAN NOT NULL DEFAULT TRUE,
    created_at           BIGINT NOT NULL,
    modified_at          BIGINT NOT NULL
);
CREATE INDEX applications_account ON applications(account_id, created_at);

CREATE TABLE numbers (
    number              TEXT PRIMARY KEY,
    country_iso         TEXT NOT NULL,
    number_type         TEXT NOT NULL,
    region              TEXT NOT NULL DEFAULT '',
    prefix              TEXT NOT NULL DEFAULT '',
    carrier             TEXT NOT NULL DEFAULT '',
    voice_enabled       BOOLEAN NOT NULL DEFAULT TRUE,
    sms_enabled         BOOLEAN NOT NULL DEFAULT TRUE,
    mms_enabled         BOOLEAN NOT NULL DEFAULT FALSE,
    monthly_rental_rate TEXT NOT NULL DEFAULT '0.00000',
    setup_rate          TEXT NOT NULL DEFAULT '0.00000',
    sms_rate            TEXT NOT NULL DEFAULT '0.00000',
    voice_rate          TEXT NOT NULL DEFAULT '0.00000',
    imported_at         BIGINT NOT NULL,
    account_id          TEXT REFERENCES accounts(id) ON DELETE SET NULL,
    app_id              TEXT REFERENCES applications(id) ON DELETE SET NULL,
    alias               TEXT NOT NULL DEFAULT '',
    rented_at           BIGINT,
    renewal_at          BIGINT
);
CREATE INDEX numbers_account ON numbers(account_id, number);
CREATE INDEX numbers_search ON numbers(country_iso, number_type, number);

-- The audit log: append-only, one row per entry, seq 1, 2, 3 ... without gaps.
-- record_hash is the tlog record hash of the entry's canonical encoding (audit.Encode);
-- chain_hash = SHA-256(previous chain_hash || record_hash), the first entry chaining
-- from 32 zero bytes. detail is a JSON object of strings written by package audit.
CREATE TABLE audit_entries (
    seq           BIGINT PRIMARY KEY,
    at            BIGINT NOT NULL,
    account_id    TEXT NOT NULL DEFAULT '',
    actor         TEXT NOT NULL DEFAULT '',
    credential_id TEXT NOT NULL DEFAULT '',
    action        TEXT NOT NULL,
    object_type   TEXT NOT NULL DEFAULT '',
    object_id     TEXT NOT NULL DEFAULT '',
    source        TEXT NOT NULL DEFAULT '',
    node          TEXT NOT NULL DEFAULT '',
    outcome       TEXT NOT NULL,
    detail        TEXT NOT NULL DEFAULT '',
    record_hash   BLOB NOT NULL,
    chain_hash    BLOB NOT NULL
);
CREATE INDEX audit_account ON audit_entries(account_id, at);
CREATE INDEX audit_at ON audit_entries(at);

-- One row: the head of the chain, updated with a compare-and-swap on size in the same
-- transaction as each append so that concurrent writers (even on several nodes) serialise.
-- Seeded here so appenders never race to create it.
CREATE TABLE audit_head (
    id         INTEGER PRIMARY KEY,
    size       BIGINT NOT NULL,
    chain_hash BLOB NOT NULL
);
INSERT INTO audit_head(id, size, chain_hash) VALUES (1, 0, zeroblob(32));

-- Signed checkpoints (golang.org/x/mod/sumdb/note text), one per tree size. The signing
-- key is never stored in the database.
CREATE TABLE audit_checkpoints (
    size       BIGINT PRIMARY KEY,
    created_at BIGINT NOT NULL,
    note       TEXT NOT NULL
);

-- Merkle tree hashes (golang.org/x/mod/sumdb/tlog storage), so proofs are cheap.
CREATE TABLE audit_tree (
    idx  BIGINT PRIMARY KEY,
    hash BLOB NOT NULL
);

CREATE TABLE webhook_attempts (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    account_id  TEXT NOT NULL,
    kind        TEXT NOT NULL,
    object_id   TEXT NOT NULL DEFAULT '',
    url         TEXT NOT NULL,
    attempt     INTEGER NOT NULL,
    status      INTEGER NOT NULL,
    error_class TEXT NOT NULL DEFAULT '',
    latency_us  BIGINT NOT NULL,
    at          BIGINT NOT NULL
);
CREATE INDEX webhook_attempts_object ON webhook_attempts(account_id, object_id);
