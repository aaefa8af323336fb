package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/trunkline/trunkline"
)

// clusterNow is the time by which nodes judge each other's heartbeats and leases: on
// PostgreSQL the database server's clock, one clock for every node, so that a node
// whose own clock runs behind is not given up for dead while it heartbeats (nor one
// running ahead gives the others up, or takes a lease still held); on SQLite, one
// host, the store's clock. q is a transaction's or the store's QueryRow.
func (db *DB) clusterNow(ctx context.Context, q func(ctx context.Context, q string, args ...any) *sql.Row) (time.Time, error) {
	if db.dialect != Postgres {
		return db.now(), nil
	}
	var us int64
	if err := q(ctx, `SELECT CAST(EXTRACT(EPOCH FROM clock_timestamp()) * 1000000 AS BIGINT)`).Scan(&us); err != nil {
		return time.Time{}, err
	}
	return time.UnixMicro(us), nil
}

// JoinCluster records n as up, a new incarnation of its name: a node restarted under
// the same name takes its row back.
func (db *DB) JoinCluster(ctx context.Context, n *trunkline.Node) error {
	addrs, err := json.Marshal(n.Addresses)
	if err != nil {
		return err
	}
	return db.write(ctx, func(ctx context.Context, tx *Tx) error {
		now, err := db.clusterNow(ctx, tx.QueryRow)
		if err != nil {
			return err
		}
		n.State, n.StartedAt, n.HeartbeatAt = trunkline.NodeUp, now.UTC().Truncate(time.Microsecond), now.UTC().Truncate(time.Microsecond)
		_, err = tx.Exec(ctx, `INSERT INTO cluster_nodes (name, incarnation, state, roles, addresses, version, started_at, heartbeat_at, calls, binds)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT (name) DO UPDATE SET incarnation = excluded.incarnation, state = excluded.state, roles = excluded.roles,
			addresses = excluded.addresses, version = excluded.version, started_at = excluded.started_at,
			heartbeat_at = excluded.heartbeat_at, calls = excluded.calls, binds = excluded.binds`,
			n.Name, n.Incarnation, n.State, strings.Join(n.Roles, ","), string(addrs), n.Version, micros(now), micros(now), n.Calls, n.Binds)
		return err
	})
}

// Heartbeat renews node name's heartbeat with what it now holds. wasDead reports that
// the others had given it up for dead (it was frozen, or cut off from the database,
// longer than their patience) and took its work over: the heartbeat is refused, the
// row stays dead, and the node must let go of what it held and rejoin as a new
// incarnation (JoinCluster). trunkline.ErrConflict: another incarnation (a restart
// elsewhere under this name) owns the row.
func (db *DB) Heartbeat(ctx context.Context, name, incarnation string, load trunkline.NodeLoad) (wasDead bool, err error) {
	err = db.write(ctx, func(ctx context.Context, tx *Tx) error {
		now, err := db.clusterNow(ctx, tx.QueryRow)
		if err != nil {
			return err
		}
		var state, inc string
		if err := tx.QueryRow(ctx, `SELECT state, incarnation FROM cluster_nodes WHERE name = ?`, name).Scan(&state, &inc); err != nil {
			if errors.Is(err, sql.ErrNoRows) {
				return trunkline.ErrConflict
			}
			return err
		}
		if inc != incarnation {
			return trunkline.ErrConflict
		}
		if wasDead = state == trunkline.NodeDead; wasDead {
			return nil
		}
		_, err = tx.Exec(ctx, `UPDATE cluster_nodes SET heartbeat_at = ?, state = ?, calls = ?, binds = ?, bus_peers = ? WHERE name = ? AND incarnation = ?`,
			micros(now), trunkline.NodeUp, load.Calls, load.Binds, load.BusPeers, name, incarnation)
		return err
	})
	return wasDead, err
}

// LeaveCluster marks a node that stops cleanly: nobody needs to take its work over.
func (db *DB) LeaveCluster(ctx context.Context, name, incarnation string) error {
	return db.write(ctx, func(ctx context.Context, tx *Tx) error {
		_, err := tx.Exec(ctx, `UPDATE cluster_nodes SET state = ?, calls = 0, binds = 0 WHERE name = ? AND incarnation = ?`,
			trunkline.NodeLeft, name, incarnation)
		return err
	})
}

// SilentNodes lists the nodes still marked up that have not heartbeaten for patience.
func (db *DB) SilentNodes(ctx context.Context, patience time.Duration) ([]string, error) {
	now, err := db.clusterNow(ctx, db.queryRow)
	if err != nil {
		return nil, err
	}
	rows, err := db.query(ctx, `SELECT name FROM cluster_nodes WHERE state = ? AND heartbeat_at < ? ORDER BY name`,
		trunkline.NodeUp, micros(now.Add(-patience)))
	return collect(rows, err, func(r interface{ Scan(...any) error }) (string, error) {
		var n string
		return n, r.Scan(&n)
	})
}

