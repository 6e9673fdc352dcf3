#!/usr/bin/env bash
# Dedup by content: a version of 1,000 files is synced studio → backup (both local folders), then republished
# with 900 files unchanged; the server syncs the new version. Prints the bytes actually sent for it (read from the
# studio and written to the backup) against the version's total, and the time, with rclone copy of the same new
# version folder beside it. Release build; page cache dropped before each timed run when run as root.
#
#   bench/dedup-bench.sh [--files 1000] [--unchanged 900] [--kib 256]
set -euo pipefail
cd "$(dirname "$0")/.."
FILES=1000
UNCHANGED=900
KIB=256
while [ $# -gt 0 ]; do
  case "$1" in
    --files) FILES=$2; shift 2 ;;
    --unchanged) UNCHANGED=$2; shift 2 ;;
    --kib) KIB=$2; shift 2 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done
scripts/install-deps.sh bench >/dev/null
swift build -c release --product sitesync >/dev/null
SITESYNC=$PWD/.build/release/sitesync
W=$(mktemp -d /tmp/sitesync-dedup-bench.XXXXXX)
trap 'rm -rf "$W"' EXIT
echo "generating $FILES x $KIB KiB files, then a second version with $UNCHANGED unchanged, in $W..."
mkdir -p "$W/v1" "$W/v2" "$W/studio" "$W/backup"
python3 - "$W" "$FILES" "$UNCHANGED" "$KIB" <<'PY'
import os, shutil, sys
w, n, same, k = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
for i in range(n):
    name = f"tex{i:04d}.exr"
    with open(os.path.join(w, "v1", name), "wb") as f: f.write(os.urandom(k * 1024))
    if i < same:
        shutil.copyfile(os.path.join(w, "v1", name), os.path.join(w, "v2", name))
    else:
        with open(os.path.join(w, "v2", name), "wb") as f: f.write(os.urandom(k * 1024))
PY
source bench/lib.sh
export RCLONE_CONFIG=/dev/null
export SITESYNC_CATALOG=$W/catalog.sqlite SITESYNC_LOCAL_SETTINGS=$W/local.yaml SITESYNC_SITE_ID=ws-bench
local_studio "$W"
$SITESYNC publish --project bench --folder plates --product tex --version 1 --name exr "$W"/v1/* >/dev/null
$SITESYNC server --once --active-site studio >/dev/null 2>&1
# rclone beside it: the new version's folder copied next to the old one on the same kind of target.
mkdir -p "$W/rclone-target"
cp -a "$W/v1" "$W/rclone-target/v1"
measure rclone rclone copy "$W/v2" "$W/rclone-target/v2"
$SITESYNC publish --project bench --folder plates --product tex --version 2 --name exr "$W"/v2/* >/dev/null
sync; echo 3 > /proc/sys/vm/drop_caches 2>/dev/null || true
t0=$(now)
$SITESYNC server --once --active-site studio --json > "$W/summary.json" 2>"$W/server.log"
T[sitesync]=$(echo "$(now) - $t0" | bc -l)
cmp -s "$W/v2/tex0000.exr" "$W/backup/bench/plates/publish/tex/v002/tex0000.exr"
python3 - "$W/summary.json" "$FILES" "$KIB" "${T[sitesync]}" "${T[rclone]}" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
files, kib, t, tr = int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4]), float(sys.argv[5])
total = files * kib * 1024
sent = sum(m["size"] for m in s["moved"])
made = sum(m["size"] for m in s["deduplicated"])
assert sent + made == total, (sent, made, total)
print(f"\nrepublished version: {files} files, {total / 2**20:.1f} MiB")
print(f"{'':34s} {'bytes sent':>14s} {'of the total':>13s} {'time':>9s}")
print(f"{'SiteSync (verified, durable)':34s} {sent / 2**20:10.1f} MiB {100 * sent / total:12.1f}% {t:8.2f}s")
print(f"{'rclone copy':34s} {total / 2**20:10.1f} MiB {100.0:12.1f}% {tr:8.2f}s")
print(f"\nSiteSync made {len(s['deduplicated'])} files ({made / 2**20:.1f} MiB) from identical copies already on the backup;")
print(f"rclone time / SiteSync time: {tr / t:.2f}x")
PY
