#!/usr/bin/env bash
# The Sync Queue's first page with 100,000 representations: what the web UI asks for when it opens (the project's
# first 50 representations by folder, with per-site status), and the other table queries a person clicks, timed
# through `sitesync web` over HTTP (release build, SQLite, the embedded default). Target: first page < 200 ms.
#
#   bench/web-first-page.sh [--representations 100000] [--files 4] [--requests 40]
#
# Prints median and p99 per query, and the target. Rows are bulk-generated in SQL through the catalog's own schema.
set -euo pipefail
cd "$(dirname "$0")/.."
REPS=100000
FILES=4
REQUESTS=40
while [ $# -gt 0 ]; do
  case "$1" in
    --representations) REPS=$2; shift 2 ;;
    --files) FILES=$2; shift 2 ;;
    --requests) REQUESTS=$2; shift 2 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done
command -v sqlite3 >/dev/null || apt-get install -y -qq sqlite3 >/dev/null
swift build -c release --product sitesync >/dev/null
SITESYNC=$PWD/.build/release/sitesync
W=$(mktemp -d /tmp/sitesync-web-bench.XXXXXX)
SERVER=""
cleanup() { [ -n "$SERVER" ] && kill "$SERVER" 2>/dev/null; wait 2>/dev/null || true; rm -rf "$W"; }
trap cleanup EXIT
export SITESYNC_CATALOG="$W/catalog.sqlite" SITESYNC_LOCAL_SETTINGS="$W/local.yaml" SITESYNC_SITE_ID=ws-bench

echo "catalog: $REPS representations x $FILES files x 2 sites ($((REPS * FILES * 2)) file x site rows)"
t0=$(date +%s)
"$SITESYNC" init >/dev/null
printf 'sites:\n  backup: {provider: local_drive, roots: {work: %s/backup}}\nprojects:\n  big: {roots: {work: %s/studio}}\n' "$W" "$W" > "$W/studio.yaml"
"$SITESYNC" settings import "$W/studio.yaml" >/dev/null
{
  echo "PRAGMA journal_mode=WAL; PRAGMA synchronous=OFF; BEGIN;"
  echo "CREATE TEMP TABLE n(i INTEGER PRIMARY KEY); CREATE TEMP TABLE m(j INTEGER PRIMARY KEY);"
  echo "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < $REPS) INSERT INTO n SELECT x FROM c;"
  echo "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < $FILES) INSERT INTO m SELECT x FROM c;"
  echo "INSERT OR IGNORE INTO projects(name, paused, created_at) VALUES ('big', 0, 0);"
  echo "INSERT INTO representations(id, project, folder, product, version, name, created_at, paused, product_kind)
          SELECT printf('%08x-0000-4000-8000-%012x', i, i), 'big', 'shots/sh' || printf('%06d', i), 'render', 1 + i % 5, 'exr', i, 0, 'render' FROM n;"
  echo "INSERT INTO files(id, representation_id, project, position, path, size, sha256)
          SELECT printf('f%08x_%d', i, j), printf('%08x-0000-4000-8000-%012x', i, i), 'big', j,
                 '{root[work]}/big/shots/sh' || i || '/frame.' || j || '.exr', 1000000 + j, 'x' FROM n, m;"
  echo "INSERT INTO file_sites(file_id, site, representation_id, project, status, synced_at)
          SELECT printf('f%08x_%d', i, j), 'studio', printf('%08x-0000-4000-8000-%012x', i, i), 'big', 'synced', i FROM n, m;"
  echo "INSERT INTO file_sites(file_id, site, representation_id, project, status, synced_at, last_error, last_failure_at)
          SELECT printf('f%08x_%d', i, j), 'backup', printf('%08x-0000-4000-8000-%012x', i, i), 'big',
                 CASE i % 10 WHEN 0 THEN 'queued' WHEN 1 THEN 'failed' ELSE 'synced' END,
                 CASE WHEN i % 10 > 1 THEN i END, CASE i % 10 WHEN 1 THEN 'disk full' END, CASE i % 10 WHEN 1 THEN i END FROM n, m;"
  echo "COMMIT; ANALYZE;"
} | sqlite3 "$SITESYNC_CATALOG" >/dev/null
echo "  filled in $(( $(date +%s) - t0 )) s"

PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$SITESYNC" web --listen "127.0.0.1:$PORT" 2>"$W/web.log" &
SERVER=$!
for _ in $(seq 1 200); do curl -s -o /dev/null "http://127.0.0.1:$PORT/" && break; sleep 0.05; done

python3 - "$PORT" "$REQUESTS" <<'PY'
import http.client, statistics, sys, time
port, n = int(sys.argv[1]), int(sys.argv[2])
base = "/api/v1/projects/big/representations?page_size=50"
queries = [
    ("the UI opening: page 1 by folder", base + "&page=1&sort=folder&order=asc", 200),
    ("a page deep in the project (page 1000)", base + "&page=1000&sort=folder", 200),
    ("newest first (sort=created desc)", base + "&sort=created&order=desc", 200),
    ("text search q=sh0999", base + "&q=sh0999", 200),
    ("failed on backup (site + status)", base + "&site=backup&status=failed", 200),
    ("largest first (sort=size desc)", base + "&sort=size&order=desc", None),
    ("the page itself (/)", "/", 200),
    ("activity (running + latest 100)", "/api/v1/activity?project=big", 200),
]
conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
print(f"{'query':42} {'median ms':>10} {'p99 ms':>8} {'target':>8}")
first = None
for name, path, target in queries:
    times = []
    for _ in range(n):
        t = time.perf_counter()
        conn.request("GET", path)
        r = conn.getresponse()
        body = r.read()
        times.append((time.perf_counter() - t) * 1000)
        assert r.status == 200, (path, r.status, body[:300])
    times.sort()
    med, p99 = statistics.median(times), times[min(len(times) - 1, int(len(times) * 0.99))]
    if first is None:
        first = med
    print(f"{name:42} {med:10.1f} {p99:8.1f} {('< ' + str(target)) if target else '':>8}")
print(f"first page: {first:.1f} ms median, {'meets' if first < 200 else 'misses'} the 200 ms target ({200 / first:.1f}x headroom)")
PY
