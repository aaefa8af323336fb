# shellcheck shell=bash
# bench/lib-sipp.sh: SIPp helpers for the voice benchmarks; source it. The caller of every
# voice benchmark is the same: test/sipp/uac_play_hangup.xml (INVITE with PCMU, 200, ACK,
# wait up to 10 s for the server's BYE, 200), placed by sipp_rate_sweep at rising rates.
# bench/voice-baseline.sh runs it against SIPp itself (test/sipp/uas_play.xml: answer,
# play 3 s, BYE), the machine's own limit; a script for our server starts `trunkline
# serve` with an application that plays about 3 s and hangs up, then calls
#
#   sipp_rate_sweep 127.0.0.1:PORT SERVICE [SERVER_PID]
#
# with the same RATES and DURATION, so both tables compare line by line.
#
# Needs: bash, awk, sed, SIPp (Debian sip-tester), Linux /proc. Everything listens on and
# calls 127.0.0.1 only. Ports: SIPp needs explicit ones (-p, -mp and -mp+2, -cp); they are
# picked below the kernel's ephemeral range among those no UDP socket holds, and a start that
# still finds one taken (SIPp exits 254, "Address already in use") is retried with new
# ones, at most 5 times. Every wait is bounded.
#
# The caller sets before sourcing (or the defaults apply):
#   SIPP_TMP   directory for the runs' files (required)
#   RATES      calls per second to try, in order (default "50 100 200 400")
#   DURATION   seconds of new calls at each rate (default 10)
#   SIPP_LOG   function name used for progress messages (default: echo to stderr)

RATES=${RATES:-50 100 200 400}
DURATION=${DURATION:-10}
SIPP_BIN=${SIPP_BIN:-sipp}
SIPP_SCENARIOS=${SIPP_SCENARIOS:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../test/sipp" && pwd)}

sipp_log() {
	if [[ -n ${SIPP_LOG:-} ]]; then "$SIPP_LOG" "$*"; else echo "sipp: $*" >&2; fi
}

# sipp_port_used PORT: true if a UDP socket (IPv4 or IPv6) is bound to PORT.
sipp_port_used() {
	local hex
	printf -v hex ':%04X ' "$1"
	grep -q "$hex" /proc/net/udp /proc/net/udp6 2>/dev/null
}

# sipp_free_port [PAIR]: prints a UDP port no socket holds, below the ephemeral range (so
# the kernel does not hand it out meanwhile); with PAIR=1 an even port whose port+2 is free
# too (SIPp's media and video sockets).
sipp_free_port() {
	local pair=${1:-0} lo=20000 hi p i
	read -r hi _ </proc/sys/net/ipv4/ip_local_port_range
	((hi > lo + 1000)) || hi=60000
	for ((i = 0; i < 200; i++)); do
		p=$((lo + (RANDOM * 32768 + RANDOM) % (hi - lo - 2)))
		((pair)) && p=$((p & ~1))
		sipp_port_used "$p" && continue
		((pair)) && sipp_port_used $((p + 2)) && continue
		echo "$p"
		return 0
	done
	sipp_log "found no free UDP port"
	return 1
}

# sipp_wait_ready PID CTRL_PORT [SECONDS]: waits until process PID holds a UDP socket on
# CTRL_PORT. SIPp binds its SIP, media, then control socket before any call, so that is
# its readiness. (Its statistics file is written on a fatal exit too: no signal.)
sipp_wait_ready() {
	local pid=$1 hex inode i
	printf -v hex '%04X' "$2"
	for ((i = 0; i < ${3:-30} * 20; i++)); do
		kill -0 "$pid" 2>/dev/null || return 1
		inode=$(awk -v p=":$hex" '$2 ~ p"$" { print $10; exit }' "/proc/$pid/net/udp" 2>/dev/null)
		if [[ -n $inode ]] && find "/proc/$pid/fd" -lname "socket:\[$inode\]" 2>/dev/null | grep -q .; then
			return 0
		fi
		sleep 0.05
	done
	return 1
}

# sipp_ctrl CTRL_PORT KEY: sends a key to SIPp's control socket: q stops placing calls and
# exits when the open ones end, writing the final statistics. (Q is meant to abort the open
# calls and exit, but SIPp 3.6.1 then never exits unless no call was open; SIGTERM runs its
# exit path in the signal handler, which can hang or crash.)
sipp_ctrl() {
	printf '%s' "$2" >"/dev/udp/127.0.0.1/$1" 2>/dev/null || true
}

# sipp_stop PID CTRL_PORT: q, up to 10 s for the open calls to end and SIPp to exit, then
# SIGKILL (its statistics file then ends with its last per-second row).
sipp_stop() {
	local pid=$1 i
	kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null || true; return 0; }
	sipp_ctrl "$2" q
	for ((i = 0; i < 100; i++)); do
		kill -0 "$pid" 2>/dev/null || break
		[[ $(awk '{ print $3 }' "/proc/$pid/stat" 2>/dev/null) == Z ]] && break
		sleep 0.1
	done
	if kill -0 "$pid" 2>/dev/null && [[ $(awk '{ print $3 }' "/proc/$pid/stat" 2>/dev/null) != Z ]]; then
		sipp_log "SIPp $pid still had calls open 10 s after q; killing it"
		kill -KILL "$pid" 2>/dev/null || true
	fi
	wait "$pid" 2>/dev/null || true
}

