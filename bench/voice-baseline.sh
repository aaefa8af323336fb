#!/usr/bin/env bash
# Voice baseline: the machine's own limit for "answer, play 3 s, hang up", with SIPp on both
# sides and no application behind it. Our server is compared with this figure: a script for
# trunkline runs the same caller (bench/lib-sipp.sh, sipp_rate_sweep) at the same rates.
#
#   bash bench/voice-baseline.sh                       # 50, 100, 200, 400 calls/s, 10 s each
#   RATES="50 100" DURATION=5 bash bench/voice-baseline.sh
#   BENCH_KEEP=1 bash bench/voice-baseline.sh          # keep the SIPp statistics and logs
#
# Server: test/sipp/uas_play.xml (100, 200 with PCMU, ACK, rtp_stream of a 3 s 440 Hz tone
# generated here, BYE after PLAY_MS). Caller: test/sipp/uac_play_hangup.xml (PCMU offer at
# SIPp's own media socket, waits up to 10 s for the BYE). For each rate: calls attempted,
# succeeded, failed %, retransmissions, peak simultaneous calls, and the server's CPU time
# (user + system of the SIPp server process, /proc/PID/stat) per call and its peak RSS
# (VmHWM) per simultaneous call. Then the highest rate with under 1% failed calls.
#
# Environment: RATES ("50 100 200 400"), DURATION (10, seconds of new calls per rate),
# PLAY_MS (3000), BENCH_KEEP=1. Needs bash, awk, sed, SIPp (Debian sip-tester), Linux /proc.
# Everything is on 127.0.0.1; every wait and loop is bounded.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PLAY_MS=${PLAY_MS:-3000}
SIPP_TMP=$(mktemp -d "${TMPDIR:-/tmp}/trunkline-voicebase.XXXXXX")
log() { echo "bench: $*" >&2; }
SIPP_LOG=log
# shellcheck source=bench/lib-sipp.sh
. "$ROOT/bench/lib-sipp.sh"

SIPP_SERVER_PID="" SIPP_SERVER_CTRL=""
cleanup() {
	local rc=$?
	if [[ -n $SIPP_SERVER_PID ]]; then
		sipp_stop "$SIPP_SERVER_PID" "$SIPP_SERVER_CTRL"
	fi
	if [[ ${BENCH_KEEP:-} == 1 || $rc != 0 ]]; then
		log "kept $SIPP_TMP"
	else
		rm -rf "$SIPP_TMP"
	fi
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

command -v "$SIPP_BIN" >/dev/null || {
	log "sipp is not installed (Debian package sip-tester)"
	exit 1
}
for r in $RATES; do
	[[ $r =~ ^[1-9][0-9]*$ ]] || { log "RATES: $r is not a whole number of calls/s"; exit 2; }
done
[[ $DURATION =~ ^[1-9][0-9]*$ ]] || { log "DURATION: $DURATION is not a whole number of seconds"; exit 2; }

pcmu_tone "$SIPP_TMP/tone.pcmu" 3000

# The server runs for the whole sweep; -timeout bounds it in case this script is killed.
total=0
for r in $RATES; do total=$((total + DURATION + 75)); done
sipp_start_server uas "$ROOT/test/sipp/uas_play.xml" \
	-key play_stream "$SIPP_TMP/tone.pcmu,-1,0" -key play_ms "$PLAY_MS" -timeout "${total}s"
log "SIPp server (uas_play.xml) pid $SIPP_SERVER_PID on $SIPP_SERVER_ADDR; rates $RATES, ${DURATION}s each, play ${PLAY_MS} ms"

echo "voice baseline: SIPp uac_play_hangup.xml -> SIPp uas_play.xml (play ${PLAY_MS} ms, BYE), ${DURATION}s per rate, $(nproc) CPUs"
sipp_rate_sweep "$SIPP_SERVER_ADDR" 1000 "$SIPP_SERVER_PID"

sipp_stop "$SIPP_SERVER_PID" "$SIPP_SERVER_CTRL"
SIPP_SERVER_PID=""
echo "SIPp server totals: $(sipp_stat "$SIPP_TMP/uas.csv" 'IncomingCall(C)') calls in," \
	"$(sipp_stat "$SIPP_TMP/uas.csv" 'SuccessfulCall(C)') completed," \
	"$(sipp_stat "$SIPP_TMP/uas.csv" 'FailedCall(C)') failed," \
	"$(sipp_stat "$SIPP_TMP/uas.csv" 'Retransmissions(C)') retransmissions"
