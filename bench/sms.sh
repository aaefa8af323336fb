#!/usr/bin/env bash
# End-to-end SMS benchmark (issue 3, "Figures"): N messages through a gateway's HTTP API
# → a node-smpp SMSC (test/node/smsc.js, answers at once, receipts with no delay) →
# delivery receipt → status callback to the load generator's receiver. Trunkline (HTTPS,
# every accepted message durable in SQLite) and Kannel (Debian `kannel`, bearerbox +
# smsbox, plain HTTP sendsms) take the same load, each with its own SMSC, in one run, and
# the script prints both and their ratio.
#
#   bash bench/sms.sh                     # 20,000 messages, 64 clients, Kannel in memory (one and two
#                                         # callbacks a message) and with its spool
#   N=5000 bash bench/sms.sh              # a shorter run
#   KANNEL= bash bench/sms.sh             # Trunkline only
#   ROUNDS=3 bash bench/sms.sh            # Trunkline, Kannel, Trunkline, Kannel, ...: medians
#   BENCH_REF=HEAD bash bench/sms.sh      # build Trunkline from a git ref, not the work tree
#   PG_DSN=postgres://... bash bench/sms.sh  # Trunkline on PostgreSQL too (a fresh schema per run)
#
# Environment: N (20000), CONC (64), WINDOW (1000: Trunkline's submit window per bind),
# BINDS (1), WORKERS (0 = Trunkline's default), KANNEL ("memory memory-sent spool"; names of
# Kannel variants, empty for none: "memory-sent" is Kannel in memory with dlr-mask 27, the SMSC's
# acknowledgement or rejection and the final report, two callbacks a message as Trunkline sends),
# DLR_MASK (3: final receipts only, one callback per message; for "memory" and "spool"),
# ROUNDS (1), TRUNKLINE (1; 0 runs Kannel only), BENCH_REF (unset: the work tree),
# BENCH_KEEP=1 keeps the temporary dir (binaries, data dir, configs, logs, JSON results;
# it is also kept when the run fails), TL_BIN (run this Trunkline binary instead of the one
# built, e.g. a profiling build) and TL_EXTRA_ENV (extra VAR=value words in the Trunkline
# server's environment), PG_DSN (a PostgreSQL server: Trunkline runs a second time on it, in a
# schema of its own that is dropped afterwards unless BENCH_KEEP=1; psql must be installed). See bench/README.md for what is measured and the figures.
# Needs Go, node + npm (runs `npm ci` in test/node if node-smpp is missing), curl, awk,
# sed, and Kannel (installed with apt-get when missing and running as root).
# Every listener is on 127.0.0.1; every wait and loop is bounded.
set -euo pipefail

N=${N:-20000}
CONC=${CONC:-64}
WINDOW=${WINDOW:-1000}
BINDS=${BINDS:-1}
WORKERS=${WORKERS:-0}
KANNEL=${KANNEL-memory memory-sent spool}
DLR_MASK=${DLR_MASK:-3}
ROUNDS=${ROUNDS:-1}
TRUNKLINE=${TRUNKLINE:-1}
BENCH_REF=${BENCH_REF:-}
PG_DSN=${PG_DSN:-}
SRC_NUMBER=14155550100
unset GOMAXPROCS

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
TMP=$(mktemp -d "${TMPDIR:-/tmp}/trunkline-smsbench.XXXXXX")
PIDS=()
# shellcheck source=bench/lib-sms.sh
source "$ROOT/bench/lib-sms.sh"

trap cleanup EXIT
trap 'exit 130' INT TERM

# --- what the benchmark needs -------------------------------------------------------
cd "$ROOT"
if [[ ! -d test/node/node_modules/smpp ]]; then
	log "installing test/node dependencies (npm ci)"
	(cd test/node && npm ci --no-audit --no-fund >&2)
