#!/usr/bin/env bash
# Edge failover figures: how long after a node's kill -9 the load balancers stop sending
# it work — Kamailio's dispatcher marking it inactive (new INVITEs go to the other node)
# and HAProxy marking it DOWN (new API requests go elsewhere) — p50 and p99 over KILLS
# kills each, from the cluster tests run with TRUNKLINE_EDGE_KILLS.
#
#   bash bench/edge.sh              # 10 kills each (about 3 minutes)
#   KILLS=20 bash bench/edge.sh
#
# Needs Go, PostgreSQL (TRUNKLINE_TEST_POSTGRES), haproxy, kamailio and SIPp (scripts/test
# installs them). Everything runs on 127.0.0.0/8; every wait in the tests is bounded.
set -euo pipefail

KILLS=${KILLS:-10}
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
: "${TRUNKLINE_TEST_POSTGRES:?set TRUNKLINE_TEST_POSTGRES to a PostgreSQL DSN (scripts/test shows how)}"
LOG=$(mktemp "${TMPDIR:-/tmp}/trunkline-edge-bench.XXXXXX")
trap 'rm -f "$LOG"' EXIT

echo "bench: $KILLS kills behind Kamailio and behind HAProxy (the tests' output is in $LOG while it runs)" >&2
(cd "$ROOT" && TRUNKLINE_REQUIRE_PEERS=1 TRUNKLINE_EDGE_KILLS="$KILLS" \
	go test ./cmd/trunkline -run '^(TestKamailioFrontsNodes|TestRollingUpgradeBehindHAProxy)$' -count=1 -v -timeout 30m) >"$LOG" 2>&1 ||
	{ tail -n 60 "$LOG" >&2; echo "bench: the tests failed" >&2; exit 1; }

for lb in kamailio haproxy; do
	sed -nE "s/.*FIGURE kill-to-out $lb ([0-9]+) ms.*/\1/p" "$LOG" | sort -n | awk -v lb="$lb" '
		{ v[NR] = $1 }
		END {
			if (NR == 0) { printf "%s: no figures\n", lb; exit 1 }
			p50 = v[int((NR + 1) / 2)]; i99 = int(NR * 0.99 + 0.999); if (i99 < 1) i99 = 1; p99 = v[i99]
			printf "%-8s kill -9 -> out of the pool: p50 %d ms, p99 %d ms, max %d ms over %d kills\n", lb, p50, p99, v[NR], NR
		}'
done
