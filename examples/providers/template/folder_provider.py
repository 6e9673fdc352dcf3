#!/usr/bin/env python3
"""A SiteSync external provider to copy: it keeps a site's files in a folder (`options.base`).

Protocol 1 (docs/external-providers.md): SiteSync writes one JSON request per line on stdin; the provider
answers each with one JSON line on stdout (`result` or `error`), after any number of progress lines. stderr is
the provider's log. Replace the bodies of the Storage methods with calls to your storage; keep the loop.

Standard library only; Python 3.8 or later.
"""
import errno
import json
import os
import sys
import time

PROTOCOL = 1
CHUNK = 256 << 10


class Failure(Exception):
    """An error answer. kind: not_found, configuration, unavailable, integrity, quota, transient, exists,
    not_empty (the engine retries, waits or asks a person by kind, as for built-in providers)."""

    def __init__(self, kind, message):
        super().__init__(message)
        self.kind = kind
        self.message = message


def log(text):
    print(text, file=sys.stderr, flush=True)


class Storage:
    """Every storage path SiteSync sends is absolute ("/studio/shots/a.exr"): a site root plus the file's path."""

    def __init__(self, options):
        base = options.get("base")
        if not base:
            raise Failure("configuration", "options.base is missing: the folder this provider keeps files in")
        if not os.path.isdir(base):
            raise Failure("unavailable", f"options.base {base} is not a folder on this machine; create it or fix it")
        self.base = os.path.abspath(base)

    # What SiteSync learns at the start.
    def hello(self):
        return {
            "protocol": PROTOCOL,
            "name": "folder-template",
            "version": "1.0",
            "capabilities": {
                "hash": None,  # "sha256", "sha1" or "md5" if your storage reports one (then implement hash)
                "resumable_downloads": True,  # get honours `offset`
                "folders": True,  # mkdir/rmdir exist; False for flat key spaces (object stores)
            },
            "secret_options": [],  # keys of options whose values must never be logged
        }

    def real(self, path):
        if not path.startswith("/") or "/../" in path + "/" or "\0" in path:
            raise Failure("configuration", f"{path!r} is not an absolute storage path")
        return self.base + path

    def check(self):
        return {"lines": [f"files kept in {self.base}"]}

    def stat(self, path):
        try:
            st = os.stat(self.real(path))
        except FileNotFoundError:
            return None
        kind = "folder" if os.path.isdir(self.real(path)) else "file"
        return {"type": kind, "size": st.st_size, "modified": st.st_mtime}

    def put(self, path, local, size, sha256, progress, pace):
        """Writes the local file to `path` (a temporary name SiteSync chose; replace what is there)."""
        target = self.real(path)
        if not os.path.isdir(os.path.dirname(target)):
            raise Failure("not_found", f"the folder of {path} is not there")
        try:
            src = open(local, "rb")
        except FileNotFoundError:
            raise Failure("source_missing", f"{local} is not there")
        with src, open(target, "wb") as out:
            done = 0
            while True:
                chunk = src.read(CHUNK)
                if not chunk:
                    break
                out.write(chunk)
                done += len(chunk)
                progress(done)
                pace(done)
            out.flush()
            os.fsync(out.fileno())
        return {}

    def get(self, path, local, offset, progress, pace):
        """Writes the file's bytes from `offset` on into `local` (SiteSync has cut it to `offset` bytes)."""
        try:
            src = open(self.real(path), "rb")
        except FileNotFoundError:
            raise Failure("not_found", f"{path} is not there")
        with src, open(local, "r+b") as out:
            src.seek(offset)
            out.seek(offset)
            done = offset
            while True:
                chunk = src.read(CHUNK)
                if not chunk:
                    break
                out.write(chunk)
                done += len(chunk)
                progress(done)
                pace(done - offset)
        return {}

    def move(self, source, target):
        """Renames; never replaces: `exists` when something is at `target`."""
        if os.path.lexists(self.real(target)):
            raise Failure("exists", f"{target} is already there")
        try:
            os.rename(self.real(source), self.real(target))
        except FileNotFoundError:
            raise Failure("not_found", f"{source} is not there")
        return {}

    def delete(self, path):
        try:
            os.remove(self.real(path))
        except FileNotFoundError:
            raise Failure("not_found", f"{path} is not there")
        return {}

    def mkdir(self, path):
        try:
            os.mkdir(self.real(path))
        except FileExistsError:
            raise Failure("exists", f"{path} is already there")
        except FileNotFoundError:
            raise Failure("not_found", f"the parent of {path} is not there")
        return {}

    def rmdir(self, path):
        try:
            os.rmdir(self.real(path))
        except FileNotFoundError:
            raise Failure("not_found", f"{path} is not there")
        except OSError as e:
            if e.errno in (errno.ENOTEMPTY, errno.EEXIST):
                raise Failure("not_empty", f"{path} is not empty")
            raise
        return {}


def send(message):
    sys.stdout.write(json.dumps(message) + "\n")
    sys.stdout.flush()


def main():
    storage = None
    for line in sys.stdin:
        if not line.strip():
            continue
        request = json.loads(line)
        rid, op = request.get("id"), request.get("op")
        last = [0.0]

        def progress(done):
            # At most a few lines a second: SiteSync only needs to see the transfer move.
            now = time.monotonic()
            if now - last[0] >= 0.2:
                last[0] = now
                send({"id": rid, "progress": done})

        started = time.monotonic()
        rate = request.get("bytes_per_second")

        def pace(moved):
            # The site's bandwidth_limit: sleep until `moved` bytes are within it.
            if rate:
                ahead = moved / rate - (time.monotonic() - started)
                if ahead > 0:
                    time.sleep(ahead)

        try:
            if op == "hello":
                if request.get("protocol") != PROTOCOL:
                    raise Failure("configuration", f"this provider speaks protocol {PROTOCOL}")
                storage = Storage(request.get("options") or {})
                result = storage.hello()
            elif storage is None:
                raise Failure("configuration", "hello must come first")
            elif op == "check":
                result = storage.check()
            elif op == "stat":
                result = storage.stat(request["path"])
            elif op == "put":
                result = storage.put(request["path"], request["local"], request.get("size"), request.get("sha256"), progress, pace)
            elif op == "get":
                result = storage.get(request["path"], request["local"], request.get("offset", 0), progress, pace)
            elif op == "move":
                result = storage.move(request["from"], request["to"])
            elif op == "delete":
                result = storage.delete(request["path"])
            elif op == "mkdir":
                result = storage.mkdir(request["path"])
            elif op == "rmdir":
                result = storage.rmdir(request["path"])
            else:
                raise Failure("configuration", f"unknown operation {op!r}")
            send({"id": rid, "result": result})
        except Failure as f:
            send({"id": rid, "error": {"kind": f.kind, "message": f.message}})
        except OSError as e:
            kind = "unavailable" if e.errno in (errno.ENOSPC, errno.EIO, errno.EROFS) else "transient"
            send({"id": rid, "error": {"kind": kind, "message": f"{op}: {e}"}})
        except Exception as e:  # a bug in the provider: say so, keep serving
            log(f"{op} failed: {e!r}")
            send({"id": rid, "error": {"kind": "transient", "message": f"{op}: {e!r}"}})


if __name__ == "__main__":
    main()
