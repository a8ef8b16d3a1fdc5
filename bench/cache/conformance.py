#!/usr/bin/env python3
"""Run the RFC 9111 test suite of http-tests/cache-tests (npm package `http-cache-tests`) against
a caching proxy on this machine and summarise it the way cache-tests.fyi classifies results.

The suite's origin server runs on a free 127.0.0.1 port, the target proxy on another one in front
of it (config from bench/cache/), and the suite's CLI sends every test through the proxy. The
suite itself is installed with npm into a scratch directory outside the repository
(${XDG_CACHE_HOME:-~/.cache}/regionless/cache-tests) and never committed.

Usage: bench/cache/conformance.py {regionless,nginx,varnish,haproxy} [--json FILE] [--id TEST_ID]
  --id TEST_ID  run one test and print the requests and responses seen by client and origin
  --varnish-params "-p default_ttl=0 -p default_grace=0 -p default_keep=3600"
                extra varnishd arguments; these are the ones the suite's own Docker image
                (docker/serve.sh) runs Varnish with for cache-tests.fyi
Writes bench/cache/out/TARGET.results.json (the CLI's raw output) and TARGET.summary.json
(TARGET-params.* with --varnish-params).
Needs: node and npm; nginx / varnish / haproxy from Debian (`apt-get install nginx-light varnish
haproxy`); for regionless a release build (built with `cargo build --release -p regionless` if missing).
"""
import argparse, datetime, json, os, subprocess, sys, tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import proxies  # noqa: E402

SUITE_VERSION = "0.4.5"
SUITE_DIR = os.path.join(os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "regionless", "cache-tests")
PKG = os.path.join(SUITE_DIR, "node_modules", "http-cache-tests")
OUT = os.path.join(proxies.HERE, "out")

# Tests whose failure is a security problem (a stored response leaking to another client or
# a hop-by-hop header replayed). Matched by id prefix where the issue wrote `*`.
SECURITY = [("other-authorization", False), ("cc-resp-private-shared", False), ("cc-resp-no-store", True),
            ("headers-omit-headers-listed-in-Connection", False), ("cdn-private", False)]

# The test list exactly as the package's cli.mjs builds it (index + surrogate-control), with
# what cache-tests.fyi needs to classify a result.
META_JS = """
const pkg = process.argv[1]
const tests = (await import(pkg + '/tests/index.mjs')).default
tests.push((await import(pkg + '/tests/surrogate-control.mjs')).default)
const out = []
for (const suite of tests) for (const t of suite.tests) {
  out.push({ id: t.id, suite: suite.id, kind: t.kind || 'required', depends_on: t.depends_on || [],
             browser_only: t.browser_only === true, name: t.name })
}
console.log(JSON.stringify(out))
"""


def ensure_suite():
    try:
        with open(os.path.join(PKG, "package.json")) as f:
            if json.load(f)["version"] == SUITE_VERSION:
                return
    except (OSError, ValueError, KeyError):
        pass
    proxies.pvn.need("npm", "npm")
    print(f"installing http-cache-tests@{SUITE_VERSION} into {SUITE_DIR}", file=sys.stderr)
    os.makedirs(SUITE_DIR, exist_ok=True)
    subprocess.run(["npm", "install", "--prefix", SUITE_DIR, "--no-audit", "--no-fund", "--no-save",
                    f"http-cache-tests@{SUITE_VERSION}"], check=True, stdout=sys.stderr)


def suite_env(base, test_id=""):
    # cli.mjs reads its settings from npm config variables (`npm_config_id ||
    # npm_package_config_id`); an id that ends up undefined means "run the test with id
    # undefined", so the package default "" has to be set for a full run.
    return dict(os.environ, npm_config_base=base, npm_config_id=test_id, npm_package_config_id="")


def classify(meta, results):
    """cache-tests.fyi's determineTestResult (lib/display.mjs), honouring dependencies."""
    by_id = {t["id"]: t for t in meta}

    def symbol(tid, deps=True):
        t, r = by_id[tid], results.get(tid)
        if r is None:
            return "untested"
        if deps:
            for d in t["depends_on"]:
                if symbol(d) not in ("pass", "yes"):
                    return "dependency_fail"
        if isinstance(r, list) and r and r[0] == "Setup":
            return "retry" if r[1] == "retry" else "setup_fail"
        ok = r is True
        if t["kind"] == "required":
            return "pass" if ok else "fail"
        if t["kind"] == "optimal":
            return "pass" if ok else "optional_fail"
        return "yes" if ok else "no"
    return symbol


