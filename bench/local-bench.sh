#!/usr/bin/env bash
# Local disk → local disk: SiteSync's server (studio → backup, both local_drive) against cp -a + sync, rsync -a,
# rclone copy and rclone copy + rclone check, side by side in one run. Release build; page cache dropped before
# each run when run as root.
#
#   bench/local-bench.sh [--big-mib 1024] [--small-count 5000] [--small-kib 4] [--rss-mib 2048] [--rounds 3]
#
# SiteSync's times include its catalog work, the SHA-256 of every byte and the flush to disk of every file and
# folder before it is recorded; cp and rsync are followed by `sync` so both sides end durable. Prints MiB/s,
# files/s and each peer's time over SiteSync's (> 1: SiteSync faster), each time the best of --rounds runs, then
# the server's peak memory (GNU time's maximum resident set size) while it moves one file of --rss-mib MiB.
set -euo pipefail
cd "$(dirname "$0")/.."
BIG_MIB=1024
SMALL_COUNT=5000
SMALL_KIB=4
RSS_MIB=2048
ROUNDS=3
while [ $# -gt 0 ]; do
  case "$1" in
    --big-mib) BIG_MIB=$2; shift 2 ;;
    --small-count) SMALL_COUNT=$2; shift 2 ;;
    --small-kib) SMALL_KIB=$2; shift 2 ;;
    --rss-mib) RSS_MIB=$2; shift 2 ;;
    --rounds) ROUNDS=$2; shift 2 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done
source bench/lib.sh
valid_rounds "$ROUNDS"
scripts/install-deps.sh bench >/dev/null
swift build -c release --product sitesync >/dev/null
SITESYNC=$PWD/.build/release/sitesync
W=$(mktemp -d /tmp/sitesync-local-bench.XXXXXX)
trap 'rm -rf "$W"' EXIT
echo "generating ${BIG_MIB} MiB and ${SMALL_COUNT} x ${SMALL_KIB} KiB files in $W..."
mkdir -p "$W/src/small" "$W/src/big"
make_sources "$W/src/big/big.bin" $BIG_MIB "$W/src/small" $SMALL_COUNT $SMALL_KIB
export RCLONE_CONFIG=/dev/null

cp_sync() { cp -a "$1" "$2"; sync; }
rsync_sync() { rsync -a "$1/" "$2/"; sync; }
rclone_check() { rclone copy "$1" "$2"; rclone check "$1" "$2"; }
export SITESYNC_CATALOG=$W/catalog.sqlite SITESYNC_LOCAL_SETTINGS=$W/local.yaml SITESYNC_SITE_ID=ws-bench
# Each round writes its many small files into folders of its own, deleted only at the end. Deleting thousands of
# files just before a measured run slows it: ext4 (without a journal, as here) skips inodes freed in the last ~30 s
# when it allocates new ones, and that scan was most of the time of whichever tool came next. Only the large
# files (one inode each) are deleted between rounds.
one_round() {
  local R="$W/r$ROUND"
  rm -rf "$W"/r*/*-big "$W"/r*/backup/bench/f/publish/big "$W"/catalog.sqlite* "$W/local.yaml"
  mkdir -p "$R/studio" "$R/backup"
  for kind in big small; do
    measure cp_$kind       cp_sync "$W/src/$kind" "$R/cp-$kind"
    measure rsync_$kind    rsync_sync "$W/src/$kind" "$R/rsync-$kind"
    measure rclone_$kind   rclone copy "$W/src/$kind" "$R/rclone-$kind"
    measure rcheck_$kind   rclone_check "$W/src/$kind" "$R/rcheck-$kind"
  done
  # SiteSync: the studio publishes (not timed), the studio's server copies everything to the backup site.
  local_studio "$R"
  $SITESYNC publish --project bench --folder f --product big --version 1 --name bin "$W/src/big/big.bin" >/dev/null
  measure sitesync_big $SITESYNC server --once --active-site studio
  $SITESYNC publish --project bench --folder f --product small --version 1 --name bin "$W"/src/small/* >/dev/null
  measure sitesync_small $SITESYNC server --once --active-site studio
  cmp "$W/src/big/big.bin" "$R/backup/bench/f/publish/big/v001/big.bin"
  [ "$(ls "$R/backup/bench/f/publish/small/v001" | wc -l)" -eq "$SMALL_COUNT" ]
}
rounds $ROUNDS one_round
# Peak memory: one large file through the server (last round's settings), measured by GNU time.
R="$W/r$ROUNDS"
rm -f "$W/src/big/big.bin"
head -c $((RSS_MIB << 20)) /dev/urandom > "$W/src/huge.bin"
$SITESYNC publish --project bench --folder f --product huge --version 1 --name bin "$W/src/huge.bin" >/dev/null
/usr/bin/time -v $SITESYNC server --once --active-site studio > "$W/rss.log" 2>&1
cmp "$W/src/huge.bin" "$R/backup/bench/f/publish/huge/v001/huge.bin"
RSS_KIB=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$W/rss.log")

rate_big() { echo "scale=1; $BIG_MIB / ${T[$1]}" | bc -l; }
rate_small() { echo "scale=1; $SMALL_COUNT / ${T[$1]}" | bc -l; }
ratio() { echo "scale=2; ${T[$1]} / ${T[$2]}" | bc -l; }
printf "\nbest of %s rounds\n%-28s %14s %16s\n" "$ROUNDS" "" "1 file of ${BIG_MIB} MiB" "${SMALL_COUNT} x ${SMALL_KIB} KiB"
for tool in sitesync cp rsync rclone rcheck; do
  case $tool in
    sitesync) name="SiteSync (verified, durable)" ;; cp) name="cp -a + sync" ;; rsync) name="rsync -a + sync" ;;
    rclone) name="rclone copy" ;; rcheck) name="rclone copy + check" ;;
  esac
  printf "%-28s %10s MiB/s %10s files/s\n" "$name" "$(rate_big ${tool}_big)" "$(rate_small ${tool}_small)"
done
echo
echo "peer time / SiteSync time (> 1: SiteSync faster)"
for tool in cp rsync rclone rcheck; do
  printf "%-28s %10sx %15sx\n" "$tool" "$(ratio ${tool}_big sitesync_big)" "$(ratio ${tool}_small sitesync_small)"
done
echo
printf "SiteSync server's peak memory moving one %s MiB file: %.1f MiB (maximum resident set size)\n" "$RSS_MIB" "$(echo "$RSS_KIB / 1024" | bc -l)"