fi
if [[ -n $KANNEL ]] && ! command -v bearerbox >/dev/null; then
	if [[ $(id -u) == 0 ]]; then
		log "installing Kannel (apt-get install kannel)"
		DEBIAN_FRONTEND=noninteractive apt-get install -y -q kannel >&2 ||
			{ apt-get update -q >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q kannel >&2; }
	else
		log "Kannel is not installed and this is not root: install Debian's kannel, or set KANNEL= to skip it"
		exit 1
	fi
fi
for k in $KANNEL; do
	case $k in memory | memory-sent | spool) ;; *)
		log "unknown Kannel variant $k (memory, memory-sent or spool)"
		exit 2
		;;
	esac
done

LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo "?")
log "building trunkline and smsload in $TMP"
go build -o "$TMP/smsload" ./bench/smsload
if [[ -n $BENCH_REF ]]; then
	mkdir -p "$TMP/src"
	git archive "$BENCH_REF" | tar -x -C "$TMP/src"
	TL_REV="$BENCH_REF = $(git rev-parse --short "$BENCH_REF")"
	(cd "$TMP/src" && go build -o "$TMP/trunkline" ./cmd/trunkline)
else
	TL_REV="work tree at $(git rev-parse --short HEAD)$(git diff --quiet HEAD -- . 2>/dev/null || echo ' + uncommitted changes')"
	go build -o "$TMP/trunkline" ./cmd/trunkline
fi
TL_BIN=${TL_BIN:-$TMP/trunkline}
KANNEL_VERSION=$( (dpkg-query -W -f '${Version}' kannel 2>/dev/null) || echo "?")