# sipp_args NAME: the options every run gets: 127.0.0.1 for everything, the chosen ports
# (SIPP_PORT, SIPP_MPORT, SIPP_CPORT), and statistics, screen and error files under
# $SIPP_TMP/NAME.*.
sipp_args() {
	local n=$SIPP_TMP/$1
	SIPP_ARGS=(-i 127.0.0.1 -p "$SIPP_PORT" -bind_local -mi 127.0.0.1 -mp "$SIPP_MPORT"
		-ci 127.0.0.1 -cp "$SIPP_CPORT" -nostdin
		-trace_stat -stf "$n.csv" -fd 1 -trace_screen -screen_file "$n.screen"
		-trace_err -error_file "$n.errors" -max_log_size 16000000)
}

# sipp_pick_ports: sets SIPP_PORT, SIPP_MPORT, SIPP_CPORT.
sipp_pick_ports() {
	SIPP_PORT=$(sipp_free_port) && SIPP_MPORT=$(sipp_free_port 1) && SIPP_CPORT=$(sipp_free_port) || return 1
	while ((SIPP_CPORT == SIPP_PORT || SIPP_CPORT == SIPP_MPORT || SIPP_CPORT == SIPP_MPORT + 2 ||
		SIPP_PORT == SIPP_MPORT || SIPP_PORT == SIPP_MPORT + 2)); do
		SIPP_CPORT=$(sipp_free_port) && SIPP_PORT=$(sipp_free_port) || return 1
	done
}

# sipp_start_server NAME SCENARIO [SIPP OPTIONS...]: starts a SIPp UAS in the background
# and waits until it is ready. Sets SIPP_SERVER_PID, SIPP_SERVER_ADDR (127.0.0.1:port),
# SIPP_SERVER_CTRL. Output goes to $SIPP_TMP/NAME.out and .err. With SIPP_SERVER_PORT set,
# SIPp's SIP port is that one (a trunk address written in a configuration beforehand).
sipp_start_server() {
	local name=$1 scenario=$2 attempt
	shift 2
	for ((attempt = 1; attempt <= 5; attempt++)); do
		sipp_pick_ports || return 1
		if [[ -n ${SIPP_SERVER_PORT:-} ]]; then
			SIPP_PORT=$SIPP_SERVER_PORT
			while ((SIPP_PORT == SIPP_MPORT || SIPP_PORT == SIPP_MPORT + 2 || SIPP_PORT == SIPP_CPORT ||
				SIPP_CPORT == SIPP_MPORT || SIPP_CPORT == SIPP_MPORT + 2)); do
				SIPP_MPORT=$(sipp_free_port 1) && SIPP_CPORT=$(sipp_free_port) || return 1
			done
		fi
		sipp_args "$name"
		"$SIPP_BIN" -sf "$scenario" "${SIPP_ARGS[@]}" "$@" >"$SIPP_TMP/$name.out" 2>"$SIPP_TMP/$name.err" &
		SIPP_SERVER_PID=$!
		if sipp_wait_ready "$SIPP_SERVER_PID" "$SIPP_CPORT" 30; then
			# shellcheck disable=SC2034 # for the scripts that source this file
			SIPP_SERVER_ADDR=127.0.0.1:$SIPP_PORT SIPP_SERVER_CTRL=$SIPP_CPORT
			return 0
		fi
		local rc=0
		wait "$SIPP_SERVER_PID" 2>/dev/null || rc=$?
		if ((rc == 254)) && grep -q "Address already in use" "$SIPP_TMP/$name.err"; then
			sipp_log "a port was taken before SIPp bound it; retrying ($attempt/5)"
			continue
		fi
		sipp_log "SIPp server $name did not start (exit $rc):"
		sort -u "$SIPP_TMP/$name.err" >&2
		return 1
	done
	return 1
}

