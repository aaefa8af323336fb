-- Staff access: the operator's people (separate from console users), their sessions,
-- the grants under which they reach a customer's data, and each account's choice to
-- require its owner's consent for content access.
--
-- Like console users: passphrases are argon2id, session ids keyed hashes of the cookie's
-- token, the TOTP secret sealed under the KEK (aad "staff-totp:" + id).
CREATE TABLE staff (
    id             TEXT PRIMARY KEY,
    email          TEXT NOT NULL UNIQUE,
    name           TEXT NOT NULL DEFAULT '',
    role           TEXT NOT NULL,
    pass_hash      TEXT NOT NULL,
    totp_enc       BLOB NOT NULL,
    totp_last_step BIGINT NOT NULL DEFAULT 0,
    disabled       BOOLEAN NOT NULL DEFAULT FALSE,
    created_at     BIGINT NOT NULL
);

CREATE TABLE staff_sessions (
    id           TEXT PRIMARY KEY,
    staff_id     TEXT NOT NULL REFERENCES staff(id) ON DELETE CASCADE,
    csrf         TEXT NOT NULL,
    source       TEXT NOT NULL DEFAULT '',
    created_at   BIGINT NOT NULL,
    last_seen_at BIGINT NOT NULL,
    expires_at   BIGINT NOT NULL
);
CREATE INDEX staff_sessions_staff ON staff_sessions(staff_id);

-- A grant outlives its account (account_id is not a foreign key): the record of who
-- reached what must stay when the account goes.
CREATE TABLE access_grants (
    id            TEXT PRIMARY KEY,
    account_id    TEXT NOT NULL,
    staff_id      TEXT NOT NULL REFERENCES staff(id),
    scope         TEXT NOT NULL,
    mode          TEXT NOT NULL,
    reason        TEXT NOT NULL,
    ticket        TEXT NOT NULL,
    duration_s    BIGINT NOT NULL,
    break_glass   BOOLEAN NOT NULL DEFAULT FALSE,
    needs_consent BOOLEAN NOT NULL DEFAULT FALSE,
    state         TEXT NOT NULL,
    requested_at  BIGINT NOT NULL,
    approved_by   TEXT NOT NULL DEFAULT '',
    approved_at   BIGINT,
    consent_by    TEXT NOT NULL DEFAULT '',
    consent_at    BIGINT,
    denied_by     TEXT NOT NULL DEFAULT '',
    denied_at     BIGINT,
    revoked_by    TEXT NOT NULL DEFAULT '',
    revoked_at    BIGINT,
    active_at     BIGINT,
    expires_at    BIGINT,
    reviewed_by   TEXT NOT NULL DEFAULT '',
    reviewed_at   BIGINT,
    review_note   TEXT NOT NULL DEFAULT ''
);
CREATE INDEX access_grants_account ON access_grants(account_id, state);
CREATE INDEX access_grants_staff ON access_grants(staff_id, state);

CREATE TABLE staff_consent (
    account_id TEXT PRIMARY KEY REFERENCES accounts(id) ON DELETE CASCADE,
    required   BOOLEAN NOT NULL
);
