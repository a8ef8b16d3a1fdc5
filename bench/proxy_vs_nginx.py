#!/usr/bin/env python3
"""Regionless edge node vs nginx as a pass-through reverse proxy, same origin, same machine.

For a small and a 64 KiB response it measures requests/s, p50/p99 latency (wrk --latency) and
CPU time per request (utime+stime of the proxy's processes from /proc, divided by the
requests wrk completed), alternating the proxies over several rounds and reporting
medians, their ratios, and the per-round (paired) ratios. The origin is a separate nginx serving static files, shared by both.
It also reports the load generator's own CPU per request: wrk shares the 2 cores, so a
response that costs wrk more to parse leaves less CPU for everything else and lowers
throughput even at equal proxy CPU. Likewise the origin's CPU per request: the node sends
the origin more fields than the plain nginx peer (its own Host, X-Forwarded-Proto, Via, the
original host, the client's country, X-Request-Id), which the origin parses. And the whole
machine's CPU per request (busy time of all cores from /proc/stat over the run, divided by the
requests), which is what throughput follows when everything shares the cores.

--same-headers adds a third proxy: nginx configured to send the same bytes as the node (the
request fields the node adds for the origin, the response fields it adds for the client:
Via, X-Origin, Cache-Status, X-Cache, X-Served-By, X-Request-Id, Server-Timing), so the two
are also compared at equal output. The target (issue 2) stays the plain nginx peer.

--floor adds the raw floor (crates/edge/examples/raw_floor.rs): the node's threading, pooling
and system calls with nothing else, forwarding bytes unchanged — what the architecture costs
before the request path does anything (build it first with
`cargo build --release -p regionless-edge --example raw_floor`).

--pgo adds the profile-guided build of the node (scripts/build-pgo, target/pgo/release/regionless)
as "regionless (pgo)", compared with every peer like the plain build.

Usage: bench/proxy_vs_nginx.py [--rounds 5] [--duration 10] [--connections 32] [--same-headers] [--floor] [--pgo] [--json out.json]
Needs: nginx and wrk (Debian packages: `apt-get install nginx-light wrk`), a release build
(`cargo build --release -p regionless`). Everything listens on 127.0.0.1 only.
"""
import argparse, json, os, re, resource, shutil, signal, statistics, subprocess, sys, tempfile, time, urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.join(ROOT, "target", "release", "regionless")
FLOOR_BIN = os.path.join(ROOT, "target", "release", "examples", "raw_floor")
PGO_BIN = os.path.join(ROOT, "target", "pgo", "release", "regionless")
ORIGIN_PORT, NGINX_PORT, NODE_PORT, ADMIN_PORT, NGINX_SAME_PORT, FLOOR_PORT = 18081, 18082, 18083, 18084, 18085, 18086
PGO_PORT, PGO_ADMIN_PORT = 18087, 18088
CLK = os.sysconf("SC_CLK_TCK")
SAME = "nginx (same headers)"
FLOOR = "raw floor"
PGO = "regionless (pgo)"


def need(cmd, pkg):
    if shutil.which(cmd) is None:
        sys.exit(f"error: `{cmd}` not found: install it with `apt-get install {pkg}`")


def cpu_seconds(pids):
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14, 15)
        except FileNotFoundError:
            pass
    return total / CLK


def machine_seconds():
    """Busy CPU seconds of all cores so far (user, nice, system, irq, softirq of /proc/stat)."""
    with open("/proc/stat") as f:
        fields = f.readline().split()[1:]
    user, nice, system, _idle, _iowait, irq, softirq = (int(x) for x in fields[:7])
    return (user + nice + system + irq + softirq) / CLK


def children(pid):
    out = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout.split()
    return [pid] + [int(p) for p in out]


def wait_port(port, path="/small", host="bench.test"):
    for _ in range(100):
        try:
            req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", headers={"Host": host})
            urllib.request.urlopen(req, timeout=1).read()
            return
        except Exception:
            time.sleep(0.1)
    sys.exit(f"error: nothing answers on 127.0.0.1:{port}")


def to_ms(value, unit):
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def run_wrk(port, path, duration, connections):
    """Returns (requests, requests/s, p50 ms, p99 ms)."""
    reqs, rps, p50, p99, _ = run_wrk_measured(port, path, duration, connections)
    return reqs, rps, p50, p99


