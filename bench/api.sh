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

log() { echo "bench: $*" >&2; }

# wait_ready NAME FIFO READY_LINE URL_PREFIX: reads the server's stdout from FIFO until
# READY_LINE (at most 120 s per line), copying it to NAME.out, and sets READY_URL to the
# rest of the line starting with URL_PREFIX. Afterwards a cat keeps draining the FIFO so
# the server never blocks on, or dies from, a closed stdout.
READY_URL=""
wait_ready() {
	local name=$1 fifo=$2 ready=$3 prefix=$4 line url="" fd
	exec {fd}<"$fifo"
	while IFS= read -r -t 120 line <&"$fd"; do
		echo "$line" >>"$TMP/$name.out"
		case $line in
		"$prefix"*) url=${line#"$prefix"} ;;
		"$ready")
			cat <&"$fd" >>"$TMP/$name.out" &
			PIDS+=($!)
			exec {fd}<&-
			if [[ -z $url ]]; then
				log "$name: no URL line before \"$ready\""
				return 1
			fi
			READY_URL=$url
			return 0
			;;
		esac
	done
	log "$name did not become ready; its output:"
	cat "$TMP/$name.out" "$TMP/$name.err" >&2 2>/dev/null || true
	return 1
}

stop() { # stop PID: SIGTERM and wait for it
	kill -TERM "$1" 2>/dev/null || true
	wait "$1" 2>/dev/null || true
}

# load NAME ARGS...: runs the loader, shows its human line, keeps its JSON in NAME.json.
load() {
	local name=$1
	shift
	"$TMP/apiload" -c "$CONC" -d "$DURATION" -warmup "$WARMUP" -json "$@" >"$TMP/$name.load"
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
load ceiling -label "ceiling GET (bare net/http TLS)" -url "$CEIL_URL/v1/Account/$AUTH_ID/" \
	-user "$AUTH_ID" -pass "$AUTH_TOKEN" -cacert "$TMP/ceiling.pem"
stop "$CEIL_PID"

# 2–3. Trunkline. The per-account rate limit (300 per 5 s by default) is raised so the
# benchmark measures the server, not the limiter.
export TRUNKLINE_API_RATE_LIMIT=100000000
log "TRUNKLINE_API_RATE_LIMIT=$TRUNKLINE_API_RATE_LIMIT (rate limiter raised out of the way)"
mkfifo "$TMP/trunkline.fifo"
"$TMP/trunkline" serve --data-dir "$DATA" --listen 127.0.0.1:0 --log-level warn \
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
load get -label "trunkline GET /v1/Account/{id}/" -url "$TL_URL/v1/Account/$AUTH_ID/" \
	-user "$AUTH_ID" -pass "$AUTH_TOKEN" -cacert "$CA"
load post -label "trunkline POST /v1/Account/{id}/Application/" -method POST \
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
printf '| %-46s | %9s | %8s | %8s | %8s | %7s | %10s |\n' target "req/s" "p50 ms" "p99 ms" "max ms" errors "vs ceiling"
printf '|%s|%s|%s|%s|%s|%s|%s|\n' "$(printf -- '-%.0s' {1..48})" "----------:" "---------:" "---------:" "---------:" "--------:" "-----------:"
for name in ceiling get post; do
	label=$(sed -n 's/.*"label":"\([^"]*\)".*/\1/p' "$TMP/$name.json")
	rps=$(field "$name" rps)
	bad=$(($(field "$name" errors) + $(field "$name" non_2xx)))
	awk -v l="$label" -v r="$rps" -v c="$CEIL_RPS" -v p50="$(field "$name" p50_ms)" -v p99="$(field "$name" p99_ms)" \
		-v mx="$(field "$name" max_ms)" -v bad="$bad" \
		'BEGIN { printf "| %-46s | %9.0f | %8.2f | %8.2f | %8.2f | %7d | %9.0f%% |\n", l, r, p50, p99, mx, bad, (c > 0 ? 100 * r / c : 0) }'
done
echo "(errors = transport errors + non-2xx answers; vs ceiling = req/s over the ceiling's req/s)"
echo
awk -v r="$(field get rps)" -v c="$CEIL_RPS" 'BEGIN {
	if (c > 0 && r >= c / 2) print "GET: at least half the ceiling rate (aim met)."
	else print "GET: below half the ceiling rate (aim not met)."
}'
