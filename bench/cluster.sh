#!/usr/bin/env bash
# SMS throughput of one node vs a three-node cluster (issue 15, "Figures"), on one
# machine: N messages through the HTTPS API → node-smpp SMSC (answers at once, receipts
# with no delay) → status callbacks to the loader (bench/smsload), first with one
# `trunkline serve` on PostgreSQL (in-process bus), then with three nodes on one
# PostgreSQL schema, each with an embedded NATS server routed to the others, the load
# spread over the three APIs (message i to node i mod 3). The carrier has 3 binds in both
# runs (the cluster spreads them one per node). The machine's cores are shared by every
# node, the SMSC, PostgreSQL and the loader, so the point is what the cluster costs
# (throughput, CPU per message), not that it scales here.
#
#   PG_DSN=postgres://postgres@127.0.0.1:25432/postgres?sslmode=disable bash bench/cluster.sh
#   N=5000 ROUNDS=3 PG_DSN=... bash bench/cluster.sh     # medians of 3 rounds
#
# Environment: PG_DSN (or TRUNKLINE_TEST_POSTGRES; required, psql must be installed), N
# (10000), CONC (48 clients), ROUNDS (1), NODES (3), IDLE (3: seconds the idle nodes' CPU is
# measured before the load), BENCH_KEEP=1 keeps the scratch dir.
# Every listener is on 127.0.0.1; every wait is bounded.
set -euo pipefail

N=${N:-10000}
CONC=${CONC:-48}
ROUNDS=${ROUNDS:-1}
NODES=${NODES:-3}
IDLE=${IDLE:-3}
PG_DSN=${PG_DSN:-${TRUNKLINE_TEST_POSTGRES:-}}
: "${PG_DSN:?set PG_DSN to a PostgreSQL DSN}"
SRC_NUMBER=14155550100
unset GOMAXPROCS

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
TMP=$(mktemp -d "${TMPDIR:-/tmp}/trunkline-clusterbench.XXXXXX")
PIDS=()
# shellcheck source=bench/lib-sms.sh
source "$ROOT/bench/lib-sms.sh"

trap cleanup EXIT
trap 'exit 130' INT TERM

cd "$ROOT"
if [[ ! -d test/node/node_modules/smpp ]]; then
	log "installing test/node dependencies (npm ci)"
	(cd test/node && npm ci --no-audit --no-fund >&2)
fi
LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo "?")
log "building trunkline and smsload in $TMP"
go build -o "$TMP/smsload" ./bench/smsload
go build -o "$TMP/trunkline" ./cmd/trunkline
TL=$TMP/trunkline
REV="$(git rev-parse --short HEAD)$(git diff --quiet HEAD -- . 2>/dev/null || echo ' + uncommitted changes')"

