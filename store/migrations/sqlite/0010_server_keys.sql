-- Platform-wide keys, each sealed under the KEK (aad names the key): today the MAC key
-- that keyed hashes of tokens, session ids, recovery codes and SIP nonces use. It is
-- random and kept here rather than derived from the newest KEK, so rotating the KEK only
-- reseals this row and every keyed hash keeps checking.
CREATE TABLE server_keys (
    name       TEXT PRIMARY KEY,
    wrapped    BLOB NOT NULL,
    created_at BIGINT NOT NULL
);
