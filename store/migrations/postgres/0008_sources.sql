-- Sources an account may send from besides the numbers it rents (issue 11): alphanumeric
-- sender IDs the operator allowed for it, and caller IDs it proved it owns by a code sent
-- to the number (Plivo's VerifiedCallerId). A subaccount may also use its main account's.
CREATE TABLE sender_ids (
    account_id TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    sender     TEXT NOT NULL,
    created_by TEXT NOT NULL DEFAULT '',
    created_at BIGINT NOT NULL,
    PRIMARY KEY (account_id, sender)
);

CREATE TABLE verified_caller_ids (
    account_id   TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    phone_number TEXT NOT NULL,
    alias        TEXT NOT NULL DEFAULT '',
    channel      TEXT NOT NULL,
    -- the verification that proved it (single use, spent): Plivo shows it on the record
    verification_uuid TEXT NOT NULL DEFAULT '',
    verified_at  BIGINT NOT NULL,
    modified_at  BIGINT NOT NULL,
    PRIMARY KEY (account_id, phone_number)
);
CREATE INDEX verified_caller_ids_number ON verified_caller_ids(phone_number);

-- A caller-ID verification runs on the same verification rows as a console phone
-- verification (keyed-hash code, single use, bounded sends and checks, expiry).
ALTER TABLE verifications ADD COLUMN account_id TEXT NOT NULL DEFAULT '';
ALTER TABLE verifications ADD COLUMN alias TEXT NOT NULL DEFAULT '';
