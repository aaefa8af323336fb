-- Message bodies are sealed at rest under the account's "message" data key (keys.Bodies):
-- deleting the account destroys the key and so shreds the bodies, in old backups too.
-- Rows written before this migration keep their plain body_text (read as before); new
-- rows keep body_text empty and the sealed body here.
ALTER TABLE messages ADD COLUMN body_enc BYTEA;