# --- Trunkline ---------------------------------------------------------------------------
# run_trunkline ROUND [pg]: with pg, the store is PostgreSQL (PG_DSN), in a fresh schema.
run_trunkline() {
	local round=$1 store=${2:-} name="r$1-trunkline${2:+-$2}" data acct id token pid url ca label="trunkline (HTTPS, SQLite)" schema
	start_smsc "$name"
	data="$TMP/$name.data"
	mkdir -p "$data"
	export TRUNKLINE_LOG_FILE=- # the server's log to stderr (kept in $TMP), not the data dir
	unset TRUNKLINE_DATABASE_DSN
	if [[ $store == pg ]]; then
		schema="bench_$(od -An -N6 -tx1 /dev/urandom | tr -d ' \n')"
		psql -q -v ON_ERROR_STOP=1 "$PG_DSN" -c "CREATE SCHEMA $schema" >&2
		echo "$schema" >>"$TMP/pg-schemas"
		# pgx passes unknown DSN parameters to the server as run-time settings.
		export TRUNKLINE_DATABASE_DSN="$PG_DSN$([[ $PG_DSN == *\?* ]] && echo '&' || echo '?')search_path=$schema"
		label="trunkline (HTTPS, PostgreSQL)"
	fi
	acct=$("$TL_BIN" account create --name bench --json --data-dir "$data")
	id=$(sed -n 's/.*"auth_id": *"\([^"]*\)".*/\1/p' <<<"$acct")
	token=$(sed -n 's/.*"auth_token": *"\([^"]*\)".*/\1/p' <<<"$acct")
	if [[ -z $id || -z $token ]]; then
		log "could not read auth_id/auth_token from: $acct"
		return 1
	fi
	"$TL_BIN" number add --number "$SRC_NUMBER" --country US --carrier bench --data-dir "$data" >/dev/null
	{
		echo "[messaging]"
		[[ $WORKERS != 0 ]] && echo "workers = $WORKERS"
		echo
		echo "[[messaging.carriers]]"
		echo "name = \"bench\""
		echo "address = \"127.0.0.1:$SMSC_PORT\""
		echo "system_id = \"trunkline\""
		echo "password = \"secret\""
		echo "binds = $BINDS"
		echo "window = $WINDOW"
		echo
		echo "[[messaging.routes]]"
		echo "prefix = \"1\""
		echo "carriers = [{ name = \"bench\" }]"
	} >"$TMP/$name.toml"
	mkfifo "$TMP/$name.fifo"
	# The API limiter (300 per 5 s per account by default) is raised out of the way;
	# callbacks may reach the loader's receiver on 127.0.0.1.
	env TRUNKLINE_API_RATE_LIMIT=100000000 TRUNKLINE_WEBHOOK_ALLOW=127.0.0.0/8 ${TL_EXTRA_ENV:-} \
		"$TL_BIN" serve --config "$TMP/$name.toml" --data-dir "$data" --listen 127.0.0.1:0 --sip-listen 127.0.0.1:0 --log-level warn \
		>"$TMP/$name.fifo" 2>"$TMP/$name.err" &
	pid=$!
	PIDS+=("$pid")
	wait_ready "$name" "$TMP/$name.fifo" "trunkline: ready" "trunkline: API listening on "
	url=$READY_URL
	ca=$(sed -n 's/^trunkline: clients trust the CA at \(.*\) (e\.g\..*/\1/p' "$TMP/$name.out")
	if [[ -z $ca ]]; then
		log "trunkline printed no CA path"
		return 1
	fi
	# Rent the sender number through the API (Plivo's PhoneNumber rent).
	curl -sS --fail --cacert "$ca" -u "$id:$token" -X POST "$url/v1/Account/$id/PhoneNumber/$SRC_NUMBER/" >"$TMP/$name.rent"
	log "round $round: trunkline at $url (pid $pid), SMSC on $SMSC_PORT; $N messages, $CONC clients"
	"$TMP/smsload" -mode trunkline -label "$label" -url "$url" -user "$id" -pass "$token" -cacert "$ca" \
		-src "$SRC_NUMBER" -n "$N" -c "$CONC" -pids "$pid" -aux-pids "smsc=$SMSC_PID" -json >"$TMP/$name.load" 2>"$TMP/$name.loaderr" ||
		{ log "smsload failed:"; cat "$TMP/$name.loaderr" >&2; return 1; }
	grep -v '^{' "$TMP/$name.load" >&2
	grep '^{' "$TMP/$name.load" >"$TMP/$name.json"
	# What the server wrote to storage during the run (WAL frames, checkpoints).
	[[ $store == pg ]] || awk '/^write_bytes:/ { print $2 }' "/proc/$pid/io" >"$TMP/$name.written" 2>/dev/null || true
	stop_bounded "$pid" 40
	stop_bounded "$SMSC_PID" 10
	echo "$label: $(smsc_counts "$name")" >>"$TMP/smsc-counts"
	[[ $store == pg ]] && du_pg "$schema" >"$TMP/$name.bytes"
	du -sb "$data" | awk '{ print $1 }' >"$TMP/$name.datadir"
	# The two start-up warnings (webhook.allow opens loopback; one carrier per route) are expected.
	if grep -vqE '^warning: (webhook.allow|messaging.routes)' "$TMP/$name.err"; then
		log "trunkline stderr (warnings and errors during the run), last lines:"
		grep -vE '^warning: (webhook.allow|messaging.routes)' "$TMP/$name.err" | tail -n 5 >&2 || true
	fi
	echo "$name" >>"$TMP/runs"
}

