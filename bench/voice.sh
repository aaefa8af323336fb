#!/usr/bin/env bash
# Voice benchmark: inbound calls through `trunkline serve` whose application answers
# <Play> of a 3 s prompt then <Hangup/> (the answer_url is served locally by
# bench/voiceapp, so its fetch is part of every call), at rising call rates; the same
# caller against SIPp answering and playing the same 3 s (the machine's own limit, as
# bench/voice-baseline.sh); then calls held concurrently with RTP both ways.
#
#   bash bench/voice.sh                                 # 50 100 200 400 calls/s, 10 s each; 1000 held
#   RATES="50 100" DURATION=5 CONC=200 bash bench/voice.sh
#   SKIP_BASELINE=1 bash bench/voice.sh                 # only our server
#   BENCH_PROFILE=1 bash bench/voice.sh                 # plus a CPU profile of the held calls
#
# Prints the per-rate tables (calls, failures, retransmissions, peak simultaneous calls,
# server CPU per call, peak RSS per simultaneous call), the highest rate with <1% failed
# calls for each and our ratio to SIPp's, then for CONC held calls: how many were up at
# once, the server's CPU (% of one core) and RSS per held call.
#
# Environment: RATES, DURATION (see bench/lib-sipp.sh), CONC (1000), CONC_RATE (100
# calls/s while ramping up), HOLD (CONC/CONC_RATE + 15 s), BENCH_KEEP=1 keeps the files.
# Needs Go, SIPp (Debian sip-tester), espeak-ng not needed (no Speak), curl. Everything is on
# 127.0.0.1; every wait is bounded.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SIPP_TMP=$(mktemp -d "${TMPDIR:-/tmp}/trunkline-voice.XXXXXX")
TMP=$SIPP_TMP
CONC=${CONC:-1000}
CONC_RATE=${CONC_RATE:-100}
HOLD=${HOLD:-$((CONC / CONC_RATE + 15))}
log() { echo "bench: $*" >&2; }
SIPP_LOG=log
# shellcheck source=bench/lib-sipp.sh
. "$ROOT/bench/lib-sipp.sh"

