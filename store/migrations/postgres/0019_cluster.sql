-- Cluster: the nodes, their heartbeats, leases for singletons, and who holds what.
-- Expand-only (new tables, new columns with defaults): an older node runs on this schema.

-- One row per node name. A node writes heartbeat_at every bus.heartbeat; one silent for
-- bus.dead_after is marked dead by the first survivor to see it, which takes its work.
-- incarnation changes on every start, so a restarted node's row is its own again.
CREATE TABLE cluster_nodes (
    name         TEXT PRIMARY KEY,
    incarnation  TEXT NOT NULL,
    state        TEXT NOT NULL,            -- up | dead | left
    roles        TEXT NOT NULL DEFAULT '',
    addresses    TEXT NOT NULL DEFAULT '', -- JSON object: api, sip, bus, route
    version      TEXT NOT NULL DEFAULT '',
    started_at   BIGINT NOT NULL,
    heartbeat_at BIGINT NOT NULL,
    calls        INTEGER NOT NULL DEFAULT 0,
    binds        INTEGER NOT NULL DEFAULT 0
);

-- Named leases (the leader of singletons, SMPP bind slots): held by one node until
-- until, renewed with its heartbeat.
CREATE TABLE cluster_leases (
    name   TEXT PRIMARY KEY,
    holder TEXT NOT NULL,
    until  BIGINT NOT NULL
);

-- The node that holds a live call: live-call requests go to it, and when it dies the
-- survivors end its calls in the records and call their hangup_url.
ALTER TABLE calls ADD COLUMN node TEXT NOT NULL DEFAULT '';
ALTER TABLE calls ADD COLUMN hangup_url TEXT NOT NULL DEFAULT '';
ALTER TABLE calls ADD COLUMN hangup_method TEXT NOT NULL DEFAULT '';
CREATE INDEX calls_node_live ON calls(node, state);

-- The node that leased a callback: a dead node's are freed at once.
ALTER TABLE callbacks ADD COLUMN lease_owner TEXT NOT NULL DEFAULT '';
