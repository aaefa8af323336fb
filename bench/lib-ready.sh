#!/usr/bin/env bash
# Shared by the benchmarks that start a server and wait for its ready line (bench/api.sh,
# and through bench/lib-sms.sh bench/sms.sh and bench/cluster.sh). Needs TMP (a scratch
# dir) and PIDS (an array of started processes, stopped by the caller's cleanup).

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
