#!/usr/bin/env python3
"""Runtime benchmarks against upstream LXC 5, same busybox container, same run.

Measures, for LXC and lxcz alternately (medians over --runs):
  * lxc-execute -- /bin/true
  * lxc-start -d + lxc-wait -s RUNNING + lxc-stop -k
  * resident memory of the monitor + init of a running container (RSS and PSS)

lxcz runs as ``/usr/bin/python3 dist/lxcz`` when built, else ``/usr/bin/python3 -m lxcz``
from the source tree (bytecode caching on). Needs root, busybox-static and lxc.
Prints ratios (lxcz / LXC) with the absolute medians beside them.
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
APPLETS = ("sh", "true", "sleep", "init", "ls", "cat", "mount", "reboot", "poweroff")


def make_rootfs(path: str) -> None:
    busybox = shutil.which("busybox") or "/bin/busybox"
    for d in ("bin", "sbin", "etc", "tmp", "proc", "sys", "dev", "root"):
        os.makedirs(os.path.join(path, d), exist_ok=True)
    shutil.copy2(busybox, os.path.join(path, "bin", "busybox"))
    for a in APPLETS:
        os.symlink("busybox", os.path.join(path, "bin", a))
    os.symlink("../bin/busybox", os.path.join(path, "sbin", "init"))
    with open(os.path.join(path, "etc", "inittab"), "w") as f:
        f.write("::sysinit:/bin/true\n::respawn:/bin/sleep 1000000\n")


USE_SOURCE = False


def lxcz_cmd(tool: str) -> list:
    dist = os.path.join(ROOT, "dist", "lxcz")
    if os.path.exists(dist) and not USE_SOURCE:
        return [PYTHON, dist, tool]
    return [PYTHON, "-m", "lxcz", tool]


def env() -> dict:
    e = dict(os.environ)
    e.pop("PYTHONDONTWRITEBYTECODE", None)
    if USE_SOURCE or not os.path.exists(os.path.join(ROOT, "dist", "lxcz")):
        e["PYTHONPATH"] = ROOT  # with dist/lxcz it would shadow the zipapp's own lxcz
    return e


def run(cmd: list, check: bool = True) -> float:
    t0 = time.perf_counter()
    r = subprocess.run(cmd, cwd=ROOT, env=env(), stdout=subprocess.DEVNULL,
                       stderr=subprocess.PIPE, text=True)
    dt = time.perf_counter() - t0
    if check and r.returncode != 0:
        raise SystemExit(f"failed: {' '.join(cmd)}: {r.stderr.strip()}")
    return dt


def tools(kind: str) -> dict:
    if kind == "lxc":
        # upstream's own binaries: after `lxcz install`, lxc-* on PATH may be lxcz
        return {t: [f"/usr/bin/lxc-{t}"] for t in ("execute", "start", "wait", "stop", "info")}
    return {t: lxcz_cmd(f"lxc-{t}") for t in ("execute", "start", "wait", "stop", "info")}


def smaps(pid: int) -> tuple:
    rss = pss = 0
    with open(f"/proc/{pid}/smaps_rollup") as f:
        for line in f:
            if line.startswith("Rss:"):
                rss = int(line.split()[1])
            elif line.startswith("Pss:"):
                pss = int(line.split()[1])
    return rss, pss


def init_pid(kind: str, name: str, lxcpath: str) -> int:
    cmd = tools(kind)["info"] + ["-n", name, "-P", lxcpath, "-p", "-H"]
    out = subprocess.run(cmd, cwd=ROOT, env=env(), capture_output=True, text=True).stdout
    return int(out.strip().split()[-1])


def ppid(pid: int) -> int:
    with open(f"/proc/{pid}/stat") as f:
        return int(f.read().rsplit(")", 1)[1].split()[1])


def bench(kind: str, name: str, lxcpath: str, runs: int) -> dict:
    t = tools(kind)
    base = ["-n", name, "-P", lxcpath]
    res: dict = {"execute": [], "cycle": [], "rss": [], "pss": []}
    run(t["execute"] + base + ["--", "/bin/true"])  # warm caches
    for _ in range(runs):
        res["execute"].append(run(t["execute"] + base + ["--", "/bin/true"]))
    for _ in range(runs):
        t0 = time.perf_counter()
        run(t["start"] + base + ["-d"])
        run(t["wait"] + base + ["-s", "RUNNING", "-t", "10"])
        run(t["stop"] + base + ["-k"])
        res["cycle"].append(time.perf_counter() - t0)
    run(t["start"] + base + ["-d"])
    try:
        time.sleep(1.0)
        pid = init_pid(kind, name, lxcpath)
        mon = ppid(pid)
        r1, p1 = smaps(mon)
        r2, p2 = smaps(pid)
        res["rss"] = [(r1 + r2) / 1024.0]
        res["pss"] = [(p1 + p2) / 1024.0]
        res["detail"] = f"monitor {r1 / 1024:.1f} MB + init {r2 / 1024:.1f} MB RSS"
    finally:
        run(t["stop"] + base + ["-k"], check=False)
    return res


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--runs", type=int, default=10)
    ap.add_argument("--source", action="store_true", help="run lxcz from the source tree "
                    "even when dist/lxcz exists")
    args = ap.parse_args()
    global USE_SOURCE
    USE_SOURCE = args.source
    if os.geteuid() != 0:
        print("bench_runtime: needs root", file=sys.stderr)
        return 1
    if not shutil.which("lxc-execute"):
        print("bench_runtime: upstream LXC not installed", file=sys.stderr)
        return 1
    tmp = tempfile.mkdtemp(prefix="lxcz-bench-")
    try:
        lxcpath = os.path.join(tmp, "lxc")
        name = "bench1"
        rootfs = os.path.join(lxcpath, name, "rootfs")
        make_rootfs(rootfs)
        with open(os.path.join(lxcpath, name, "config"), "w") as f:
            f.write(f"lxc.rootfs.path = dir:{rootfs}\nlxc.uts.name = {name}\n"
                    "lxc.mount.auto = proc:mixed sys:mixed\nlxc.tty.max = 1\n"
                    "lxc.signal.halt = SIGUSR1\n")
        bare = [run([PYTHON, "-I", "-S", "-c", "pass"]) for _ in range(args.runs)]
        up = bench("lxc", name, lxcpath, args.runs)
        ours = bench("lxcz", name, lxcpath, args.runs)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    med = statistics.median
    print(f"{'measure':<42} {'ratio':>7} {'lxcz':>10} {'LXC 5':>10}")
    rows = [("lxc-execute -- /bin/true (ms)", "execute", 1000),
            ("start -d + wait RUNNING + stop -k (ms)", "cycle", 1000),
            ("monitor+init RSS (MB)", "rss", 1), ("monitor+init PSS (MB)", "pss", 1)]
    for label, key, scale in rows:
        a, b = med(ours[key]) * scale, med(up[key]) * scale
        print(f"{label:<42} {a / b:>6.2f}x {a:>10.1f} {b:>10.1f}")
    print(f"python3 -I -S -c pass: {med(bare) * 1000:.1f} ms; "
          f"lxcz {ours['detail']}; LXC {up['detail']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
