#!/usr/bin/env bash
# Shared by the SMS benchmarks (bench/sms.sh, bench/cluster.sh): stopping processes,
# waiting for a server's ready line (bench/lib-ready.sh), a node-smpp SMSC, the EXIT trap's cleanup. Needs TMP (a scratch dir), PIDS
# (an array of started processes, stopped by the caller's cleanup) and ROOT.

# shellcheck source=bench/lib-ready.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib-ready.sh"

# stop_bounded PID [SECONDS]: SIGTERM, wait up to SECONDS (default 15), then SIGKILL.
stop_bounded() {
	local pid=$1 secs=${2:-15} i
	kill -TERM "$pid" 2>/dev/null || return 0
	for ((i = 0; i < secs * 10; i++)); do
		kill -0 "$pid" 2>/dev/null || break
		# A zombie counts as gone; wait reaps it below.
		[[ $(awk '{ print $3 }' "/proc/$pid/stat" 2>/dev/null) == Z ]] && break
		sleep 0.1
	done
	if kill -0 "$pid" 2>/dev/null && [[ $(awk '{ print $3 }' "/proc/$pid/stat" 2>/dev/null) != Z ]]; then
		# Seen now and then with the node SMSC after a 20,000-message Kannel run, after it had
		# printed its counts: harmless, the counts are already in its output.
		log "process $pid ($(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | cut -c1-60 || true)) did not stop within ${secs}s; killing it"
		kill -KILL "$pid" 2>/dev/null || true
	fi
	wait "$pid" 2>/dev/null || true
}


# start_smsc NAME: a node-smpp SMSC that answers at once and sends each receipt with no
# delay. Sets SMSC_PID and SMSC_PORT.
SMSC_PID="" SMSC_PORT=""
start_smsc() {
	local name=$1 i
	SMSC_RECEIPT_DELAY_MS=0 node "$ROOT/test/node/smsc.js" >"$TMP/$name.smsc.out" 2>"$TMP/$name.smsc.err" &
	SMSC_PID=$!
	PIDS+=("$SMSC_PID")
	SMSC_PORT=""
	for ((i = 0; i < 300; i++)); do
		# The shell may not have created the file yet: not an error (set -e).
		SMSC_PORT=$(sed -n 's/^{"port":\([0-9]*\)}$/\1/p' "$TMP/$name.smsc.out" 2>/dev/null || true)
		[[ -n $SMSC_PORT ]] && return 0
		kill -0 "$SMSC_PID" 2>/dev/null || break
		sleep 0.1
	done
	log "SMSC for $name did not start:"
	cat "$TMP/$name.smsc.err" >&2
	return 1
}

# smsc_counts NAME: the SMSC's counts line after SIGTERM, as "submits N, receipts N".
smsc_counts() {
	sed -n 's/.*"submits":\([0-9]*\).*"receipts_acked":\([0-9]*\).*/submit_sm \1, receipts acked \2/p' "$TMP/$1.smsc.out"
}

# field FILE KEY: a number from smsload's JSON line.
field() { sed -n "s/.*\"$2\":\([-0-9.e+]*\).*/\1/p" "$1" | head -n 1; }


# cleanup: the EXIT trap: stops what was started, drops the PostgreSQL schemas listed in
# $TMP/pg-schemas (PG_DSN) unless BENCH_KEEP=1, and removes TMP unless the run failed or BENCH_KEEP=1.
cleanup() {
	local rc=$? pid s
	for pid in "${PIDS[@]}"; do
		if kill -0 "$pid" 2>/dev/null; then
			stop_bounded "$pid" 10
		fi
	done
	if [[ -f $TMP/pg-schemas && ${BENCH_KEEP:-} == 1 ]]; then
		echo "bench: kept the PostgreSQL schemas $(tr '\n' ' ' <"$TMP/pg-schemas")(DROP SCHEMA ... CASCADE when done)" >&2
	elif [[ -f $TMP/pg-schemas ]]; then
		while read -r s; do psql -q "$PG_DSN" -c "DROP SCHEMA $s CASCADE" >/dev/null 2>&1 || true; done <"$TMP/pg-schemas"
	fi
	if [[ ${BENCH_KEEP:-} == 1 || $rc != 0 ]]; then
		echo "bench: kept $TMP" >&2
	else
		rm -rf "$TMP"
	fi
	exit "$rc"
}