def run_wrk_measured(port, path, duration, connections):
    """As run_wrk, plus wrk's own CPU seconds (user + system) over the run."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    out = subprocess.run(
        ["wrk", "-t1", f"-c{connections}", f"-d{duration}s", "--latency", "-H", "Host: bench.test",
         f"http://127.0.0.1:{port}{path}"], capture_output=True, text=True, check=True).stdout
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    wrk_cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    reqs = int(re.search(r"(\d+) requests in", out).group(1))
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    lat = {p: to_ms(v, u) for p, v, u in re.findall(r"^\s+(50|99)%\s+([\d.]+)(us|ms|s)\s*$", out, re.M)}
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if errors:
        sys.exit(f"error: {errors.group(1)} non-2xx responses on port {port}:\n{out}")
    return reqs, rps, lat["50"], lat["99"], wrk_cpu


def nginx_conf(work, name, body, processes="worker_processes 2;"):
    """Writes an nginx config for `body` (inside `http {}`) with every path under `work`."""
    path = os.path.join(work, f"{name}.conf")
    with open(path, "w") as f:
        f.write(f"""
{processes}
pid {work}/{name}.pid;
error_log {work}/{name}.err warn;
daemon off;
events {{ worker_connections 4096; }}
http {{
  access_log off;
  keepalive_requests 1000000;
  client_body_temp_path {work}/{name}-body;
  proxy_temp_path {work}/{name}-proxy;
  fastcgi_temp_path {work}/{name}-fcgi;
  uwsgi_temp_path {work}/{name}-uwsgi;
  scgi_temp_path {work}/{name}-scgi;
  {body}
}}
""")
    return path


def origin_server(port, www):
    """The origin: static files from `www`."""
    return f"""
  server {{ listen 127.0.0.1:{port}; root {www}; default_type application/octet-stream; }}"""


def proxy_server(port, origin_port, host="$host", extra=""):
    """The peer: nginx as a pass-through reverse proxy with upstream keep-alive. `host` is
    the Host it sends the origin; `extra` more directives for the location."""
    return f"""
  upstream origin {{ server 127.0.0.1:{origin_port}; keepalive 256; keepalive_requests 1000000; }}
  server {{
    listen 127.0.0.1:{port};
    location / {{
      proxy_pass http://origin;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host {host};
      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;{extra}
      proxy_buffering on;
    }}
  }}"""


def proxy_server_same_headers(port, origin_port):
    """The peer sending what the node sends: the origin gets the fields the node adds to a
    request (its own Host, X-Forwarded-For/-Proto, Via, the original host, the client's
    country, a request id) and the client the fields it adds to a response, with nginx's
    `$request_id` and `$upstream_header_time` where the node's values vary."""
    return proxy_server(port, origin_port, host=f"127.0.0.1:{origin_port}", extra="""
      proxy_set_header X-Forwarded-Proto $scheme;
      proxy_set_header Via "1.1 regionless-eu-central";
      proxy_set_header X-Original-Host $host;
      proxy_set_header Country-Code XX;
      proxy_set_header X-Request-Id $request_id;
      add_header Via "1.1 regionless-eu-central";
      add_header X-Origin origin@eu-central;
      add_header Cache-Status "regionless; fwd=bypass";
      add_header X-Cache BYPASS;
      add_header X-Served-By eu-central;
      add_header X-Request-Id $request_id;
      add_header Server-Timing "edge;dur=0.0, origin;dur=$upstream_header_time";""")