# --- Kannel -----------------------------------------------------------------------------
run_kannel() {
	local variant=$1 round=$2 name="r$2-kannel-$1" dir ports store bb sb i status mask=$DLR_MASK
	# Like with like: 8 (the SMSC took it), 16 (the SMSC refused it), 1 and 2 (delivered,
	# undelivered) are the reports Trunkline sends as sent, failed, delivered, undelivered.
	[[ $variant == memory-sent ]] && mask=27
	start_smsc "$name"
	dir="$TMP/$name"
	mkdir -p "$dir"
	mapfile -t ports < <("$TMP/smsload" -free-ports 3)
	store=""
	if [[ $variant == spool ]]; then
		mkdir -p "$dir/spool"
		store="store-type = spool\nstore-location = \"$dir/spool\""
	fi
	sed -e "s|@ADMIN_PORT@|${ports[0]}|g; s|@SMSBOX_PORT@|${ports[1]}|g; s|@SENDSMS_PORT@|${ports[2]}|g" \
		-e "s|@SMSC_PORT@|$SMSC_PORT|g; s|@DIR@|$dir|g; s|@STORE@|$store|" \
		"$ROOT/bench/kannel/kannel.conf.in" >"$dir/kannel.conf"
	# -v 4: console output at panic level only (it defaults to debug).
	bearerbox -v 4 "$dir/kannel.conf" >"$dir/bearerbox.out" 2>&1 &
	bb=$!
	PIDS+=("$bb")
	for ((i = 0; i < 300; i++)); do
		curl -s -o /dev/null "http://127.0.0.1:${ports[0]}/status.txt?password=bench" && break
		kill -0 "$bb" 2>/dev/null || break
		sleep 0.1
	done
	smsbox -v 4 "$dir/kannel.conf" >"$dir/smsbox.out" 2>&1 &
	sb=$!
	PIDS+=("$sb")
	# Ready when the SMSC is bound and the smsbox connected.
	status=""
	for ((i = 0; i < 300; i++)); do
		status=$(curl -s "http://127.0.0.1:${ports[0]}/status.txt?password=bench" || true)
		if grep -q '(online' <<<"$status" && grep -q 'smsbox:.*on-line' <<<"$status"; then
			break
		fi
		status=""
		kill -0 "$bb" 2>/dev/null && kill -0 "$sb" 2>/dev/null || break
		sleep 0.1
	done
	if [[ -z $status ]]; then
		log "Kannel ($variant) did not become ready; see $dir"
		tail -n 5 "$dir/bearerbox.log" "$dir/smsbox.log" "$dir/bearerbox.out" "$dir/smsbox.out" >&2 2>/dev/null || true
		return 1
	fi
	log "round $round: kannel ($variant) sendsms on ${ports[2]} (bearerbox $bb, smsbox $sb), SMSC on $SMSC_PORT; dlr-mask $mask"
	local label="kannel (HTTP, in memory)"
	[[ $variant == spool ]] && label="kannel (HTTP, spool store)"
	[[ $variant == memory-sent ]] && label="kannel (HTTP, memory, 2 cb)"
	"$TMP/smsload" -mode kannel -label "$label" -url "http://127.0.0.1:${ports[2]}/cgi-bin/sendsms" -user bench -pass bench \
		-dlr-mask "$mask" -src "$SRC_NUMBER" -n "$N" -c "$CONC" -pids "$bb,$sb" -aux-pids "smsc=$SMSC_PID" -json \
		>"$TMP/$name.load" 2>"$TMP/$name.loaderr" ||
		{ log "smsload failed:"; cat "$TMP/$name.loaderr" >&2; return 1; }
	grep -v '^{' "$TMP/$name.load" >&2
	grep '^{' "$TMP/$name.load" >"$TMP/$name.json"
	stop_bounded "$sb" 20
	stop_bounded "$bb" 30
	stop_bounded "$SMSC_PID" 10
	echo "kannel ($variant): $(smsc_counts "$name")" >>"$TMP/smsc-counts"
	echo "$name" >>"$TMP/runs"
}

# du_pg SCHEMA: bytes of the schema's tables with their indexes and TOAST.
du_pg() {
	psql -At "$PG_DSN" -c "SELECT COALESCE(SUM(pg_total_relation_size(c.oid)), 0) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE n.nspname = '$1' AND c.relkind = 'r'"
}

for ((round = 1; round <= ROUNDS; round++)); do
	[[ $TRUNKLINE == 0 ]] || run_trunkline "$round"
	[[ $TRUNKLINE == 0 || -z $PG_DSN ]] || run_trunkline "$round" pg
	for v in $KANNEL; do
		run_kannel "$v" "$round"
	done
done