def summarise(target, meta, results):
    symbol = classify(meta, results)
    run = [t for t in meta if not t["browser_only"]]
    req = [t for t in run if t["kind"] == "required"]
    opt = [t for t in run if t["kind"] == "optimal"]
    chk = [t for t in run if t["kind"] == "check"]
    passed = lambda ts: [t["id"] for t in ts if results.get(t["id"]) is True]
    sym = {t["id"]: symbol(t["id"]) for t in run}
    security = {}
    for prefix, is_prefix in SECURITY:
        ids = [t["id"] for t in run if (t["id"].startswith(prefix) if is_prefix else t["id"] == prefix)]
        security[prefix + ("*" if is_prefix else "")] = (
            {i: {"result": "pass" if results.get(i) is True else "fail", "kind": next(t["kind"] for t in run if t["id"] == i),
                 "detail": None if results.get(i) is True else results.get(i)} for i in ids}
            if ids else "not in this suite version")
    return {
        "target": target,
        "suite": f"http-cache-tests {SUITE_VERSION}",
        "date": datetime.date.today().isoformat(),
        "required_total": len(req),
        "required_passed": len(passed(req)),
        # cache-tests.fyi shows a required test whose dependency did not pass as "dependency
        # failed" rather than a pass; this is the number of green ticks there.
        "required_passed_honouring_dependencies": sum(sym[t["id"]] == "pass" for t in req),
        "optional_total": len(opt),
        "optional_passed": len(passed(opt)),
        "check_total": len(chk),
        "check_yes": len(passed(chk)),
        "setup_failures": sorted(i for i, s in sym.items() if s in ("setup_fail", "retry")),
        "untested": sorted(i for i, s in sym.items() if s == "untested"),
        "required_failed": {t["id"]: results.get(t["id"]) for t in req if results.get(t["id"]) is not True},
        "security": security,
    }


def print_table(s):
    print()
    print(f"{s['target']} ({s['version']}), {s['suite']}, {s['date']}")
    print()
    print("| | |")
    print("|---|---:|")
    print(f"| required passed | {s['required_passed']} / {s['required_total']} |")
    print(f"| required passed, dependencies honoured (cache-tests.fyi ticks) | {s['required_passed_honouring_dependencies']} / {s['required_total']} |")
    print(f"| optional (optimal) passed | {s['optional_passed']} / {s['optional_total']} |")
    print(f"| behaviour checks answered yes | {s['check_yes']} / {s['check_total']} |")
    print(f"| setup failures | {len(s['setup_failures'])} |")
    print()
    print("| security test | result |")
    print("|---|---|")
    for name, ids in s["security"].items():
        if isinstance(ids, str):
            print(f"| {name} | {ids} |")
            continue
        for i, r in ids.items():
            print(f"| {i} | {'pass' if r['result'] == 'pass' else 'FAIL: ' + str(r['detail'][1] if isinstance(r['detail'], list) else r['detail'])} |")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("target", choices=proxies.TARGETS)
    ap.add_argument("--json", help="also write the summary here")
    ap.add_argument("--id", help="run only this test, printing what client and origin saw")
    ap.add_argument("--varnish-params", default="", help="extra varnishd arguments, e.g. \"-p default_ttl=0\"")
    args = ap.parse_args()
    proxies.pvn.need("node", "nodejs")
    proxies.ensure_binary(args.target)
    ensure_suite()

    work = tempfile.mkdtemp(prefix=f"regionless-conformance-{args.target}-")
    origin_port, proxy_port = proxies.free_port(), proxies.free_port()
    origin = proxy = None
    try:
        origin_log = open(os.path.join(work, "origin.log"), "w")
        origin = subprocess.Popen(["node", os.path.join(proxies.HERE, "origin.mjs"), PKG, str(origin_port)],
                                  stdout=None if args.id else origin_log, stderr=subprocess.STDOUT)
        proxies.wait_tcp(origin_port, origin, "cache-tests origin")
        extra = args.varnish_params.split() if args.target == "varnish" else []
        proxy = proxies.Proxy(args.target, proxy_port, origin_port, work, extra)
        base = f"http://127.0.0.1:{proxy_port}"
        cli = ["node", "--no-warnings", os.path.join(PKG, "cli.mjs")]
        if args.id:
            origin_log.flush()
            subprocess.run(cli, cwd=PKG, env=suite_env(base, args.id), timeout=120)
            return
        print(f"running http-cache-tests {SUITE_VERSION} against {args.target} on {base} (origin 127.0.0.1:{origin_port})", file=sys.stderr)
        run = subprocess.run(cli, cwd=PKG, env=suite_env(base), capture_output=True, text=True, timeout=900)
        try:
            results = json.loads(run.stdout)
        except ValueError:
            sys.exit(f"error: the suite printed no results (exit {run.returncode}):\n{run.stdout[-2000:]}\n{run.stderr[-2000:]}")
        meta = json.loads(subprocess.run(["node", "--input-type=module", "-e", META_JS, PKG],
                                         capture_output=True, text=True, check=True).stdout)
    finally:
        if proxy:
            proxy.stop()
        if origin:
            proxies.stop(origin)
        proxies.cleanup(work)

    summary = summarise(args.target, meta, results)
    summary["version"] = proxies.version(args.target)
    summary["command"] = "python3 bench/cache/conformance.py " + args.target + (
        f" --varnish-params '{args.varnish_params}'" if args.varnish_params and args.target == "varnish" else "")
    name = args.target + ("-params" if extra else "")
    os.makedirs(OUT, exist_ok=True)
    with open(os.path.join(OUT, f"{name}.results.json"), "w") as f:
        json.dump(results, f, indent=1)
    for path in filter(None, [os.path.join(OUT, f"{name}.summary.json"), args.json]):
        with open(path, "w") as f:
            json.dump(summary, f, indent=1)
    print_table(summary)
    print(f"\nraw results: {os.path.relpath(os.path.join(OUT, name + '.results.json'))}")


if __name__ == "__main__":
    main()