// MarkNodeDead marks name dead if it is still up and has not heartbeaten for patience.
// Only one survivor gets true: the one that takes the dead node's work over.
func (db *DB) MarkNodeDead(ctx context.Context, name string, patience time.Duration) (bool, error) {
	var won bool
	err := db.write(ctx, func(ctx context.Context, tx *Tx) (err error) {
		_, won, err = markNodeDead(ctx, tx, name, patience)
		return err
	})
	return won, err
}

// markNodeDead marks name dead in tx (see MarkNodeDead) and returns the incarnation
// it marked.
func markNodeDead(ctx context.Context, tx *Tx, name string, patience time.Duration) (string, bool, error) {
	now, err := tx.db.clusterNow(ctx, tx.QueryRow)
	if err != nil {
		return "", false, err
	}
	var inc string
	err = tx.QueryRow(ctx, `UPDATE cluster_nodes SET state = ? WHERE name = ? AND state = ? AND heartbeat_at < ? RETURNING incarnation`,
		trunkline.NodeDead, name, trunkline.NodeUp, micros(now.Add(-patience))).Scan(&inc)
	if errors.Is(err, sql.ErrNoRows) {
		return "", false, nil
	}
	return inc, err == nil, err
}

// TakeOverNode marks name dead if it is still up and has not heartbeaten for patience
// and, in the same transaction, frees its work: its message and callback leases, its
// named leases (bind slots, leader), and its live calls, ended in the records as end
// says. nil when name was not silent or another survivor was first. One transaction,
// so a node that finds itself dead (Heartbeat) finds its work freed already and may
// rejoin as a new incarnation at once: nothing of the takeover touches the new one's
// work.
func (db *DB) TakeOverNode(ctx context.Context, name string, patience time.Duration, end trunkline.CallEnd) (*trunkline.Takeover, error) {
	var out *trunkline.Takeover
	err := db.write(ctx, func(ctx context.Context, tx *Tx) error {
		out = nil
		inc, won, err := markNodeDead(ctx, tx, name, patience)
		if err != nil || !won {
			return err
		}
		t := &trunkline.Takeover{Incarnation: inc}
		if t.Messages, err = releaseLeases(ctx, tx, name, ""); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE cluster_leases SET until = 0 WHERE holder = ?`, name); err != nil {
			return err
		}
		if t.Calls, err = endCallsOf(ctx, tx, name, end); err != nil {
			return err
		}
		out = t
		return nil
	})
	return out, err
}

// Nodes lists every node the cluster has known, by name.
func (db *DB) Nodes(ctx context.Context) ([]*trunkline.Node, error) {
	rows, err := db.query(ctx, `SELECT name, incarnation, state, roles, addresses, version, started_at, heartbeat_at, calls, binds, bus_peers
		FROM cluster_nodes ORDER BY name`)
	return collect(rows, err, scanNode)
}

func scanNode(row interface{ Scan(...any) error }) (*trunkline.Node, error) {
	var n trunkline.Node
	var roles, addrs string
	var started, hb int64
	if err := row.Scan(&n.Name, &n.Incarnation, &n.State, &roles, &addrs, &n.Version, &started, &hb, &n.Calls, &n.Binds, &n.BusPeers); err != nil {
		return nil, err
	}
	if roles != "" {
		n.Roles = strings.Split(roles, ",")
	}
	if addrs != "" {
		json.Unmarshal([]byte(addrs), &n.Addresses) // written by JoinCluster; a bad one shows as none
	}
	n.StartedAt, n.HeartbeatAt = fromMicros(started), fromMicros(hb)
	return &n, nil
}

// HoldLease takes or renews the named lease for holder until now+ttl. It is free when
// nobody holds it, its holder let it go, or its time ran out; false: another holds it.
func (db *DB) HoldLease(ctx context.Context, name, holder string, ttl time.Duration) (bool, error) {
	var held bool
	err := db.write(ctx, func(ctx context.Context, tx *Tx) error {
		now, err := db.clusterNow(ctx, tx.QueryRow)
		if err != nil {
			return err
		}
		res, err := tx.Exec(ctx, `UPDATE cluster_leases SET holder = ?, until = ? WHERE name = ? AND (holder = ? OR until < ?)`,
			holder, micros(now.Add(ttl)), name, holder, micros(now))
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil || n == 1 {
			held = err == nil
			return err
		}
		res, err = tx.Exec(ctx, `INSERT INTO cluster_leases (name, holder, until) VALUES (?, ?, ?) ON CONFLICT (name) DO NOTHING`,
			name, holder, micros(now.Add(ttl)))
		if err != nil {
			return err
		}
		n, err := res.RowsAffected()
		held = n == 1
		return err
	})
	return held, err
}

// DropLease lets the named lease go if holder holds it.
func (db *DB) DropLease(ctx context.Context, name, holder string) error {
	return db.write(ctx, func(ctx context.Context, tx *Tx) error {
		_, err := tx.Exec(ctx, `UPDATE cluster_leases SET until = 0 WHERE name = ? AND holder = ?`, name, holder)
		return err
	})
}

// DropLeasesOf lets every lease of holder go (a dead node's).
func (db *DB) DropLeasesOf(ctx context.Context, holder string) error {
	return db.write(ctx, func(ctx context.Context, tx *Tx) error {
		_, err := tx.Exec(ctx, `UPDATE cluster_leases SET until = 0 WHERE holder = ?`, holder)
		return err
	})
}

// CallNode names the node holding the live call uuid; trunkline.ErrNotFound when no
// such call is live.
func (db *DB) CallNode(ctx context.Context, uuid string) (string, error) {
	var node string
	err := db.queryRow(ctx, `SELECT node FROM calls WHERE uuid = ? AND state <> ?`, uuid, trunkline.CallCompleted).Scan(&node)
	if errors.Is(err, sql.ErrNoRows) {
		return "", trunkline.ErrNotFound
	}
	return node, err
}

// EndCallsOf completes every call still live on node (dead) with the given cause,
// ended now, and returns them as stored, hangup URL included.
func (db *DB) EndCallsOf(ctx context.Context, node string, causeCode int, causeName, source, reason string) ([]*trunkline.Call, error) {
	var out []*trunkline.Call
	err := db.write(ctx, func(ctx context.Context, tx *Tx) (err error) {
		out, err = endCallsOf(ctx, tx, node, trunkline.CallEnd{Code: causeCode, Name: causeName, Source: source, Reason: reason})
		return err
	})
	return out, err
}

func endCallsOf(ctx context.Context, tx *Tx, node string, e trunkline.CallEnd) ([]*trunkline.Call, error) {
	now := tx.db.now()
	causeCode, causeName, source, reason := e.Code, e.Name, e.Source, e.Reason
	var out []*trunkline.Call
	err := func() error {
		rows, err := tx.Query(ctx, `SELECT `+callCols+`, hangup_url, hangup_method FROM calls WHERE node = ? AND state <> ?`,
			node, trunkline.CallCompleted)
		if err != nil {
			return err
		}
		for rows.Next() {
			var extra [2]string
			c, err := scanCall(scanExtra{rows, extra[:]})
			if err != nil {
				rows.Close()
				return err
			}
			c.HangupURL, c.HangupMethod, c.Node = extra[0], extra[1], node
			out = append(out, c)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		for _, c := range out {
			end := now.UTC().Truncate(time.Microsecond)
			c.EndedAt, c.State = &end, trunkline.CallCompleted
			c.Duration = int(end.Sub(c.InitiatedAt).Round(time.Second) / time.Second)
			if c.AnsweredAt != nil {
				c.BillDuration = int(end.Sub(*c.AnsweredAt).Round(time.Second) / time.Second)
			}
			c.HangupCauseCode, c.HangupCauseName, c.HangupSource, c.HangupReason = causeCode, causeName, source, reason
			if _, err := tx.Exec(ctx, `UPDATE calls SET state = ?, ended_at = ?, duration_s = ?, bill_duration_s = ?,
				hangup_cause_code = ?, hangup_cause_name = ?, hangup_source = ?, hangup_reason = ? WHERE uuid = ? AND state <> ?`,
				c.State, micros(end), c.Duration, c.BillDuration, causeCode, causeName, source, reason, c.UUID, trunkline.CallCompleted); err != nil {
				return err
			}
		}
		return nil
	}()
	return out, err
}

// scanExtra scans the call columns and then len(extra) more strings.
type scanExtra struct {
	row   interface{ Scan(...any) error }
	extra []string
}

func (s scanExtra) Scan(dest ...any) error {
	for i := range s.extra {
		dest = append(dest, &s.extra[i])
	}
	return s.row.Scan(dest...)
}

// LeaseHolder names who holds the named lease now ("" when nobody does).
func (db *DB) LeaseHolder(ctx context.Context, name string) (string, error) {
	now, err := db.clusterNow(ctx, db.queryRow)
	if err != nil {
		return "", err
	}
	var holder string
	err = db.queryRow(ctx, `SELECT holder FROM cluster_leases WHERE name = ? AND until >= ?`, name, micros(now)).Scan(&holder)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	return holder, err
}

// ClusterDSN returns dsn with PostgreSQL told to end a session that sits inside a
// transaction, waiting for its client, longer than idle (unless dsn sets
// idle_in_transaction_session_timeout itself). A node frozen (SIGSTOP, a long pause)
// or cut off in the middle of a transaction holds its row locks until its session
// ends: without this the survivors' takeover of that node, and every write queued
// behind a lock it held, would wait for it to come back. A live node's transactions
// never wait on their client that long; one that does is failed and retried. Other
// DSNs (SQLite: one host) are returned as they are.
func ClusterDSN(dsn string, idle time.Duration) string {
	if !strings.HasPrefix(dsn, "postgres://") && !strings.HasPrefix(dsn, "postgresql://") || idle <= 0 {
		return dsn
	}
	u, err := url.Parse(dsn)
	if err != nil {
		return dsn // store.Open reports it
	}
	q := u.Query()
	if q.Has("idle_in_transaction_session_timeout") {
		return dsn
	}
	q.Set("idle_in_transaction_session_timeout", strconv.FormatInt(max(idle.Milliseconds(), 1), 10))
	u.RawQuery = q.Encode()
	return u.String()
}