# sipp_stat FILE COLUMN: the value of COLUMN in the last row of a SIPp statistics file.
sipp_stat() {
	awk -F';' -v col="$2" 'NR == 1 { for (i = 1; i <= NF; i++) if ($i == col) c = i; next }
		NF > 1 { v = $c } END { print (c && v != "" ? v : 0) }' "$1" 2>/dev/null
}

# sipp_peak NAME: the largest number of simultaneous calls of run NAME (its screen's "Peak
# was N calls", else the largest CurrentCall of its statistics rows).
sipp_peak() {
	local p
	p=$(sed -n 's/.*Peak was \([0-9]*\) calls.*/\1/p' "$SIPP_TMP/$1.screen" 2>/dev/null | tail -n 1)
	if [[ -z $p ]]; then
		p=$(awk -F';' 'NR == 1 { for (i = 1; i <= NF; i++) if ($i == "CurrentCall") c = i; next }
			c && $c > m { m = $c } END { print m + 0 }' "$SIPP_TMP/$1.csv" 2>/dev/null)
	fi
	echo "${p:-0}"
}

# proc_cpu_ticks PID: user + system CPU time of PID (all threads) in clock ticks.
proc_cpu_ticks() {
	local s
	s=$(cat "/proc/$1/stat" 2>/dev/null) || { echo 0; return; }
	s=${s##*) } # after the command name, which may hold spaces
	awk '{ print $12 + $13 }' <<<"$s"
}

# proc_kb PID FIELD: a "FIELD: N kB" line of /proc/PID/status (VmHWM, VmRSS), in kB.
proc_kb() {
	awk -v f="$2:" '$1 == f { print $2; exit }' "/proc/$1/status" 2>/dev/null || echo 0
}

# times_children_s FILE: CPU seconds (user + system) of the shell's waited-for children, from
# the output of the `times` builtin saved in FILE. (`times` has to run in the shell that
# waited for them, not in a $(...) subshell.)
times_children_s() {
	awk 'NR == 2 { t = 0; for (i = 1; i <= 2; i++) { split($i, a, "m"); sub("s", "", a[2]); t += a[1] * 60 + a[2] } print t }' "$1"
}

# sipp_uac NAME TARGET SERVICE RATE CALLS: places CALLS calls at RATE calls/s with
# uac_play_hangup.xml and waits for the run to end (bounded: DURATION + 60 s, then
# killed). Prints nothing; the results are in $SIPP_TMP/NAME.*; returns SIPp's exit code.
sipp_uac() {
	local name=$1 target=$2 service=$3 rate=$4 calls=$5 attempt rc
	for ((attempt = 1; attempt <= 5; attempt++)); do
		sipp_pick_ports || return 1
		sipp_args "$name"
		rc=0
		# -l: calls last about 3 s; allow 15 s worth so the cap never shapes the load.
		timeout -k 5 $((calls / rate + 60)) "$SIPP_BIN" "$target" -sf "$SIPP_SCENARIOS/uac_play_hangup.xml" \
			"${SIPP_ARGS[@]}" -s "$service" -r "$rate" -m "$calls" -l $((rate * 15)) \
			-timeout $((calls / rate + 45))s >"$SIPP_TMP/$name.out" 2>"$SIPP_TMP/$name.err" || rc=$?
		if ((rc == 254)) && grep -q "Address already in use" "$SIPP_TMP/$name.err"; then
			sipp_log "a port was taken before SIPp bound it; retrying ($attempt/5)"
			continue
		fi
		return "$rc"
	done
	return 254
}

# sipp_rate_sweep TARGET SERVICE [SERVER_PID]: for each rate in RATES, DURATION seconds of
# new calls (uac_play_hangup.xml) to TARGET (127.0.0.1:port), one rate after the other. Prints
# a table: calls attempted, succeeded, failed (% of attempted), retransmissions, the largest
# number of simultaneous calls; with SERVER_PID also the server's CPU time during the rate
# (user + system from /proc/PID/stat) per call and its peak RSS (VmHWM) per simultaneous
# call above its RSS before the sweep. Then the highest rate with under 1% failed calls.
# Sets SWEEP_BEST (0 if none).
sipp_rate_sweep() {
	local target=$1 service=$2 spid=${3:-} tck rate calls rc name created ok failed retrans peak
	local pct c0 c1 cpu hwm rss0 uac0 uac1 t0 t1
	case $target in 127.*:[0-9]*) ;; *)
		sipp_log "target $target: only 127.0.0.0/8 is called"
		return 2
		;;
	esac
	tck=$(getconf CLK_TCK)
	SWEEP_BEST=0
	[[ -n $spid ]] && rss0=$(proc_kb "$spid" VmRSS)
	if [[ -n $spid ]]; then
		printf '%6s %9s %9s %7s %7s %8s %6s | %9s %11s %8s %13s\n' rate attempted succeeded failed 'failed%' retrans peak \
			'srv CPU s' 'CPU ms/call' 'RSS MB' 'KB/peak call'
	else
		printf '%6s %9s %9s %7s %7s %8s %6s\n' rate attempted succeeded failed 'failed%' retrans peak
	fi
	for rate in $RATES; do
		calls=$((rate * DURATION))
		name=uac-$rate
		[[ -n $spid ]] && c0=$(proc_cpu_ticks "$spid")
		times >"$SIPP_TMP/times.0"
		t0=$(date +%s.%N)
		rc=0
		sipp_uac "$name" "$target" "$service" "$rate" "$calls" || rc=$?
		t1=$(date +%s.%N)
		times >"$SIPP_TMP/times.1"
		uac0=$(times_children_s "$SIPP_TMP/times.0")
		uac1=$(times_children_s "$SIPP_TMP/times.1")
		if [[ ! -s $SIPP_TMP/$name.csv ]]; then
			sipp_log "rate $rate: SIPp wrote no statistics (exit $rc):"
			sort -u "$SIPP_TMP/$name.err" | head -n 20 >&2
			return 1
		fi
		created=$(sipp_stat "$SIPP_TMP/$name.csv" 'OutgoingCall(C)')
		ok=$(sipp_stat "$SIPP_TMP/$name.csv" 'SuccessfulCall(C)')
		failed=$(sipp_stat "$SIPP_TMP/$name.csv" 'FailedCall(C)')
		retrans=$(sipp_stat "$SIPP_TMP/$name.csv" 'Retransmissions(C)')
		peak=$(sipp_peak "$name")
		# Calls not placed (SIPp fell behind, or the run was cut short) count as failed.
		((created < calls)) && failed=$((failed + calls - created))
		pct=$(awk -v f="$failed" -v n="$calls" 'BEGIN { printf "%.2f", n ? 100 * f / n : 0 }')
		if [[ -n $spid ]]; then
			c1=$(proc_cpu_ticks "$spid")
			cpu=$(awk -v d=$((c1 - c0)) -v t="$tck" 'BEGIN { printf "%.2f", d / t }')
			hwm=$(proc_kb "$spid" VmHWM)
			printf '%6d %9d %9d %7d %7s %8d %6d | %9s %11s %8s %13s\n' "$rate" "$calls" "$ok" "$failed" "$pct" "$retrans" "$peak" \
				"$cpu" "$(awk -v c="$cpu" -v n="$calls" 'BEGIN { printf "%.3f", n ? 1000 * c / n : 0 }')" \
				"$(awk -v k="$hwm" 'BEGIN { printf "%.1f", k / 1024 }')" \
				"$(awk -v k="$hwm" -v r="$rss0" -v p="$peak" 'BEGIN { printf "%.1f", p ? (k - r) / p : 0 }')"
		else
			printf '%6d %9d %9d %7d %7s %8d %6d\n' "$rate" "$calls" "$ok" "$failed" "$pct" "$retrans" "$peak"
		fi
		sipp_log "rate $rate: SIPp caller exit $rc, $(awk -v a="$uac0" -v b="$uac1" -v s="$t0" -v e="$t1" \
			'BEGIN { printf "%.1f s, caller CPU %.2f s", e - s, b - a }')"
		if awk -v p="$pct" 'BEGIN { exit !(p < 1) }' && ((rate > SWEEP_BEST)); then
			SWEEP_BEST=$rate
		fi
	done
	if ((SWEEP_BEST > 0)); then
		echo "highest rate with <1% failed calls: $SWEEP_BEST calls/s"
	else
		echo "highest rate with <1% failed calls: none of $RATES"
	fi
}

# pcmu_tone FILE MS [FREQ] [DBOV]: MS milliseconds of a FREQ Hz tone (440) at DBOV RMS (-12)
# as raw 8 kHz mu-law (G.711 PCMU), for rtp_stream.
pcmu_tone() {
	LC_ALL=C awk -v ms="$2" -v f="${3:-440}" -v db="${4:--12}" 'BEGIN {
		n = int(ms * 8); amp = 32768 * sqrt(2) * exp(db / 20 * log(10)); pi = atan2(0, -1)
		for (i = 0; i < n; i++) {
			s = int(amp * sin(2 * pi * f * i / 8000))
			sign = 0; if (s < 0) { sign = 128; s = -s }
			if (s > 32635) s = 32635
			s += 132
			e = 7; while (e > 0 && s < 2 ^ (e + 7)) e--
			m = int(s / 2 ^ (e + 3)) % 16
			printf "%c", 255 - (sign + e * 16 + m)
		}
	}' >"$1"
}
