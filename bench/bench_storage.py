#!/usr/bin/env python3
"""lxc-copy, lxc-snapshot and lxc-autostart -L: lxcz against upstream LXC 5, same run.

One busybox container is made by upstream's lxc-create in a scratch lxcpath; both
implementations then copy the same container (on-disk formats are shared), alternating
runs so that machine noise hits both alike, and every copy is destroyed after it is timed.
Measured, as medians with the ratio lxcz / LXC (targets: <= 1.0):

- ``lxc-copy -s`` (overlay snapshot clone of a dir container)
- ``lxc-copy`` (full copy)
- ``lxc-snapshot`` then ``lxc-snapshot -r snap0`` (a snapshot and its restore, timed together)
- ``lxc-autostart -L -a`` over 20 auto-started containers (listing; ordering checked equal)

For reference it also prints two floors no lxcz command can go below: the bare interpreter
(``python3 -c pass``) and the zipapp's own start (``lxcz --version``). Snapshot clones and
listings are dominated by start-up, so read those rows against the floors; copies and
snapshots of a dir container are dominated by the copy itself.

Usage: bench/bench_storage.py [--runs N] [--python /usr/bin/python3] [--dist dist/lxcz]
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

TOP = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run(cmd: list) -> float:
    t = time.perf_counter()
    res = subprocess.run(cmd, capture_output=True, text=True)
    wall = time.perf_counter() - t
    if res.returncode != 0:
        raise SystemExit(f"bench: {' '.join(cmd)} failed: {res.stderr.strip()}")
    return wall


def upstream(tool: str) -> str:
    for d in ("/usr/bin", "/usr/sbin"):
        p = os.path.join(d, tool)
        if os.path.exists(p) and not os.path.realpath(p).endswith("lxcz"):
            return p
    raise SystemExit(f"bench: upstream {tool} not found (apt-get install lxc)")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--python", default="/usr/bin/python3")
    ap.add_argument("--dist", default=os.path.join(TOP, "dist", "lxcz"))
    args = ap.parse_args()
    if os.geteuid() != 0:
        raise SystemExit("bench: run as root")
    ours = [args.python, args.dist]
    lxcpath = tempfile.mkdtemp(prefix="lxcz-bench-st-")
    try:
        run([upstream("lxc-create"), "-P", lxcpath, "-t", "busybox", "-n", "base"])
        rows = []
        for label, argv_ours, argv_up, undo in cases(lxcpath, ours):
            t_ours, t_up = [], []
            for _ in range(args.runs):
                for impl, sink in ((argv_ours, t_ours), (argv_up, t_up)):
                    total = 0.0
                    for cmd in impl:
                        total += run(cmd)
                    sink.append(total)
                    for cmd in undo:
                        run(cmd)
            m_ours, m_up = statistics.median(t_ours), statistics.median(t_up)
            rows.append((label, m_ours, m_up))
        order_ok = check_autostart(lxcpath, ours, rows, args.runs)
        floors = [(label, statistics.median(run(cmd) for _ in range(args.runs)))
                  for label, cmd in (("python3 -c pass", [args.python, "-c", "pass"]),
                                     ("lxcz --version", ours + ["--version"]))]
        print(f"{'operation':38} {'lxcz':>10} {'LXC 5':>10} {'ratio':>7}  target")
        for label, m_ours, m_up in rows:
            print(f"{label:38} {m_ours * 1000:8.1f}ms {m_up * 1000:8.1f}ms "
                  f"{m_ours / m_up:7.2f}  <= 1.0")
        print(f"autostart order identical to upstream: {order_ok}")
        print("floors (reference): " + ", ".join(f"{label} {t * 1000:.1f}ms"
                                                  for label, t in floors))
    finally:
        subprocess.run(["rm", "-rf", lxcpath])
    return 0


def cases(lxcpath: str, ours: list):
    up = {t: upstream(t) for t in ("lxc-copy", "lxc-destroy", "lxc-snapshot")}
    p = ["-P", lxcpath]
    yield ("lxc-copy -s (overlay snapshot clone)",
           [ours + ["lxc-copy", *p, "-n", "base", "-N", "c1", "-s"]],
           [[up["lxc-copy"], *p, "-n", "base", "-N", "c1", "-s"]],
           [[up["lxc-destroy"], *p, "-n", "c1"]])
    yield ("lxc-copy (full copy)",
           [ours + ["lxc-copy", *p, "-n", "base", "-N", "c2"]],
           [[up["lxc-copy"], *p, "-n", "base", "-N", "c2"]],
           [[up["lxc-destroy"], *p, "-n", "c2"]])
    yield ("lxc-snapshot + lxc-snapshot -r snap0",
           [ours + ["lxc-snapshot", *p, "-n", "base"],
            ours + ["lxc-snapshot", *p, "-n", "base", "-r", "snap0"]],
           [[up["lxc-snapshot"], *p, "-n", "base"],
            [up["lxc-snapshot"], *p, "-n", "base", "-r", "snap0"]],
           [[up["lxc-snapshot"], *p, "-n", "base", "-d", "snap0"]])


def check_autostart(lxcpath: str, ours: list, rows: list, runs: int) -> bool:
    """20 auto-started containers with mixed orders: time the listing, compare order."""
    auto = os.path.join(lxcpath, "auto")
    for i in range(20):
        d = os.path.join(auto, f"a{i:02d}")
        os.makedirs(os.path.join(d, "rootfs"))
        with open(os.path.join(d, "config"), "w") as fh:
            fh.write(f"lxc.rootfs.path = dir:{d}/rootfs\nlxc.start.auto = 1\n"
                     f"lxc.start.order = {(i * 7) % 5}\nlxc.start.delay = 0\n"
                     + ("lxc.group = web\n" if i % 3 == 0 else ""))
    cmd_ours = ours + ["lxc-autostart", "-P", auto, "-L", "-a"]
    cmd_up = [upstream("lxc-autostart"), "-P", auto, "-L", "-a"]
    t_ours, t_up = [], []
    for _ in range(runs):
        t_ours.append(run(cmd_ours))
        t_up.append(run(cmd_up))
    rows.append(("lxc-autostart -L -a (20 containers)", statistics.median(t_ours),
                 statistics.median(t_up)))
    a = subprocess.run(cmd_ours, capture_output=True, text=True).stdout
    b = subprocess.run(cmd_up, capture_output=True, text=True).stdout
    shutil.rmtree(auto)
    return a == b and len(a.splitlines()) == 20


if __name__ == "__main__":
    sys.exit(main())