PIDS=() SIPP_SERVER_PID="" SIPP_SERVER_CTRL=""
cleanup() {
	local rc=$?
	[[ -n $SIPP_SERVER_PID ]] && sipp_stop "$SIPP_SERVER_PID" "$SIPP_SERVER_CTRL"
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
	for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
	if [[ ${BENCH_KEEP:-} == 1 || $rc != 0 ]]; then log "kept $TMP"; else rm -rf "$TMP"; fi
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

command -v "$SIPP_BIN" >/dev/null || { log "sipp is not installed (Debian package sip-tester)"; exit 1; }

# wait_line FILE REGEX SECONDS: waits until FILE has a line matching REGEX; prints it.
wait_line() {
	local i
	for ((i = 0; i < $3 * 20; i++)); do
		if grep -Eq "$2" "$1" 2>/dev/null; then grep -E "$2" "$1" | head -n 1; return 0; fi
		sleep 0.05
	done
	log "no line matching $2 in $1 within $3 s:"; cat "$1" >&2; return 1
}

(cd "$ROOT" && go build -o "$TMP/trunkline" ./cmd/trunkline && go build -o "$TMP/voiceapp" ./bench/voiceapp)

echo "voice benchmark on $(nproc) CPUs, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo); rates $RATES, ${DURATION}s each"
BASE=0
if [[ -z ${SKIP_BASELINE:-} ]]; then
	pcmu_tone "$TMP/tone.pcmu" 3000
	total=0
	for r in $RATES; do total=$((total + DURATION + 75)); done
	sipp_start_server uas "$ROOT/test/sipp/uas_play.xml" -key play_stream "$TMP/tone.pcmu,-1,0" -key play_ms 3000 -timeout "${total}s"
	echo
	echo "== the machine's limit: SIPp caller -> SIPp answering, playing 3 s, BYE"
	sipp_rate_sweep "$SIPP_SERVER_ADDR" 1000 "$SIPP_SERVER_PID"
	BASE=$SWEEP_BEST
	sipp_stop "$SIPP_SERVER_PID" "$SIPP_SERVER_CTRL"
	SIPP_SERVER_PID=""
fi

# Trunkline on its defaults (SQLite, sandbox trunk = loopback) with two applications:
# play 3 s then hang up, and hold (for the concurrency run).
"$TMP/voiceapp" -seconds 3 >"$TMP/app.out" 2>&1 &
PIDS+=($!)
"$TMP/voiceapp" -hold $((HOLD + 60)) >"$TMP/hold.out" 2>&1 &
PIDS+=($!)
APP=$(wait_line "$TMP/app.out" '^voiceapp listening on ' 10 | sed 's/.* on //')
HOLDAPP=$(wait_line "$TMP/hold.out" '^voiceapp listening on ' 10 | sed 's/.* on //')
DATA=$TMP/data
export TRUNKLINE_WEBHOOK_ALLOW=127.0.0.0/8
"$TMP/trunkline" account create --name bench --json --data-dir "$DATA" >"$TMP/acct.json" 2>/dev/null
ID=$(sed -n 's/.*"auth_id": *"\([^"]*\)".*/\1/p' "$TMP/acct.json")
TOKEN=$(sed -n 's/.*"auth_token": *"\([^"]*\)".*/\1/p' "$TMP/acct.json")
for n in 14155550100 14155550101; do
	"$TMP/trunkline" number add --number $n --country US --type local --data-dir "$DATA" >/dev/null 2>&1
done
SIPPORT=$(sipp_free_port)
if [[ -n ${BENCH_PROFILE:-} ]]; then
	export TRUNKLINE_METRICS_LISTEN=127.0.0.1:0 TRUNKLINE_METRICS_PPROF=true
fi
"$TMP/trunkline" serve --data-dir "$DATA" --listen 127.0.0.1:0 --sip-listen "127.0.0.1:$SIPPORT" --log-level warn \
	>"$TMP/serve.out" 2>"$TMP/serve.err" &
SERVE_PID=$!
PIDS+=("$SERVE_PID")
wait_line "$TMP/serve.out" '^trunkline: ready$' 60 >/dev/null
API=$(wait_line "$TMP/serve.out" '^trunkline: API listening on https://' 5 | sed 's/.* on //')
api() { curl -sS --cacert "$DATA/tls/ca.crt" -u "$ID:$TOKEN" -H 'Content-Type: application/json' "$@"; }
for pair in "14155550100 $APP" "14155550101 $HOLDAPP"; do
	set -- $pair
	app_id=$(api -d "{\"app_name\":\"bench$1\",\"answer_url\":\"$2/answer\",\"hangup_url\":\"$2/hangup\"}" \
		"$API/v1/Account/$ID/Application/" | sed -n 's/.*"app_id": *"\([^"]*\)".*/\1/p')
	api -d "{\"app_id\":\"$app_id\"}" "$API/v1/Account/$ID/PhoneNumber/$1/" >/dev/null
done
log "trunkline pid $SERVE_PID, SIP on 127.0.0.1:$SIPPORT"

echo
echo "== $CONC calls held with RTP both ways (comfort noise from trunkline, echoed by SIPp), ramp $CONC_RATE calls/s, hold ${HOLD}s"
tck=$(getconf CLK_TCK)
rss0=$(proc_kb "$SERVE_PID" VmRSS)
sipp_pick_ports
sipp_args conc
"$SIPP_BIN" "127.0.0.1:$SIPPORT" -sf "$ROOT/test/sipp/uac_hold.xml" "${SIPP_ARGS[@]}" -s 14155550101 \
	-key hold_ms $((HOLD * 1000)) -r "$CONC_RATE" -m "$CONC" -l "$CONC" -rtp_echo \
	-timeout $((HOLD + CONC / CONC_RATE + 60))s >"$TMP/conc.out" 2>"$TMP/conc.err" &
CONC_PID=$!
PIDS+=("$CONC_PID")
# The held calls run first, on the fresh server, so RSS before them is an idle server's.
# Measure after the ramp, over 5 s of everything held.
ramp=$((CONC / CONC_RATE + 3))
for ((i = 0; i < ramp * 20; i++)); do sleep 0.05; done
c0=$(proc_cpu_ticks "$SERVE_PID")
if [[ -n ${BENCH_PROFILE:-} ]]; then
	# The same 5 s, profiled: the top of the CPU profile is printed below.
	METRICS=$(wait_line "$TMP/serve.out" '^trunkline: metrics on http://' 5 | sed 's/.* on //; s/\/metrics$//')
	curl -sS -o "$TMP/cpu.pprof" "$METRICS/debug/pprof/profile?seconds=5"
else
	for ((i = 0; i < 100; i++)); do sleep 0.05; done
fi
c1=$(proc_cpu_ticks "$SERVE_PID")
rss=$(proc_kb "$SERVE_PID" VmRSS)
up=$(sipp_stat "$TMP/conc.csv" 'CurrentCall')
wait "$CONC_PID" || true
ok=$(sipp_stat "$TMP/conc.csv" 'SuccessfulCall(C)')
failed=$(sipp_stat "$TMP/conc.csv" 'FailedCall(C)')
peak=$(sipp_peak conc)
echo "calls up at the measurement: $up (peak $peak); completed $ok, failed $failed"
awk -v d=$((c1 - c0)) -v t="$tck" -v r0="$rss0" -v r="$rss" -v n="$peak" 'BEGIN {
	printf "server CPU while holding: %.0f%% of one core (%.2f ms/s per call)\n", 100 * d / t / 5, n ? 1000 * d / t / 5 / n : 0
	printf "server RSS: %.1f MB before, %.1f MB holding: %.1f KB per held call\n", r0 / 1024, r / 1024, n ? (r - r0) / n : 0
}'
if [[ -n ${BENCH_PROFILE:-} ]]; then
	(cd "$ROOT" && go tool pprof -top -nodecount=30 "$TMP/trunkline" "$TMP/cpu.pprof" 2>/dev/null | head -n 40)
fi
echo "trunkline RSS peak (VmHWM) over the whole run: $(awk -v k="$(proc_kb "$SERVE_PID" VmHWM)" 'BEGIN { printf "%.1f MB", k / 1024 }')"

echo
echo "== trunkline: SIPp caller -> trunkline (answer_url fetch, <Play> 3 s, <Hangup/>)"
sipp_rate_sweep "127.0.0.1:$SIPPORT" 14155550100 "$SERVE_PID"
OURS=$SWEEP_BEST
if ((BASE > 0)); then
	echo "ratio: trunkline $OURS calls/s / SIPp $BASE calls/s = $(awk -v a="$OURS" -v b="$BASE" 'BEGIN { printf "%.2f", a / b }')"
fi

