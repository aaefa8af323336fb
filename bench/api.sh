#!/usr/bin/env bash
# API benchmark: Trunkline's GET /v1/Account/{id}/ and POST /v1/Account/{id}/Application/
# under CONC concurrent keep-alive HTTPS clients for DURATION each, next to the same
# machine's ceiling (a bare net/http TLS handler, bench/ceiling) measured in the same run.
#
#   bash bench/api.sh                 # 64 clients, 20 s per target (plus 2 s warm-up)
#   DURATION=5s CONC=16 bash bench/api.sh
#
# Environment: DURATION (default 20s), CONC (default 64), WARMUP (default 2s),
# BENCH_KEEP=1 keeps the temporary directory (binaries, data dir, logs, JSON results).
# Everything listens on 127.0.0.1 and every run is bounded by DURATION.
set -euo pipefail

DURATION=${DURATION:-20s}
CONC=${CONC:-64}
WARMUP=${WARMUP:-2s}
# Loader and servers run with the Go runtime's default GOMAXPROCS (all cores).
unset GOMAXPROCS

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
TMP=$(mktemp -d "${TMPDIR:-/tmp}/trunkline-bench.XXXXXX")
PIDS=()

cleanup() {
	local rc=$?
	for pid in "${PIDS[@]}"; do
		if kill -0 "$pid" 2>/dev/null; then
			kill -TERM "$pid" 2>/dev/null || true
		fi
	done
	for pid in "${PIDS[@]}"; do
		wait "$pid" 2>/dev/null || true
	done
	if [[ ${BENCH_KEEP:-} == 1 ]]; then
		echo "bench: kept $TMP" >&2
	else
		rm -rf "$TMP"
	fi
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# shellcheck source=bench/lib-ready.sh
source "$ROOT/bench/lib-ready.sh"

stop() { # stop PID: SIGTERM and wait for it
	kill -TERM "$1" 2>/dev/null || true
	wait "$1" 2>/dev/null || true
}

# cpu_s PID: CPU seconds (user + system) the process has used so far.
cpu_s() { awk -v hz="$(getconf CLK_TCK)" '{ printf "%.2f", ($14 + $15) / hz }' "/proc/$1/stat"; }
now_s() { date +%s.%N; }

# load NAME SERVER_PID ARGS...: runs the loader against the server, shows its human
# line, keeps its JSON in NAME.json and the CPU used by server and loader in NAME.cpu
# ("server_cpu_s loader_cpu_s wall_s", warm-up included).
load() {
	local name=$1 spid=$2 c0 c1 t0 t1 lcpu
	shift 2
	c0=$(cpu_s "$spid")
	t0=$(now_s)
	if ! { TIMEFORMAT='%U %S'; time "$TMP/apiload" -c "$CONC" -d "$DURATION" -warmup "$WARMUP" -json "$@" \
		>"$TMP/$name.load" 2>"$TMP/$name.loaderr"; } 2>"$TMP/$name.time"; then
		log "$name: the loader failed:"
		cat "$TMP/$name.loaderr" >&2
		return 1
	fi
	t1=$(now_s)
	c1=$(cpu_s "$spid")
	lcpu=$(awk '{ print $1 + $2 }' "$TMP/$name.time")
	echo "$c0 $c1 $t0 $t1 $lcpu" | awk '{ printf "%.2f %.2f %.3f\n", $2 - $1, $5, $4 - $3 }' >"$TMP/$name.cpu"
	grep -v '^{' "$TMP/$name.load" >&2
	grep '^{' "$TMP/$name.load" >"$TMP/$name.json"
}

# field NAME KEY: a number from NAME.json (flat JSON written by apiload).
field() { sed -n "s/.*\"$2\":\([-0-9.e+]*\).*/\1/p" "$TMP/$1.json"; }

cd "$ROOT"
LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo "?")
log "building trunkline, apiload and ceiling in $TMP"
go build -o "$TMP/trunkline" ./cmd/trunkline
go build -o "$TMP/apiload" ./bench/apiload
go build -o "$TMP/ceiling" ./bench/ceiling

