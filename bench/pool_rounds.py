#!/usr/bin/env python3
"""Pools the rounds of several `proxy_vs_nginx.py --json` runs: the medians of every round of
two proxies and their ratio, and the per-round (paired) ratios, whose median is free of the
drift between rounds and runs. Runs without both proxies are skipped.

Usage: bench/pool_rounds.py [--size "small (100 B)"] OURS PEER RUN.json [RUN.json ...]
  e.g. bench/pool_rounds.py "regionless (pgo)" nginx bench/out/proxy_s17*.json
"""
import argparse, json, statistics, sys

METRICS = (("cpu_us_per_req", "CPU µs/req"), ("rps", "req/s"), ("p99_ms", "p99 ms"),
           ("machine_cpu_us_per_req", "machine's CPU µs/req"))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size", default="small (100 B)", help='"small (100 B)" or "64 KiB"')
    ap.add_argument("ours")
    ap.add_argument("peer")
    ap.add_argument("runs", nargs="+")
    args = ap.parse_args()
    ours, peer, pairs = [], [], []
    for path in args.runs:
        try:
            with open(path) as f:
                raw = json.load(f)["raw"]
        except (OSError, ValueError, KeyError) as e:
            sys.exit(f"error: {path}: not a proxy_vs_nginx.py --json file ({e})")
        a, b = raw.get(f"{args.ours}|{args.size}"), raw.get(f"{args.peer}|{args.size}")
        if a and b:
            ours += a
            peer += b
            pairs += list(zip(a, b))
    if not pairs:
        sys.exit(f"error: no run has both {args.ours!r} and {args.peer!r} at {args.size!r}")
    print(f"{args.ours} / {args.peer}, {args.size}: {len(pairs)} rounds")
    print()
    print(f"| metric | {args.ours} | {args.peer} | ratio of medians | paired median [lowest – highest] | rounds below 1 |")
    print("|---|---:|---:|---:|---:|---:|")
    for key, label in METRICS:
        if not all(key in r for r in ours + peer):
            continue  # older runs did not record it
        x = statistics.median(r[key] for r in ours)
        y = statistics.median(r[key] for r in peer)
        ratios = sorted(a[key] / b[key] for a, b in pairs)
        print(f"| {label} | {x:.2f} | {y:.2f} | {x / y:.3f} | {statistics.median(ratios):.3f} "
              f"[{ratios[0]:.2f} – {ratios[-1]:.2f}] | {sum(r < 1 for r in ratios)}/{len(ratios)} |")


if __name__ == "__main__":
    main()
