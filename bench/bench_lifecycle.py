#!/usr/bin/env python3
"""Benchmark: lxc-create -t busybox, lxc-info and lxc-ls -f (lxcz under /usr/bin/python3)
against upstream LXC 5 in the same run.

- create: ``lxc-create -t busybox`` into a fresh lxcpath each time (target <= 0.5x);
- info: ``lxc-info -n C`` on a running busybox container of each implementation;
- ls: ``lxc-ls -f`` over DEFINED containers of which RUNNING run (default 50 / 20; target
  <= 1.0x). The containers share one busybox rootfs; upstream's run with an empty network.

Runs are interleaved and medians compared; absolute medians are printed for reference.
Everything is made in a temporary directory and removed at the end (also on failure).
Needs root and upstream LXC (apt-get install lxc).

usage: bench/bench_lifecycle.py [-n RUNS] [--defined 50] [--running 20] [--dist]
                                [--only create,info,ls]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PYTHON = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else sys.executable
TARGETS = {"create": 0.5, "info": None, "ls": 1.0}


class Impl:
    def __init__(self, label: str, prefix, env) -> None:
        self.label = label
        self.prefix = prefix
        self.env = env

    def cmd(self, tool: str, *args: str):
        return self.prefix(tool) + list(args)

    def run(self, tool: str, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        p = subprocess.run(self.cmd(tool, *args), env=self.env, cwd=ROOT,
                           capture_output=True, text=True)
        if check and p.returncode != 0:
            raise SystemExit(f"{self.label} {tool} {' '.join(args)} failed: "
                             f"{p.stderr.strip()}")
        return p


def timed(impl: Impl, tool: str, *args: str) -> float:
    cmd = impl.cmd(tool, *args)
    t0 = time.perf_counter()
    p = subprocess.run(cmd, env=impl.env, cwd=ROOT, stdout=subprocess.DEVNULL,
                       stderr=subprocess.PIPE)
    dt = time.perf_counter() - t0
    if p.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed: {p.stderr.decode().strip()}")
    return dt


def report(label: str, up: list, me: list, target) -> float:
    u, m = statistics.median(up), statistics.median(me)
    ratio = m / u
    verdict = "" if target is None else ("OK" if ratio <= target else
                                         f"SLOWER THAN TARGET ({target}x)")
    print(f"{label:<34} upstream {u * 1000:7.1f} ms   lxcz {m * 1000:7.1f} ms   "
          f"ratio {ratio:.2f}x  {verdict}", flush=True)
    return ratio


def bench_create(up: Impl, me: Impl, work: str, runs: int) -> None:
    ups, mes = [], []
    for i in range(runs + 1):
        for impl, acc in ((up, ups), (me, mes)):
            path = os.path.join(work, f"create-{impl.label}-{i}")
            os.mkdir(path)
            dt = timed(impl, "lxc-create", "-n", "c", "-P", path, "-t", "busybox")
            shutil.rmtree(path)
            if i:  # the first round warms caches
                acc.append(dt)
    report("lxc-create -t busybox", ups, mes, TARGETS["create"])


def populate(impl: Impl, lxcpath: str, defined: int, running: int, conf: str) -> list:
    """DEFINED containers sharing the first one's rootfs; start RUNNING of them."""
    os.makedirs(lxcpath)
    impl.run("lxc-create", "-n", "c000", "-P", lxcpath, "-t", "busybox", "-f", conf)
    base = os.path.join(lxcpath, "c000")
    if impl.label == "lxcz":
        sys.path[:0] = [ROOT, os.path.join(ROOT, "tests", "integration")]
        import lifecycle_util

        lifecycle_util.strip_unsupported(os.path.join(base, "config"))
    with open(os.path.join(base, "config")) as f:
        text = f.read()
    names = ["c000"]
    for i in range(1, defined):
        name = f"c{i:03d}"
        os.makedirs(os.path.join(lxcpath, name), mode=0o770)
        with open(os.path.join(lxcpath, name, "config"), "w") as f:
            f.write(text.replace('lxc.uts.name = "c000"', f'lxc.uts.name = "{name}"'))
        names.append(name)
    for name in names[:running]:
        impl.run("lxc-start", "-n", name, "-P", lxcpath)
    for name in names[:running]:
        for _ in range(100):
            if "RUNNING" in impl.run("lxc-info", "-n", name, "-P", lxcpath, "-s",
                                     check=False).stdout:
                break
            time.sleep(0.05)
    return names


