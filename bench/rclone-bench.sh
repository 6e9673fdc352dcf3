#!/usr/bin/env bash
# rclone provider benchmark: SiteSync driving one `rclone rcd` per site vs AYON-style one `rclone copyto` process
# per file, side by side in one run, over rclone's local backend (a folder on this machine). Release build.
#
#   bench/rclone-bench.sh [--big-mib 1024] [--small-count 1000] [--small-kib 4]
#
# Prints MiB/s, files/s and the ratio (time of one process per file / SiteSync's; > 1: SiteSync faster). SiteSync's
# times include its catalog work, the SHA-256 of every byte it sends or receives and the proof of each upload by
# the backend's SHA-256; `rclone copyto` checks each copy's MD5 (its default).
set -euo pipefail
cd "$(dirname "$0")/.."
BIG_MIB=1024
SMALL_COUNT=1000
SMALL_KIB=4
while [ $# -gt 0 ]; do
  case "$1" in
    --big-mib) BIG_MIB=$2; shift 2 ;;
    --small-count) SMALL_COUNT=$2; shift 2 ;;
    --small-kib) SMALL_KIB=$2; shift 2 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done
scripts/install-deps.sh bench
swift build -c release --product sitesync >/dev/null
SITESYNC=$PWD/.build/release/sitesync

W=$(mktemp -d /tmp/sitesync-rclone-bench.XXXXXX)
trap 'rm -rf "$W"' EXIT
echo "generating ${BIG_MIB} MiB and ${SMALL_COUNT} x ${SMALL_KIB} KiB files..."
mkdir -p $W/src/small $W/remote/projects $W/ayon/up/small $W/ayon/down/small
source bench/lib.sh
make_sources $W/src/big.bin $BIG_MIB $W/src/small $SMALL_COUNT $SMALL_KIB

export RCLONE_CONFIG=/dev/null

# --- AYON-style: one rclone process per file ----------------------------------------------------------------
per_file() { # SRC_DIR DST_DIR: one `rclone copyto` per file, as AYON's rclone provider does
  for f in "$1"/*; do rclone copyto "$f" "$2/$(basename "$f")"; done
}
measure ayon_big_up     rclone copyto $W/src/big.bin $W/ayon/up/big.bin
measure ayon_big_down   rclone copyto $W/ayon/up/big.bin $W/ayon/down/big.bin
measure ayon_small_up   per_file $W/src/small $W/ayon/up/small
measure ayon_small_down per_file $W/ayon/up/small $W/ayon/down/small
cmp $W/src/big.bin $W/ayon/down/big.bin

# --- SiteSync: the rclone provider, remote = a local folder -----------------------------------------------------
cat > $W/studio.yaml <<YAML
sites:
  vault:
    provider: rclone
    remote: $W/remote
    config_file: /dev/null
    roots: {work: /projects}
projects:
  default: {sitesync: {active_site: local, remote_site: vault}}
  bench: {roots: {work: $W/studio}}
YAML
sitesync_round

# --- report -----------------------------------------------------------------------------------------------------
echo
echo "rclone $(rclone version 2>/dev/null | head -1 | awk '{print $2}') local backend, $(nproc) cores; ${BIG_MIB} MiB file, ${SMALL_COUNT} x ${SMALL_KIB} KiB files (wall clock)"
printf "%-18s %16s %22s %14s\n" "" "SiteSync (rcd)" "rclone copyto per file" "ratio"
row() { # name unit key amount
  local name=$1 unit=$2 key=$3 amount=$4
  printf "%-18s %10.1f %-5s %16.1f %-5s %13.2fx\n" "$name" "$(echo "$amount / ${T[sitesync_$key]}" | bc -l)" "$unit" \
    "$(echo "$amount / ${T[ayon_$key]}" | bc -l)" "$unit" "$(echo "${T[ayon_$key]} / ${T[sitesync_$key]}" | bc -l)"
}
row "large upload" "MiB/s" big_up $BIG_MIB
row "large download" "MiB/s" big_down $BIG_MIB
row "small upload" "f/s" small_up $SMALL_COUNT
row "small download" "f/s" small_down $SMALL_COUNT
echo "(ratio > 1.00x: SiteSync faster)"