# --- report ------------------------------------------------------------------------------
LOAD_END=$(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo "?")
echo
echo "Trunkline SMS benchmark — $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, $(go env GOVERSION), Kannel $KANNEL_VERSION"
echo "Trunkline: $TL_REV; window $WINDOW × $BINDS bind(s), workers $([[ $WORKERS == 0 ]] && echo default || echo "$WORKERS")."
echo "$N messages per run, $CONC clients, HTTP/1.1 keep-alive; one node-smpp SMSC per system (answers at once, receipts with no"
echo "delay); Kannel dlr-mask $DLR_MASK (memory-sent: 27); TRUNKLINE_API_RATE_LIMIT=100000000. Everything (loader, gateways, SMSCs) shares the cores."
echo "Load average before the run: $LOAD_START; after: $LOAD_END (other work on the machine skews figures)."
echo
printf '| %-28s | %10s | %15s | %7s | %7s | %9s | %8s | %9s | %11s | %-22s |\n' \
	system "accepted/s" "delivered/s e2e" "p50 ms" "p99 ms" "CPU/msg" "max RSS" "cb/msg" "err/missing" "cores srv / smsc / ldr"
printf '|%s|%s|%s|%s|%s|%s|%s|%s|%s|%s|\n' "$(printf -- '-%.0s' {1..30})" "-----------:" "----------------:" \
	"--------:" "--------:" "----------:" "---------:" "----------:" "------------:" "------------------------"
while read -r name; do
	j="$TMP/$name.json"
	label=$(sed -n 's/.*"label":"\([^"]*\)".*/\1/p' "$j")
	awk -v l="$label" -v acc="$(field "$j" accepted_per_s)" -v e2e="$(field "$j" e2e_per_s)" -v p50="$(field "$j" p50_ms)" \
		-v p99="$(field "$j" p99_ms)" -v cpu="$(field "$j" server_cpu_per_msg_us)" -v rss="$(field "$j" server_max_rss_kb)" \
		-v err="$(($(field "$j" errors) + $(field "$j" non_2xx)))" -v miss="$(field "$j" missing)" \
		-v fin="$(field "$j" finals)" -v scpu="$(field "$j" server_cpu_s)" -v smsc="$(field "$j" smsc)" \
		-v lcpu="$(field "$j" loader_cpu_s)" -v wall="$(field "$j" wall_s)" \
		-v cbs="$(sed -n 's/.*"callbacks":{\([^}]*\)}.*/\1/p' "$j" | tr ',' '\n' | awk -F: '{ s += $2 } END { print s + 0 }')" 'BEGIN {
		printf "| %-28s | %10.0f | %15.0f | %7.2f | %7.2f | %6.0f µs | %5.0f MB | %9.2f | %4d / %-4d | %4.2f / %4.2f / %4.2f    |\n",
			l, acc, e2e, p50, p99, cpu, rss / 1024, (fin > 0 ? cbs / fin : 0), err, miss,
			scpu / wall, smsc / wall, lcpu / wall
	}'
done <"$TMP/runs"
echo
echo "accepted/s: 2xx answers over first request → last answer. delivered/s e2e: messages with a final callback over first"
echo "request → last final callback. p50/p99: API latency. CPU/msg: the gateway's CPU (user+system, /proc; Kannel: bearerbox +"
echo "smsbox) over the messages delivered. max RSS: peak resident set (VmHWM; Kannel: both boxes summed). cb/msg: status"
echo "callbacks received per message (Trunkline sends sent + delivered, as Plivo does; Kannel with dlr-mask 3 only the final"
echo "report, with dlr-mask 27 the SMSC's acknowledgement too). cores: CPU over the run's wall time of the gateway, its SMSC and the loader (with its callback receiver)."
echo "Bytes on disk per message after the run (the data dir, or the PostgreSQL schema's tables and indexes):"
while read -r name; do
	if [[ -f $TMP/$name.datadir ]]; then
		b=$(cat "$TMP/$name.datadir")
		[[ -f $TMP/$name.bytes ]] && b=$(cat "$TMP/$name.bytes")
		w=$(cat "$TMP/$name.written" 2>/dev/null || true)
		echo "  $name: $b bytes, $((b / (N + 1))) per message${w:+; the server wrote $((w / (N + 1))) bytes per message to storage}"
	fi
