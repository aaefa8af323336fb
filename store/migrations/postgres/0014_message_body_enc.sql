-- Message bodies are sealed at rest under the account's "message" data key (keys.Bodies):
-- deleting the account destroys the key and so shreds the bodies, in old backups too.
-- New rows keep body_text empty and the sealed body here; rows written before this
-- migration are read as before until serve seals them (store.SealPlainBodies).
ALTER TABLE messages ADD COLUMN body_enc BYTEA;