DATA="$TMP/data"
mkdir -p "$DATA"
export TRUNKLINE_LOG_FILE=- # log to stderr only (captured in $TMP), not into the data dir
ACCT=$("$TMP/trunkline" account create --name bench --json --data-dir "$DATA")
AUTH_ID=$(sed -n 's/.*"auth_id": *"\([^"]*\)".*/\1/p' <<<"$ACCT")
AUTH_TOKEN=$(sed -n 's/.*"auth_token": *"\([^"]*\)".*/\1/p' <<<"$ACCT")
if [[ -z $AUTH_ID || -z $AUTH_TOKEN ]]; then
	log "could not read auth_id/auth_token from: $ACCT"
	exit 1
fi
log "account $AUTH_ID created"

# 1. Ceiling: bare net/http over TLS, same request (with the same Basic auth header).
mkfifo "$TMP/ceiling.fifo"
"$TMP/ceiling" -cert-out "$TMP/ceiling.pem" >"$TMP/ceiling.fifo" 2>"$TMP/ceiling.err" &
CEIL_PID=$!
PIDS+=("$CEIL_PID")
wait_ready ceiling "$TMP/ceiling.fifo" "ceiling: ready" "ceiling: listening on "
CEIL_URL=$READY_URL
log "ceiling at $CEIL_URL"
load ceiling "$CEIL_PID" -label "ceiling GET (bare net/http TLS)" -url "$CEIL_URL/v1/Account/$AUTH_ID/" \
	-user "$AUTH_ID" -pass "$AUTH_TOKEN" -cacert "$TMP/ceiling.pem"
stop "$CEIL_PID"

# 2–3. Trunkline. The per-account rate limit (300 per 5 s by default) is raised so the
# benchmark measures the server, not the limiter.
export TRUNKLINE_API_RATE_LIMIT=100000000
log "TRUNKLINE_API_RATE_LIMIT=$TRUNKLINE_API_RATE_LIMIT (rate limiter raised out of the way)"
mkfifo "$TMP/trunkline.fifo"
"$TMP/trunkline" serve --data-dir "$DATA" --listen 127.0.0.1:0 --sip-listen 127.0.0.1:0 --log-level warn \
	>"$TMP/trunkline.fifo" 2>"$TMP/trunkline.err" &
TL_PID=$!
PIDS+=("$TL_PID")
wait_ready trunkline "$TMP/trunkline.fifo" "trunkline: ready" "trunkline: API listening on "
TL_URL=$READY_URL
CA=$(sed -n 's/^trunkline: clients trust the CA at \(.*\) (e\.g\..*/\1/p' "$TMP/trunkline.out")
if [[ -z $CA ]]; then
	log "trunkline printed no CA path"
	exit 1
fi
log "trunkline at $TL_URL (CA $CA)"
load get "$TL_PID" -label "trunkline GET /v1/Account/{id}/" -url "$TL_URL/v1/Account/$AUTH_ID/" \
	-user "$AUTH_ID" -pass "$AUTH_TOKEN" -cacert "$CA"
load post "$TL_PID" -label "trunkline POST /v1/Account/{id}/Application/" -method POST \
	-url "$TL_URL/v1/Account/$AUTH_ID/Application/" \
	-body '{"app_name":"bench","answer_url":"https://example.com/answer"}' \
	-user "$AUTH_ID" -pass "$AUTH_TOKEN" -cacert "$CA"
stop "$TL_PID"
if [[ -s $TMP/trunkline.err ]]; then
	log "trunkline stderr (warnings and errors during the run), last lines:"
	tail -n 5 "$TMP/trunkline.err" >&2
fi

