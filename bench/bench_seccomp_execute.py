#!/usr/bin/env python3
"""Benchmark (issue #6): ``lxc-execute -- /bin/true`` under Debian's default seccomp
profile and capability drops, lxcz against upstream LXC 5 with the same config, same run.

The container (busybox rootfs, no network) gets what Debian's common.conf gives every
container::

    lxc.seccomp.profile = /usr/share/lxc/config/common.seccomp
    lxc.cap.drop = mac_admin mac_override sys_time sys_module sys_rawio

Measured alternately (lxcz, upstream, lxcz, ...), medians over --runs:

- lxc-execute with that profile (target: lxcz <= 2.0x upstream), each run after a pause
  (the target figure: every command pays the kernel's cgroup-move costs itself, see
  _common.PAUSE) and back-to-back;
- the same without seccomp and cap drops, so the cost of the security setup itself is
  visible for each implementation;
- in-process: loading + compiling Debian's profile, and compiling the largest policy
  lxcz can meet (bench_seccomp_build.largest_policy: every syscall of the architecture,
  one in three with an argument filter, native and compat ABIs).

lxcz runs as ``/usr/bin/python3 dist/lxcz`` (or $LXCZ_BENCH_ZIPAPP), else from the source
tree; upstream as /usr/bin/lxc-execute. Needs root, busybox-static and lxc. The scratch
lxcpath is removed and leftover containers stopped and cgroups removed, also on failure.

usage: bench/bench_seccomp_execute.py [--runs 15] [--source]
"""

from __future__ import annotations

import argparse
import logging
import os
import statistics
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from _common import (  # noqa: E402
    PAUSE,
    ROOT,
    Scratch,
    bare_interpreter,
    check_host,
    interleaved,
    lxcz_cmd,
    lxcz_env,
    median_ms,
    timed,
    upstream_cmd,
)

PROFILE = "/usr/share/lxc/config/common.seccomp"
CAP_DROP = "mac_admin mac_override sys_time sys_module sys_rawio"
TARGET = 2.0


def compile_times(runs: int) -> list:
    """(label, instructions, median ms) for Debian's profile and the largest policy."""
    sys.path.insert(0, ROOT)
    import bench_seccomp_build as sbb

    from lxcz.security import seccomp_bpf as sb
    from lxcz.security import seccomp_policy as sp
    from lxcz.sys import arch as archmod

    logging.getLogger("lxcz").addHandler(logging.NullHandler())
    native = archmod.detect()
    out = []

    def med(fn, n: int) -> float:
        samples = []
        for _ in range(n):
            t0 = time.perf_counter()
            fn()
            samples.append(time.perf_counter() - t0)
        return statistics.median(samples) * 1000

    debian = sb.compile_policy(sp.load_policy(PROFILE), native)
    out.append((f"load + compile {PROFILE}", len(debian) // 8,
                med(lambda: sb.compile_policy(sp.load_policy(PROFILE), native), runs * 4)))
    text = sbb.largest_policy()
    pol = sp.parse_policy(text, "largest")
    prog = sb.compile_policy(pol, native)
    out.append(("parse largest policy", len(prog) // 8,
                med(lambda: sp.parse_policy(text, "largest"), runs)))
    out.append(("compile largest policy", len(prog) // 8,
                med(lambda: sb.compile_policy(pol, native), runs)))
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--runs", type=int, default=15)
    ap.add_argument("--source", action="store_true",
                    help="run lxcz from the source tree even when dist/lxcz exists")
    args = ap.parse_args()
    why = check_host(["lxc-execute", "lxc-stop"])
    if why:
        print(f"bench_seccomp_execute: {why}", file=sys.stderr)
        return 1
    if not os.path.exists(PROFILE):
        print(f"bench_seccomp_execute: {PROFILE} missing (apt-get install lxc)",
              file=sys.stderr)
        return 1
    me, me_env = lxcz_cmd("lxc-execute", args.source), lxcz_env(args.source)
    up = upstream_cmd("lxc-execute")
    scratch = Scratch(prefix="lxcz-bench-seccomp-")
    try:
        secure = f"lxc.seccomp.profile = {PROFILE}\nlxc.cap.drop = {CAP_DROP}\n"
        scratch.container("sec", secure)
        scratch.container("plain")
        cases = {}
        for name in ("sec", "plain"):
            base = ["-n", name, "-P", scratch.lxcpath, "--", "/bin/true"]
            cases[f"lxcz {name}"] = lambda b=base: timed(me + b, me_env)
            cases[f"lxc {name}"] = lambda b=base: timed(up + b)
        results = [(mode, interleaved(cases, args.runs, warmup=2, pause=pause))
                   for mode, pause in (("after a pause", PAUSE), ("back-to-back", 0.0))]
        bare = bare_interpreter(args.runs)
    finally:
        scratch.close(args.source)
    comp = compile_times(args.runs)
    print(f"lxcz: {' '.join(me[:-1])}; upstream: {up[0]}; {args.runs} runs, medians")
    for mode, res in results:
        print(f"{'lxc-execute -- /bin/true, ' + mode:<44} {'ratio':>7} {'lxcz ms':>9} "
              f"{'LXC 5 ms':>9}")
        for name, label in (("sec", "Debian seccomp profile + cap drops"),
                            ("plain", "no seccomp, no cap drops")):
            a, b = median_ms(res[f"lxcz {name}"]), median_ms(res[f"lxc {name}"])
            print(f"{label:<44} {a / b:>6.2f}x {a:>9.1f} {b:>9.1f}")
        a = median_ms(res["lxcz sec"]) - median_ms(res["lxcz plain"])
        b = median_ms(res["lxc sec"]) - median_ms(res["lxc plain"])
        print(f"{'cost of the security setup (difference)':<44} {'':>7} {a:>9.1f} {b:>9.1f}")
        ratio = median_ms(res["lxcz sec"]) / median_ms(res["lxc sec"])
        print(f"target <= {TARGET:.1f}x upstream with seccomp ({mode}): "
              f"{'OK' if ratio <= TARGET else 'ABOVE TARGET'} ({ratio:.2f}x)")
    print(f"python3 -I -S -c pass: {median_ms(bare):.1f} ms")
    for label, insns, ms in comp:
        print(f"{label:<44} {insns:>6} insns {ms:>9.2f} ms (in-process)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
