#!/usr/bin/env python3
"""Cache hits: the Regionless node vs nginx proxy_cache, Varnish and HAProxy's cache, same
origin, same machine.

Every proxy sits in front of one origin (nginx serving a 1 KiB and a 64 KiB body with
`Cache-Control: public, max-age=3600`), configured from its file in bench/cache/. Each cache is
warmed and checked to answer from cache (nginx `X-Cache-Status: HIT`, Varnish's two-id
`X-Varnish`, HAProxy's `X-Cache-Status: HIT` from `res.cache_hit`, the node's `x-cache: HIT`);
the run aborts if one does not. Then, like bench/proxy_vs_nginx.py (whose wrk and /proc helpers
it uses), it measures requests/s, p50/p99 and CPU time per request (utime+stime of the proxy's
processes ÷ requests), rotating the proxies' order over the rounds, and prints medians and the
ratios of the node (or the first target) to every other one. CPU per request decides: single
rounds vary by up to ~30 % on 2 shared cores.

--memory N: on a fresh instance of each target, PSS and RSS of its processes before and after
storing N distinct 1 KiB objects (/obj/0 … /obj/N-1), divided by N. nginx keeps bodies in
files (page cache), so its figure is the index only. HAProxy touches its whole shared cache
(`total-max-size`) at start, so its PSS does not move; for it the cache's own count of 1 KiB
blocks in use (`show cache` on the stats socket) × 1024 ÷ N is reported instead.

`--targets regionless-pgo,...` runs the profile-guided build (scripts/build-pgo) instead of or
beside the plain one; the ratios are of the first node build listed.

Usage: bench/cache/hit_bench.py [--targets regionless,nginx,varnish,haproxy] [--rounds 5]
         [--duration 10] [--connections 32] [--memory 20000] [--json out.json]
Needs: wrk, nginx, varnish, haproxy (`apt-get install wrk nginx-light varnish haproxy`), a
release build (`cargo build --release -p regionless`). Everything listens on 127.0.0.1 only.
"""
import argparse, http.client, json, os, random, re, socket, statistics, subprocess, sys, tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import proxies  # noqa: E402
from proxies import pvn  # noqa: E402

HOST = "bench.test"  # what pvn.run_wrk sends
SIZES = {"1 KiB": "/1k", "64 KiB": "/64k"}


def get(port, path, conn=None):
    c = conn or http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    c.request("GET", path, headers={"Host": HOST})
    r = c.getresponse()
    body = r.read()
    if conn is None:
        c.close()
    return r.status, {k.lower(): v for k, v in r.getheaders()}, body


def is_hit(target, headers):
    if target in proxies.NODE_BINS:
        return headers.get("x-cache", "").upper().startswith("HIT")
    if target == "varnish":
        return len(headers.get("x-varnish", "").split()) == 2  # "<this request> <the stored one>"
    return headers.get("x-cache-status", "").upper() == "HIT"  # nginx, haproxy


def check_hit(target, port, path, size, when="before measuring"):
    for _ in range(2):
        get(port, path)
    status, headers, body = get(port, path)
    if status != 200 or len(body) != size or not is_hit(target, headers):
        shown = {k: v for k, v in headers.items() if k in ("x-cache", "cache-status", "x-cache-status", "x-varnish", "age", "cache-control")}
        sys.exit(f"error: {when}, {target} does not answer {path} from its cache (status {status}, {len(body)} bytes, "
                 f"{shown}); configs: {proxies.HERE}/")


def memory(pids):
    """(PSS, RSS) in bytes summed over the processes."""
    pss = rss = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/smaps_rollup") as f:
                for line in f:
                    if line.startswith("Pss:"):
                        pss += int(line.split()[1]) * 1024
                    elif line.startswith("Rss:"):
                        rss += int(line.split()[1]) * 1024
        except FileNotFoundError:
            pass
    return pss, rss


