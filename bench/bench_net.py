#!/usr/bin/env python3
"""Networking benchmarks against upstream LXC 5, same config, same run.

- start -d + wait RUNNING + stop -k of a busybox container with one veth on a bridge the
  bench makes (target <= 2.0x LXC);
- 20 such containers started one after another, then all stopped: total time, ratio, and
  the number of links left on the host afterwards (must be 0);
- the same cycle without a network, for both (reported: what the veth itself adds);
- the cost of importing all of pyroute2, of what lxcz.net.netdev imports instead (its
  rtnetlink message classes), and of one netlink round trip (reported).

lxcz and LXC samples alternate (bench/_common.py's interleaved rounds), so load from other
jobs hits both alike; medians. LXCZ_BENCH_ZIPAPP=PATH times another build than dist/lxcz.
The bridge (lxczbench0, 10.213.90.1/24) and the scratch lxcpath are removed at the end,
also on failure.

Usage (root; busybox-static and lxc installed): bench/bench_net.py [--runs N] [--source]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _common import (  # noqa: E402
    PYTHON,
    ROOT,
    Scratch,
    check_host,
    interleaved,
    lxcz_cmd,
    lxcz_env,
    median_ms,
    timed,
    upstream_cmd,
)

BRIDGE = "lxczbench0"
TARGET = 2.0


def links() -> set:
    out = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True).stdout
    return {ln.split(":")[1].strip().split("@")[0] for ln in out.splitlines()}


def net_config(i: int) -> str:
    return (f"lxc.net.0.type = veth\nlxc.net.0.link = {BRIDGE}\nlxc.net.0.flags = up\n"
            f"lxc.net.0.ipv4.address = 10.213.90.{10 + i}/24\n")


class Impl:
    def __init__(self, kind: str, source: bool) -> None:
        tools = ("start", "wait", "stop")
        if kind == "lxc":
            self.cmds = {t: upstream_cmd(f"lxc-{t}") for t in tools}
            self.env = None
        else:
            self.cmds = {t: lxcz_cmd(f"lxc-{t}", source) for t in tools}
            self.env = lxcz_env(source)

    def run(self, tool: str, *args: str) -> float:
        return timed(self.cmds[tool] + list(args), self.env)

    def cycle(self, lxcpath: str, name: str) -> float:
        base = ["-P", lxcpath, "-n", name]
        t0 = time.perf_counter()
        self.run("start", *base, "-d")
        self.run("wait", *base, "-s", "RUNNING", "-t", "10")
        self.run("stop", *base, "-k")
        return time.perf_counter() - t0

    def many(self, lxcpath: str, names: list) -> float:
        t0 = time.perf_counter()
        for n in names:
            self.run("start", "-P", lxcpath, "-n", n, "-d")
        for n in names:
            self.run("stop", "-P", lxcpath, "-n", n, "-k")
        return time.perf_counter() - t0


PYROUTE2_COST = """
import sys, time
from lxcz.net import netdev
t = time.perf_counter()
if sys.argv[1] == "all":
    import pyroute2
else:  # what a start with a veth and an address loads
    m = netdev._msgs()
    m.ifinfmsg, m.ifaddrmsg, m.NetlinkError
t1 = time.perf_counter()
with netdev.Rtnl() as nl:
    nl.index("lo")
    t2 = time.perf_counter()
    nl.index("lo")
print(t1 - t, time.perf_counter() - t2)
"""


def pyroute2_cost() -> tuple:
    """(import pyroute2, what netdev imports, one more RTM_GETLINK), seconds; lxcz.net.netdev
    from the source tree, pyroute2 from the build's staging directory."""
    src = os.path.join(ROOT, "build", "work", "site-packages")
    path = ROOT + (os.pathsep + src if os.path.isdir(src) else "")
    env = dict(os.environ, PYTHONPATH=path)
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # measured as users run it: with .pyc files
    res = []
    for what in ("all", "netdev", "all", "netdev"):  # the first two write the .pyc files
        out = subprocess.run([PYTHON, "-c", PYROUTE2_COST, what], capture_output=True,
                             text=True, env=env, cwd="/")
        try:
            res.append(tuple(float(x) for x in out.stdout.split()))
        except ValueError:
            res.append((float("nan"), float("nan")))
    return res[2][0], res[3][0], res[3][1]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--source", action="store_true", help="run lxcz from the source tree")
    args = ap.parse_args()
    why = check_host(["lxc-start", "lxc-wait", "lxc-stop"])
    if why:
        print(f"bench_net: {why}", file=sys.stderr)
        return 1
    subprocess.run(["ip", "link", "add", BRIDGE, "type", "bridge"], check=True)
    scratch = None
    try:
        subprocess.run(["ip", "addr", "add", "10.213.90.1/24", "dev", BRIDGE], check=True)
        subprocess.run(["ip", "link", "set", BRIDGE, "up"], check=True)
        scratch = Scratch(prefix="lxcz-bench-net-")
        lxcpath = scratch.lxcpath
        names = [f"n{i:02d}" for i in range(20)]
        for i, n in enumerate(names):
            scratch.container(n, net_config(i))
        scratch.container("bare")
        before = links()
        ours, up = Impl("lxcz", args.source), Impl("lxc", args.source)
        res = interleaved({
            "lxcz": lambda: ours.cycle(lxcpath, names[0]),
            "lxc": lambda: up.cycle(lxcpath, names[0]),
            "lxcz-bare": lambda: ours.cycle(lxcpath, "bare"),
            "lxc-bare": lambda: up.cycle(lxcpath, "bare"),
        }, args.runs)
        m_ours, m_up = ours.many(lxcpath, names), up.many(lxcpath, names)
        time.sleep(0.5)
        left = sorted(links() - before)
        imp, light, rtt = pyroute2_cost()
        mo, mu = median_ms(res["lxcz"]), median_ms(res["lxc"])
        bo, bu = median_ms(res["lxcz-bare"]), median_ms(res["lxc-bare"])
        print(f"{'measure':44} {'lxcz':>10} {'LXC 5':>10} {'ratio':>6}  target")
        print(f"{'start -d + wait RUNNING + stop -k (veth)':44} {mo:8.1f}ms "
              f"{mu:8.1f}ms {mo / mu:6.2f}  <= {TARGET}")
        print(f"{'20 containers started, then all stopped':44} {m_ours * 1e3:8.0f}ms "
              f"{m_up * 1e3:8.0f}ms {m_ours / m_up:6.2f}  (report)")
        print(f"{'the same cycle without a network':44} {bo:8.1f}ms {bu:8.1f}ms "
              f"{bo / bu:6.2f}  (report)")
        print(f"{'what the veth adds to the cycle':44} {mo - bo:8.1f}ms {mu - bu:8.1f}ms")
        print(f"links left on the host afterwards: {len(left)}"
              + (f" ({', '.join(left)})" if left else ""))
        print(f"import pyroute2 (whole package) {imp * 1e3:.1f} ms; what lxcz.net.netdev "
              f"imports {light * 1e3:.1f} ms; one netlink round trip {rtt * 1e3:.2f} ms")
    finally:
        if scratch is not None:
            scratch.close(args.source)
        subprocess.run(["ip", "link", "del", BRIDGE])
    return 0


if __name__ == "__main__":
    sys.exit(main())