# cpu_ticks PIDS: user+system clock ticks of the comma-separated PIDs, summed.
cpu_ticks() {
	local p sum=0
	for p in ${1//,/ }; do
		sum=$((sum + $(awk '{ print $14 + $15 }' "/proc/$p/stat")))
	done
	echo "$sum"
}

# run ROUND NODES: one run with NODES nodes (1: no cluster); its smsload JSON goes to
# $TMP/rROUND-nNODES.json.
run() {
	local round=$1 nodes=$2 name="r$1-n$2" schema dsn data acct id token i urls="" pids="" seed="" ca="" pid env
	start_smsc "$name"
	schema="bench_$(od -An -N6 -tx1 /dev/urandom | tr -d ' \n')"
	psql -q -v ON_ERROR_STOP=1 "$PG_DSN" -c "CREATE SCHEMA $schema" >&2
	echo "$schema" >>"$TMP/pg-schemas"
	dsn="$PG_DSN$([[ $PG_DSN == *\?* ]] && echo '&' || echo '?')search_path=$schema"
	data="$TMP/$name.n1"
	mkdir -p "$data"
	export TRUNKLINE_LOG_FILE=- TRUNKLINE_DATABASE_DSN=$dsn
	acct=$("$TL" account create --name bench --json --data-dir "$data")
	id=$(sed -n 's/.*"auth_id": *"\([^"]*\)".*/\1/p' <<<"$acct")
	token=$(sed -n 's/.*"auth_token": *"\([^"]*\)".*/\1/p' <<<"$acct")
	[[ -n $id && -n $token ]] || { log "no auth_id/auth_token in: $acct"; return 1; }
	"$TL" number add --number "$SRC_NUMBER" --country US --carrier bench --data-dir "$data" >/dev/null
	{
		printf '[[messaging.carriers]]\nname = "bench"\naddress = "127.0.0.1:%s"\nsystem_id = "trunkline"\npassword = "secret"\nbinds = 3\nwindow = 1000\n\n' "$SMSC_PORT"
		printf '[[messaging.routes]]\nprefix = "1"\ncarriers = [{ name = "bench" }]\n\n'
		if ((nodes > 1)); then
			printf '[bus]\nkind = "nats"\ntoken = "%s"\nlisten = "127.0.0.1:0"\nroute_listen = "127.0.0.1:0"\n' \
				"$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')"
		fi
	} >"$TMP/$name.toml"
	for ((i = 1; i <= nodes; i++)); do
		if ((i > 1)); then
			# A cluster shares its KEK (and, here, its CA): copy the first node's data dir.
			cp -a "$TMP/$name.n1" "$TMP/$name.n$i"
			rm -f "$TMP/$name.n$i"/*.pid 2>/dev/null || true
		fi
		mkfifo "$TMP/$name.$i.fifo"
		env=(TRUNKLINE_NODE_NAME="n$i" TRUNKLINE_API_RATE_LIMIT=100000000 TRUNKLINE_WEBHOOK_ALLOW=127.0.0.0/8)
		[[ -n $seed ]] && env+=(TRUNKLINE_BUS_ROUTES="$seed")
		env "${env[@]}" "$TL" serve --config "$TMP/$name.toml" --data-dir "$TMP/$name.n$i" --listen 127.0.0.1:0 \
			--sip-listen 127.0.0.1:0 --log-level warn >"$TMP/$name.$i.fifo" 2>"$TMP/$name.$i.err" &
		pid=$!
		PIDS+=("$pid")
		wait_ready "$name.$i" "$TMP/$name.$i.fifo" "trunkline: ready" "trunkline: API listening on "
		urls+="${urls:+,}$READY_URL"
		pids+="${pids:+,}$pid"
		# A node may make its own CA (its certificate names the node): trust them all.
		ca=$(sed -n 's/^trunkline: clients trust the CA at \(.*\) (e\.g\..*/\1/p' "$TMP/$name.$i.out")
		cat "$ca" >>"$TMP/$name.ca.pem"
		if ((nodes > 1)) && [[ -z $seed ]]; then
			seed=$(sed -n 's/^trunkline: cluster bus (NATS) on [^ ]*, routes on \([^,]*\), node .*/\1/p' "$TMP/$name.$i.out")
			[[ -n $seed ]] || { log "node 1 printed no route address"; return 1; }
		fi
	done
	# Every bind open before the clock starts (the cluster hands slots to joining nodes).
	for ((i = 0; i < 300; i++)); do
		[[ $(psql -At "$dsn" -c "SELECT COALESCE(SUM(binds), 0) FROM cluster_nodes WHERE state = 'up'" 2>/dev/null || echo 0) == 3 ]] && break
		((nodes == 1)) && break
		sleep 0.1
	done
	# The cluster's fixed cost: CPU of the idle nodes (heartbeats, leases, NATS pings,
	# pollers) over IDLE seconds before the load.
	local t0 t1
	t0=$(cpu_ticks "$pids")
	sleep "$IDLE"
	t1=$(cpu_ticks "$pids")
	awk -v d=$((t1 - t0)) -v hz="$(getconf CLK_TCK)" -v s="$IDLE" -v n="$nodes" \
		'BEGIN { printf "%.1f\n", 100 * d / hz / s / n }' >"$TMP/$name.idle"
	ca=$TMP/$name.ca.pem
	curl -sS --fail --cacert "$ca" -u "$id:$token" -X POST "${urls%%,*}/v1/Account/$id/PhoneNumber/$SRC_NUMBER/" >/dev/null
	log "round $round: $nodes node(s) at $urls; $N messages, $CONC clients"
	"$TMP/smsload" -mode trunkline -label "$nodes node(s)" -url "$urls" -user "$id" -pass "$token" -cacert "$ca" \
		-src "$SRC_NUMBER" -n "$N" -c "$CONC" -pids "$pids" -aux-pids "smsc=$SMSC_PID" -json >"$TMP/$name.load" 2>"$TMP/$name.loaderr" ||
		{ log "smsload failed:"; cat "$TMP/$name.loaderr" >&2; return 1; }
	grep -v '^{' "$TMP/$name.load" >&2
	grep '^{' "$TMP/$name.load" >"$TMP/$name.json"
	for pid in ${pids//,/ }; do stop_bounded "$pid" 40; done
	stop_bounded "$SMSC_PID" 10
	echo "$nodes node(s), round $round: $(smsc_counts "$name")" >>"$TMP/smsc-counts"
}

for ((round = 1; round <= ROUNDS; round++)); do
	run "$round" 1
	run "$round" "$NODES"
done

median() { # median NODES KEY: over the rounds
	local f
	for f in "$TMP"/r*-n"$1".json; do field "$f" "$2"; done | sort -g |
		awk '{ v[NR] = $1 } END { if (NR) print (NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2); else print 0 }'
}
echo
echo "Trunkline SMS, one node vs $NODES — $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, $(go env GOVERSION), $REV"
echo "$N messages per run, $CONC clients over HTTPS keep-alive, PostgreSQL, carrier binds 3; medians of $ROUNDS round(s)."
echo "Load average before: $LOAD_START; after: $(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo "?")."
echo
printf '| %-12s | %10s | %15s | %7s | %7s | %9s | %13s | %11s |\n' nodes "accepted/s" "delivered/s e2e" "p50 ms" "p99 ms" "CPU/msg" "idle CPU/node" "err/missing"
printf '|%s|%s|%s|%s|%s|%s|%s|%s|\n' "--------------" "-----------:" "----------------:" "--------:" "--------:" "----------:" "--------------:" "------------:"
for n in 1 "$NODES"; do
	awk -v l="$n" -v acc="$(median "$n" accepted_per_s)" -v e2e="$(median "$n" e2e_per_s)" -v p50="$(median "$n" p50_ms)" \
		-v p99="$(median "$n" p99_ms)" -v cpu="$(median "$n" server_cpu_per_msg_us)" -v err="$(median "$n" errors)" \
		-v miss="$(median "$n" missing)" -v idle="$(cat "$TMP"/r*-n"$n".idle | sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }')" 'BEGIN {
		printf "| %-12s | %10.0f | %15.0f | %7.2f | %7.2f | %6.0f µs | %10.1f %% | %4d / %-4d |\n", l, acc, e2e, p50, p99, cpu, idle, err, miss }'
done
awk -v one="$(median 1 e2e_per_s)" -v many="$(median "$NODES" e2e_per_s)" -v c1="$(median 1 server_cpu_per_msg_us)" \
	-v cn="$(median "$NODES" server_cpu_per_msg_us)" -v n="$NODES" 'BEGIN {
	printf "\n%d nodes / 1 node on this machine: end to end %.2fx; CPU per message (all nodes summed) %.2fx.\n", n, many / one, cn / c1 }'
echo "CPU/msg: the Trunkline processes' CPU (user+system, all nodes summed) over the messages delivered; it includes the"
echo "nodes' fixed cost over the run's wall time. idle CPU/node: one node's CPU, in % of a core, idle before the load."
echo "SMSC counts (the probe message included):"
sed 's/^/  /' "$TMP/smsc-counts"