def haproxy_cache_bytes_per_object(p):
    """Bytes of HAProxy's shared cache per stored object: `show cache` block counts × 1 KiB."""
    with socket.socket(socket.AF_UNIX) as s:
        s.connect(os.path.join(p.work, "haproxy.sock"))
        s.sendall(b"show cache\n")
        out = b"".join(iter(lambda: s.recv(65536), b"")).decode()
    blocks = [int(b) for b in re.findall(r"\((\d+) blocks?\)", out)]
    return 1024 * sum(blocks) / max(1, len(blocks))


def measure_memory(target, p, n):
    port = p.port
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    for i in range(200):  # a few allocations before the baseline: pools, first connection
        get(port, f"/obj/warm{i}", conn)
    pss0, rss0 = memory(p.pids())
    for i in range(n):
        status, _, _ = get(port, f"/obj/{i}", conn)
        if status != 200:
            sys.exit(f"error: {target} answered {status} for /obj/{i}")
    pss1, rss1 = memory(p.pids())
    store = haproxy_cache_bytes_per_object(p) if target == "haproxy" else None
    sample = random.sample(range(n), min(200, n))
    hits = sum(is_hit(target, get(port, f"/obj/{i}", conn)[1]) for i in sample)
    conn.close()
    return {"objects": n, "pss_bytes_per_object": (pss1 - pss0) / n, "rss_bytes_per_object": (rss1 - rss0) / n,
            "pss_before_mib": pss0 / 2**20, "pss_after_mib": pss1 / 2**20, "sampled_hit_ratio": hits / len(sample),
            "cache_store_bytes_per_object": store}


live = []  # every proxy started, stopped on the way out


