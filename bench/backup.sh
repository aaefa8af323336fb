#!/usr/bin/env bash
# Backup benchmark: trunkline backup / restore / restore drill against restic on the same
# data dir in the same run.
#
#   bash bench/backup.sh              # a data dir of about 1 GB (SIZE_MB=1024)
#   SIZE_MB=200 bash bench/backup.sh  # smaller
#
# Steps: generate a data dir (messages and recordings, bench/backupgen); full backup with
# trunkline (to a directory destination) and with restic (to a local repository); restore
# of each into a new directory; add 1% new data and back up again with each (incremental);
# trunkline backup verify (the restore drill). Figures are MB of data dir per second.
# Needs Go and restic (apt-get install restic). BENCH_KEEP=1 keeps the temporary dir.
set -euo pipefail

SIZE_MB=${SIZE_MB:-1024}
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
TMP=$(mktemp -d "${TMPDIR:-/tmp}/trunkline-backup-bench.XXXXXX")
cleanup() {
	local rc=$?
	if [[ ${BENCH_KEEP:-} == 1 ]]; then echo "bench: kept $TMP" >&2; else rm -rf "$TMP"; fi
	exit "$rc"
}
trap cleanup EXIT

command -v restic >/dev/null || { echo "bench: restic is not installed (apt-get install restic)" >&2; exit 1; }
echo "bench: building" >&2
(cd "$ROOT" && go build -o "$TMP/trunkline" ./cmd/trunkline && go build -o "$TMP/backupgen" ./bench/backupgen)

DATA=$TMP/data
echo "bench: generating about $SIZE_MB MB in $DATA" >&2
"$TMP/backupgen" -data-dir "$DATA" -mb "$SIZE_MB" >&2
BYTES=$(du -sb "$DATA" | cut -f1)
MB=$(awk -v b="$BYTES" 'BEGIN { printf "%.1f", b / 1e6 }')

mkdir -p "$TMP/secret"
"$TMP/trunkline" backup keygen --data-dir "$DATA" --out "$TMP/secret/backup.key" >/dev/null
cat >"$TMP/trunkline.toml" <<CONF
[backup]
key_file = "$TMP/secret/backup.key"

[[backup.destinations]]
name = "disk"
type = "dir"
path = "$TMP/dest"
CONF
TL=("$TMP/trunkline")
CFG=(--config "$TMP/trunkline.toml" --data-dir "$DATA")
export RESTIC_PASSWORD=bench RESTIC_REPOSITORY=$TMP/restic
restic init --quiet >/dev/null

now() { date +%s.%N; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b - a }'; }
rate() { awk -v mb="$1" -v s="$2" 'BEGIN { printf "%.1f", mb / s }'; }

t0=$(now); "${TL[@]}" backup "${CFG[@]}" --json >"$TMP/backup1.json" 2>/dev/null; t1=$(now)
tl_backup=$(secs "$t0" "$t1")
t0=$(now); restic backup --quiet "$DATA" >/dev/null; t1=$(now)
rs_backup=$(secs "$t0" "$t1")

t0=$(now); "${TL[@]}" restore "${CFG[@]}" --to "$TMP/restored-tl" >/dev/null; t1=$(now)
tl_restore=$(secs "$t0" "$t1")
t0=$(now); restic restore --quiet latest --target "$TMP/restored-restic" >/dev/null; t1=$(now)
rs_restore=$(secs "$t0" "$t1")

# 1% change: new messages and recordings, about a hundredth of the data dir.
ADD_MB=$(( SIZE_MB / 100 > 1 ? SIZE_MB / 100 : 1 ))
"$TMP/backupgen" -data-dir "$DATA" -mb "$ADD_MB" -recording-kb 256 >&2
t0=$(now); "${TL[@]}" backup "${CFG[@]}" --json >"$TMP/backup2.json" 2>/dev/null; t1=$(now)
tl_incr=$(secs "$t0" "$t1")
t0=$(now); restic backup --quiet "$DATA" >/dev/null; t1=$(now)
rs_incr=$(secs "$t0" "$t1")

t0=$(now); "${TL[@]}" backup verify "${CFG[@]}" >"$TMP/drill.txt"; t1=$(now)
tl_drill=$(secs "$t0" "$t1")

tl_store=$(du -sb "$TMP/dest" | cut -f1)
rs_store=$(du -sb "$TMP/restic" | cut -f1)
cat <<OUT
data dir: $MB MB ($(nproc) cores, $(restic version | cut -d' ' -f1-2))
                         trunkline            restic
full backup              ${tl_backup} s ($(rate "$MB" "$tl_backup") MB/s)    ${rs_backup} s ($(rate "$MB" "$rs_backup") MB/s)
restore                  ${tl_restore} s ($(rate "$MB" "$tl_restore") MB/s)    ${rs_restore} s ($(rate "$MB" "$rs_restore") MB/s)
backup after 1% change   ${tl_incr} s              ${rs_incr} s
stored after two backups $(awk -v b="$tl_store" 'BEGIN { printf "%.1f MB", b / 1e6 }')             $(awk -v b="$rs_store" 'BEGIN { printf "%.1f MB", b / 1e6 }')
restore drill (verify)   ${tl_drill} s
OUT
sed 's/^/drill: /' "$TMP/drill.txt"
