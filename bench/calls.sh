#!/usr/bin/env bash
# Calls benchmark: outbound calls through the Call API to SIPp trunks, bridged calls held
# with RTP both ways, and trunk failover. Three servers, each fresh, each with SIPp trunks
# on loopback in its [voice] configuration:
#
#   1. Bridged calls held (first, on a fresh server, so RSS before them is an idle
#      server's): a SIPp caller (test/sipp/uac_hold.xml, -rtp_echo) places CONC calls at
#      CONC_RATE/s to a number whose application (bench/voiceapp -dial) answers
#      <Dial><Number>14155550100</Number></Dial>; the B legs go to trunk sipp-a, a SIPp
#      UAS that answers with its own media socket and echoes RTP (test/sipp/uas_echo.xml,
#      -rtp_echo). Trunkline paces 50 packets/s to each leg and each SIPp echoes them,
#      so every bridged call carries RTP both ways on both legs. Over 5 s with all calls
#      up: calls up (caller and trunk side), server CPU (% of one core, ms/s per bridged
#      call), RSS per bridged call.
#   2. Outbound calls/s through the Call API: bench/callload POSTs Call/ (HTTPS, the
#      server's CA, Basic auth) at each rate of RATES for DURATION s, to trunk sipp-a, a
#      SIPp UAS that answers, plays 3 s and hangs up (test/sipp/uas_play.xml); callload
#      is also the application (<Wait>, then its hangup_url counts causes). Per rate:
#      calls requested, API accepted, API latency p50/p99, setup time (POST → answer_url
#      request, sent once the trunk answered), calls completed at the UAS (SIPp's
#      SuccessfulCall), failed, peak simultaneous calls, server CPU per call and peak RSS
#      per simultaneous call; then the highest rate with under 1% failed calls.
#   3. Failover (one server, one route per case, sipp-b = uas_echo.xml the second
#      choice of each): (a) the crank-back delay per call, FAILOVER_CALLS calls one after
#      the other, when the first trunk answers 503 (uas_503.xml) and when it is silent (a
#      UDP port nothing listens on: the server's trunk timeout, 5 s by default, decides),
#      next to calls straight to sipp-b; the trunks each call tried come from the
#      server's "outbound attempt" log lines. (b) detection by OPTIONS: a trunk with
#      probe_interval = "1s" (SIPp uas_echo.xml -aa, which answers OPTIONS 200) is
#      killed: how long until the server marks it down with no traffic (its "trunk down"
#      log line), whether the next call then goes straight to sipp-b, how long it takes
#      to come back up once SIPp returns; and, on a second such trunk killed under one
#      call per second, after how long new calls stop trying it first.
#
#   bash bench/calls.sh                                   # rates 20 50 100 200, 10 s each; 500 bridged
#   RATES="20 50" DURATION=5 CONC=100 bash bench/calls.sh
#   SKIP_BRIDGE=1 SKIP_RATE=1 SKIP_FAILOVER=1 ...         # leave parts out
#
# Environment: RATES (20 50 100 200), DURATION (10 s of new calls per rate), CONC (500
# bridged calls: each is two legs, 200 RTP packets/s through the server), CONC_RATE (50
# calls/s while ramping up), HOLD (CONC/CONC_RATE + 15 s), FAILOVER_CALLS (6), PROBE_CALLS
# (30 calls at 1/s after the second kill), BENCH_KEEP=1 keeps the files (logs, SIPp
# statistics, per-call lines). Needs Go, SIPp (Debian sip-tester), curl, GNU date. Everything
# listens on and calls 127.0.0.1; every wait is bounded.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SIPP_TMP=$(mktemp -d "${TMPDIR:-/tmp}/trunkline-calls.XXXXXX")
TMP=$SIPP_TMP
RATES=${RATES:-20 50 100 200}
DURATION=${DURATION:-10}
CONC=${CONC:-500}
CONC_RATE=${CONC_RATE:-50}
HOLD=${HOLD:-$((CONC / CONC_RATE + 15))}
FAILOVER_CALLS=${FAILOVER_CALLS:-6}
PROBE_CALLS=${PROBE_CALLS:-30}
log() { echo "bench: $*" >&2; }
SIPP_LOG=log
# shellcheck source=bench/lib-sipp.sh
. "$ROOT/bench/lib-sipp.sh"

