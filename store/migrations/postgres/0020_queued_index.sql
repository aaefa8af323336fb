-- Only queued messages are looked up by state: the claim query, the next due time and
-- the release of a node's leases all ask for state = 'queued'. A partial index holds
-- just those. The full index on (state, next_attempt_at) kept an entry for every
-- message ever stored and rewrote it at every state change (queued, sent, delivered):
-- two index updates per message for nothing, and about 40 bytes per message on disk.
DROP INDEX messages_work;
CREATE INDEX messages_queued ON messages(next_attempt_at) WHERE state = 'queued';
