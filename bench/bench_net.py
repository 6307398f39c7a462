#!/usr/bin/env python3
"""Networking benchmarks against upstream LXC 5, same config, same run.

- start -d + wait RUNNING + stop -k of a busybox container with one veth on a bridge the
  bench makes (target <= 2.0x LXC);
- 20 such containers started one after another, then all stopped: total time, ratio, and
  the number of links left on the host afterwards (must be 0);
- the cost of importing pyroute2 and of the first netlink round trip (reported).

Usage (root; busybox-static and lxc installed): bench/bench_net.py [--runs N] [--source]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench_runtime as rt  # noqa: E402 - the same rootfs and command helpers

BRIDGE = "lxczbench0"


def links() -> set:
    out = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True).stdout
    return {ln.split(":")[1].strip().split("@")[0] for ln in out.splitlines()}


def make(lxcpath: str, name: str, i: int) -> None:
    cdir = os.path.join(lxcpath, name)
    rt.make_rootfs(os.path.join(cdir, "rootfs"))
    with open(os.path.join(cdir, "config"), "w") as fh:
        fh.write(f"lxc.rootfs.path = dir:{cdir}/rootfs\nlxc.uts.name = {name}\n"
                 "lxc.signal.halt = SIGUSR1\nlxc.mount.auto = proc:mixed sys:mixed\n"
                 f"lxc.net.0.type = veth\nlxc.net.0.link = {BRIDGE}\nlxc.net.0.flags = up\n"
                 f"lxc.net.0.ipv4.address = 10.213.90.{10 + i}/24\n")


def cycle(kind: str, lxcpath: str, name: str) -> float:
    t = rt.tools(kind)
    start = time.perf_counter()
    rt.run(t["start"] + ["-P", lxcpath, "-n", name])
    rt.run(t["wait"] + ["-P", lxcpath, "-n", name, "-s", "RUNNING", "-t", "10"])
    rt.run(t["stop"] + ["-P", lxcpath, "-n", name, "-k"])
    return time.perf_counter() - start


def many(kind: str, lxcpath: str, names: list) -> float:
    t = rt.tools(kind)
    start = time.perf_counter()
    for n in names:
        rt.run(t["start"] + ["-P", lxcpath, "-n", n])
    for n in names:
        rt.run(t["stop"] + ["-P", lxcpath, "-n", n, "-k"])
    return time.perf_counter() - start


def pyroute2_cost() -> tuple:
    code = ("import time; t=time.perf_counter(); from pyroute2 import IPRoute; "
            "t1=time.perf_counter(); i=IPRoute(); i.get_links(); i.close(); "
            "t2=time.perf_counter(); print(t1-t, t2-t1)")
    src = os.path.join(rt.ROOT, "build", "work", "site-packages")
    env = dict(os.environ, PYTHONPATH=src if os.path.isdir(src) else "")
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # measured as users run it: with .pyc files
    subprocess.run([rt.PYTHON, "-c", code], capture_output=True, env=env)  # writes .pyc
    out = subprocess.run([rt.PYTHON, "-c", code], capture_output=True, text=True, env=env)
    imp, rtt = (float(x) for x in out.stdout.split())
    return imp, rtt


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--source", action="store_true", help="run lxcz from the source tree")
    args = ap.parse_args()
    rt.USE_SOURCE = args.source
    if os.geteuid() != 0:
        raise SystemExit("bench: run as root")
    subprocess.run(["ip", "link", "add", BRIDGE, "type", "bridge"], check=True)
    subprocess.run(["ip", "addr", "add", "10.213.90.1/24", "dev", BRIDGE], check=True)
    subprocess.run(["ip", "link", "set", BRIDGE, "up"], check=True)
    lxcpath = tempfile.mkdtemp(prefix="lxcz-bench-net-")
    try:
        names = [f"n{i:02d}" for i in range(20)]
        for i, n in enumerate(names):
            make(lxcpath, n, i)
        before = links()
        c_ours, c_up = [], []
        for _ in range(args.runs):
            c_ours.append(cycle("lxcz", lxcpath, names[0]))
            c_up.append(cycle("lxc", lxcpath, names[0]))
        m_ours, m_up = many("lxcz", lxcpath, names), many("lxc", lxcpath, names)
        time.sleep(0.5)
        left = len(links() - before)
        imp, rtt = pyroute2_cost()
        mo, mu = statistics.median(c_ours), statistics.median(c_up)
        print(f"{'measure':44} {'lxcz':>10} {'LXC 5':>10} {'ratio':>6}  target")
        print(f"{'start -d + wait RUNNING + stop -k (veth)':44} {mo * 1e3:8.1f}ms "
              f"{mu * 1e3:8.1f}ms {mo / mu:6.2f}  <= 2.0")
        print(f"{'20 containers started, then all stopped':44} {m_ours * 1e3:8.0f}ms "
              f"{m_up * 1e3:8.0f}ms {m_ours / m_up:6.2f}  (report)")
        print(f"links left on the host afterwards: {left}")
        print(f"pyroute2 import {imp * 1e3:.1f} ms, first netlink round trip "
              f"{rtt * 1e3:.1f} ms")
    finally:
        subprocess.run(["rm", "-rf", lxcpath])
        subprocess.run(["ip", "link", "del", BRIDGE])
    return 0


if __name__ == "__main__":
    sys.exit(main())
