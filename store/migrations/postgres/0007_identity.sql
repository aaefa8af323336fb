-- Identity: console users, their second factors and sessions, phone verifications, and
-- an account's optional IP allowlist for API access.
--
-- Secrets are never stored in a form that gives them back: passphrases are argon2id
-- (PHC strings), verification codes, recovery codes and session ids are keyed hashes
-- (HMAC under the KEK's MAC key). The TOTP secret must be read back to check codes, so it
-- is sealed under the KEK (AES-256-GCM, aad "totp:" + user id). A WebAuthn credential
-- holds only a public key.
ALTER TABLE accounts ADD COLUMN api_allow TEXT NOT NULL DEFAULT '';

CREATE TABLE users (
    id                TEXT PRIMARY KEY,
    account_id        TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    email             TEXT NOT NULL UNIQUE,
    role              TEXT NOT NULL,
    pass_hash         TEXT NOT NULL,
    phone             TEXT NOT NULL DEFAULT '',
    phone_verified_at BIGINT,
    totp_enc          BYTEA,
    totp_last_step    BIGINT NOT NULL DEFAULT 0,
    created_at        BIGINT NOT NULL,
    modified_at       BIGINT NOT NULL
);
CREATE INDEX users_account ON users(account_id);

CREATE TABLE recovery_codes (
    user_id  TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    code_mac BYTEA NOT NULL,
    used_at  BIGINT,
    PRIMARY KEY (user_id, code_mac)
);

CREATE TABLE webauthn_credentials (
    id           TEXT PRIMARY KEY,
    user_id      TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    name         TEXT NOT NULL,
    data         BYTEA NOT NULL,
    created_at   BIGINT NOT NULL,
    last_used_at BIGINT
);
CREATE INDEX webauthn_user ON webauthn_credentials(user_id);

-- id is hex(HMAC(session token)): a copy of the table does not let anyone log in.
-- level 1 = passphrase checked, second factor pending; 2 = logged in.
-- mfa_at is when a second factor was last presented (changes to factors, phone and
-- passphrase need a fresh one).
CREATE TABLE console_sessions (
    id           TEXT PRIMARY KEY,
    user_id      TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    level        INTEGER NOT NULL,
    csrf         TEXT NOT NULL,
    source       TEXT NOT NULL DEFAULT '',
    user_agent   TEXT NOT NULL DEFAULT '',
    created_at   BIGINT NOT NULL,
    last_seen_at BIGINT NOT NULL,
    expires_at   BIGINT NOT NULL,
    mfa_at       BIGINT
);
CREATE INDEX console_sessions_user ON console_sessions(user_id);

-- A phone verification, bound to the flow that asked for it (flow_mac: the keyed hash of
-- the browser's flow cookie). For a signup it carries what the account will be made from
-- once the code checks out, so nothing exists half-made before that.
CREATE TABLE verifications (
    id           TEXT PRIMARY KEY,
    flow_mac     BYTEA NOT NULL UNIQUE,
    purpose      TEXT NOT NULL,
    user_id      TEXT NOT NULL DEFAULT '',
    email        TEXT NOT NULL DEFAULT '',
    pass_hash    TEXT NOT NULL DEFAULT '',
    account_name TEXT NOT NULL DEFAULT '',
    invite_id    TEXT NOT NULL DEFAULT '',
    phone        TEXT NOT NULL,
    channel      TEXT NOT NULL,
    code_mac     BYTEA NOT NULL,
    sends        INTEGER NOT NULL,
    checks       INTEGER NOT NULL DEFAULT 0,
    source       TEXT NOT NULL DEFAULT '',
    created_at   BIGINT NOT NULL,
    sent_at      BIGINT NOT NULL,
    expires_at   BIGINT NOT NULL,
    used_at      BIGINT
);

-- An invitation of a new member to an account's console: the link's token is kept as
-- a keyed hash; it works once, until expires_at. The member sets their own passphrase
-- and verifies their phone before the user exists.
CREATE TABLE invites (
    id         TEXT PRIMARY KEY,
    account_id TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    email      TEXT NOT NULL,
    role       TEXT NOT NULL,
    token_mac  BYTEA NOT NULL UNIQUE,
    created_by TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    used_at    BIGINT
);
CREATE INDEX invites_account ON invites(account_id);

-- Platform-wide settings (e.g. the system account that sends verification codes).
CREATE TABLE platform_settings (
    name  TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
