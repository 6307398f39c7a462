#!/usr/bin/env python3
"""Benchmark: lxc-checkconfig (lxcz, under /usr/bin/python3) against upstream LXC's script.

Both check the running kernel and, separately, the same configuration file; runs are
interleaved and the median wall time of each is compared. Prints absolute figures for
reference and the ratio lxcz/upstream, which is what the target (<= 0.5x) is about.

usage: bench/bench_checkconfig.py [-n RUNS] [--config FILE] [--dist]
"""

from __future__ import annotations

import argparse
import lzma
import os
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
UPSTREAM = "/usr/bin/lxc-checkconfig"
PYTHON = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else sys.executable
TARGET = 0.5


def timed(cmd, env):
    t0 = time.perf_counter()
    p = subprocess.run(cmd, env=env, cwd=ROOT, stdout=subprocess.DEVNULL,
                       stderr=subprocess.PIPE)
    dt = time.perf_counter() - t0
    if p.returncode not in (0, 1):
        raise SystemExit(f"{cmd[0]} failed ({p.returncode}): {p.stderr.decode().strip()}")
    return dt


def bench(label, ours_cmd, env_ours, env_up, runs):
    up, me = [], []
    timed(["/bin/sh", UPSTREAM], env_up)  # warm caches
    timed(ours_cmd, env_ours)
    for _ in range(runs):
        up.append(timed(["/bin/sh", UPSTREAM], env_up))
        me.append(timed(ours_cmd, env_ours))
    u, m = statistics.median(up), statistics.median(me)
    ratio = m / u
    print(f"{label:<28} upstream {u * 1000:7.1f} ms   lxcz {m * 1000:7.1f} ms   "
          f"ratio {ratio:.2f}x  {'OK' if ratio <= TARGET else 'SLOWER THAN TARGET'}")
    return ratio


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("-n", type=int, default=15, help="runs of each (default 15)")
    ap.add_argument("--config", help="configuration file for the file case (default: a "
                    "fixture from tests/fixtures/kernel-configs)")
    ap.add_argument("--dist", action="store_true", help="also time dist/lxcz (zipapp)")
    args = ap.parse_args()
    if not os.path.exists(UPSTREAM):
        print("upstream lxc-checkconfig not installed (apt-get install lxc)", file=sys.stderr)
        return 2
    # as installed: bytecode (and the rules cache) written on the warm-up run
    base = {k: v for k, v in os.environ.items()
            if k not in ("CONFIG", "PYTHONDONTWRITEBYTECODE")}
    env_ours = dict(base, PYTHONPATH=ROOT)
    ours = [PYTHON, "-m", "lxcz", "lxc-checkconfig"]
    print(f"python: {PYTHON}; runs: {args.n}; median wall time")
    ratios = []
    if os.path.exists("/proc/config.gz"):
        ratios.append(bench("running kernel", ours, env_ours, base, args.n))
    with tempfile.TemporaryDirectory() as tmp:
        cfg = args.config
        if not cfg:
            fx = os.path.join(ROOT, "tests", "fixtures", "kernel-configs")
            name = sorted(f for f in os.listdir(fx) if f.startswith("bookworm_amd64"))[0]
            cfg = os.path.join(tmp, "config")
            with open(cfg, "wb") as f:
                f.write(lzma.decompress(open(os.path.join(fx, name), "rb").read()))
        ratios.append(bench("CONFIG=file", ours, dict(env_ours, CONFIG=cfg),
                            dict(base, CONFIG=cfg), args.n))
        if args.dist:
            dist = os.path.join(ROOT, "dist", "lxcz")
            if os.path.exists(dist):
                ratios.append(bench("CONFIG=file (dist/lxcz)",
                                    [dist, "lxc-checkconfig"],
                                    dict(base, CONFIG=cfg, LXCZ_PYTHON=PYTHON),
                                    dict(base, CONFIG=cfg), args.n))
            else:
                print("dist/lxcz not built; skipped")
    worst = max(ratios)
    print(f"worst ratio {worst:.2f}x (target <= {TARGET}x)")
    return 0 if worst <= TARGET else 1


if __name__ == "__main__":
    sys.exit(main())
