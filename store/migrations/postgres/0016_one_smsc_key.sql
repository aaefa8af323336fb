-- One key per SMSC id (issue 13). A segment was stored under up to three keys: the id
-- as spelled ("s:...") and each way it reads as a number ("n:..." in decimal). Now it has
-- one, the id's normalised spelling (pdu.MessageIDKey: lower case, and for ids made of
-- hex digits no "0x" and no leading zeros), and a receipt looks up the few spellings its
-- own id may have had at the submit (pdu.MessageIDKeys). The table is rebuilt, as on
-- SQLite (where it loses its rowid).
CREATE TABLE message_parts_one_key (
    message_uuid TEXT NOT NULL REFERENCES messages(uuid) ON DELETE CASCADE,
    seq          INTEGER NOT NULL,
    carrier      TEXT NOT NULL,
    smsc_key     TEXT NOT NULL,
    state        TEXT NOT NULL DEFAULT 'sent',
    error_code   TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (message_uuid, seq, smsc_key)
);
INSERT INTO message_parts_one_key (message_uuid, seq, carrier, smsc_key, state, error_code)
SELECT message_uuid, seq, carrier,
    CASE WHEN k.h <> '' AND k.h !~ '[^0-9a-f]' THEN (CASE WHEN ltrim(k.h, '0') = '' THEN '0' ELSE ltrim(k.h, '0') END) ELSE k.s END,
    state, error_code
FROM (SELECT message_uuid, seq, carrier, state, error_code, substr(smsc_key, 3) AS s,
        CASE WHEN substr(smsc_key, 3, 2) = '0x' THEN substr(smsc_key, 5) ELSE substr(smsc_key, 3) END AS h
      FROM message_parts WHERE smsc_key LIKE 's:%') AS k;
DROP TABLE message_parts;
ALTER TABLE message_parts_one_key RENAME TO message_parts;
CREATE INDEX message_parts_key ON message_parts(carrier, smsc_key);

-- Receipts waiting for their submit: the same spelling (each receipt keeps the rows of
-- every key it may match, as before).
DELETE FROM early_receipts WHERE smsc_key LIKE 'n:%';
INSERT INTO early_receipts (carrier, smsc_key, state, error_code, received_at)
SELECT carrier,
    CASE WHEN k.h <> '' AND k.h !~ '[^0-9a-f]' THEN (CASE WHEN ltrim(k.h, '0') = '' THEN '0' ELSE ltrim(k.h, '0') END) ELSE k.s END,
    state, error_code, received_at
FROM (SELECT carrier, state, error_code, received_at, substr(smsc_key, 3) AS s,
        CASE WHEN substr(smsc_key, 3, 2) = '0x' THEN substr(smsc_key, 5) ELSE substr(smsc_key, 3) END AS h
      FROM early_receipts WHERE smsc_key LIKE 's:%') AS k
WHERE true ON CONFLICT DO NOTHING;
DELETE FROM early_receipts WHERE smsc_key LIKE 's:%';