done <"$TMP/runs"
echo "SMSC counts (the probe message included):"
sed 's/^/  /' "$TMP/smsc-counts"
echo

# Medians over rounds, per system.
median() { # median NAME_GLOB KEY
	local f
	for f in "$TMP"/$1.json; do if [[ -f $f ]]; then field "$f" "$2"; fi; done | sort -g | awk '{ v[NR] = $1 } END { if (NR) print (NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2); else print 0 }'
}
TL_E2E=$(median "r*-trunkline" e2e_per_s)
TL_ACC=$(median "r*-trunkline" accepted_per_s)
TL_MISS=$(median "r*-trunkline" missing)
TL_ERR=$(median "r*-trunkline" errors)
KM_E2E=0 KS_E2E=0 KT_E2E=0
[[ " $KANNEL " == *" memory "* ]] && KM_E2E=$(median "r*-kannel-memory" e2e_per_s) && KM_ACC=$(median "r*-kannel-memory" accepted_per_s)
[[ " $KANNEL " == *" spool "* ]] && KS_E2E=$(median "r*-kannel-spool" e2e_per_s)
[[ " $KANNEL " == *" memory-sent "* ]] && KT_E2E=$(median "r*-kannel-memory-sent" e2e_per_s)
[[ $ROUNDS -gt 1 ]] && echo "Medians over $ROUNDS rounds:"
if [[ -n $PG_DSN && $TRUNKLINE != 0 ]]; then
	TP_E2E=$(median "r*-trunkline-pg" e2e_per_s)
	awk -v p="$TP_E2E" -v t="$TL_E2E" -v km="$KM_E2E" 'BEGIN {
		printf "Trunkline on PostgreSQL / on SQLite: end to end %.2fx (%.0f vs %.0f msgs/s)", p / t, p, t
		if (km > 0) printf "; / Kannel in memory %.2fx", p / km
		printf ".\n"
	}'
fi
[[ $TRUNKLINE == 0 ]] || awk -v t="$TL_E2E" -v ta="$TL_ACC" -v km="$KM_E2E" -v kma="${KM_ACC:-0}" -v ks="$KS_E2E" -v kt="$KT_E2E" -v miss="$TL_MISS" -v err="$TL_ERR" 'BEGIN {
	if (km > 0) printf "Trunkline / Kannel in memory: end to end %.2fx (%.0f vs %.0f msgs/s), accepted %.2fx (%.0f vs %.0f/s).\n", t / km, t, km, ta / kma, ta, kma
	if (kt > 0) printf "Trunkline / Kannel in memory with two callbacks a message (dlr-mask 27, like with like): end to end %.2fx (%.0f vs %.0f msgs/s).\n", t / kt, t, kt
	if (ks > 0) printf "Trunkline / Kannel with its spool (durable): end to end %.2fx (%.0f vs %.0f msgs/s).\n", t / ks, t, ks
	ok = (t >= 5000) && (km == 0 || t > km) && (ks == 0 || t >= 2 * ks) && miss == 0 && err == 0
	printf "Aim (>= 5,000 msgs/s end to end, durable, over HTTPS; ahead of Kannel in memory; >= 2x Kannel spool; none lost): %s\n",
		ok ? "MET" : "NOT met"
	printf "  end to end %.0f msgs/s %s 5,000", t, (t >= 5000 ? ">=" : "<")
	if (km > 0) printf "; %s Kannel in memory (%.0f)", (t > km ? "ahead of" : "behind"), km
	if (ks > 0) printf "; %.2fx Kannel spool (%.0f)", t / ks, ks
	printf "; missing %d, errors %d.\n", miss, err
}'
echo "Trunkline: HTTPS (TLS 1.3) and every accepted message durable in SQLite (WAL, synchronous=NORMAL: survives kill -9)"
echo "before its 202. Kannel: plain HTTP; \"memory\" keeps accepted messages in memory only (lost on a crash), \"spool\""
echo "(store-type = spool) writes each to a file first; \"memory-sent\" is \"memory\" with the SMSC's acknowledgement reported too."
