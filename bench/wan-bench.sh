#!/usr/bin/env bash
# WAN benchmark: SFTP over a long link — SiteSync vs rclone vs OpenSSH `sftp -b`, side by side in one run. A
# shaping proxy (bench/wan-proxy.py: each direction delays every chunk by half the round trip and is paced to
# the link's rate) sits between the clients and a loopback sshd this script starts and stops. Release build.
# Run as root (it creates a test user for sshd).
#
#   bench/wan-bench.sh [--rtt-ms 50] [--rate-mbit 200] [--big-mib 256] [--small-count 1000] [--small-kib 64]
#
# Uploads and downloads one large file and many small files with each tool and prints MiB/s, files/s and each
# peer's time over SiteSync's (> 1: SiteSync faster). Wall-clock times include each tool's connection setup
# (through the link) and, for SiteSync, its catalog work and the SHA-256 of every file.
set -euo pipefail
cd "$(dirname "$0")/.."
RTT_MS=50
RATE_MBIT=200
BIG_MIB=256
SMALL_COUNT=1000
SMALL_KIB=64
while [ $# -gt 0 ]; do
  case "$1" in
    --rtt-ms) RTT_MS=$2; shift 2 ;;
    --rate-mbit) RATE_MBIT=$2; shift 2 ;;
    --big-mib) BIG_MIB=$2; shift 2 ;;
    --small-count) SMALL_COUNT=$2; shift 2 ;;
    --small-kib) SMALL_KIB=$2; shift 2 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done
[ "$(id -u)" -eq 0 ] || { echo "run as root: the benchmark starts sshd with a test user" >&2; exit 1; }
scripts/install-deps.sh bench
swift build -c release --product sitesync >/dev/null
SITESYNC=$PWD/.build/release/sitesync

W=$(mktemp -d /tmp/sitesync-wan-bench.XXXXXX)
source bench/lib.sh
start_sshd
LINK=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
python3 bench/wan-proxy.py --listen 127.0.0.1:$LINK --to 127.0.0.1:$PORT --rtt-ms $RTT_MS --rate-mbit $RATE_MBIT &
PROXY=$!
cleanup() { kill $PROXY 2>/dev/null || true; wait $PROXY 2>/dev/null || true; stop_sshd; rm -rf "$W"; }
trap cleanup EXIT
for _ in $(seq 100); do (echo > /dev/tcp/127.0.0.1/$LINK) 2>/dev/null && break; sleep 0.05; done
# Every client goes through the link.
known_host $LINK > $W/known_hosts

echo "generating ${BIG_MIB} MiB and ${SMALL_COUNT} x ${SMALL_KIB} KiB files..."
make_sources $W/src/big.bin $BIG_MIB $W/src/small $SMALL_COUNT $SMALL_KIB
fresh_remote() { rm -rf $W/remote/*; }

# --- OpenSSH sftp -b --------------------------------------------------------------------------------------
SFTP=(sftp -q -b - -P $LINK -i $KEY -o UserKnownHostsFile=$W/known_hosts -o StrictHostKeyChecking=yes $USER_NAME@127.0.0.1)
fresh_remote; mkdir -p $W/dl-sftp
measure sftp_big_up   sh -c "echo 'put $W/src/big.bin $W/remote/big.bin' | ${SFTP[*]}"
measure sftp_big_down sh -c "echo 'get $W/remote/big.bin $W/dl-sftp/big.bin' | ${SFTP[*]}"
measure sftp_small_up sh -c "printf 'mkdir $W/remote/small\nput $W/src/small/* $W/remote/small/\n' | ${SFTP[*]}"
measure sftp_small_down sh -c "mkdir -p $W/dl-sftp/small && echo 'get $W/remote/small/* $W/dl-sftp/small/' | ${SFTP[*]}"

# --- rclone (defaults: it checks each upload with a remote md5sum) -----------------------------------------
export RCLONE_CONFIG=/dev/null RCLONE_CONFIG_BENCH_TYPE=sftp RCLONE_CONFIG_BENCH_HOST=127.0.0.1 \
       RCLONE_CONFIG_BENCH_PORT=$LINK RCLONE_CONFIG_BENCH_USER=$USER_NAME RCLONE_CONFIG_BENCH_KEY_FILE=$KEY \
       RCLONE_CONFIG_BENCH_KNOWN_HOSTS_FILE=$W/known_hosts
fresh_remote; mkdir -p $W/dl-rclone
measure rclone_big_up    env -u AWS_CA_BUNDLE rclone copyto $W/src/big.bin bench:$W/remote/big.bin
measure rclone_big_down  env -u AWS_CA_BUNDLE rclone copyto bench:$W/remote/big.bin $W/dl-rclone/big.bin
measure rclone_small_up  env -u AWS_CA_BUNDLE rclone copy $W/src/small bench:$W/remote/small
measure rclone_small_down env -u AWS_CA_BUNDLE rclone copy bench:$W/remote/small $W/dl-rclone/small
cmp $W/src/big.bin $W/dl-rclone/big.bin

# --- SiteSync: publish locally, then `server --once` uploads; a second machine downloads ------------------
fresh_remote
cat > $W/studio.yaml <<YAML
sites:
  vendor:
    provider: sftp
    host: 127.0.0.1
    port: $LINK
    user: $USER_NAME
    key_file: $KEY
    known_hosts: $W/known_hosts
    roots: {work: $W/remote}
projects:
  default: {sitesync: {active_site: local, remote_site: vendor}}
  bench: {roots: {work: $W/studio}}
YAML
sitesync_round
cmp $W/src/big.bin $W/remote/bench/f/publish/big/v001/big.bin

# --- report -----------------------------------------------------------------------------------------------
echo
echo "SFTP over a shaped link (${RTT_MS} ms round trip, ${RATE_MBIT} Mbit/s each way), $(nproc) cores;"
echo "${BIG_MIB} MiB file, ${SMALL_COUNT} x ${SMALL_KIB} KiB files (wall clock, connection setup included)"
printf "%-18s %14s %14s %14s\n" "" "SiteSync" "rclone" "sftp -b"
row() { # name unit key-suffix amount
  local name=$1 unit=$2 key=$3 amount=$4
  printf "%-18s" "$name"
  for tool in sitesync rclone sftp; do printf " %9.1f %-4s" "$(echo "$amount / ${T[${tool}_$key]}" | bc -l)" "$unit"; done
  echo
}
row "large upload" "MiB/s" big_up $BIG_MIB
row "large download" "MiB/s" big_down $BIG_MIB
row "small upload" "f/s" small_up $SMALL_COUNT
row "small download" "f/s" small_down $SMALL_COUNT
echo
printf "%-18s %16s %16s\n" "ratio (time)" "rclone/SiteSync" "sftp/SiteSync"
for key in big_up big_down small_up small_down; do
  printf "%-18s %15.2fx %15.2fx\n" "$key" "$(echo "${T[rclone_$key]} / ${T[sitesync_$key]}" | bc -l)" "$(echo "${T[sftp_$key]} / ${T[sitesync_$key]}" | bc -l)"
done
echo "(> 1.00x: SiteSync faster; the link's own limit is $(echo "$RATE_MBIT / 8 / 1.048576" | bc -l | xargs printf '%.1f') MiB/s)"
