#!/usr/bin/env python3
"""SiteSync external provider (protocol 1): every file is a row of one SQLite database.

Table `files(path TEXT PRIMARY KEY, bytes BLOB, md5 TEXT, mtime REAL)`. Flat key space (folders: false):
a "folder" is only a key prefix. A path is a folder when it is "/" or some key starts with "path/", or when
it is listed in the table `prefixes` (so an empty database can have a root: `sqlite_provider.py --add-root
DB /studio`).

Options:  database (required): path of the SQLite file (created if missing)
          password (optional): accepted and ignored, only to show that SiteSync hides it
Testing knobs (environment; SiteSync passes its environment to the program):
  SQLP_FAULT    = print | raise | raise_secret | hang | slow | badkind | echo_secret | log_secret | wrongid |
                  badstat | kind:<error kind>   (applied to the op named by SQLP_FAULT_OP, default put)
                  die_mid_put (puts over 1 MB) | wronghash (puts over 100 B) | wronghash_all | nohash
  SQLP_TRACE    = file: append every request and answer (not progress) to it
  SQLP_NOHASH=1 declare no hash;  SQLP_SECRETS=a,b  secret_options;  SQLP_ALLOW_ANY=1 accept any option
  SQLP_HELLO    = JSON replacing the hello result;  SQLP_NOEXIT=1 ignore stdin EOF (never exit)
"""
import hashlib
import json
import os
import sqlite3
import sys
import time

PROTOCOL = 1
CHUNK = 1 << 20
KNOWN_OPTIONS = {"database", "password"}


def log(*parts):
    print("sqlite-provider:", *parts, file=sys.stderr, flush=True)


class ProviderError(Exception):
    def __init__(self, kind, message):
        super().__init__(message)
        self.kind = kind
        self.message = message


TRACE = os.environ.get("SQLP_TRACE")


def trace(direction, text):
    if TRACE:
        with open(TRACE, "a") as t:
            t.write(f"{os.getpid()} {direction} {text}\n")


def send(obj):
    if "progress" not in obj:
        trace("<", json.dumps(obj, ensure_ascii=False))
    sys.stdout.write(json.dumps(obj, ensure_ascii=False) + "\n")
    sys.stdout.flush()


def norm(path):
    if not isinstance(path, str) or not path.startswith("/"):
        raise ProviderError("transient", f"not an absolute path: {path!r}")
    if path != "/" and path.endswith("/"):
        path = path.rstrip("/")
    return path


def like_prefix(path):
    # escape LIKE wildcards so a name with % or _ matches only itself
    p = path.rstrip("/") + "/"
    return p.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