PIDS=() SIPPS=() SERVE_PID=""
cleanup() {
	local rc=$? s
	for s in "${SIPPS[@]}"; do sipp_stop "${s% *}" "${s#* }"; done
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
	log "no line matching $2 in $1 within $3 s:"; tail -n 20 "$1" >&2; return 1
}
# udp_counters: the machine's UDP InDatagrams and InErrors so far (/proc/net/snmp).
udp_counters() {
	awk '$1 == "Udp:" { if (!h) { for (i = 2; i <= NF; i++) c[$i] = i; h = 1; next } print $c["InDatagrams"], $c["InErrors"]; exit }' /proc/net/snmp
}
# udp_drops PID: datagrams dropped so far on PID's UDP sockets (the drops column of
# /proc/net/udp, for the sockets among PID's descriptors).
udp_drops() {
	find "/proc/$1/fd" -lname 'socket:*' -printf '%l\n' 2>/dev/null | sed 's/socket:\[\(.*\)\]/\1/' |
		awk 'NR == FNR { want[$1] = 1; next } FNR > 1 && ($10 in want) { d += $13 } END { print d + 0 }' - /proc/net/udp
}
now_ms() { date +%s%3N; }
# log_ms LINE: the time= of a server log line as Unix ms.
log_ms() { date -d "$(sed -n 's/^time=\([^ ]*\).*/\1/p' <<<"$1")" +%s%3N; }

# sipp_up NAME PORT SCENARIO [SIPP OPTIONS...]: a SIPp UAS on 127.0.0.1:PORT (the trunk
# address of a configuration); remembered for cleanup. Sets UAS_PID, UAS_CTRL.
sipp_up() {
	local name=$1 port=$2
	shift 2
	SIPP_SERVER_PORT=$port sipp_start_server "$name" "$@" || return 1
	UAS_PID=$SIPP_SERVER_PID UAS_CTRL=$SIPP_SERVER_CTRL
	SIPPS+=("$UAS_PID $UAS_CTRL")
}
# sipp_down PID CTRL: stops a SIPp started by sipp_up (q, then bounded); sipp_kill PID
# CTRL kills it at once (a trunk that dies; or one run with -aa, whose answered OPTIONS stay
# open calls that q would wait for).
sipp_kill() {
	kill -KILL "$1" 2>/dev/null || true
	wait "$1" 2>/dev/null || true
	sipp_down "$@"
}
sipp_down() {
	local keep=() s
	sipp_stop "$1" "$2"
	for s in "${SIPPS[@]}"; do [[ ${s% *} == "$1" ]] || keep+=("$s"); done
	SIPPS=("${keep[@]}")
}

# start_server NAME CONFIG LOGLEVEL: a fresh data dir, an account, `trunkline serve`.
# Sets SERVE_PID, API, CA, ID, TOKEN, SIPPORT, SDIR (and SIPP_TMP); the server's log is $SDIR/serve.err.
start_server() {
	SDIR=$TMP/$1
	SIPP_TMP=$SDIR # SIPp's files of this part go next to the server's
	mkdir -p "$SDIR"
	local data=$SDIR/data
	"$TMP/trunkline" check-config --config "$2" --data-dir "$data" >"$SDIR/check.out" 2>&1 ||
		{ log "check-config refused $2:"; cat "$SDIR/check.out" >&2; return 1; }
	"$TMP/trunkline" account create --name bench --json --data-dir "$data" >"$SDIR/acct.json" 2>/dev/null
	ID=$(sed -n 's/.*"auth_id": *"\([^"]*\)".*/\1/p' "$SDIR/acct.json")
	TOKEN=$(sed -n 's/.*"auth_token": *"\([^"]*\)".*/\1/p' "$SDIR/acct.json")
	SIPPORT=$(sipp_free_port)
	TRUNKLINE_WEBHOOK_ALLOW=127.0.0.0/8 "$TMP/trunkline" serve --config "$2" --data-dir "$data" --listen 127.0.0.1:0 \
		--sip-listen "127.0.0.1:$SIPPORT" --log-level "$3" >"$SDIR/serve.out" 2>"$SDIR/serve.err" &
	SERVE_PID=$!
	PIDS+=("$SERVE_PID")
	wait_line "$SDIR/serve.out" '^trunkline: ready$' 60 >/dev/null
	API=$(wait_line "$SDIR/serve.out" '^trunkline: API listening on https://' 5 | sed 's/.* on //')
	CA=$data/tls/ca.crt
	log "$1: trunkline pid $SERVE_PID, API $API, SIP 127.0.0.1:$SIPPORT"
}
stop_server() {
	kill "$SERVE_PID" 2>/dev/null || true
	wait "$SERVE_PID" 2>/dev/null || true
}
api() { curl -sS --max-time 10 --cacert "$CA" -u "$ID:$TOKEN" -H 'Content-Type: application/json' "$@"; }

