-- attempts: the trunks an outbound call tried, in order, as JSON
-- ([{"trunk","status","outcome","ms"}]), shown on the CDR.
ALTER TABLE calls ADD COLUMN attempts TEXT NOT NULL DEFAULT '';
