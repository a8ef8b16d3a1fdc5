#!/usr/bin/env bash
# The whole machine's CPU per request under wrk load, and how much of the run its cores sat
# idle: busy and idle jiffies of all cores from /proc/stat over a run, the busy ones divided by
# the requests wrk completed. On a machine where load generator, proxy and origin share the
# cores this is what throughput follows: the proxy's own CPU plus what its output costs the
# others (parsing the fields it adds), and whether the cores ever wait for work.
# Usage: bench/machine_per_request.sh PORT   (Host: bench.test, path /small, 5 s, 32 connections)
set -euo pipefail
port=$1
# user + nice + system + irq + softirq, and idle + iowait
# (printf: mawk prints integers above 2^31 in exponent form)
snap() { awk '/^cpu /{printf "%.0f %.0f\n", $2 + $3 + $4 + $7 + $8, $5 + $6}' /proc/stat; }
read -r b0 i0 < <(snap)
out=$(wrk -t1 -c32 -d5s -H 'Host: bench.test' "http://127.0.0.1:$port${BENCH_PATH:-/small}")
read -r b1 i1 < <(snap)
n=$(grep -oP '\d+(?= requests in)' <<<"$out")
hz=$(getconf CLK_TCK)
python3 -c "n=$n; b=$b1-$b0; i=$i1-$i0; print(f'{n/5:.0f} req/s  machine {b/$hz/n*1e6:.1f} µs/req  idle {i/(b+i)*100:.1f} %')"
