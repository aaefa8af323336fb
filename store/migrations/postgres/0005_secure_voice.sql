-- secure_voice: the account's calls and endpoints must use SIP over TLS with SRTP
-- (HIPAA mode builds on it). Off by default.
ALTER TABLE accounts ADD COLUMN secure_voice BOOLEAN NOT NULL DEFAULT FALSE;
