# Shared by the transfer benchmarks (sourced): timing, and SiteSync's round of the four rows.

now() { date +%s.%N; }
declare -A T
# measure KEY COMMAND…: runs the command (page cache dropped first, where allowed) and records its wall time in
# T[KEY], keeping the best of the rounds a script runs (one virtual disk's write speed alone varies 5x here).
measure() {
  local key=$1; shift
  sync; echo 3 > /proc/sys/vm/drop_caches 2>/dev/null || true
  warm_tools
  local t0 t; t0=$(now)
  "$@" >"$W/last.log" 2>&1 || { echo "FAILED: $key"; cat "$W/last.log"; exit 1; }
  t=$(echo "$(now) - $t0" | bc -l)
  if [ -z "${T[$key]:-}" ] || [ "$(echo "$t < ${T[$key]}" | bc -l)" -eq 1 ]; then T[$key]=$t; fi
}

# warm_tools: after the page cache is dropped, loads each tool's own program and libraries again, untimed, so every
# tool starts with its code in memory and only its data cold. Without it SiteSync paid a read from disk of tens of
# MiB of Swift libraries (no running process keeps them mapped, so the drop evicts them: ~0.25 s before its first
# copy), while cp and rsync run on the libc the shell keeps mapped.
warm_tools() {
  {
    cp --version; rsync --version; ssh -V
    if command -v rclone; then rclone version; fi
    if [ -n "${SITESYNC:-}" ]; then "$SITESYNC" --version; fi
  } >/dev/null 2>&1 || true
}

# valid_rounds N: ends the script with one line unless N (a script's --rounds) is a whole number of at least 1.
valid_rounds() { [[ "$1" =~ ^[1-9][0-9]*$ ]] || { echo "--rounds takes a whole number of at least 1, not '$1'" >&2; exit 2; }; }

# rounds N FUNCTION: runs FUNCTION N times (the argument of a script's --rounds), saying which round it is in.
rounds() {
  local n=$1 f=$2 r
  valid_rounds "$n"
  for r in $(seq "$n"); do ROUND=$r; echo "round $r of $n..."; $f; done
}