# server_warnings: how many WARN/ERROR lines the server logged, and the commonest.
server_warnings() {
	local n
	n=$(grep -cE 'level=(WARN|ERROR)' "$SDIR/serve.err" || true)
	echo "server log: $n WARN/ERROR lines"
	if ((n > 0)); then
		grep -E 'level=(WARN|ERROR)' "$SDIR/serve.err" | sed -n 's/.*\(level=[A-Z]*\) \(msg=\("[^"]*"\|[^ ]*\)\).*/  \1 \2/p' |
			sort | uniq -c | sort -rn | head -n 5
		grep -E 'level=(WARN|ERROR)' "$SDIR/serve.err" | head -n 2 | cut -c1-300 | sed 's/^/  first: /'
	fi
}

# callload ARGS...: bench/callload against the current server's account.
callload() {
	"$TMP/callload" -api "$API" -user "$ID" -pass "$TOKEN" -cacert "$CA" "$@"
}

# trunk_config FILE LINES...: a configuration with the given trunks and routes (TOML).
trunk_config() {
	local f=$1
	shift
	{
		echo '[api]'
		echo 'rate_limit = 100000000 # out of the benchmark'"'"'s way'
		echo '[log]'
		echo 'file = "-"'
		echo '[voice]'
		printf '%s\n' "$@"
	} >"$f"
}
trunk() { printf '[[voice.trunks]]\nname = "%s"\naddress = "127.0.0.1:%s"\nprobe_interval = "%s"\n' "$1" "$2" "$3"; }
route() { # route PREFIX TRUNK...
	local p=$1 c="" i=1 t
	shift
	for t in "$@"; do c+="${c:+, }{name = \"$t\", priority = $i}"; i=$((i + 1)); done
	printf '[[voice.routes]]\nprefix = "%s"\ncarriers = [%s]\n' "$p" "$c"
}

(cd "$ROOT" && go build -o "$TMP/trunkline" ./cmd/trunkline && go build -o "$TMP/voiceapp" ./bench/voiceapp &&
	go build -o "$TMP/callload" ./bench/callload)
tck=$(getconf CLK_TCK)
echo "calls benchmark on $(nproc) CPUs, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), trunkline $(cd "$ROOT" && git describe --always --dirty 2>/dev/null || echo '?'); load average $(cut -d' ' -f1-3 /proc/loadavg) (other work on the machine skews every figure)"

# One configuration for parts 1 and 2: sipp-a first, sipp-b second for numbers 1…
PORT_A=$(sipp_free_port)
PORT_B=$(sipp_free_port)
trunk_config "$TMP/main.toml" "$(trunk sipp-a "$PORT_A" 0s)" "$(trunk sipp-b "$PORT_B" 0s)" "$(route 1 sipp-a sipp-b)"

