#!/usr/bin/env bash
# S3 benchmark: SiteSync vs rclone (S3 backend, defaults), side by side in one run, against one SeaweedFS server
# on loopback that this script starts and stops. Release build.
#
#   bench/s3-bench.sh [--big-mib 1024] [--small-count 1000] [--small-kib 4] [--rounds 3]
#
# Uploads and downloads one large file and many small files with each tool and prints MiB/s, files/s and the
# ratio rclone/SiteSync of the times (> 1: SiteSync faster), each time the best of --rounds runs. Wall-clock times include each tool's start and, for
# SiteSync, its catalog work and the SHA-256 of every byte (uploads are also checked with HeadObject).
set -euo pipefail
cd "$(dirname "$0")/.."
BIG_MIB=1024
SMALL_COUNT=1000
SMALL_KIB=4
ROUNDS=3
while [ $# -gt 0 ]; do
  case "$1" in
    --big-mib) BIG_MIB=$2; shift 2 ;;
    --small-count) SMALL_COUNT=$2; shift 2 ;;
    --small-kib) SMALL_KIB=$2; shift 2 ;;
    --rounds) ROUNDS=$2; shift 2 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done
source bench/lib.sh
valid_rounds "$ROUNDS"
scripts/install-deps.sh bench
swift build -c release --product sitesync >/dev/null
SITESYNC=$PWD/.build/release/sitesync
WEED=$PWD/.venv-test/bin/weed

W=$(mktemp -d /tmp/sitesync-s3-bench.XXXXXX)
free_port() { python3 -c 'import socket
while True:
    s=socket.socket(); s.bind(("127.0.0.1",0)); p=s.getsockname()[1]; s.close()
    if p < 50000:
        t=socket.socket()
        try: t.bind(("127.0.0.1",p+10000)); t.close(); print(p); break
        except OSError: pass'; }
S3P=$(free_port); MP=$(free_port); VP=$(free_port); FP=$(free_port)
AK=bench-key; SK=bench-secret-key
cat > $W/s3.json <<JSON
{"identities":[{"name":"bench","credentials":[{"accessKey":"$AK","secretKey":"$SK"}],"actions":["Admin","Read","Write","List","Tagging"]}]}
JSON
mkdir -p $W/data
$WEED server -dir=$W/data -ip=127.0.0.1 -ip.bind=127.0.0.1 -master.port=$MP -volume.port=$VP -filer.port=$FP \
  -s3 -s3.port=$S3P -s3.config=$W/s3.json -s3.autoCreateBucket=false -s3.port.iceberg=0 -s3.port.lance=0 \
  -master.telemetry=false -master.volumeSizeLimitMB=1024 -volume.max=100 >$W/weed.log 2>&1 &
WEED_PID=$!
cleanup() { kill $WEED_PID 2>/dev/null || true; sleep 2; kill -9 $WEED_PID 2>/dev/null || true; wait $WEED_PID 2>/dev/null || true; rm -rf "$W"; }
trap cleanup EXIT
for _ in $(seq 150); do curl -s "http://127.0.0.1:$MP/dir/assign" 2>/dev/null | grep -q '"fid"' && break; sleep 0.2; done
ENDPOINT=http://127.0.0.1:$S3P

echo "generating ${BIG_MIB} MiB and ${SMALL_COUNT} x ${SMALL_KIB} KiB files..."
mkdir -p $W/src/small
make_sources $W/src/big.bin $BIG_MIB $W/src/small $SMALL_COUNT $SMALL_KIB


# --- rclone, S3 backend, defaults (it checks each upload's MD5 against the ETag) ---------------------------
export RCLONE_CONFIG=/dev/null RCLONE_CONFIG_BENCH_TYPE=s3 RCLONE_CONFIG_BENCH_PROVIDER=SeaweedFS \
       RCLONE_CONFIG_BENCH_ENDPOINT=$ENDPOINT RCLONE_CONFIG_BENCH_ACCESS_KEY_ID=$AK RCLONE_CONFIG_BENCH_SECRET_ACCESS_KEY=$SK
RC="env -u AWS_CA_BUNDLE rclone"
$RC mkdir bench:rclone-bench
$RC mkdir bench:sitesync-bench

# Each round writes under new keys: neither tool finds the last round's objects already there.
one_round() {
  local R=rclone-bench/round$ROUND
  local DL; DL=$(fresh_dir dl-rclone)
  measure rclone_big_up     $RC copyto $W/src/big.bin bench:$R/big.bin
  measure rclone_big_down   $RC copyto bench:$R/big.bin $DL/big.bin
  measure rclone_small_up   $RC copy $W/src/small bench:$R/small
  measure rclone_small_down $RC copy bench:$R/small $DL/small
  cmp $W/src/big.bin $DL/big.bin

  # --- SiteSync: publish locally, then `server --once` uploads; a second machine downloads ----------------
  cat > $W/studio.yaml <<YAML
sites:
  cloud:
    provider: s3
    bucket: sitesync-bench
    endpoint: $ENDPOINT
    access_key_id: $AK
    secret_access_key: $SK
    session_dir: $W/sessions
    roots: {work: /projects/round$ROUND}
projects:
  default: {sitesync: {active_site: local, remote_site: cloud}}
  bench: {roots: {work: $W/studio}}
YAML
  sitesync_round
}
rounds $ROUNDS one_round

# --- report -----------------------------------------------------------------------------------------------
echo
echo "S3 (SeaweedFS 4.48) on loopback, $(nproc) cores; ${BIG_MIB} MiB file, ${SMALL_COUNT} x ${SMALL_KIB} KiB files (wall clock, best of $ROUNDS)"
printf "%-18s %16s %16s %16s\n" "" "SiteSync" "rclone $(rclone version 2>/dev/null | head -1 | awk '{print $2}')" "rclone/SiteSync"
row() { # name unit key amount
  local name=$1 unit=$2 key=$3 amount=$4
  printf "%-18s %10.1f %-5s %10.1f %-5s %15.2fx\n" "$name" "$(echo "$amount / ${T[sitesync_$key]}" | bc -l)" "$unit" \
    "$(echo "$amount / ${T[rclone_$key]}" | bc -l)" "$unit" "$(echo "${T[rclone_$key]} / ${T[sitesync_$key]}" | bc -l)"
}
row "large upload" "MiB/s" big_up $BIG_MIB
row "large download" "MiB/s" big_down $BIG_MIB
row "small upload" "f/s" small_up $SMALL_COUNT
row "small download" "f/s" small_down $SMALL_COUNT
echo "(ratio > 1.00x: SiteSync faster)"