# sitesync_round: with $W/studio.yaml naming the remote site (project `bench`, active local, remote the site
# under test), machine ws-up publishes $W/src/big.bin and $W/src/small/* and its server uploads them; machine
# ws-down downloads each. Records T[sitesync_big_up|big_down|small_up|small_down] and checks the bytes.
sitesync_round() {
  export SITESYNC_CATALOG=$W/catalog.sqlite
  # Each round starts from nothing: two new machines, a new catalog, and folders of its own. Earlier rounds'
  # small files stay until the script ends (see fresh_dir); their large file goes.
  local D="$W/r${ROUND:-1}"
  rm -rf "$W"/catalog.sqlite* "$W/studio" "$W/up.yaml" "$W/down.yaml" "$W"/r*/up/bench/f/publish/big "$W"/r*/down/bench/f/publish/big
  mkdir -p "$W/studio" "$D"
  local A="env SITESYNC_SITE_ID=ws-up SITESYNC_LOCAL_SETTINGS=$W/up.yaml $SITESYNC"
  local B="env SITESYNC_SITE_ID=ws-down SITESYNC_LOCAL_SETTINGS=$W/down.yaml $SITESYNC"
  $A init >/dev/null; $A settings import "$W/studio.yaml" >/dev/null
  $A local set --root work="$D/up" >/dev/null; $B local set --root work="$D/down" >/dev/null
  local big small
  big=$($A publish --project bench --folder f --product big --version 1 --name bin "$W/src/big.bin")
  measure sitesync_big_up $A server --once
  $B download "$big" >/dev/null
  measure sitesync_big_down $B server --once
  small=$($A publish --project bench --folder f --product small --version 1 --name bin "$W"/src/small/*)
  measure sitesync_small_up $A server --once
  $B download "$small" >/dev/null
  measure sitesync_small_down $B server --once
  cmp "$W/src/big.bin" "$D/down/bench/f/publish/big/v001/big.bin"
  [ "$(ls "$D/down/bench/f/publish/small/v001" | wc -l)" -eq "$(ls "$W/src/small" | wc -l)" ]
}

# fresh_dir NAME: prints a new folder for this round's downloads of one tool ($W/rROUND/NAME), after deleting the
# large files of earlier rounds' (*.bin directly in them). Many small files are not deleted between rounds: on this
# machine's ext4 (no journal), creating files within ~30 s of deleting thousands is slow (it skips recently freed
# inodes while it looks for free ones: most of a profile of the next tool's small downloads), and that cost fell on
# whichever tool came next.
fresh_dir() {
  rm -f "$W"/r*/"$1"/*.bin
  mkdir -p "$W/r${ROUND:-1}/$1"
  echo "$W/r${ROUND:-1}/$1"
}

# start_sshd: starts a loopback sshd serving $W/remote over SFTP to a test user it creates (root only), with a
# fresh host key and client key. Sets PORT, KEY, USER_NAME and SSHD, and writes $W/known_hosts for it.
start_sshd() {
  [ "$(id -u)" -eq 0 ] || { echo "run as root: the benchmark starts sshd with a test user" >&2; exit 1; }
  chmod 755 "$W"   # sshd reads authorized_keys and serves remote/ as the test user
  USER_NAME=sitesynctest
  id -u $USER_NAME >/dev/null 2>&1 || { useradd -M -d /nonexistent -s /bin/sh $USER_NAME; echo "$USER_NAME:Sftp-Test-123" | chpasswd; }
  mkdir -p /run/sshd $W/keys $W/remote
  ssh-keygen -q -t ed25519 -N '' -f $W/host_key
  ssh-keygen -q -t ed25519 -N '' -f $W/keys/id_ed25519
  cp $W/keys/id_ed25519.pub $W/authorized_keys; chmod 644 $W/authorized_keys
  PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  cat > $W/sshd_config <<CONF
Port $PORT
ListenAddress 127.0.0.1
HostKey $W/host_key
PidFile $W/sshd.pid
AuthorizedKeysFile $W/authorized_keys
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin no
AllowUsers $USER_NAME
StrictModes no
UsePAM no
MaxStartups 100:30:200
MaxSessions 100
Subsystem sftp internal-sftp
CONF
  /usr/sbin/sshd -D -e -f $W/sshd_config 2>$W/sshd.log &
  SSHD=$!
  for _ in $(seq 100); do (echo > /dev/tcp/127.0.0.1/$PORT) 2>/dev/null && break; sleep 0.05; done
  known_host $PORT > $W/known_hosts
  chown -R $USER_NAME $W/remote
  KEY=$W/keys/id_ed25519
}

# known_host PORT: the known_hosts line of the sshd's host key when reached at 127.0.0.1:PORT.
known_host() { echo "[127.0.0.1]:$1 $(cut -d' ' -f1,2 $W/host_key.pub)"; }

stop_sshd() { kill $SSHD 2>/dev/null || true; wait $SSHD 2>/dev/null || true; }

# local_studio DIR: a new catalog (at $SITESYNC_CATALOG) for a studio of two local folders, DIR/studio (the active
# site, project `bench`) and DIR/backup (always accessible): writes $W/studio.yaml and imports it with $SITESYNC.
local_studio() {
  local dir=$1
  cat > "$W/studio.yaml" <<YAML
sites:
  backup: {provider: local_drive, roots: {work: $dir/backup}}
projects:
  default:
    sitesync: {active_site: studio, remote_site: studio, always_accessible_on: [backup]}
  bench: {roots: {work: $dir/studio}}
YAML
  $SITESYNC init >/dev/null
  $SITESYNC settings import "$W/studio.yaml" >/dev/null
}

# make_sources BIG_PATH BIG_MIB SMALL_DIR COUNT KIB: one file of random bytes and COUNT files of KIB KiB each
# (f00000.bin, …) in SMALL_DIR, created if missing.
make_sources() {
  mkdir -p "$(dirname "$1")" "$3"
  head -c $(($2 << 20)) /dev/urandom > "$1"
  python3 - "$3" "$4" "$5" <<'PY'
import os, sys
d, n, k = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
for i in range(n):
    with open(os.path.join(d, f"f{i:05d}.bin"), "wb") as f: f.write(os.urandom(k * 1024))
PY
}

# sftp_rounds PORT: with the sshd of start_sshd reached at 127.0.0.1:PORT (directly or through a proxy), times
# `sftp -b`, rclone (SFTP backend, defaults) and SiteSync (sitesync_round) moving $W/src/big.bin and $W/src/small/*
# up and down: T[sftp_*], T[rclone_*], T[sitesync_*].
sftp_rounds() {
  local port=$1
  fresh_remote() { rm -rf $W/remote/*; }
  # --- OpenSSH sftp -b --------------------------------------------------------------------------------------
  SFTP=(sftp -q -b - -P $port -i $KEY -o UserKnownHostsFile=$W/known_hosts -o StrictHostKeyChecking=yes $USER_NAME@127.0.0.1)
  rm -rf $W/dl-sftp $W/dl-rclone
  fresh_remote; mkdir -p $W/dl-sftp
  measure sftp_big_up   sh -c "echo 'put $W/src/big.bin $W/remote/big.bin' | ${SFTP[*]}"
  measure sftp_big_down sh -c "echo 'get $W/remote/big.bin $W/dl-sftp/big.bin' | ${SFTP[*]}"
  measure sftp_small_up sh -c "printf 'mkdir $W/remote/small\nput $W/src/small/* $W/remote/small/\n' | ${SFTP[*]}"
  measure sftp_small_down sh -c "mkdir -p $W/dl-sftp/small && echo 'get $W/remote/small/* $W/dl-sftp/small/' | ${SFTP[*]}"

  # --- rclone (defaults: it checks each upload with a remote md5sum) -----------------------------------------
  export RCLONE_CONFIG=/dev/null RCLONE_CONFIG_BENCH_TYPE=sftp RCLONE_CONFIG_BENCH_HOST=127.0.0.1 \
         RCLONE_CONFIG_BENCH_PORT=$port RCLONE_CONFIG_BENCH_USER=$USER_NAME RCLONE_CONFIG_BENCH_KEY_FILE=$KEY \
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
    port: $port
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
}

# sftp_report BIG_MIB SMALL_COUNT: the table of sftp_rounds' times and the ratios (after the caller's title).
sftp_report() {
  local big=$1 count=$2
  printf "%-18s %14s %14s %14s\n" "" "SiteSync" "rclone" "sftp -b"
  row() { # name unit key-suffix amount
    local name=$1 unit=$2 key=$3 amount=$4
    printf "%-18s" "$name"
    for tool in sitesync rclone sftp; do printf " %9.1f %-4s" "$(echo "$amount / ${T[${tool}_$key]}" | bc -l)" "$unit"; done
    echo
  }
  row "large upload" "MiB/s" big_up $big
  row "large download" "MiB/s" big_down $big
  row "small upload" "f/s" small_up $count
  row "small download" "f/s" small_down $count
  echo
  printf "%-18s %16s %16s\n" "ratio (time)" "rclone/SiteSync" "sftp/SiteSync"
  for key in big_up big_down small_up small_down; do
    printf "%-18s %15.2fx %15.2fx\n" "$key" "$(echo "${T[rclone_$key]} / ${T[sitesync_$key]}" | bc -l)" "$(echo "${T[sftp_$key]} / ${T[sitesync_$key]}" | bc -l)"
  done
}
