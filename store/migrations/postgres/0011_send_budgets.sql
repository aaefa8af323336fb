-- Budgets of verification sends (texts and calls that carry a code): one row per
-- counter and fixed window, e.g. ("global:hour", the hour's start) or
-- ("net:198.51.100.0/24", ...). A send spends one from each of its counters in one
-- transaction, or from none when any is used up. Kept in the database, not in memory,
-- so the budgets hold across restarts and across every node of a cluster. Rows of past
-- windows are swept.
CREATE TABLE send_budgets (
    bucket       TEXT NOT NULL,
    window_start BIGINT NOT NULL,
    sends        INTEGER NOT NULL,
    PRIMARY KEY (bucket, window_start)
);
CREATE INDEX send_budgets_window ON send_budgets(window_start);