def node_config(work, port, admin, origin_port):
    """The node's config: one site, one origin, pass-through. `admin` is a TOML value."""
    path = os.path.join(work, "regionless.toml")
    with open(path, "w") as f:
        f.write(f"""
[node]
region = "eu-central"
listen = ["127.0.0.1:{port}"]
admin_listen = {admin}
access_log = "off"

# Pass-through, like the nginx peer (no proxy_cache): the origin's files carry Last-Modified,
# which the edge cache would otherwise cache heuristically.
[cache]
enabled = false

[[sites]]
name = "bench"
hosts = ["bench.test"]

[[sites.origins]]
name = "origin"
url = "http://127.0.0.1:{origin_port}"
region = "eu-central"
""")
    return path


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--duration", type=int, default=10)
    ap.add_argument("--connections", type=int, default=32)
    ap.add_argument("--same-headers", action="store_true",
                    help="also run nginx configured to send the node's added fields")
    ap.add_argument("--floor", action="store_true",
                    help="also run the raw floor (examples/raw_floor: bytes forwarded, nothing else)")
    ap.add_argument("--pgo", action="store_true",
                    help="also run the profile-guided build (scripts/build-pgo)")
    ap.add_argument("--json", help="write raw and median results here")
    args = ap.parse_args()
    need("nginx", "nginx-light")
    need("wrk", "wrk")
    if not os.path.exists(BIN):
        sys.exit("error: no release build: run `cargo build --release -p regionless` first")
    if args.floor and not os.path.exists(FLOOR_BIN):
        sys.exit("error: no raw floor build: run `cargo build --release -p regionless-edge --example raw_floor` first")
    if args.pgo and not os.path.exists(PGO_BIN):
        sys.exit("error: no profile-guided build: run `scripts/build-pgo` first")

    work = tempfile.mkdtemp(prefix="regionless-bench-")
    os.chmod(work, 0o755)  # nginx workers run as an unprivileged user and must read the files
    www = os.path.join(work, "www")
    os.makedirs(www, mode=0o755)
    with open(os.path.join(www, "small"), "wb") as f:
        f.write(b"x" * 100)
    with open(os.path.join(www, "64k"), "wb") as f:
        f.write(os.urandom(64 * 1024))

    origin_conf = nginx_conf(work, "origin", origin_server(ORIGIN_PORT, www))
    # The peer: nginx as a pass-through reverse proxy with upstream keep-alive.
    proxy_conf = nginx_conf(work, "proxy", proxy_server(NGINX_PORT, ORIGIN_PORT))
    node_conf = node_config(work, NODE_PORT, f'"127.0.0.1:{ADMIN_PORT}"', ORIGIN_PORT)

    procs = []
    try:
        origin = subprocess.Popen(["nginx", "-c", origin_conf], stderr=subprocess.DEVNULL)
        procs.append(origin)
        nginx_proxy = subprocess.Popen(["nginx", "-c", proxy_conf], stderr=subprocess.DEVNULL)
        procs.append(nginx_proxy)
        node = subprocess.Popen([BIN, "serve", "--config", node_conf, "--log", "warn"], stderr=subprocess.DEVNULL)
        procs.append(node)
        targets = {"regionless": (NODE_PORT, lambda: [node.pid]), "nginx": (NGINX_PORT, lambda: children(nginx_proxy.pid))}
        if args.same_headers:
            same_conf = nginx_conf(work, "proxy-same", proxy_server_same_headers(NGINX_SAME_PORT, ORIGIN_PORT))
            nginx_same = subprocess.Popen(["nginx", "-c", same_conf], stderr=subprocess.DEVNULL)
            procs.append(nginx_same)
            targets[SAME] = (NGINX_SAME_PORT, lambda: children(nginx_same.pid))
        if args.floor:
            floor = subprocess.Popen([FLOOR_BIN, f"127.0.0.1:{FLOOR_PORT}", f"127.0.0.1:{ORIGIN_PORT}"],
                                     stderr=subprocess.DEVNULL)
            procs.append(floor)
            targets[FLOOR] = (FLOOR_PORT, lambda: [floor.pid])
        if args.pgo:
            pgo_dir = os.path.join(work, "pgo")
            os.makedirs(pgo_dir)
            pgo_conf = node_config(pgo_dir, PGO_PORT, f'"127.0.0.1:{PGO_ADMIN_PORT}"', ORIGIN_PORT)
            pgo_node = subprocess.Popen([PGO_BIN, "serve", "--config", pgo_conf, "--log", "warn"],
                                        stderr=subprocess.DEVNULL)
            procs.append(pgo_node)
            targets[PGO] = (PGO_PORT, lambda: [pgo_node.pid])
        for port, _ in [(ORIGIN_PORT, None)] + list(targets.values()):
            wait_port(port)
        sizes = {"small (100 B)": "/small", "64 KiB": "/64k"}
        raw = {(t, s): [] for t in targets for s in sizes}
        for (t, (port, _)) in targets.items():  # warm them up
            for path in sizes.values():
                run_wrk(port, path, 2, args.connections)
        names = list(targets)
        for rnd in range(args.rounds):
            # Each proxy goes first as often as the others.
            order = names[rnd % len(names):] + names[:rnd % len(names)]
            for size, path in sizes.items():
                for t in order:
                    port, pids = targets[t]
                    p, o = pids(), children(origin.pid)
                    c0, o0, m0 = cpu_seconds(p), cpu_seconds(o), machine_seconds()
                    reqs, rps, p50, p99, wrk_cpu = run_wrk_measured(port, path, args.duration, args.connections)
                    cpu_us = (cpu_seconds(p) - c0) / reqs * 1e6
                    origin_us = (cpu_seconds(o) - o0) / reqs * 1e6
                    machine_us = (machine_seconds() - m0) / reqs * 1e6
                    wrk_us = wrk_cpu / reqs * 1e6
                    raw[(t, size)].append({"rps": rps, "p50_ms": p50, "p99_ms": p99, "cpu_us_per_req": cpu_us,
                                           "wrk_cpu_us_per_req": wrk_us, "origin_cpu_us_per_req": origin_us,
                                           "machine_cpu_us_per_req": machine_us})
                    print(f"round {rnd + 1} {size:14} {t:21} {rps:9.0f} req/s  p50 {p50:6.2f} ms  p99 {p99:6.2f} ms"
                          f"  CPU {cpu_us:5.1f} µs/req  wrk {wrk_us:4.1f}  origin {origin_us:4.1f}"
                          f"  machine {machine_us:4.1f} µs/req", flush=True)
        med = {k: {m: statistics.median(r[m] for r in v) for m in v[0]} for k, v in raw.items()}
        print()
        print(f"Medians over {args.rounds} rounds, {args.duration} s each, wrk -t1 -c{args.connections}:")
        print()
        print("| response | proxy | req/s | p50 ms | p99 ms | CPU µs/req | wrk's CPU µs/req | origin's CPU µs/req | machine's CPU µs/req |")
        print("|---|---|---:|---:|---:|---:|---:|---:|---:|")
        for size in sizes:
            for t in targets:
                m = med[(t, size)]
                print(f"| {size} | {t} | {m['rps']:.0f} | {m['p50_ms']:.2f} | {m['p99_ms']:.2f} | "
                      f"{m['cpu_us_per_req']:.1f} | {m['wrk_cpu_us_per_req']:.1f} | {m['origin_cpu_us_per_req']:.1f} | "
                      f"{m['machine_cpu_us_per_req']:.1f} |")
        paired = {}
        nodes = [t for t in targets if t in ("regionless", PGO)]
        for ours, peer in [(o, p) for o in nodes for p in targets if p not in nodes]:
            # The plain build against plain nginx keeps the bare size as its key.
            label = "" if (ours, peer) == ("regionless", "nginx") else \
                f" ({peer})" if ours == "regionless" else f" ({ours} / {peer})"
            print()
            print(f"| response | throughput ({ours} / {peer}) | p99 ({ours} / {peer}) | CPU per request ({ours} / {peer}) |")
            print("|---|---:|---:|---:|")
            for size in sizes:
                r, n = med[(ours, size)], med[(peer, size)]
                print(f"| {size} | {r['rps'] / n['rps']:.2f} | {r['p99_ms'] / n['p99_ms']:.2f} | {r['cpu_us_per_req'] / n['cpu_us_per_req']:.2f} |")
            # Each round runs the proxies back to back, so a round's ratio is free of the
            # drift between rounds (other tenants of the machine) that moves single figures
            # by ~30 %.
            for size in sizes:
                pairs = list(zip(raw[(ours, size)], raw[(peer, size)]))
                paired[size + label] = {m: sorted(r[m] / n[m] for r, n in pairs) for m in ("rps", "p99_ms", "cpu_us_per_req")}
            print()
            print(f"Per-round ratios ({ours} / {peer}, each round's runs back to back): median [lowest – highest], rounds below 1")
            print()
            print("| response | throughput | p99 | CPU per request |")
            print("|---|---:|---:|---:|")
            for size in sizes:
                cells = []
                for m in ("rps", "p99_ms", "cpu_us_per_req"):
                    v = paired[size + label][m]
                    cells.append(f"{statistics.median(v):.2f} [{v[0]:.2f} – {v[-1]:.2f}] {sum(x < 1 for x in v)}/{len(v)}")
                print(f"| {size} | " + " | ".join(cells) + " |")
        if args.json:
            with open(args.json, "w") as f:
                json.dump({"raw": {f"{t}|{s}": v for (t, s), v in raw.items()},
                           "median": {f"{t}|{s}": v for (t, s), v in med.items()},
                           "paired_ratios": paired}, f, indent=1)
    finally:
        for p in procs:
            p.send_signal(signal.SIGTERM)
        for p in procs:
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