class Storage:
    def __init__(self, database):
        self.database = database
        self.db = sqlite3.connect(database, timeout=30, isolation_level=None)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA busy_timeout=30000")
        self.db.execute("CREATE TABLE IF NOT EXISTS files (path TEXT PRIMARY KEY, bytes BLOB NOT NULL, "
                        "md5 TEXT NOT NULL, mtime REAL NOT NULL)")
        self.db.execute("CREATE TABLE IF NOT EXISTS prefixes (path TEXT PRIMARY KEY)")

    def row(self, path):
        return self.db.execute("SELECT rowid, length(bytes), md5, mtime FROM files WHERE path = ?",
                               (path,)).fetchone()

    def is_folder(self, path):
        if path == "/":
            return True
        if self.db.execute("SELECT 1 FROM prefixes WHERE path = ?", (path,)).fetchone():
            return True
        return self.db.execute("SELECT 1 FROM files WHERE path LIKE ? ESCAPE '\\' LIMIT 1",
                               (like_prefix(path),)).fetchone() is not None

    # --- operations -------------------------------------------------------------------------------------
    def check(self):
        count, total = self.db.execute("SELECT count(*), coalesce(sum(length(bytes)), 0) FROM files").fetchone()
        return {"lines": [f"SQLite database {os.path.abspath(self.database)} (SQLite {sqlite3.sqlite_version})",
                          f"{count} file(s), {total} byte(s) stored"]}

    def stat(self, path):
        r = self.row(path)
        if r:
            return {"type": "file", "size": r[1], "modified": r[3]}
        if self.is_folder(path):
            return {"type": "folder", "size": 0}
        return None

    def put(self, rid, path, local, size, bps):
        try:
            f = open(local, "rb")
        except FileNotFoundError:
            raise ProviderError("source_missing", f"{local} is not there")
        with f:
            real = os.fstat(f.fileno()).st_size
            if size is not None and real != size:
                raise ProviderError("source_missing", f"{local} has {real} bytes, SiteSync expected {size}")
            self.db.execute("BEGIN IMMEDIATE")
            try:
                self.db.execute("DELETE FROM files WHERE path = ?", (path,))
                cur = self.db.execute("INSERT INTO files (path, bytes, md5, mtime) VALUES (?, zeroblob(?), '', ?)",
                                      (path, real, time.time()))
                rowid = cur.lastrowid
                done, last, start = 0, 0.0, time.monotonic()
                if real:
                    with self.db.blobopen("files", "bytes", rowid) as blob:
                        while True:
                            chunk = f.read(CHUNK)
                            if not chunk:
                                break
                            blob.write(chunk)
                            done += len(chunk)
                            fault("die_mid_put", "put", lambda: real > 1000000 and done >= real // 2)
                            if bps:
                                ahead = done / bps - (time.monotonic() - start)
                                if ahead > 0:
                                    time.sleep(ahead)
                            if FAULT == "slow":
                                time.sleep(0.5)
                            now = time.monotonic()
                            if now - last > 0.2:
                                send({"id": rid, "progress": done})
                                last = now
                if done != real:
                    raise ProviderError("transient", f"{local} changed while read ({done} of {real} bytes)")
                # the storage's own hash: md5 of the bytes as stored, read back from the database
                md5 = self.md5_of_row(rowid)
                self.db.execute("UPDATE files SET md5 = ? WHERE rowid = ?", (md5, rowid))
                self.db.execute("COMMIT")
            except BaseException:
                self.db.execute("ROLLBACK")
                raise
        send({"id": rid, "progress": done})
        if FAULT == "nohash":
            return {}
        if (FAULT == "wronghash" and real > 100) or FAULT == "wronghash_all":
            return {"hash": "0" * 32}
        return {"hash": md5}

    def md5_of_row(self, rowid):
        h = hashlib.md5()
        length = self.db.execute("SELECT length(bytes) FROM files WHERE rowid = ?", (rowid,)).fetchone()[0]
        if length:
            with self.db.blobopen("files", "bytes", rowid, readonly=True) as blob:
                while True:
                    chunk = blob.read(CHUNK)
                    if not chunk:
                        break
                    h.update(chunk)
        return h.hexdigest()

    def get(self, rid, path, local, offset, bps):
        r = self.row(path)
        if not r:
            raise ProviderError("not_found", f"{path} is not in {self.database}")
        rowid, length = r[0], r[1]
        if offset < 0 or offset > length:
            raise ProviderError("transient", f"offset {offset} is outside {path} ({length} bytes)")
        try:
            out = open(local, "r+b")
        except FileNotFoundError:
            raise ProviderError("transient", f"local file {local} is not there (SiteSync creates it)")
        done, last, start = offset, 0.0, time.monotonic()
        with out:
            out.seek(offset)
            if length > offset:
                with self.db.blobopen("files", "bytes", rowid, readonly=True) as blob:
                    blob.seek(offset)
                    while True:
                        chunk = blob.read(CHUNK)
                        if not chunk:
                            break
                        out.write(chunk)
                        done += len(chunk)
                        if bps:
                            ahead = (done - offset) / bps - (time.monotonic() - start)
                            if ahead > 0:
                                time.sleep(ahead)
                        if FAULT == "slow":
                            time.sleep(0.5)
                        now = time.monotonic()
                        if now - last > 0.2:
                            send({"id": rid, "progress": done})
                            last = now
            out.flush()
            os.fsync(out.fileno())
        send({"id": rid, "progress": done})
        return {}

    def move(self, src, dst):
        self.db.execute("BEGIN IMMEDIATE")
        try:
            if self.row(dst) or (dst != "/" and self.is_folder(dst)):
                raise ProviderError("exists", f"{dst} is already there; not replaced")
            if not self.row(src):
                raise ProviderError("not_found", f"{src} is not there")
            self.db.execute("UPDATE files SET path = ? WHERE path = ?", (dst, src))
            self.db.execute("COMMIT")
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        return {}

    def delete(self, path):
        if self.db.execute("DELETE FROM files WHERE path = ?", (path,)).rowcount == 0:
            raise ProviderError("not_found", f"{path} is not there")
        return {}

    def hash(self, path):
        r = self.row(path)
        if not r:
            raise ProviderError("not_found", f"{path} is not there")
        return {"hash": r[2], "size": r[1]}


FAULT = os.environ.get("SQLP_FAULT", "")
FAULT_OP = os.environ.get("SQLP_FAULT_OP", "put")


def fault(name, op, cond=lambda: True):
    if FAULT == name and FAULT_OP == op and cond():
        if name == "die_mid_put":
            log("dying mid-put on purpose")
            os._exit(9)


def main():
    storage = None
    options = {}
    for line in sys.stdin:
        line = line.strip()
        if not line:
            continue
        trace(">", line)
        try:
            req = json.loads(line)
        except ValueError:
            log("not JSON:", line[:200])
            continue
        rid = req.get("id")
        op = req.get("op")
        try:
            if FAULT and FAULT_OP == op:
                if FAULT == "print":
                    print(f"DEBUG: about to {op} {req.get('path')}")   # the classic mistake: debug to stdout
                elif FAULT == "raise":
                    raise RuntimeError(f"boom while doing {op}")          # an uncaught exception
                elif FAULT == "raise_secret":
                    import urllib.parse
                    pw = options.get('password') or ''
                    raise RuntimeError(f"connect failed to https://u:{urllib.parse.quote(pw)}@db/ (raw {pw})")
                elif FAULT.startswith("kind:"):
                    send({"id": rid, "error": {"kind": FAULT[5:], "message": f"{req.get('path')}: injected {FAULT[5:]}"}})
                    continue
                elif FAULT == "wrongid":
                    send({"id": rid + 1000, "result": {}})
                    continue
                elif FAULT == "badstat":
                    send({"id": rid, "result": {"type": "dir", "size": 1}})
                    continue
                elif FAULT == "hang":
                    log("hanging on purpose")
                    time.sleep(3600)
                elif FAULT == "badkind":
                    send({"id": rid, "error": {"kind": "disk_on_fire", "message": f"{req.get('path')}: smoke"}})
                    continue
                elif FAULT == "echo_secret":
                    raise ProviderError("transient", f"login with password {options.get('password') or options.get('db_passwd')} refused")
            if op == "hello":
                if req.get("protocol") != PROTOCOL:
                    raise ProviderError("configuration", f"this program speaks protocol {PROTOCOL}")
                options = req.get("options") or {}
                unknown = [] if os.environ.get("SQLP_ALLOW_ANY") else sorted(set(options) - KNOWN_OPTIONS)
                if unknown:
                    raise ProviderError("configuration", f"unknown option(s) {', '.join(unknown)}; "
                                        f"this provider takes: {', '.join(sorted(KNOWN_OPTIONS))}")
                database = options.get("database")
                if not isinstance(database, str) or not database:
                    raise ProviderError("configuration", "option 'database' (path of the SQLite file) is missing")
                if not os.path.isabs(database):
                    raise ProviderError("configuration", f"option database: {database!r} is not an absolute path")
                if not os.path.isdir(os.path.dirname(database)):
                    raise ProviderError("configuration",
                                        f"option database: folder {os.path.dirname(database)} does not exist")
                try:
                    storage = Storage(database)
                except sqlite3.Error as e:
                    raise ProviderError("configuration", f"cannot open {database}: {e}")
                log(f"serving {database} for site {req.get('site')}")
                if FAULT == "log_secret":
                    log(f"options are {json.dumps(options)}; password={options.get('password') or options.get('db_passwd')}")
                result = {"protocol": PROTOCOL, "name": "sqlite-rows", "version": "1.0",
                          "capabilities": {"hash": None if os.environ.get("SQLP_NOHASH") else "md5",
                                           "resumable_downloads": True, "folders": False},
                          "secret_options": os.environ.get("SQLP_SECRETS", "password").split(",")}
                if os.environ.get("SQLP_HELLO"):
                    result = json.loads(os.environ["SQLP_HELLO"])
            elif storage is None:
                raise ProviderError("configuration", "no hello received")
            elif op == "check":
                result = storage.check()
            elif op == "stat":
                result = storage.stat(norm(req["path"]))
            elif op == "put":
                result = storage.put(rid, norm(req["path"]), req["local"], req.get("size"),
                                     req.get("bytes_per_second"))
            elif op == "get":
                result = storage.get(rid, norm(req["path"]), req["local"], int(req.get("offset") or 0),
                                     req.get("bytes_per_second"))
            elif op == "move":
                result = storage.move(norm(req["from"]), norm(req["to"]))
            elif op == "delete":
                result = storage.delete(norm(req["path"]))
            elif op == "hash":
                result = storage.hash(norm(req["path"]))
            elif op in ("mkdir", "rmdir"):
                raise ProviderError("configuration", f"{op}: this storage has no folders (declared folders: false)")
            else:
                raise ProviderError("transient", f"unknown op {op!r}")
            send({"id": rid, "result": result})
        except ProviderError as e:
            send({"id": rid, "error": {"kind": e.kind, "message": e.message}})
        except sqlite3.OperationalError as e:
            kind = "unavailable" if "locked" in str(e) or "unable to open" in str(e) else "transient"
            send({"id": rid, "error": {"kind": kind, "message": f"SQLite: {e}"}})
        except Exception as e:
            if FAULT in ("raise", "raise_secret"):
                raise   # let it crash, as a careless provider would
            send({"id": rid, "error": {"kind": "transient", "message": f"{type(e).__name__}: {e}"}})
    log("stdin closed, exiting")
    if os.environ.get("SQLP_NOEXIT"):
        log("...but not exiting (test)")
        time.sleep(3600)


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--add-root":
        s = Storage(sys.argv[2])
        s.db.execute("INSERT OR IGNORE INTO prefixes VALUES (?)", (sys.argv[3].rstrip("/"),))
        print(f"root {sys.argv[3]} declared in {sys.argv[2]}")
    else:
        main()
