#!/usr/bin/env bash
# CPU per request of any HTTP server under wrk load: utime+stime of the given processes (and
# their threads) from /proc over a run, divided by the requests wrk completed.
# Usage: bench/cpu_per_request.sh PORT PID [PID…]   (Host: bench.test, path /small, 5 s, 32 connections)
set -euo pipefail
port=$1; shift
ticks() { for p in "$@"; do awk '{print $14, $15}' "/proc/$p/stat"; done | awk '{u+=$1; s+=$2} END {print u, s}'; }
read -r u0 s0 < <(ticks "$@")
out=$(wrk -t1 -c32 -d5s -H 'Host: bench.test' "http://127.0.0.1:$port${BENCH_PATH:-/small}")
read -r u1 s1 < <(ticks "$@")
n=$(grep -oP '\d+(?= requests in)' <<<"$out")
hz=$(getconf CLK_TCK)
python3 -c "n=$n; print(f'{n/5:.0f} req/s  user {($u1-$u0)/$hz/n*1e6:.1f} µs/req  kernel {($s1-$s0)/$hz/n*1e6:.1f} µs/req')"
