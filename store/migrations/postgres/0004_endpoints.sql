-- Endpoints: an account's SIP users (Plivo's Endpoint API) and where each is registered.
--
-- username is global (it is the SIP user name the registrar looks up, with no account in
-- the request), so it is unique across accounts. The password itself is never stored:
-- ha1_enc is the digest HA1 = MD5(username:realm:password), which SIP digest needs and
-- which is as good as the password for SIP, so it is sealed under the KEK (AES-256-GCM,
-- aad "endpoint:" + username); realm is the one it was computed for. password_md5_enc is
-- Plivo's "password" field, MD5(password) in hex, sealed too: in clear it would let
-- anyone with a copy of the database guess weak passwords offline and so undo the
-- encryption of ha1_enc.
--
-- Registration state (sip_*) is written by the registrar; sip_expires_at NULL or past
-- means not registered. A deleted application leaves its endpoints without one; a deleted
-- account takes its endpoints with it.
CREATE TABLE endpoints (
    id               TEXT PRIMARY KEY,
    account_id       TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    username         TEXT NOT NULL UNIQUE,
    alias            TEXT NOT NULL DEFAULT '',
    app_id           TEXT REFERENCES applications(id) ON DELETE SET NULL,
    realm            TEXT NOT NULL,
    ha1_enc          BYTEA NOT NULL,
    password_md5_enc BYTEA NOT NULL,
    created_at       BIGINT NOT NULL,
    modified_at      BIGINT NOT NULL,
    sip_contact      TEXT NOT NULL DEFAULT '',
    sip_user_agent   TEXT NOT NULL DEFAULT '',
    sip_expires_at   BIGINT,
    registered_at    BIGINT
);
CREATE INDEX endpoints_account ON endpoints(account_id, created_at);
CREATE INDEX endpoints_app ON endpoints(app_id);
