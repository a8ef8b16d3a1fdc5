#!/usr/bin/env python3
"""User-space instructions per pass-through request: the Regionless node vs nginx, counted by
valgrind's callgrind.

Wall-clock CPU time on a shared 2-core machine swings by up to ~30 % between runs; an
instruction count moves far less (with one connection, not at all: see below), so this is the
figure to compare two builds by, and it shows where the node's user-space time goes next to nginx's. It does not
count kernel time (sends, receives, wake-ups), which bench/proxy_vs_nginx.py measures.

Each proxy runs under callgrind with instrumentation off while it starts and warms up; then
`callgrind_control -i on` switches it on for a `wrk` run of --duration seconds, the profile
is dumped, and the program total is divided by the requests wrk completed. nginx runs as one
process (`master_process off`, one worker) with the same proxy settings as in
bench/proxy_vs_nginx.py; the node with its default runtime. The origin is a separate nginx
serving a 100-byte file, outside valgrind.

How many requests each wake-up finds varies between runs and moves the node's count by a few
per cent with several connections; with --connections 1 every request has its own wake-ups and
repeat runs of one build agree to within a few instructions (24,060 twice in session 13), so
compare two builds that way.

With --cache-sim, callgrind also simulates the caches and the table adds L1 instruction misses
and L1 data read/write misses per request (runs slow down further, and how many requests each
wake-up finds changes with that, so these move more between runs than plain counts do).

Usage: bench/instructions.py [--duration 10] [--connections 8] [--cache-sim] [--bin PATH] [--keep DIR] [--json out.json]
Needs: valgrind, nginx, wrk (`apt-get install valgrind nginx-light wrk`), a release build
(`cargo build --release -p regionless`). Everything listens on 127.0.0.1 only.
--keep DIR keeps the callgrind profiles there (read them with `callgrind_annotate`).
--bin PATH counts another build of the node (a copy kept from an earlier commit, or one built
with other compiler or linker settings) instead of target/release/regionless.
"""
import argparse, glob, json, os, re, shutil, subprocess, sys, tempfile, time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import proxy_vs_nginx as pvn  # noqa: E402

ORIGIN_PORT, NGINX_PORT, NODE_PORT = 18181, 18182, 18183


def count(name, cmd, port, work, args):
    """Runs `cmd` under callgrind and returns ({event: total}, requests)."""
    out = os.path.join(work, f"{name}.callgrind")
    for old in glob.glob(out + "*"):
        os.remove(old)
    proc = subprocess.Popen(
        ["valgrind", "--tool=callgrind", "--instr-atstart=no", f"--callgrind-out-file={out}.%p"]
        + (["--cache-sim=yes"] if args.cache_sim else []) + cmd,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        pvn.wait_port(port)
        pvn.run_wrk(port, "/small", 3, args.connections)  # warm up, uninstrumented
        subprocess.run(["callgrind_control", "-i", "on", str(proc.pid)], check=True, capture_output=True)
        reqs, _, _, _ = pvn.run_wrk(port, "/small", args.duration, args.connections)
        subprocess.run(["callgrind_control", "-d", str(proc.pid)], check=True, capture_output=True)
        subprocess.run(["callgrind_control", "-i", "off", str(proc.pid)], check=True, capture_output=True)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
    # The dump written on request (not the one at exit, which holds nothing): the largest.
    dumps = sorted(glob.glob(out + ".*"), key=os.path.getsize)
    if not dumps:
        sys.exit(f"error: callgrind wrote no profile for {name}")
    events, totals = None, None
    with open(dumps[-1]) as f:
        for line in f:
            if line.startswith("events:"):
                events = line.split()[1:]
            m = re.match(r"(?:summary|totals):\s+([\d ]+)", line)
            if m:
                totals = [int(v) for v in m.group(1).split()]
    if not events or not totals:
        sys.exit(f"error: no event totals in {dumps[-1]}")
    total = dict(zip(events, totals))
    if args.keep:
        os.makedirs(args.keep, exist_ok=True)
        shutil.copy(dumps[-1], os.path.join(args.keep, f"callgrind.out.{name}"))
    return total, reqs


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--duration", type=int, default=10)
    ap.add_argument("--connections", type=int, default=8)
    ap.add_argument("--cache-sim", action="store_true", help="also simulate the caches and report L1 misses")
    ap.add_argument("--keep", help="keep the callgrind profiles in this directory")
    ap.add_argument("--json", help="write the results here")
    ap.add_argument("--bin", default=pvn.BIN, help="the node binary to count (default: the release build)")
    args = ap.parse_args()
    for cmd, pkg in (("valgrind", "valgrind"), ("callgrind_control", "valgrind"), ("nginx", "nginx-light"), ("wrk", "wrk")):
        pvn.need(cmd, pkg)
    if not os.path.exists(args.bin):
        if args.bin == pvn.BIN:
            sys.exit("error: no release build: run `cargo build --release -p regionless` first")
        sys.exit(f"error: --bin {args.bin}: no such file")

    work = tempfile.mkdtemp(prefix="regionless-instr-")
    os.chmod(work, 0o755)
    www = os.path.join(work, "www")
    os.makedirs(www, mode=0o755)
    with open(os.path.join(www, "small"), "wb") as f:
        f.write(b"x" * 100)
    origin_conf = pvn.nginx_conf(work, "origin", pvn.origin_server(ORIGIN_PORT, www))
    proxy_conf = pvn.nginx_conf(work, "proxy", pvn.proxy_server(NGINX_PORT, ORIGIN_PORT),
                                processes="worker_processes 1; master_process off;")
    node_conf = pvn.node_config(work, NODE_PORT, '"off"', ORIGIN_PORT)
    origin = subprocess.Popen(["nginx", "-c", origin_conf], stderr=subprocess.DEVNULL)
    try:
        pvn.wait_port(ORIGIN_PORT)
        results = {}
        for name, cmd, port in (
            ("regionless", [args.bin, "serve", "--config", node_conf, "--log", "warn"], NODE_PORT),
            ("nginx", ["nginx", "-c", proxy_conf], NGINX_PORT),
        ):
            total, reqs = count(name, cmd, port, work, args)
            per = {event: value / reqs for event, value in total.items()}
            results[name] = {"instructions": total["Ir"], "requests": reqs, "per_request": per["Ir"],
                             "events_per_request": per}
            print(f"{name:10} {reqs:8d} requests  {per['Ir']:9.0f} instructions/request", flush=True)
            time.sleep(1)
        ratio = results["regionless"]["per_request"] / results["nginx"]["per_request"]
        print()
        misses = [("I1mr", "L1i misses"), ("D1mr", "L1d read misses"), ("D1mw", "L1d write misses")]
        shown = [(e, label) for e, label in misses if args.cache_sim]
        print("| proxy | instructions per 100 B pass-through request (user space) |"
              + "".join(f" {label} |" for _, label in shown))
        print("|---|---:|" + "---:|" * len(shown))
        for name, r in results.items():
            per = r["events_per_request"]
            print(f"| {name} | {r['per_request']:.0f} |" + "".join(f" {per[e]:.0f} |" for e, _ in shown))
        print(f"\nregionless / nginx: {ratio:.2f}")
        if args.json:
            with open(args.json, "w") as f:
                json.dump({"results": results, "ratio": ratio}, f, indent=1)
    finally:
        origin.terminate()
        origin.wait()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
