"""Start the caching proxies compared in bench/cache/ (the Regionless node, nginx, Varnish,
HAProxy) in front of an origin on 127.0.0.1, each from its config file in this directory.

Shared by conformance.py and hit_bench.py. Every process listens on 127.0.0.1 only.
"""
import os, shutil, signal, socket, subprocess, sys, time

HERE = os.path.dirname(os.path.abspath(__file__))
BENCH = os.path.dirname(HERE)
ROOT = os.path.dirname(BENCH)
sys.path.insert(0, BENCH)
import proxy_vs_nginx as pvn  # noqa: E402  (need, cpu_seconds, children, run_wrk, ...)

BIN = pvn.BIN
TARGETS = ("regionless", "nginx", "varnish", "haproxy")
# The node's builds: the plain release build, and the profile-guided one (scripts/build-pgo),
# which runs only when asked for (`--targets regionless-pgo,...`).
NODE_BINS = {"regionless": BIN, "regionless-pgo": pvn.PGO_BIN}
PACKAGES = {"nginx": ("nginx", "nginx-light"), "varnish": ("varnishd", "varnish"), "haproxy": ("haproxy", "haproxy")}


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_tcp(port, proc=None, what="", timeout=20):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc is not None and proc.poll() is not None:
            sys.exit(f"error: {what or 'process'} exited with status {proc.returncode} before listening on 127.0.0.1:{port}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.1)
    sys.exit(f"error: nothing listens on 127.0.0.1:{port} ({what})")


def render(template, dest, **subst):
    with open(os.path.join(HERE, template)) as f:
        text = f.read()
    for key, value in subst.items():
        text = text.replace(f"@{key}@", str(value))
    with open(dest, "w") as f:
        f.write(text)
    return dest


def ensure_binary(target):
    """Exit with a clear message if the target's program is missing."""
    if target == "regionless-pgo":
        if not os.path.exists(pvn.PGO_BIN):
            sys.exit(f"error: no profile-guided build at {pvn.PGO_BIN}: run `scripts/build-pgo` first")
    elif target == "regionless":
        if not os.path.exists(BIN):
            print(f"no release build at {BIN}: running `cargo build --release -p regionless`", file=sys.stderr)
            if subprocess.run(["cargo", "build", "--release", "-p", "regionless"], cwd=ROOT).returncode != 0 or not os.path.exists(BIN):
                sys.exit("error: `cargo build --release -p regionless` failed")
    else:
        cmd, pkg = PACKAGES[target]
        pvn.need(cmd, pkg)


def version(target):
    try:
        if target in NODE_BINS:
            node_bin = NODE_BINS[target]
            commit = subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
            out = subprocess.run([node_bin, "--version"], capture_output=True, text=True).stdout.strip()
            return f"{out} (commit {commit}, binary built {time.strftime('%Y-%m-%d %H:%M', time.localtime(os.path.getmtime(node_bin)))})"
        pkg = PACKAGES[target][1]
        deb = subprocess.run(["dpkg-query", "-W", "-f", "${Version}", pkg], capture_output=True, text=True).stdout.strip()
        return f"{pkg} {deb}" if deb else pkg
    except OSError:
        return "unknown"


class Proxy:
    """One running target. `pids()` lists the processes whose CPU time counts."""

    def __init__(self, target, port, origin_port, work, extra_args=()):
        self.target, self.port, self.work = target, port, work
        os.makedirs(work, mode=0o755, exist_ok=True)
        os.chmod(work, 0o755)  # nginx workers and varnish's child run unprivileged
        log = open(os.path.join(work, f"{target}.log"), "w")
        subst = dict(PORT=port, ORIGIN_PORT=origin_port, WORK=work)
        if target in NODE_BINS:
            node_bin = NODE_BINS[target]
            conf = render("regionless.toml", os.path.join(work, "regionless.toml"), **subst)
            check = subprocess.run([node_bin, "check-config", "--config", conf], capture_output=True, text=True)
            if check.returncode != 0:
                sys.exit(f"error: the generated node config does not check:\n{check.stdout}{check.stderr}")
            cmd = [node_bin, "serve", "--config", conf, "--log", "warn"]
        elif target == "nginx":
            conf = render("nginx.conf", os.path.join(work, "nginx.conf"), **subst)
            cmd = ["nginx", "-c", conf]
        elif target == "varnish":
            conf = render("varnish.vcl", os.path.join(work, "default.vcl"), **subst)
            vdir = os.path.join(work, "varnish")
            cmd = ["varnishd", "-F", "-n", vdir, "-a", f"127.0.0.1:{port}", "-T", "none", "-f", conf, "-s", "malloc,256m"]

        elif target == "haproxy":
            conf = render("haproxy.cfg", os.path.join(work, "haproxy.cfg"), **subst)
            cmd = ["haproxy", "-db", "-f", conf]
        else:
            raise ValueError(target)
        self.conf = conf
        cmd += list(extra_args)
        self.proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
        try:
            wait_tcp(port, self.proc, target)
        except SystemExit:
            self.stop()
            with open(log.name) as f:
                print(f"{target} said:\n{f.read()[-3000:]}", file=sys.stderr)
            raise

    def pids(self):
        if self.target in ("nginx", "varnish"):  # master + workers / manager + cache child
            return pvn.children(self.proc.pid)
        return [self.proc.pid]

    def stop(self):
        stop(self.proc)


def stop(proc):
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def cleanup(work):
    shutil.rmtree(work, ignore_errors=True)
