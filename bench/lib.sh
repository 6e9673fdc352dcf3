# Shared by the transfer benchmarks (sourced): timing, and SiteSync's round of the four rows.

now() { date +%s.%N; }
declare -A T
# measure KEY COMMAND…: runs the command (page cache dropped first, where allowed) and records its wall time in T[KEY].
measure() {
  local key=$1; shift
  sync; echo 3 > /proc/sys/vm/drop_caches 2>/dev/null || true
  local t0; t0=$(now)
  "$@" >"$W/last.log" 2>&1 || { echo "FAILED: $key"; cat "$W/last.log"; exit 1; }
  T[$key]=$(echo "$(now) - $t0" | bc -l)
}

# sitesync_round: with $W/studio.yaml naming the remote site (project `bench`, active local, remote the site
# under test), machine ws-up publishes $W/src/big.bin and $W/src/small/* and its server uploads them; machine
# ws-down downloads each. Records T[sitesync_big_up|big_down|small_up|small_down] and checks the bytes.
sitesync_round() {
  export SITESYNC_CATALOG=$W/catalog.sqlite
  mkdir -p "$W/studio"
  local A="env SITESYNC_SITE_ID=ws-up SITESYNC_LOCAL_SETTINGS=$W/up.yaml $SITESYNC"
  local B="env SITESYNC_SITE_ID=ws-down SITESYNC_LOCAL_SETTINGS=$W/down.yaml $SITESYNC"
  $A init >/dev/null; $A settings import "$W/studio.yaml" >/dev/null
  $A local set --root work="$W/up" >/dev/null; $B local set --root work="$W/down" >/dev/null
  local big small
  big=$($A publish --project bench --folder f --product big --version 1 --name bin "$W/src/big.bin")
  measure sitesync_big_up $A server --once
  $B download "$big" >/dev/null
  measure sitesync_big_down $B server --once
  small=$($A publish --project bench --folder f --product small --version 1 --name bin "$W"/src/small/*)
  measure sitesync_small_up $A server --once
  $B download "$small" >/dev/null
  measure sitesync_small_down $B server --once
  cmp "$W/src/big.bin" "$W/down/bench/f/publish/big/v001/big.bin"
  [ "$(ls "$W/down/bench/f/publish/small/v001" | wc -l)" -eq "$(ls "$W/src/small" | wc -l)" ]
}