if [[ -z ${SKIP_BRIDGE:-} ]]; then
	echo
	echo "== $CONC bridged calls held with RTP both ways: SIPp caller (-rtp_echo) -> trunkline <Dial> -> trunk sipp-a (SIPp uas_echo.xml, -rtp_echo); ramp $CONC_RATE calls/s, hold ${HOLD}s"
	start_server bridge "$TMP/main.toml" warn
	"$TMP/voiceapp" -dial 14155550100 >"$SDIR/app.out" 2>&1 &
	PIDS+=($!)
	APP=$(wait_line "$SDIR/app.out" '^voiceapp listening on ' 10 | sed 's/.* on //')
	"$TMP/trunkline" number add --number 14155550101 --country US --type local --data-dir "$SDIR/data" >/dev/null 2>&1
	app_id=$(api -d "{\"app_name\":\"dial\",\"answer_url\":\"$APP/answer\",\"hangup_url\":\"$APP/hangup\"}" \
		"$API/v1/Account/$ID/Application/" | sed -n 's/.*"app_id": *"\([^"]*\)".*/\1/p')
	api -d "{\"app_id\":\"$app_id\"}" "$API/v1/Account/$ID/PhoneNumber/14155550101/" >/dev/null
	sipp_up bridge-uas "$PORT_A" "$ROOT/test/sipp/uas_echo.xml" -rtp_echo -timeout $((HOLD + CONC / CONC_RATE + 120))s
	BUAS_PID=$UAS_PID BUAS_CTRL=$UAS_CTRL
	sleep 1
	rss0=$(proc_kb "$SERVE_PID" VmRSS)
	sipp_pick_ports
	sipp_args caller
	"$SIPP_BIN" "127.0.0.1:$SIPPORT" -sf "$ROOT/test/sipp/uac_hold.xml" "${SIPP_ARGS[@]}" -s 14155550101 \
		-key hold_ms $((HOLD * 1000)) -r "$CONC_RATE" -m "$CONC" -l "$CONC" -rtp_echo \
		-timeout $((HOLD + CONC / CONC_RATE + 60))s >"$SDIR/caller.out" 2>"$SDIR/caller.err" &
	CALLER_PID=$!
	PIDS+=("$CALLER_PID")
	# Measure once every call is up on both sides (SIPp writes its statistics every
	# second; bounded by the ramp + 30 s), over 5 s of everything held.
	for ((i = 0; i < (CONC / CONC_RATE + 30) * 2; i++)); do
		sleep 0.5
		up_a0=$(sipp_stat "$SDIR/caller.csv" CurrentCall)
		up_b0=$(sipp_stat "$SDIR/bridge-uas.csv" CurrentCall)
		((up_a0 >= CONC && up_b0 >= CONC)) && break
	done
	((up_a0 >= CONC && up_b0 >= CONC)) || log "not every call came up: caller side $up_a0, trunk side $up_b0; measuring anyway"
	sleep 1
	d0=$(udp_drops "$SERVE_PID") da0=$(udp_drops "$CALLER_PID") db0=$(udp_drops "$BUAS_PID")
	u0=$(udp_counters)
	t0=$(now_ms)
	c0=$(proc_cpu_ticks "$SERVE_PID")
	sleep 5
	c1=$(proc_cpu_ticks "$SERVE_PID")
	t1=$(now_ms)
	u1=$(udp_counters)
	d1=$(udp_drops "$SERVE_PID") da1=$(udp_drops "$CALLER_PID") db1=$(udp_drops "$BUAS_PID")
	up_a1=$(sipp_stat "$SDIR/caller.csv" CurrentCall)
	up_b1=$(sipp_stat "$SDIR/bridge-uas.csv" CurrentCall)
	secs=$(awk -v a="$t0" -v b="$t1" 'BEGIN { print (b - a) / 1000 }')
	rss=$(proc_kb "$SERVE_PID" VmRSS)
	log "waiting for the caller to hang up (hold ${HOLD}s)"
	rc=0
	wait "$CALLER_PID" || rc=$?
	# The caller's BYE ends the A leg; the server should then BYE every B leg.
	for ((i = 0; i < 100; i++)); do
		sleep 0.1
		left=$(sipp_stat "$SDIR/bridge-uas.csv" CurrentCall)
		((left == 0)) && ((i >= 20)) && break
	done
	sipp_down "$BUAS_PID" "$BUAS_CTRL"
	ok=$(sipp_stat "$SDIR/caller.csv" 'SuccessfulCall(C)')
	failed=$(sipp_stat "$SDIR/caller.csv" 'FailedCall(C)')
	b_ok=$(sipp_stat "$SDIR/bridge-uas.csv" 'SuccessfulCall(C)')
	b_failed=$(sipp_stat "$SDIR/bridge-uas.csv" 'FailedCall(C)')
	peak=$(sipp_peak caller)
	b_peak=$(sipp_peak bridge-uas)
	n=$((up_a1 < up_b1 ? up_a1 : up_b1))
	n=$((n < up_a0 ? n : up_a0))
	n=$((n < up_b0 ? n : up_b0))
	echo "calls up at the start and end of the measurement: caller side $up_a0 -> $up_a1, trunk side $up_b0 -> $up_b1 (peaks $peak and $b_peak)"
	echo "caller: $ok completed, $failed failed (SIPp exit $rc); trunk sipp-a: $b_ok completed, $b_failed failed"
	if ((left > 0)); then
		echo "PROBLEM: $left B legs still up at trunk sipp-a 10 s after the caller hung up every A leg (no BYE from trunkline)"
	fi
	read -r i0 e0 <<<"$u0"
	read -r i1 e1 <<<"$u1"
	awk -v d=$((i1 - i0)) -v e=$((e1 - e0)) -v n="$n" -v s="$secs" 'BEGIN {
		printf "UDP datagrams on the machine over %.2f s holding (about): %.0f/s, %.0f/s per bridged call (trunkline sends 50/s to each leg and both SIPps echo them: 200 expected, RTCP aside); receive errors %d\n",
			s, d / s, n ? d / s / n : 0, e }'
	echo "UDP datagrams dropped (socket receive buffer full) around those seconds: trunkline $((d1 - d0)), SIPp caller $((da1 - da0)), SIPp trunk $((db1 - db0))"
	awk -v d=$((c1 - c0)) -v t="$tck" -v r0="$rss0" -v r="$rss" -v n="$n" -v s="$secs" 'BEGIN {
		printf "server CPU while holding: %.0f%% of one core (%.2f ms/s per bridged call, %.2f per leg)\n", 100 * d / t / s, n ? 1000 * d / t / s / n : 0, n ? 500 * d / t / s / n : 0
		printf "server RSS: %.1f MB before, %.1f MB holding: %.1f KB per bridged call (two legs)\n", r0 / 1024, r / 1024, n ? (r - r0) / n : 0
	}'
	echo "trunkline RSS peak (VmHWM): $(awk -v k="$(proc_kb "$SERVE_PID" VmHWM)" 'BEGIN { printf "%.1f MB", k / 1024 }')"
	server_warnings
	stop_server