CEIL_RPS=$(field ceiling rps)
LOAD_END=$(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo "?")
echo
echo "Trunkline API benchmark — $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, $(go env GOVERSION), GOMAXPROCS default"
echo "$CONC clients, HTTP/1.1 keep-alive over TLS (HTTP/2 off on both), ${WARMUP} warm-up + ${DURATION} measured per target;"
echo "loader and server share the same cores; TRUNKLINE_API_RATE_LIMIT=100000000 (limiter out of the way)."
echo "Load average before the run: $LOAD_START; after: $LOAD_END (other work on the machine skews figures)."
echo
printf '| %-46s | %7s | %7s | %7s | %7s | %6s | %10s | %12s | %13s |\n' \
	target "req/s" "p50 ms" "p99 ms" "max ms" errors "vs ceiling" "srv CPU/req" "cores srv+ldr"
printf '|%s|%s|%s|%s|%s|%s|%s|%s|%s|\n' "$(printf -- '-%.0s' {1..48})" "--------:" "--------:" "--------:" \
	"--------:" "-------:" "-----------:" "-------------:" "--------------:"
for name in ceiling get post; do
	label=$(sed -n 's/.*"label":"\([^"]*\)".*/\1/p' "$TMP/$name.json")
	bad=$(($(field "$name" errors) + $(field "$name" non_2xx)))
	read -r scpu lcpu wall <"$TMP/$name.cpu"
	awk -v l="$label" -v r="$(field "$name" rps)" -v c="$CEIL_RPS" -v p50="$(field "$name" p50_ms)" \
		-v p99="$(field "$name" p99_ms)" -v mx="$(field "$name" max_ms)" -v bad="$bad" \
		-v n="$(field "$name" completed_total)" -v scpu="$scpu" -v lcpu="$lcpu" -v wall="$wall" 'BEGIN {
		printf "| %-46s | %7.0f | %7.2f | %7.2f | %7.1f | %6d | %9.0f%% | %9.0f µs | %5.2f + %5.2f |\n",
			l, r, p50, p99, mx, bad, (c > 0 ? 100 * r / c : 0), (n > 0 ? 1e6 * scpu / n : 0), scpu / wall, lcpu / wall
	}'
done
echo
echo "errors: transport errors + non-2xx answers. vs ceiling: req/s over the ceiling's req/s."
echo "srv CPU/req: the server process's CPU time (user+system, /proc) over the requests it answered,"
echo "warm-up included; cores srv+ldr: CPU used by server and loader over the wall time of the target's run."
echo
# Figures per CPU time are moved less than req/s by other work on the machine, which
# takes a different share of the cores in each target's run.
cpu_per_req() { # server CPU µs per request
	awk -v n="$(field "$1" completed_total)" '{ printf "%.1f", (n > 0 ? 1e6 * $1 / n : 0) }' "$TMP/$1.cpu"
}
req_per_cpu() { # requests per CPU-second of server + loader together
	awk -v n="$(field "$1" completed_total)" '{ printf "%.1f", ($1 + $2 > 0 ? n / ($1 + $2) : 0) }' "$TMP/$1.cpu"
}
awk -v r="$(field get rps)" -v c="$CEIL_RPS" -v cc="$(cpu_per_req ceiling)" -v gc="$(cpu_per_req get)" \
	-v pc="$(cpu_per_req post)" -v cn="$(req_per_cpu ceiling)" -v gn="$(req_per_cpu get)" -v pn="$(req_per_cpu post)" 'BEGIN {
	if (c > 0 && r >= c / 2) printf "GET: %.0f%% of the ceiling rate: at least half (aim met).\n", 100 * r / c
	else printf "GET: %.0f%% of the ceiling rate: below half (aim not met).\n", (c > 0 ? 100 * r / c : 0)
	if (cn > 0) printf "Requests per CPU-second (server + loader) over the ceiling'"'"'s: GET %.0f%%, POST %.0f%% (the rate ratio at equal CPU).\n", 100 * gn / cn, 100 * pn / cn
	if (cc > 0) printf "Server CPU per request over the ceiling'"'"'s: GET %.1fx, POST %.1fx.\n", gc / cc, pc / cc
}'
