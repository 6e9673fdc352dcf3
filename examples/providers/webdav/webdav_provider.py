#!/usr/bin/env python3
"""A SiteSync external provider for WebDAV servers (Nextcloud, ownCloud, Apache mod_dav, nginx, wsgidav, rclone
serve webdav, Box, …), standard library only.

Site settings:
    provider: external
    command: [python3, /studio/providers/webdav_provider.py]
    options:
      url: https://dav.example.com/remote.php/dav/files/artist   # storage path "/" is this address
      user: artist
      password: …                                               # hidden by settings show and in the log
      verify_tls: true                                          # false only for a self-signed test server
    roots: {work: /studio}                                      # a folder below url; it must exist

WebDAV reports no content hash, so SiteSync proves uploads by reading them back (verify_uploads: auto).
Protocol 1: docs/external-providers.md.
"""
import base64
import email.utils
import errno
import http.client
import json
import socket
import ssl
import sys
import time
import urllib.parse
import xml.etree.ElementTree as ET

PROTOCOL = 1
CHUNK = 256 << 10
DAV = "{DAV:}"


class Failure(Exception):
    def __init__(self, kind, message):
        super().__init__(message)
        self.kind = kind
        self.message = message


def log(text):
    print(text, file=sys.stderr, flush=True)


class WebDAV:
    def __init__(self, options):
        url = options.get("url")
        if not url:
            raise Failure("configuration", "options.url is missing: the WebDAV address, like https://dav.example.com/files/artist")
        parts = urllib.parse.urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise Failure("configuration", f"options.url {url!r} is not an http:// or https:// address")
        self.scheme = parts.scheme
        self.host = parts.hostname
        self.port = parts.port or (443 if parts.scheme == "https" else 80)
        self.prefix = parts.path.rstrip("/")
        self.url = url
        self.user = options.get("user")
        self.headers = {}
        if self.user:
            token = base64.b64encode(f"{self.user}:{options.get('password') or ''}".encode()).decode()
            self.headers["Authorization"] = "Basic " + token
        self.context = None
        if self.scheme == "https":
            self.context = ssl.create_default_context()
            if options.get("verify_tls") in (False, "false", "no"):
                self.context.check_hostname = False
                self.context.verify_mode = ssl.CERT_NONE
        self.timeout = float(options.get("timeout", 60))
        self.connection = None

    def hello(self):
        return {
            "protocol": PROTOCOL,
            "name": "webdav-example",
            "version": "1.0",
            "capabilities": {"hash": None, "resumable_downloads": True, "folders": True},
            "secret_options": ["password"],
        }

    # HTTP

    def connect(self):
        if self.connection is None:
            if self.scheme == "https":
                self.connection = http.client.HTTPSConnection(self.host, self.port, timeout=self.timeout, context=self.context)
            else:
                self.connection = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
        return self.connection

    def target(self, path):
        if not path.startswith("/"):
            raise Failure("configuration", f"{path!r} is not an absolute storage path")
        return self.prefix + urllib.parse.quote(path)

    def request(self, method, path, headers=None, body=None, body_file=None, size=None, progress=None, pace=None):
        """One request; the body is bytes, or a file streamed in chunks. Returns (status, headers, response)."""
        all_headers = dict(self.headers)
        all_headers.update(headers or {})
        for attempt in (1, 2):
            conn = self.connect()
            try:
                conn.putrequest(method, self.target(path), skip_accept_encoding=True)
                for k, v in all_headers.items():
                    conn.putheader(k, v)
                if body_file is not None:
                    conn.putheader("Content-Length", str(size))
                    conn.endheaders()
                    body_file.seek(0)
                    sent = 0
                    while True:
                        chunk = body_file.read(CHUNK)
                        if not chunk:
                            break
                        conn.send(chunk)
                        sent += len(chunk)
                        if progress:
                            progress(sent)
                        if pace:
                            pace(sent)
                else:
                    data = body or b""
                    conn.putheader("Content-Length", str(len(data)))
                    conn.endheaders()
                    if data:
                        conn.send(data)
                response = conn.getresponse()
                return response
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError) as e:
                # A kept connection the server closed meanwhile: one new connection, then it is an error.
                self.connection = None
                if attempt == 2:
                    raise Failure("unavailable", f"{method} {path}: {e}")
            except ssl.SSLCertVerificationError as e:
                self.connection = None
                raise Failure("configuration", f"the TLS certificate of {self.host} is not trusted ({e.verify_message}); install the CA or set options.verify_tls: false for a test server")
            except (ConnectionRefusedError, socket.gaierror, socket.timeout, OSError) as e:
                self.connection = None
                raise Failure("unavailable", f"cannot reach {self.url}: {e}")

    def fail(self, method, path, response):
        body = response.read()[:300].decode("utf-8", "replace").strip()
        status = response.status
        what = f"{method} {path}: HTTP {status} {response.reason}"
        if status in (401, 403):
            return Failure("configuration", f"{what}: the server refused user {self.user!r}; check options.user and options.password")
        if status == 404:
            return Failure("not_found", f"{path} is not there")
        if status in (429, 503):
            return Failure("quota", f"{what}: the server asks to slow down")
        if status == 507:
            return Failure("unavailable", f"{what}: the server is out of space")
        return Failure("transient", f"{what} {body}".strip())

    def propfind(self, path, depth):
        body = b'<?xml version="1.0"?><propfind xmlns="DAV:"><prop><resourcetype/><getcontentlength/><getlastmodified/></prop></propfind>'
        response = self.request("PROPFIND", path, {"Depth": str(depth), "Content-Type": "application/xml"}, body)
        if response.status == 404:
            response.read()
            return None
        if response.status != 207:
            raise self.fail("PROPFIND", path, response)
        tree = ET.fromstring(response.read())
        entries = []
        for r in tree.findall(f"{DAV}response"):
            prop = r.find(f"{DAV}propstat/{DAV}prop")
            folder = prop is not None and prop.find(f"{DAV}resourcetype/{DAV}collection") is not None
            size = prop.findtext(f"{DAV}getcontentlength") if prop is not None else None
            modified = prop.findtext(f"{DAV}getlastmodified") if prop is not None else None
            entries.append({
                "type": "folder" if folder else "file",
                "size": int(size) if size and not folder else 0,
                "modified": email.utils.parsedate_to_datetime(modified).timestamp() if modified else None,
            })
        return entries

    # Operations

    def check(self):
        entries = self.propfind("/", 0)
        if entries is None:
            raise Failure("configuration", f"{self.url} is not there on the server; fix options.url")
        who = f" as {self.user}" if self.user else " anonymously"
        return {"lines": [f"WebDAV server {self.url}{who}"]}

    def stat(self, path):
        entries = self.propfind(path, 0)
        return entries[0] if entries else None

    def put(self, path, local, size, sha256, progress, pace):
        try:
            source = open(local, "rb")
        except FileNotFoundError:
            raise Failure("source_missing", f"{local} is not there")
        with source:
            response = self.request("PUT", path, {"Content-Type": "application/octet-stream"}, body_file=source,
                                    size=size, progress=progress, pace=pace)
        response.read()
        if response.status == 409:
            raise Failure("not_found", f"the folder of {path} is not there")
        if response.status not in (200, 201, 204):
            raise self.fail("PUT", path, response)
        return {}

    def get(self, path, local, offset, progress, pace):
        headers = {"Range": f"bytes={offset}-"} if offset else {}
        response = self.request("GET", path, headers)
        if response.status == 416:
            response.read()
            return {}  # nothing after the kept bytes
        if response.status not in (200, 206):
            raise self.fail("GET", path, response)
        skip = offset if (offset and response.status == 200) else 0  # the server ignored the range
        with open(local, "r+b") as out:
            out.seek(offset)
            done = offset
            while True:
                chunk = response.read(CHUNK)
                if not chunk:
                    break
                if skip:
                    cut = min(skip, len(chunk))
                    chunk, skip = chunk[cut:], skip - cut
                out.write(chunk)
                done += len(chunk)
                progress(done)
                pace(done - offset)
        return {}

    def move(self, source, target):
        destination = f"{self.scheme}://{self.host}:{self.port}{self.target(target)}"
        response = self.request("MOVE", source, {"Destination": destination, "Overwrite": "F"})
        response.read()
        if response.status == 412:
            raise Failure("exists", f"{target} is already there")
        if response.status not in (201, 204):
            raise self.fail("MOVE", source, response)
        return {}

    def delete(self, path):
        entry = self.stat(path)
        if entry is None:
            raise Failure("not_found", f"{path} is not there")
        if entry["type"] == "folder":
            # DELETE on a collection removes everything in it: never for a file's delete.
            raise Failure("configuration", f"{path} is a folder, not a file")
        response = self.request("DELETE", path)
        response.read()
        if response.status not in (200, 204, 404):
            raise self.fail("DELETE", path, response)
        return {}

    def mkdir(self, path):
        response = self.request("MKCOL", path)
        response.read()
        if response.status == 405:
            raise Failure("exists", f"{path} is already there")
        if response.status == 409:
            raise Failure("not_found", f"the parent of {path} is not there")
        if response.status not in (200, 201):
            raise self.fail("MKCOL", path, response)
        return {}

    def rmdir(self, path):
        entries = self.propfind(path, 1)
        if entries is None:
            raise Failure("not_found", f"{path} is not there")
        if len(entries) > 1 or entries[0]["type"] != "folder":
            raise Failure("not_empty", f"{path} is not empty")
        response = self.request("DELETE", path)
        response.read()
        if response.status not in (200, 204, 404):
            raise self.fail("DELETE", path, response)
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
        started = time.monotonic()
        last = [0.0]
        rate = request.get("bytes_per_second")

        def progress(done):
            now = time.monotonic()
            if now - last[0] >= 0.2:
                last[0] = now
                send({"id": rid, "progress": done})

        def pace(moved):
            if rate:
                ahead = moved / rate - (time.monotonic() - started)
                if ahead > 0:
                    time.sleep(ahead)

        try:
            if op == "hello":
                if request.get("protocol") != PROTOCOL:
                    raise Failure("configuration", f"this provider speaks protocol {PROTOCOL}")
                storage = WebDAV(request.get("options") or {})
                result = storage.hello()
            elif storage is None:
                raise Failure("configuration", "hello must come first")
            elif op == "check":
                result = storage.check()
            elif op == "stat":
                result = storage.stat(request["path"])
            elif op == "put":
                result = storage.put(request["path"], request["local"], request["size"], request.get("sha256"), progress, pace)
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
        except Exception as e:
            log(f"{op} failed: {e!r}")
            send({"id": rid, "error": {"kind": "transient", "message": f"{op}: {e!r}"}})


if __name__ == "__main__":
    main()