fi

if [[ -z ${SKIP_RATE:-} ]]; then
	echo
	echo "== outbound calls through the Call API: bench/callload POST Call/ -> trunkline -> trunk sipp-a (SIPp uas_play.xml: answer, 3 s of PCMU, BYE); ${DURATION}s per rate"
	start_server rate "$TMP/main.toml" warn
	pcmu_tone "$TMP/tone.pcmu" 3000
	rss0=$(proc_kb "$SERVE_PID" VmRSS)
	best=0
	printf '%6s %9s %8s %8s %8s %9s %9s %9s %7s %7s %6s | %11s %8s %12s %9s\n' rate requested accepted 'API p50' 'API p99' \
		'setup p50' 'setup p99' completed failed 'failed%' peak 'CPU ms/call' 'RSS MB' 'KB/peak call' 'UDP drops'
	for rate in $RATES; do
		n=$((rate * DURATION))
		sipp_up "uas-$rate" "$PORT_A" "$ROOT/test/sipp/uas_play.xml" -key play_stream "$TMP/tone.pcmu,-1,0" -key play_ms 3000 \
			-timeout $((DURATION + 120))s
		c0=$(proc_cpu_ticks "$SERVE_PID")
		d0=$(udp_drops "$SERVE_PID")
		rc=0
		timeout -k 5 $((DURATION * 3 + 120)) "$TMP/callload" -api "$API" -user "$ID" -pass "$TOKEN" -cacert "$CA" \
			-to 14155550100 -rate "$rate" -n "$n" -hold 60 -wait 60s -json >"$SDIR/load-$rate.out" 2>"$SDIR/load-$rate.err" || rc=$?
		sipp_down "$UAS_PID" "$UAS_CTRL"
		c1=$(proc_cpu_ticks "$SERVE_PID")
		d1=$(udp_drops "$SERVE_PID")
		hwm=$(proc_kb "$SERVE_PID" VmHWM)
		j=$(grep '^{' "$SDIR/load-$rate.out" || echo '{}')
		f() { sed -n "s/.*\"$1\":\([-0-9.e+]*\).*/\1/p" <<<"$j"; }
		ok=$(sipp_stat "$SDIR/uas-$rate.csv" 'SuccessfulCall(C)')
		peak=$(sipp_peak "uas-$rate")
		failed=$((n - ok))
		pct=$(awk -v f="$failed" -v n="$n" 'BEGIN { printf "%.2f", n ? 100 * f / n : 0 }')
		printf '%6d %9d %8s %8.1f %8.1f %9.1f %9.1f %9d %7d %7s %6d | %11.2f %8.1f %12.1f %9d\n' "$rate" "$n" "$(f accepted)" \
			"$(f api_p50_ms)" "$(f api_p99_ms)" "$(f setup_p50_ms)" "$(f setup_p99_ms)" "$ok" "$failed" "$pct" "$peak" \
			"$(awk -v d=$((c1 - c0)) -v t="$tck" -v n="$n" 'BEGIN { print n ? 1000 * d / t / n : 0 }')" \
			"$(awk -v k="$hwm" 'BEGIN { print k / 1024 }')" \
			"$(awk -v k="$hwm" -v r="$rss0" -v p="$peak" 'BEGIN { print p ? (k - r) / p : 0 }')" $((d1 - d0))
		log "rate $rate: callload exit $rc: $(grep -v '^{' "$SDIR/load-$rate.out" | head -n 1)"
		[[ -s $SDIR/load-$rate.err ]] && log "callload stderr: $(head -c 500 "$SDIR/load-$rate.err")"
		if awk -v p="$pct" 'BEGIN { exit !(p < 1) }' && ((rate > best)); then best=$rate; fi
	done
	if ((best > 0)); then
		echo "highest rate with <1% failed calls: $best calls/s"
	else
		echo "highest rate with <1% failed calls: none of $RATES"
	fi
	echo "(completed: SIPp's SuccessfulCall at the trunk; failed = requested - completed; setup: POST sent -> answer_url request;"
	echo " CPU ms/call: server CPU from the first POST to the last hangup over calls requested; KB/peak call: VmHWM above the idle RSS over the UAS's peak calls;"
	echo " UDP drops: datagrams the server's sockets dropped, receive buffer full; sipp-b, the second choice of route 1, is not running in this part)"
	for rate in $RATES; do
		echo "  $rate/s: $(grep -v '^{' "$SDIR/load-$rate.out" | head -n 1 | sed 's/.*| answered/answered/')"
	done
	server_warnings
	stop_server
