#!/usr/bin/env bash
# WAN benchmark: SFTP over a long link — SiteSync vs rclone vs OpenSSH `sftp -b`, side by side in one run. A
# shaping proxy (bench/wan-proxy.py: each direction delays every chunk by half the round trip and is paced to
# the link's rate) sits between the clients and a loopback sshd this script starts and stops. Release build.
# Run as root (it creates a test user for sshd).
#
#   bench/wan-bench.sh [--rtt-ms 50] [--rate-mbit 200] [--big-mib 256] [--small-count 1000] [--small-kib 64]
#                      [--rounds 1]
#
# Uploads and downloads one large file and many small files with each tool and prints MiB/s, files/s and each
# peer's time over SiteSync's (> 1: SiteSync faster), each time the best of --rounds runs. Wall-clock times
# include each tool's connection setup (through the link) and, for SiteSync, its catalog work and the SHA-256 of
# every file.
set -euo pipefail
cd "$(dirname "$0")/.."
RTT_MS=50
RATE_MBIT=200
BIG_MIB=256
SMALL_COUNT=1000
SMALL_KIB=64
ROUNDS=1
while [ $# -gt 0 ]; do
  case "$1" in
    --rtt-ms) RTT_MS=$2; shift 2 ;;
    --rate-mbit) RATE_MBIT=$2; shift 2 ;;
    --big-mib) BIG_MIB=$2; shift 2 ;;
    --small-count) SMALL_COUNT=$2; shift 2 ;;
    --small-kib) SMALL_KIB=$2; shift 2 ;;
    --rounds) ROUNDS=$2; shift 2 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done
source bench/lib.sh
valid_rounds "$ROUNDS"
[ "$(id -u)" -eq 0 ] || { echo "run as root: the benchmark starts sshd with a test user" >&2; exit 1; }
scripts/install-deps.sh bench
swift build -c release --product sitesync >/dev/null
SITESYNC=$PWD/.build/release/sitesync

W=$(mktemp -d /tmp/sitesync-wan-bench.XXXXXX)
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
one_round() { sftp_rounds $LINK; }
rounds $ROUNDS one_round

# --- report -----------------------------------------------------------------------------------------------
echo
echo "SFTP over a shaped link (${RTT_MS} ms round trip, ${RATE_MBIT} Mbit/s each way), $(nproc) cores;"
echo "${BIG_MIB} MiB file, ${SMALL_COUNT} x ${SMALL_KIB} KiB files (wall clock, connection setup included; best of $ROUNDS)"
sftp_report $BIG_MIB $SMALL_COUNT
echo "(> 1.00x: SiteSync faster; the link's own limit is $(echo "$RATE_MBIT / 8 / 1.048576" | bc -l | xargs printf '%.1f') MiB/s)"
