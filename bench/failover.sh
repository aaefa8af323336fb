#!/usr/bin/env bash
# Cluster failover (issue 15, "Figures"): three `trunkline serve` nodes on one PostgreSQL
# schema with embedded NATS on 127.0.0.1, SMS load through all three APIs to a node-smpp
# SMSC, then kill -9 of one node; repeated KILLS times (a fresh cluster each time). It
# prints p50/p99/max of:
#   - kill -9 -> a survivor took the dead node's work over (its row marked dead, its
#     message and callback leases freed, its calls ended), polled every 10 ms;
#   - kill -9 -> the dead node's SMPP bind open again on a survivor (as the survivors'
#     heartbeats report binds, so up to one heartbeat late);
# and the duplicate submits at the SMSC per kill. The driver is the end-to-end test
# TestCluster/sms_kill9 (cmd/trunkline/e2e_cluster_test.go), which also checks that every
# accepted message ends delivered or failed with a reason.
#
# Then PAUSES times (default 5) the fencing case, TestCluster/sms_sigstop: one node
# frozen (SIGSTOP) under load until it was taken over and its claimed messages claimed
# again, then thawed (SIGCONT): duplicate submits at the SMSC per pause, and what the
# thawed node refused to record (late outcomes) or to send (claims still in memory).
#
#   TRUNKLINE_TEST_POSTGRES=postgres://postgres@127.0.0.1:25432/postgres?sslmode=disable bash bench/failover.sh
#   KILLS=3 PAUSES=0 bash bench/failover.sh
#
# Settings: heartbeat 250 ms, dead_after 1 s (the test's [bus] section). Needs Go, node
# with node-smpp and Plivo's SDK installed in test/node, and PostgreSQL.
set -euo pipefail
cd "$(dirname "$0")/.."
KILLS=${KILLS:-10}
PAUSES=${PAUSES:-5}
: "${TRUNKLINE_TEST_POSTGRES:?set TRUNKLINE_TEST_POSTGRES to a PostgreSQL DSN}"
export TRUNKLINE_TEST_POSTGRES TRUNKLINE_REQUIRE_PEERS=1
out=$(mktemp)
trap 'rm -f "$out"' EXIT
timeout $((KILLS * 120 + 300)) go test ./cmd/trunkline -run 'TestCluster/sms_kill9' -count="$KILLS" -v >"$out" 2>&1 || {
	tail -50 "$out"
	echo "failover.sh: a run failed" >&2
	exit 1
}
# durations like 870ms or 1.138s -> milliseconds
ms() { awk '{ v=$1; if (v ~ /ms$/) { sub(/ms$/, "", v); print v+0 } else if (v ~ /s$/) { sub(/s$/, "", v); print v*1000 } }'; }
stats() { # name, values (ms) on stdin
	sort -n | awk -v name="$1" '{ a[NR]=$1 } END {
		if (NR == 0) { printf "%-40s no samples\n", name; exit }
		p50 = a[int((NR+1)/2)]; i99 = int(NR*0.99 + 0.999); if (i99 < 1) i99 = 1; if (i99 > NR) i99 = NR
		printf "%-40s n=%d  p50 %6.0f ms  p99 %6.0f ms  max %6.0f ms\n", name, NR, p50, a[i99], a[NR] }'
}
echo "cluster failover, $KILLS kills of one node of three (heartbeat 250 ms, dead_after 1 s):"
grep -o 'took its work over in [0-9.]*m\?s' "$out" | awk '{print $NF}' | ms | stats "kill -9 -> work taken over"
grep -o 're-opened by a survivor [0-9.]*m\?s' "$out" | awk '{print $NF}' | ms | stats "kill -9 -> dead node's bind re-opened"
grep -o '[0-9]* duplicate submits at the SMSC' "$out" | awk '{ s += $1; if ($1 > m) m = $1 } END { printf "%-40s total %d, worst kill %d\n", "duplicate submits at the SMSC", s, m }'
grep -o 'final states map\[[^]]*\]' "$out" | sort | uniq -c | sed 's/^/  /'
[ "$PAUSES" -gt 0 ] || exit 0
timeout $((PAUSES * 120 + 300)) go test ./cmd/trunkline -run 'TestCluster/sms_sigstop' -count="$PAUSES" -v >"$out" 2>&1 || {
	tail -50 "$out"
	echo "failover.sh: a pause run failed" >&2
	exit 1
}
echo "fencing, $PAUSES freezes (SIGSTOP past dead_after, then SIGCONT) of one node of three:"
grep -o 'n3 frozen for [0-9.]*m\?s' "$out" | awk '{print $NF}' | ms | stats "SIGSTOP -> taken over, claims re-claimed"
grep -o '[0-9]* duplicate submits at the SMSC; n3 after the thaw: [0-9]* late outcomes refused, [0-9]* claimed' "$out" |
	awk '{ d += $1; if ($1 > m) m = $1; r += $11; u += $15 } END {
		printf "%-40s total %d, worst freeze %d\n", "duplicate submits at the SMSC", d, m
		printf "%-40s %d late outcomes refused, %d claims dropped unsent\n", "thawed node, in all", r, u }'
grep -o 'final states map\[[^]]*\]' "$out" | sort | uniq -c | sed 's/^/  /'
