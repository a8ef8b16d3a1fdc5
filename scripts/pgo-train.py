#!/usr/bin/env python3
"""The training run of the profile-guided build (scripts/build-pgo): drives an instrumented
`regionless` node with the traffic a node mostly serves, so the compiler learns which code is
hot. Python standard library only, so it runs wherever the build does; self-contained (it does
not import bench/'s helpers, whose setups need nginx and wrk), hence its own config text and
port wait.

It starts, all on 127.0.0.1 (free ports):
  - an origin (http.server, HTTP/1.1 keep-alive): /small (100 B), /big (64 KiB), /c/N
    (cacheable: max-age=3600), /echo (answers a POST with its body);
  - the node (`NODE serve`) with two sites: `pass.test` (cache off: pass-through) and
    `cached.test` (the edge cache on, as by default);
then client threads send a fixed mix over keep-alive connections (reconnecting now and then):
pass-through GETs small and large, HEADs, POSTs with a body, cache hits and misses, and a few
requests the node refuses (unknown host). Finally SIGTERM: the node drains and exits, which is
when the instrumented binary writes its profile (to the directory LLVM_PROFILE_FILE names).

Usage: scripts/pgo-train.py NODE_BINARY [--seconds 20] [--clients 8]
"""
import argparse
import http.client
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

SMALL = b"x" * 100
BIG = b"y" * 65536


class Origin(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Head and body leave in two writes; with Nagle the body would wait for a delayed ACK.
    disable_nagle_algorithm = True

    def log_message(self, *args):
        pass

    def answer(self, body, headers=(), head=False):
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(len(body)))
        for name, value in headers:
            self.send_header(name, value)
        self.end_headers()
        if not head:
            self.wfile.write(body)

    def route(self, head):
        if self.path.startswith("/big"):
            self.answer(BIG, head=head)
        elif self.path.startswith("/c/"):
            body = BIG if self.path.endswith("/big") else SMALL
            self.answer(body, [("Cache-Control", "max-age=3600"), ("ETag", '"v1"')], head)
        else:
            self.answer(SMALL, [("Cache-Control", "no-store")], head)

    def do_GET(self):
        self.route(False)

    def do_HEAD(self):
        self.route(True)

    def do_POST(self):
        length = int(self.headers.get("Content-Length", "0"))
        self.answer(self.rfile.read(length))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, proc, seconds=30):
    deadline = time.time() + seconds
    while time.time() < deadline:
        if proc.poll() is not None:
            sys.exit(f"error: the node exited during start-up (status {proc.returncode})")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.1)
    sys.exit(f"error: the node did not listen on 127.0.0.1:{port} within {seconds} s")


# (weight, method, host, path, body)
MIX = [
    (50, "GET", "pass.test", "/small", None),
    (8, "GET", "pass.test", "/big", None),
    (5, "HEAD", "pass.test", "/small", None),
    (5, "POST", "pass.test", "/echo", b"z" * 1024),
    (25, "GET", "cached.test", "/c/{n}", None),
    (5, "GET", "cached.test", "/c/big", None),
    (2, "GET", "unknown.test", "/small", None),
]


def client(port, stop, counts, seed):
    rng = random.Random(seed)
    weights = [m[0] for m in MIX]
    conn = None
    sent = 0
    while not stop.is_set():
        if conn is None or sent % 200 == 199:
            if conn is not None:
                conn.close()
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        _, method, host, path, body = rng.choices(MIX, weights)[0]
        headers = {"Host": host, "Accept": "*/*", "User-Agent": "regionless-pgo-train"}
        try:
            conn.request(method, path.format(n=rng.randrange(64)), body=body, headers=headers)
            response = conn.getresponse()
            response.read()
            counts[response.status] = counts.get(response.status, 0) + 1
        except (OSError, http.client.HTTPException):
            counts["error"] = counts.get("error", 0) + 1
            conn.close()
            conn = None
        sent += 1


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("node", help="the instrumented regionless binary")
    ap.add_argument("--seconds", type=float, default=20)
    ap.add_argument("--clients", type=int, default=8)
    args = ap.parse_args()
    if not os.access(args.node, os.X_OK):
        sys.exit(f"error: {args.node}: not an executable file")

    origin = ThreadingHTTPServer(("127.0.0.1", 0), Origin)
    origin.daemon_threads = True
    threading.Thread(target=origin.serve_forever, daemon=True).start()
    origin_port = origin.server_address[1]

    work = tempfile.mkdtemp(prefix="regionless-pgo-")
    port = free_port()
    config = os.path.join(work, "regionless.toml")
    # Both sites send to the same origin.
    origins = f"""[[sites.origins]]
name = "origin"
url = "http://127.0.0.1:{origin_port}"
region = "eu-central"
"""
    with open(config, "w") as f:
        f.write(f"""
[node]
region = "eu-central"
listen = ["127.0.0.1:{port}"]
admin_listen = "off"
access_log = "off"

[[sites]]
name = "pass"
hosts = ["pass.test"]
[sites.cache]
enabled = false
{origins}
[[sites]]
name = "cached"
hosts = ["cached.test"]
{origins}""")
    node = subprocess.Popen([args.node, "serve", "--config", config, "--log", "warn"])
    try:
        wait_port(port, node)
        stop = threading.Event()
        counts = [{} for _ in range(args.clients)]
        threads = [threading.Thread(target=client, args=(port, stop, counts[i], i))
                   for i in range(args.clients)]
        for t in threads:
            t.start()
        time.sleep(args.seconds)
        stop.set()
        for t in threads:
            t.join()
        total = {}
        for c in counts:
            for k, v in c.items():
                total[k] = total.get(k, 0) + v
        print(f"pgo-train: {sum(total.values())} requests in {args.seconds:.0f} s, by status: "
              + ", ".join(f"{k} {v}" for k, v in sorted(total.items(), key=str)))
        if set(total) - {200, 421}:
            sys.exit(f"error: unexpected answers during training: {total}")
    finally:
        node.send_signal(signal.SIGTERM)
        try:
            node.wait(timeout=30)
        except subprocess.TimeoutExpired:
            node.kill()
            sys.exit("error: the node did not exit within 30 s of SIGTERM (no profile written)")
        origin.shutdown()
        shutil.rmtree(work, ignore_errors=True)
    if node.returncode != 0:
        sys.exit(f"error: the node exited with status {node.returncode}")


if __name__ == "__main__":
    main()