fi

if [[ -z ${SKIP_FAILOVER:-} ]]; then
	echo
	echo "== failover: first trunk down, sipp-b (SIPp uas_echo.xml) second; calls one after the other, the app answers <Hangup/>"
	P503=$(sipp_free_port)
	PSILENT=$(sipp_free_port) # nothing ever listens there
	PPROBE=$(sipp_free_port)
	PPROBE2=$(sipp_free_port)
	trunk_config "$TMP/failover.toml" "$(trunk sipp-b "$PORT_B" 0s)" "$(trunk sipp-a-503 "$P503" 0s)" \
		"$(trunk sipp-a-silent "$PSILENT" 0s)" "$(trunk sipp-a-probe "$PPROBE" 1s)" "$(trunk sipp-a-probe2 "$PPROBE2" 1s)" \
		"$(route 2 sipp-b)" "$(route 1 sipp-a-503 sipp-b)" "$(route 3 sipp-a-silent sipp-b)" \
		"$(route 4 sipp-a-probe sipp-b)" "$(route 5 sipp-a-probe2 sipp-b)"
	start_server failover "$TMP/failover.toml" info
	sipp_up fo-b "$PORT_B" "$ROOT/test/sipp/uas_echo.xml" -timeout 600s
	sipp_up fo-503 "$P503" "$ROOT/test/sipp/uas_503.xml" -timeout 600s
	sipp_up fo-probe "$PPROBE" "$ROOT/test/sipp/uas_echo.xml" -aa -timeout 600s
	FP=("$UAS_PID" "$UAS_CTRL")
	sipp_up fo-probe2 "$PPROBE2" "$ROOT/test/sipp/uas_echo.xml" -aa -timeout 600s
	FP2=("$UAS_PID" "$UAS_CTRL")

	# attempts UUID: the trunks a call tried, from the server's log: "a(503) b(200)".
	attempts() {
		grep -F "msg=\"outbound attempt\"" "$SDIR/serve.err" | grep -F "call=$1 " |
			sed -n 's/.* trunk=\([^ ]*\) status=\([0-9]*\).*/\1(\2)/p' | tr '\n' ' ' | sed 's/ $//; s/ / -> /g'
	}
	# calls_report NAME: per-call lines of NAME.calls: setup time, its excess over the direct
	# calls' median, the trunks tried. Sets MEDIAN (ms) for NAME=direct.
	calls_report() {
		local line i setup cause uuid
		while read -r line; do
			i=$(sed -n 's/^call \([0-9]*\) .*/\1/p' <<<"$line")
			setup=$(sed -n 's/.* answer_ms=\([^ ]*\).*/\1/p' <<<"$line")
			cause=$(sed -n 's/.* cause=\([^ ]*\).*/\1/p' <<<"$line")
			uuid=$(sed -n 's/.* call_uuid=\([^ ]*\).*/\1/p' <<<"$line")
			if [[ $setup == - ]]; then
				printf '  call %d: not answered (%s); tried %s\n' "$i" "$cause" "$(attempts "$uuid")"
			else
				awk -v i="$i" -v s="$setup" -v m="${MEDIAN:-}" -v t="$(attempts "$uuid")" 'BEGIN {
					printf "  call %d: setup %.1f ms%s; tried %s\n", i, s, m == "" ? "" : sprintf(" (crank-back +%.1f ms)", s - m), t }'
			fi
		done < <(grep '^call ' "$SDIR/$1.calls")
	}
	median_setup() { grep '^call ' "$SDIR/$1.calls" | sed -n 's/.* answer_ms=\([0-9.]*\) .*/\1/p' | sort -n |
		awk '{ v[NR] = $1 } END { print NR ? v[int((NR + 1) / 2)] : 0 }'; }

	echo "(a) crank-back per call (setup = POST sent -> answer_url request; the server's trunk timeout is 5 s by default, not configurable)"
	callload -to 24155550100 -n "$FAILOVER_CALLS" -sequential -hold 0 -wait 20s -calls >"$SDIR/direct.calls"
	MEDIAN=""
	echo "straight to sipp-b (route 2…):"
	calls_report direct
	MEDIAN=$(median_setup direct)
	echo "sipp-a-503 (SIPp uas_503.xml: 100, 503) then sipp-b:"
	callload -to 14155550100 -n "$FAILOVER_CALLS" -sequential -hold 0 -wait 20s -calls >"$SDIR/503.calls"
	calls_report 503
	echo "sipp-a-silent (127.0.0.1:$PSILENT, nothing listening) then sipp-b:"
	callload -to 34155550100 -n "$FAILOVER_CALLS" -sequential -hold 0 -wait 60s -calls >"$SDIR/silent.calls"
	calls_report silent
	echo "  ($(grep -c 'trunk=sipp-a-503 ' "$SDIR/serve.err" || true) calls tried sipp-a-503 and $(grep -c 'trunk=sipp-a-silent ' "$SDIR/serve.err" || true) sipp-a-silent of $FAILOVER_CALLS each: the trunk's health marks it down after 5 failures at >= 50%, or 3 timeouts in a row, and calls then skip it for its 5 s cool-down)"

	echo "(b) detection by OPTIONS (probe_interval 1s; SIPp answers them 200 with -aa)"
	callload -to 44155550100 -n 1 -sequential -hold 0 -wait 20s -calls >"$SDIR/probe-before.calls"
	echo "  before: $(calls_report probe-before | sed 's/^ *//')"
	# Let a few probes succeed first.
	sleep 3
	t_kill=$(now_ms)
	sipp_kill "${FP[@]}"
	if line=$(wait_line "$SDIR/serve.err" 'msg="trunk down".* trunk=sipp-a-probe ' 60 2>/dev/null); then
		echo "  SIPp killed, no traffic: trunk marked down $(awk -v a="$t_kill" -v b="$(log_ms "$line")" 'BEGIN { printf "%.1f", (b - a) / 1000 }') s later ($(sed -n 's/.*reason=\(.*\)/\1/p' <<<"$line"))"
	else
		echo "  SIPp killed, no traffic: the trunk was not marked down within 60 s"
	fi
	callload -to 44155550100 -n 1 -sequential -hold 0 -wait 20s -calls >"$SDIR/probe-after.calls"
	echo "  next call: $(calls_report probe-after | sed 's/^ *//')"
	t_back=$(now_ms)
	sipp_up fo-probe-again "$PPROBE" "$ROOT/test/sipp/uas_echo.xml" -aa -timeout 600s
	FP=("$UAS_PID" "$UAS_CTRL")
	if line=$(wait_line "$SDIR/serve.err" 'msg="trunk up".* trunk=sipp-a-probe ' 60 2>/dev/null); then
		echo "  SIPp back: trunk marked up $(awk -v a="$t_back" -v b="$(log_ms "$line")" 'BEGIN { printf "%.1f", (b - a) / 1000 }') s later"
	else
		echo "  SIPp back: the trunk was not marked up within 60 s"
	fi
	callload -to 44155550100 -n 1 -sequential -hold 0 -wait 20s -calls >"$SDIR/probe-back.calls"
	echo "  next call: $(calls_report probe-back | sed 's/^ *//')"

	echo "  under traffic: sipp-a-probe2 killed, then $PROBE_CALLS calls at 1/s:"
	t_kill=$(now_ms)
	sipp_kill "${FP2[@]}"
	callload -to 54155550100 -rate 1 -n "$PROBE_CALLS" -hold 0 -wait 30s -calls >"$SDIR/probe2.calls"
	first_direct="" tried=0 retried=0
	while read -r line; do
		sent=$(sed -n 's/.* sent_unix_ms=\([0-9]*\).*/\1/p' <<<"$line")
		uuid=$(sed -n 's/.* call_uuid=\([^ ]*\).*/\1/p' <<<"$line")
		path=$(attempts "$uuid")
		if [[ $path == sipp-a-probe2* ]]; then
			tried=$((tried + 1))
			[[ -n $first_direct ]] && retried=$((retried + 1))
		elif [[ -z $first_direct ]]; then
			first_direct=$((sent - t_kill))
		fi
		echo "$(awk -v d=$((sent - t_kill)) 'BEGIN { printf "%.1f", d / 1000 }') s after the kill: $path" >>"$SDIR/probe2.paths"
	done < <(grep '^call ' "$SDIR/probe2.calls")
	sed 's/^/    /' "$SDIR/probe2.paths"
	awk -v f="$first_direct" -v n="$tried" -v r="$retried" -v c="$PROBE_CALLS" 'BEGIN {
		printf "  %d of %d calls tried the dead trunk first (each waiting out the trunk timeout); the first call straight to sipp-b was placed %s s after the kill; %d calls after it tried the dead trunk again (half-open after the 5 s cool-down)\n",
			n, c, f == "" ? "(never)" : sprintf("%.1f", f / 1000), r }'
	if line=$(grep -E 'msg="trunk down".* trunk=sipp-a-probe2 ' "$SDIR/serve.err" | head -n 1) && [[ -n $line ]]; then
		echo "  prober's \"trunk down\" $(awk -v a="$t_kill" -v b="$(log_ms "$line")" 'BEGIN { printf "%.1f", (b - a) / 1000 }') s after the kill"
	else
		echo "  (no \"trunk down\" line from the prober for sipp-a-probe2: the calls' own failures took it down first)"
	fi
	sipp_kill "${FP[@]}"
	server_warnings
	stop_server
fi
echo
echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
