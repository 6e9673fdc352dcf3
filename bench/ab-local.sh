#!/usr/bin/env bash
# A/B of SiteSync builds on small local files: several `sitesync` binaries and `cp -a` + `sync` take turns on the
# same 4 KiB files, studio → backup (both local_drive), round after round, with a pause and a dropped page cache
# before each run. For changes of a few per cent, which this VM's disk (±30 % from one minute to the next) hides
# in separate runs of bench/local-bench.sh: interleaving puts every binary through the same moments of the disk.
#
#   bench/ab-local.sh [--count 5000] [--kib 4] [--rounds 3] [--pause 30] BINARY…
#
# Example — the build before a change against the build after it:
#   git stash; swift build -c release --product sitesync; cp .build/release/sitesync /tmp/sitesync-before
#   git stash pop; swift build -c release --product sitesync
#   bench/ab-local.sh /tmp/sitesync-before .build/release/sitesync
#
# Each binary starts from the same catalog (a copy taken after one publish), so each run does the same work:
# `server --once` copying every file, hashed, durable and recorded. Prints files/s per run, then each binary's best
# and median, and cp's time over each binary's (> 1: the binary is faster than cp).
set -euo pipefail
cd "$(dirname "$0")/.."
COUNT=5000
KIB=4
ROUNDS=3
PAUSE=30
BINS=()
while [ $# -gt 0 ]; do
  case "$1" in
    --count) COUNT=$2; shift 2 ;;
    --kib) KIB=$2; shift 2 ;;
    --rounds) ROUNDS=$2; shift 2 ;;
    --pause) PAUSE=$2; shift 2 ;;
    -*) echo "unknown option $1" >&2; exit 2 ;;
    *) BINS+=("$(realpath "$1")"); shift ;;
  esac
done
source bench/lib.sh
valid_rounds "$ROUNDS"
[[ "$COUNT" =~ ^[1-9][0-9]*$ && "$KIB" =~ ^[1-9][0-9]*$ && "$PAUSE" =~ ^[0-9]+$ ]] || {
  echo "--count and --kib take whole numbers of at least 1, --pause whole seconds" >&2; exit 2; }
[ ${#BINS[@]} -gt 0 ] || { echo "name at least one sitesync binary to compare (see the comment at the top)" >&2; exit 2; }
for b in "${BINS[@]}"; do
  "$b" --version >/dev/null 2>&1 || { echo "$b does not run as sitesync (--version failed): give a built sitesync binary" >&2; exit 2; }
done
[ "$(id -u)" -eq 0 ] || echo "not root: the page cache is not dropped between runs, so reads are warm" >&2

W=$(mktemp -d /tmp/sitesync-ab.XXXXXX)
trap 'rm -rf "$W"' EXIT
echo "generating ${COUNT} x ${KIB} KiB files in $W..."
make_sources "$W/src/unused.bin" 1 "$W/src/small" "$COUNT" "$KIB"
export SITESYNC_CATALOG=$W/catalog.sqlite SITESYNC_LOCAL_SETTINGS=$W/local.yaml SITESYNC_SITE_ID=ws-bench
SITESYNC=${BINS[0]}
mkdir -p "$W/backup" "$W/studio"
local_studio "$W"
# Publishing puts the files in the studio; the server then copies them to backup.
$SITESYNC publish --project bench --folder f --product small --version 1 --name bin "$W"/src/small/* >/dev/null
cp "$W/catalog.sqlite" "$W/catalog.base"

declare -A RUNS
for round in $(seq "$ROUNDS"); do
  i=0
  for b in "${BINS[@]}" cp; do
    # The last run's copies are moved aside, not deleted (until the end): ext4 without a journal skips inodes freed
    # in the last ~30 s when it allocates new ones, so a mass delete just before a run slows whoever runs next
    # (and by how much depends on how that program allocates its inodes, which is not what is compared here).
    mkdir -p "$W/old"
    [ -d "$W/cp" ] && mv "$W/cp" "$W/old/cp.$round.$i"
    mv "$W/backup" "$W/old/backup.$round.$i"; mkdir "$W/backup"
    rm -f "$W"/catalog.sqlite-wal "$W"/catalog.sqlite-shm
    cp "$W/catalog.base" "$W/catalog.sqlite"
    sync; sleep "$PAUSE"
    echo 3 > /proc/sys/vm/drop_caches 2>/dev/null || true
    [ "$b" = cp ] || warm_tools
    t0=$(now)
    if [ "$b" = cp ]; then
      cp -a "$W/studio" "$W/cp"; sync; name=cp
    else
      "$b" server --once --active-site studio > "$W/log" 2>&1 || { echo "FAILED: $b"; tail -5 "$W/log"; exit 1; }
      i=$((i + 1)); name="$i"
      copied=$(find "$W/backup" -type f | wc -l)
      [ "$copied" -eq "$COUNT" ] || { echo "FAILED: $b copied $copied of $COUNT files"; exit 1; }
    fi
    rate=$(echo "$COUNT / ($(now) - $t0)" | bc -l)
    RUNS[$name]="${RUNS[$name]:-} $rate"
    printf "round %s  %-4s %8.1f files/s  %s\n" "$round" "$name" "$rate" "$([ "$b" = cp ] && echo "cp -a + sync" || echo "$b")"
  done
done

echo
stats() { tr ' ' '\n' | grep . | sort -g | awk '{a[NR]=$1} END {printf "%.1f %.1f", a[NR], a[int((NR+1)/2)]}'; }
read -r cp_best cp_median <<<"$(echo "${RUNS[cp]}" | stats)"
printf "%-4s %12s %12s %14s  %s\n" "" "best f/s" "median f/s" "best vs cp" ""
i=0
for b in "${BINS[@]}"; do
  i=$((i + 1))
  read -r best median <<<"$(echo "${RUNS[$i]}" | stats)"
  printf "%-4s %12.1f %12.1f %13.2fx  %s\n" "$i" "$best" "$median" "$(echo "$best / $cp_best" | bc -l)" "$b"
done
printf "%-4s %12.1f %12.1f %14s  %s\n" "cp" "$cp_best" "$cp_median" "" "cp -a + sync"
