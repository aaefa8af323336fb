-- How many other nodes a node's bus (embedded NATS) has routes to, with its heartbeat:
-- cluster status shows a node cut off from the bus while its database heartbeat goes
-- on (throttles and cache invalidations then miss it), and a new cluster's bus mesh is
-- complete when every node counts the others.
ALTER TABLE cluster_nodes ADD COLUMN bus_peers INTEGER NOT NULL DEFAULT 0;
