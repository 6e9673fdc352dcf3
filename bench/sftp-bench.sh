#!/usr/bin/env bash
# SFTP benchmark: SiteSync vs rclone vs OpenSSH `sftp -b`, side by side in one run, against a loopback sshd
# this script starts and stops itself. Release build. Run as root (it creates a test user for sshd).
#
#   bench/sftp-bench.sh [--big-mib 1024] [--small-count 1000] [--rounds 3]
#
# Uploads and downloads one large file and many 4 KiB files with each tool and prints MiB/s, files/s and the
# ratios SiteSync/rclone and SiteSync/sftp, each time the best of --rounds runs. Wall-clock times include each
# tool's connection setup and, for SiteSync, its catalog work and SHA-256 verification of every file.
set -euo pipefail
cd "$(dirname "$0")/.."
BIG_MIB=1024
SMALL_COUNT=1000
ROUNDS=3
while [ $# -gt 0 ]; do
  case "$1" in
    --big-mib) BIG_MIB=$2; shift 2 ;;
    --small-count) SMALL_COUNT=$2; shift 2 ;;
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

W=$(mktemp -d /tmp/sitesync-bench.XXXXXX)
start_sshd
cleanup() { stop_sshd; rm -rf "$W"; }
trap cleanup EXIT

echo "generating ${BIG_MIB} MiB and ${SMALL_COUNT} x 4 KiB files..."
make_sources $W/src/big.bin $BIG_MIB $W/src/small $SMALL_COUNT 4

one_round() { sftp_rounds $PORT; }
rounds $ROUNDS one_round

# --- report -----------------------------------------------------------------------------------------------
echo
echo "SFTP on loopback, $(nproc) cores; ${BIG_MIB} MiB file, ${SMALL_COUNT} x 4 KiB files (wall clock, connection setup included; best of $ROUNDS)"
sftp_report $BIG_MIB $SMALL_COUNT
echo "(> 1.00x: SiteSync faster)"
