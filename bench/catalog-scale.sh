#!/usr/bin/env bash
# Catalog scale benchmark: SQLite and PostgreSQL side by side in one run, on catalogs of 10,000,000 file × site
# rows (100,000 representations × 50 files × 2 sites, bulk generated in SQL) with 1,000 rows pending.
#
#   bench/catalog-scale.sh [--representations 100000] [--files 50] [--claims 200]
#
# Prints, per catalog: the time to claim the next batch of 8 (median and p99 over 200 claims, each batch given
# back so the pending count stays put), to find when the next transfer is due (what a server asks between
# refills), and one page of `status` (50 representations with per-site counts; median
# and p99 over pages spread through the project). Targets: claim <= 5 ms, status page <= 50 ms, on both.
# Release build; PostgreSQL runs on 127.0.0.1 and a free port in a temporary folder, as the `postgres` user.
set -euo pipefail
cd "$(dirname "$0")/.."
REPS=100000
FILES=50
CLAIMS=200
while [ $# -gt 0 ]; do
  case "$1" in
    --representations) REPS=$2; shift 2 ;;
    --files) FILES=$2; shift 2 ;;
    --claims) CLAIMS=$2; shift 2 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done
[ "$(id -u)" -eq 0 ] || { echo "run as root: the benchmark starts PostgreSQL as the postgres user" >&2; exit 1; }
scripts/install-deps.sh test >/dev/null
command -v sqlite3 >/dev/null || apt-get install -y -qq sqlite3 >/dev/null
# (one command each: under `set -e` a failure inside an `&&` list would not stop the script)
swift build -c release --product sitesync >/dev/null
swift build -c release --product SiteSyncCatalogBench >/dev/null
SITESYNC=$PWD/.build/release/sitesync
BENCH=$PWD/.build/release/SiteSyncCatalogBench
PGBIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)

W=$(mktemp -d /tmp/sitesync-catalog-bench.XXXXXX)
chown postgres "$W"
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cleanup() {
  runuser -u postgres -- "$PGBIN/pg_ctl" -D "$W/pg" -m fast -w -s stop >/dev/null 2>&1 || true
  rm -rf "$W"
}
trap cleanup EXIT
runuser -u postgres -- "$PGBIN/initdb" -D "$W/pg" -U postgres --auth=trust -E UTF8 >/dev/null
runuser -u postgres -- "$PGBIN/pg_ctl" -D "$W/pg" -l "$W/pg.log" -w -s \
  -o "-c listen_addresses=127.0.0.1 -p $PORT -k $W -c shared_buffers=512MB -c max_wal_size=8GB -c synchronous_commit=off" start
psql -h 127.0.0.1 -p "$PORT" -U postgres -qc "CREATE DATABASE bench" >/dev/null
PG_URL="postgres://postgres@127.0.0.1:$PORT/bench"
SQLITE_PATH="$W/catalog.sqlite"
export SITESYNC_LOCAL_SETTINGS="$W/local.yaml"

ROWS=$((REPS * FILES * 2))
PENDING_REPS=$(( (1000 + FILES - 1) / FILES ))
echo "catalogs of $ROWS file x site rows ($REPS representations x $FILES files x 2 sites), $((PENDING_REPS * FILES)) pending"

# The same rows in both, through each catalog's own schema (created by `sitesync init`).
fill_sql() {  # $1: false literal of the dialect
  cat <<SQL
INSERT INTO projects(name, paused, created_at) VALUES ('big', $1, 0);
INSERT INTO representations(id, project, folder, product, version, name, created_at, paused, product_kind)
  SELECT 'r' || i, 'big', 'shots/sh' || i, 'plate', 1, 'exr', i, $1, 'plate' FROM n;
INSERT INTO files(id, representation_id, project, position, path, size, sha256)
  SELECT 'f' || i || '_' || j, 'r' || i, 'big', j, '{root[work]}/big/shots/sh' || i || '/plate_' || j || '.exr', 1000000, 'x'
  FROM n, m;
INSERT INTO file_sites(file_id, site, representation_id, project, status, synced_at)
  SELECT 'f' || i || '_' || j, 'studio', 'r' || i, 'big', 'synced', 1 FROM n, m;
INSERT INTO file_sites(file_id, site, representation_id, project, status, synced_at)
  SELECT 'f' || i || '_' || j, 'backup', 'r' || i, 'big',
         CASE WHEN i <= $PENDING_REPS THEN 'queued' ELSE 'synced' END, CASE WHEN i <= $PENDING_REPS THEN NULL ELSE 1 END
  FROM n, m;
SQL
}

echo "filling SQLite…"
t0=$(date +%s)
"$SITESYNC" init --catalog "$SQLITE_PATH" >/dev/null
{
  echo "PRAGMA journal_mode=WAL; PRAGMA synchronous=OFF; BEGIN;"
  echo "CREATE TEMP TABLE n(i INTEGER PRIMARY KEY); CREATE TEMP TABLE m(j INTEGER PRIMARY KEY);"
  echo "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < $REPS) INSERT INTO n SELECT x FROM c;"
  echo "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < $FILES) INSERT INTO m SELECT x FROM c;"
  fill_sql 0
  echo "COMMIT; ANALYZE;"
} | sqlite3 "$SQLITE_PATH" >/dev/null
echo "  $(( $(date +%s) - t0 )) s"

echo "filling PostgreSQL…"
t0=$(date +%s)
"$SITESYNC" init --catalog "$PG_URL" >/dev/null
{
  echo "BEGIN;"
  echo "CREATE TEMP TABLE n AS SELECT generate_series(1, $REPS) AS i; CREATE TEMP TABLE m AS SELECT generate_series(1, $FILES) AS j;"
  fill_sql false
  echo "COMMIT; VACUUM ANALYZE;"
} | psql -h 127.0.0.1 -p "$PORT" -U postgres -d bench -q -v ON_ERROR_STOP=1 >/dev/null
echo "  $(( $(date +%s) - t0 )) s"

echo
SQ=$("$BENCH" --catalog "$SQLITE_PATH" --project big --claims "$CLAIMS")
PG=$("$BENCH" --catalog "$PG_URL" --project big --claims "$CLAIMS")
field() { echo "$1" | tr ' ' '\n' | grep "^$2=" | cut -d= -f2; }
printf "%-34s %12s %12s %8s\n" "" "SQLite" "PostgreSQL" "target"
for f in claim_median_ms claim_p99_ms next_median_ms next_p99_ms page_median_ms page_p99_ms; do
  case $f in claim*|next*) target="<= 5" ;; *) target="<= 50" ;; esac
  printf "%-34s %12s %12s %8s\n" "$f" "$(field "$SQ" $f)" "$(field "$PG" $f)" "$target"
done
printf "%-34s %12s\n" "ratio PostgreSQL/SQLite (claim median)" \
  "$(python3 -c "print(f'{$(field "$PG" claim_median_ms)/$(field "$SQ" claim_median_ms):.2f}')")"
printf "%-34s %12s\n" "ratio PostgreSQL/SQLite (page median)" \
  "$(python3 -c "print(f'{$(field "$PG" page_median_ms)/$(field "$SQ" page_median_ms):.2f}')")"
