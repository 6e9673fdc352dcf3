#!/usr/bin/env bash
# SFTP benchmark: SiteSync vs rclone vs OpenSSH `sftp -b`, side by side in one run, against a loopback sshd
# this script starts and stops itself. Release build. Run as root (it creates a test user for sshd).
#
#   bench/sftp-bench.sh [--big-mib 1024] [--small-count 1000]
#
# Uploads and downloads one large file and many 4 KiB files with each tool and prints MiB/s, files/s and the
# ratios SiteSync/rclone and SiteSync/sftp. Wall-clock times include each tool's connection setup and, for
# SiteSync, its catalog work and SHA-256 verification of every file.
set -euo pipefail
cd "$(dirname "$0")/.."
BIG_MIB=1024
SMALL_COUNT=1000
while [ $# -gt 0 ]; do
  case "$1" in
    --big-mib) BIG_MIB=$2; shift 2 ;;
    --small-count) SMALL_COUNT=$2; shift 2 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done
[ "$(id -u)" -eq 0 ] || { echo "run as root: the benchmark starts sshd with a test user" >&2; exit 1; }
scripts/install-deps.sh bench
swift build -c release --product sitesync >/dev/null
SITESYNC=$PWD/.build/release/sitesync

W=$(mktemp -d /tmp/sitesync-bench.XXXXXX)
source bench/lib.sh
start_sshd
cleanup() { stop_sshd; rm -rf "$W"; }
trap cleanup EXIT

echo "generating ${BIG_MIB} MiB and ${SMALL_COUNT} x 4 KiB files..."
make_sources $W/src/big.bin $BIG_MIB $W/src/small $SMALL_COUNT 4

fresh_remote() { rm -rf $W/remote/*; }

# --- OpenSSH sftp -b --------------------------------------------------------------------------------------
SFTP=(sftp -q -b - -P $PORT -i $KEY -o UserKnownHostsFile=$W/known_hosts -o StrictHostKeyChecking=yes $USER_NAME@127.0.0.1)
fresh_remote; mkdir -p $W/dl-sftp
measure sftp_big_up   sh -c "echo 'put $W/src/big.bin $W/remote/big.bin' | ${SFTP[*]}"
measure sftp_big_down sh -c "echo 'get $W/remote/big.bin $W/dl-sftp/big.bin' | ${SFTP[*]}"
measure sftp_small_up sh -c "printf 'mkdir $W/remote/small\nput $W/src/small/* $W/remote/small/\n' | ${SFTP[*]}"
measure sftp_small_down sh -c "mkdir -p $W/dl-sftp/small && echo 'get $W/remote/small/* $W/dl-sftp/small/' | ${SFTP[*]}"

# --- rclone (defaults: it checks each upload with a remote md5sum) -----------------------------------------
export RCLONE_CONFIG=/dev/null RCLONE_CONFIG_BENCH_TYPE=sftp RCLONE_CONFIG_BENCH_HOST=127.0.0.1 \
       RCLONE_CONFIG_BENCH_PORT=$PORT RCLONE_CONFIG_BENCH_USER=$USER_NAME RCLONE_CONFIG_BENCH_KEY_FILE=$KEY \
       RCLONE_CONFIG_BENCH_KNOWN_HOSTS_FILE=$W/known_hosts
fresh_remote; mkdir -p $W/dl-rclone
measure rclone_big_up    env -u AWS_CA_BUNDLE rclone copyto $W/src/big.bin bench:$W/remote/big.bin
measure rclone_big_down  env -u AWS_CA_BUNDLE rclone copyto bench:$W/remote/big.bin $W/dl-rclone/big.bin
measure rclone_small_up  env -u AWS_CA_BUNDLE rclone copy $W/src/small bench:$W/remote/small
measure rclone_small_down env -u AWS_CA_BUNDLE rclone copy bench:$W/remote/small $W/dl-rclone/small

# --- SiteSync: publish locally, then `server --once` uploads; a second machine downloads ------------------
fresh_remote
cat > $W/studio.yaml <<YAML
sites:
  vendor:
    provider: sftp
    host: 127.0.0.1
    port: $PORT
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
echo "SFTP on loopback, $(nproc) cores; ${BIG_MIB} MiB file, ${SMALL_COUNT} x 4 KiB files (wall clock, connection setup included)"
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
echo "(> 1.00x: SiteSync faster)"