def start(target, origin_port, work):
    p = proxies.Proxy(target, proxies.free_port(), origin_port, os.path.join(work, target))
    live.append(p)
    return p


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--targets", default=",".join(proxies.TARGETS), help="comma-separated, from " + ", ".join(proxies.TARGETS))
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--duration", type=int, default=10)
    ap.add_argument("--connections", type=int, default=32)
    ap.add_argument("--memory", type=int, metavar="N", help="also measure memory per cached 1 KiB object over N objects (e.g. 20000)")
    ap.add_argument("--json", help="write raw and median results here")
    args = ap.parse_args()
    targets = [t for t in args.targets.split(",") if t]
    for t in targets:
        if t not in proxies.TARGETS and t not in proxies.NODE_BINS:
            sys.exit(f"error: unknown target {t}; choose from {', '.join(dict.fromkeys(proxies.TARGETS + tuple(proxies.NODE_BINS)))}")
        proxies.ensure_binary(t)
    pvn.need("wrk", "wrk")
    pvn.need("nginx", "nginx-light")  # the origin

    work = tempfile.mkdtemp(prefix="regionless-hit-bench-")
    os.chmod(work, 0o755)
    www = os.path.join(work, "www")
    os.makedirs(www, mode=0o755)
    body_sizes = {"/1k": 1024, "/64k": 64 * 1024}
    for path, size in body_sizes.items():
        with open(www + path, "wb") as f:
            f.write(os.urandom(size))
    origin_port = proxies.free_port()
    origin = None
    results = {"versions": {t: proxies.version(t) for t in targets}, "config": vars(args)}
    try:
        origin_conf = proxies.render("origin-nginx.conf", os.path.join(work, "origin.conf"), ORIGIN_PORT=origin_port, WORK=work)
        origin = subprocess.Popen(["nginx", "-c", origin_conf], stderr=subprocess.DEVNULL)
        proxies.wait_tcp(origin_port, origin, "origin nginx")
        running = {t: start(t, origin_port, work) for t in targets}
        for t, p in running.items():
            for path in SIZES.values():
                check_hit(t, p.port, path, body_sizes[path])
        for t, p in running.items():  # warm-up under load
            for path in SIZES.values():
                pvn.run_wrk(p.port, path, min(2, args.duration), args.connections)
                check_hit(t, p.port, path, body_sizes[path])

        raw = {(t, s): [] for t in targets for s in SIZES}
        for rnd in range(args.rounds):
            order = targets[rnd % len(targets):] + targets[:rnd % len(targets)]
            for size, path in SIZES.items():
                for t in order:
                    p = running[t]
                    pids = p.pids()
                    c0 = pvn.cpu_seconds(pids)
                    reqs, rps, p50, p99 = pvn.run_wrk(p.port, path, args.duration, args.connections)
                    cpu_us = (pvn.cpu_seconds(pids) - c0) / reqs * 1e6
                    raw[(t, size)].append({"rps": rps, "p50_ms": p50, "p99_ms": p99, "cpu_us_per_req": cpu_us})
                    print(f"round {rnd + 1} {size:7} {t:10} {rps:9.0f} req/s  p50 {p50:6.2f} ms  p99 {p99:6.2f} ms  CPU {cpu_us:5.1f} µs/req", flush=True)
        for t, p in running.items():  # still hits after the load?
            for path in SIZES.values():
                check_hit(t, p.port, path, body_sizes[path], "after the rounds")
        for p in running.values():
            p.stop()

        med = {k: {m: statistics.median(r[m] for r in v) for m in v[0]} for k, v in raw.items()}
        print()
        print(f"Cache hits, medians over {args.rounds} rounds, {args.duration} s each, wrk -t1 -c{args.connections}:")
        print()
        print("| object | proxy | req/s | p50 ms | p99 ms | CPU µs/req |")
        print("|---|---|---:|---:|---:|---:|")
        for size in SIZES:
            for t in targets:
                m = med[(t, size)]
                print(f"| {size} | {t} | {m['rps']:.0f} | {m['p50_ms']:.2f} | {m['p99_ms']:.2f} | {m['cpu_us_per_req']:.1f} |")
        subject = next((t for t in targets if t in proxies.NODE_BINS), targets[0])
        ratios = {}
        if len(targets) > 1:
            print()
            print(f"| object | vs | throughput ({subject} / peer) | p99 ({subject} / peer) | CPU per request ({subject} / peer) |")
            print("|---|---|---:|---:|---:|")
            for size in SIZES:
                for peer in targets:
                    if peer == subject:
                        continue
                    a, b = med[(subject, size)], med[(peer, size)]
                    r = {"rps": a["rps"] / b["rps"], "p99": a["p99_ms"] / b["p99_ms"], "cpu": a["cpu_us_per_req"] / b["cpu_us_per_req"]}
                    ratios[f"{subject}/{peer}|{size}"] = r
                    print(f"| {size} | {peer} | {r['rps']:.2f} | {r['p99']:.2f} | {r['cpu']:.2f} |")
        results.update(raw={f"{t}|{s}": v for (t, s), v in raw.items()},
                       median={f"{t}|{s}": v for (t, s), v in med.items()}, ratios=ratios)

        if args.memory:
            mem = {}
            for t in targets:
                p = start(t, origin_port, work + "-mem")
                mem[t] = measure_memory(t, p, args.memory)
                p.stop()
            print()
            print(f"Memory per cached 1 KiB object ({args.memory} distinct objects, fresh instance each):")
            print()
            print("| proxy | PSS bytes/object | RSS bytes/object | PSS before → after MiB | sampled hits | note |")
            print("|---|---:|---:|---:|---:|---|")
            notes = {"nginx": "bodies in files (page cache), not counted",
                     "haproxy": "shared cache preallocated; `show cache`: {:.0f} B/object"}
            for t, m in mem.items():
                note = notes.get(t, "").format(m["cache_store_bytes_per_object"] or 0)
                print(f"| {t} | {m['pss_bytes_per_object']:.0f} | {m['rss_bytes_per_object']:.0f} | "
                      f"{m['pss_before_mib']:.1f} → {m['pss_after_mib']:.1f} | {m['sampled_hit_ratio']:.0%} | {note} |")
            results["memory"] = mem
        if args.json:
            with open(args.json, "w") as f:
                json.dump(results, f, indent=1)
    finally:
        for p in live:
            p.stop()
        if origin:
            proxies.stop(origin)
        proxies.cleanup(work)
        proxies.cleanup(work + "-mem")


if __name__ == "__main__":
    main()
