#!/usr/bin/python3
"""An HTTP(S) server whose answers the tests control (python stdlib).
Usage: httpd.py STATE_DIR -- writes STATE_DIR/ports ("HTTP HTTPS") and
STATE_DIR/ca.pem (the self-signed certificate of the HTTPS listener).
  /json                  {"ok": true, "items": [1, 2, 3], "state": "done"}
  /echo                  the request: method, path, headers, body, json
  /status/CODE           that status, a short text body
  /flaky/KEY/N           503 the first N requests for KEY, then 200 JSON
  /retry-after           429 with Retry-After: 1
  /delay/SECONDS         answers after SECONDS
  /basic/USER/PASS       200 if Basic auth matches, else 401
  /bearer/TOKEN          200 if "Authorization: Bearer TOKEN", else 401
  /appear/KEY            404 until POST /set/KEY, then 200 {"ready": true}
  /count/KEY             how many requests /flaky and /appear got for KEY"""
import base64
import json
import os
import ssl
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

STATE = sys.argv[1]
hits, flags = {}, set()
lock = threading.Lock()


class H(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def send(self, code, body, ctype="application/json", extra=()):
        data = body if isinstance(body, bytes) else \
            (json.dumps(body) if ctype == "application/json" else body).encode()
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        for k, v in extra:
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def handle_any(self):
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n).decode() if n else ""
        parts = self.path.split("?")[0].strip("/").split("/")
        head = parts[0]
        if head == "json":
            return self.send(200, {"ok": True, "items": [1, 2, 3],
                                   "state": "done"})
        if head == "echo":
            try:
                j = json.loads(body)
            except ValueError:
                j = None
            return self.send(200, {"method": self.command, "path": self.path,
                                   "headers": dict(self.headers.items()),
                                   "body": body, "json": j})
        if head == "status":
            return self.send(int(parts[1]), f"status {parts[1]} body", "text/plain")
        if head == "flaky":
            key, n_fail = parts[1], int(parts[2])
            with lock:
                hits[key] = hits.get(key, 0) + 1
                k = hits[key]
            if k <= n_fail:
                return self.send(503, "try again", "text/plain")
            return self.send(200, {"attempt": k})
        if head == "retry-after":
            return self.send(429, "slow down", "text/plain",
                             [("Retry-After", "1")])
        if head == "delay":
            time.sleep(float(parts[1]))
            return self.send(200, {"slept": float(parts[1])})
        if head == "basic":
            want = "Basic " + base64.b64encode(
                f"{parts[1]}:{parts[2]}".encode()).decode()
            ok = self.headers.get("Authorization") == want
            return self.send(200 if ok else 401, {"authenticated": ok})
        if head == "bearer":
            ok = self.headers.get("Authorization") == f"Bearer {parts[1]}"
            return self.send(200 if ok else 401, {"authenticated": ok})
        if head == "set":
            flags.add(parts[1])
            return self.send(200, {"set": parts[1]})
        if head == "appear":
            with lock:
                hits[parts[1]] = hits.get(parts[1], 0) + 1
            if parts[1] in flags:
                return self.send(200, {"ready": True})
            return self.send(404, "not yet", "text/plain")
        if head == "count":
            return self.send(200, {"count": hits.get(parts[1], 0)})
        return self.send(404, "no such route", "text/plain")

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = handle_any


def main():
    ca = os.path.join(STATE, "ca.pem")
    key = os.path.join(STATE, "key.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes",
                    "-keyout", key, "-out", ca, "-days", "2", "-subj",
                    "/CN=127.0.0.1", "-addext",
                    "subjectAltName=IP:127.0.0.1,DNS:localhost"],
                   check=True, capture_output=True)
    plain = ThreadingHTTPServer(("127.0.0.1", 0), H)
    tls = ThreadingHTTPServer(("127.0.0.1", 0), H)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(ca, key)
    tls.socket = ctx.wrap_socket(tls.socket, server_side=True)
    threading.Thread(target=tls.serve_forever, daemon=True).start()
    with open(os.path.join(STATE, "ports.tmp"), "w") as f:
        f.write(f"{plain.server_address[1]} {tls.server_address[1]}")
    os.rename(os.path.join(STATE, "ports.tmp"), os.path.join(STATE, "ports"))
    plain.serve_forever()


main()