def teardown(impl: Impl, lxcpath: str, names: list) -> None:
    for name in names:
        impl.run("lxc-stop", "-n", name, "-P", lxcpath, "-k", check=False)
    shutil.rmtree(lxcpath, ignore_errors=True)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("-n", type=int, default=11, help="runs of each (default 11)")
    ap.add_argument("--defined", type=int, default=50)
    ap.add_argument("--running", type=int, default=20)
    ap.add_argument("--dist", action="store_true", help="time dist/lxcz (the zipapp)")
    ap.add_argument("--only", default="create,info,ls")
    args = ap.parse_args()
    if os.geteuid() != 0:
        print("bench_lifecycle needs root", file=sys.stderr)
        return 2
    if not shutil.which("lxc-create") or not os.path.exists("/usr/bin/lxc-ls"):
        print("upstream LXC not installed (apt-get install lxc)", file=sys.stderr)
        return 2
    only = set(args.only.split(","))
    env_up = dict(os.environ)
    # bytecode caching on, as on a user's machine; PYTHONPATH only for the source tree
    # (with --dist it would shadow the zipapp's own lxcz)
    env_me = dict(os.environ)
    env_me.pop("PYTHONDONTWRITEBYTECODE", None)
    if args.dist:
        dist = os.path.join(ROOT, "dist", "lxcz")
        env_me["LXCZ_PYTHON"] = PYTHON  # what the archive's shell prologue starts
        me = Impl("lxcz", lambda t: [dist, t], env_me)
    else:
        env_me["PYTHONPATH"] = ROOT
        me = Impl("lxcz", lambda t: [PYTHON, "-m", "lxcz", t], env_me)
    up = Impl("upstream", lambda t: ["/usr/bin/" + t], env_up)
    print(f"python: {PYTHON}; lxcz from {'dist/lxcz' if args.dist else 'the source tree'}")
    work = tempfile.mkdtemp(prefix="bench-lifecycle-")
    made = []
    try:
        if "create" in only:
            bench_create(up, me, work, args.n)
        if only & {"info", "ls"}:
            conf = os.path.join(work, "empty-net.conf")
            with open(conf, "w") as f:
                f.write("lxc.net.0.type = empty\nlxc.apparmor.profile = unconfined\n")
            me_conf = os.path.join(work, "nothing.conf")
            open(me_conf, "w").close()
            up_path, me_path = os.path.join(work, "up"), os.path.join(work, "me")
            made.append((up, up_path, populate(up, up_path, args.defined, args.running,
                                               conf)))
            made.append((me, me_path, populate(me, me_path, args.defined, args.running,
                                               me_conf)))
            for label, tool, extra in (("lxc-info -n c000", "lxc-info", ["-n", "c000"]),
                                       (f"lxc-ls -f ({args.defined} defined / "
                                        f"{args.running} running)", "lxc-ls", ["-f"])):
                key = "info" if tool == "lxc-info" else "ls"
                if key not in only:
                    continue
                ups, mes = [], []
                timed(up, tool, "-P", up_path, *extra)
                timed(me, tool, "-P", me_path, *extra)
                for _ in range(args.n):
                    ups.append(timed(up, tool, "-P", up_path, *extra))
                    mes.append(timed(me, tool, "-P", me_path, *extra))
                report(label, ups, mes, TARGETS[key])
            bare = []
            for _ in range(args.n):
                t0 = time.perf_counter()
                subprocess.run([PYTHON, "-I", "-S", "-c", "pass"])
                bare.append(time.perf_counter() - t0)
            print(f"{'python3 -I -S -c pass':<34} {statistics.median(bare) * 1000:7.1f} ms "
                  "(the interpreter's floor)")
    finally:
        for impl, path, names in made:
            teardown(impl, path, names)
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
