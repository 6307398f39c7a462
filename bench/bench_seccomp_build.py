#!/usr/bin/python3
"""Benchmark: time to parse a seccomp policy and compile it to BPF.

Run with the system interpreter: ``/usr/bin/python3 bench/bench_seccomp_build.py``.
Policies, each compiled for the running architecture (all its ABIs):

- Debian's ``/usr/share/lxc/config/common.seccomp`` (what containers use by default);
- the version 1 whitelist from the older LXC docs (0-300, 1024-1079);
- the largest policy lxcz can meet in practice: an allowlist naming every syscall of the
  running architecture, one in three with an argument filter, compiled for the native ABI
  and its compat ABIs; far beyond any shipped profile (LXD's and Docker's are about 350
  names without many filters).

Prints the median of repeated runs, the program size in instructions, and a cold run (a
fresh interpreter importing the modules and compiling Debian's file) next to
``python3 -I -S -c pass``. A benchmark, not a test: it asserts nothing.
"""

from __future__ import annotations

import logging
import os
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from lxcz.security import seccomp_bpf as sb  # noqa: E402
from lxcz.security import seccomp_policy as sp  # noqa: E402
from lxcz.sys import arch as archmod  # noqa: E402

DEBIAN = "/usr/share/lxc/config/common.seccomp"


def largest_policy() -> str:
    lines = ["2", "allowlist errno 38"]
    names = sorted(archmod.syscalls(archmod.detect()))
    for i, name in enumerate(names):
        if i % 3 == 0:
            lines.append(f"{name} allow [0,{i},SCMP_CMP_LE]")
        else:
            lines.append(name)
    return "\n".join(lines) + "\n"


def timeit(fn, runs: int) -> float:
    samples = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - t)
    return statistics.median(samples)


def main() -> int:
    logging.getLogger("lxcz").addHandler(logging.NullHandler())  # no per-rule warnings
    native = archmod.detect()
    cases = []
    if os.path.exists(DEBIAN):
        with open(DEBIAN) as f:
            cases.append(("debian common.seccomp", f.read(), 200))
    v1 = "1\nwhitelist\n" + "".join(f"{n}\n" for n in [*range(301), *range(1024, 1080)])
    cases.append(("v1 whitelist 0-300,1024-1079", v1, 100))
    cases.append(("largest: every syscall, args on 1/3", largest_policy(), 20))
    print(f"architecture {native} (ABIs: {', '.join((native,) + archmod.compat_arches(native))})")
    for label, text, runs in cases:
        pol = sp.parse_policy(text, label)
        prog = sb.build(pol, native)
        t_parse = timeit(lambda t=text, la=label: sp.parse_policy(t, la), runs)
        t_build = timeit(lambda p=pol: sb.compile_policy(p, native), runs)
        print(f"{label:40s} {len(text.splitlines()):5d} lines {len(prog):5d} insns  "
              f"parse {t_parse * 1e3:7.2f} ms  compile {t_build * 1e3:7.2f} ms")
    py = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else sys.executable
    cold_code = (f"import sys; sys.path.insert(0, {ROOT!r})\n"
                 "from lxcz.security import seccomp_policy as sp, seccomp_bpf as sb\n"
                 f"sb.compile_policy(sp.load_policy({DEBIAN!r}))\n")
    if os.path.exists(DEBIAN):
        def cold():
            subprocess.run([py, "-I", "-S", "-c", cold_code], check=True)

        def bare():
            subprocess.run([py, "-I", "-S", "-c", "pass"], check=True)

        t_cold = timeit(cold, 15)
        t_bare = timeit(bare, 15)
        print(f"cold: import + load + compile Debian's file {t_cold * 1e3:.1f} ms, "
              f"bare interpreter {t_bare * 1e3:.1f} ms (difference "
              f"{(t_cold - t_bare) * 1e3:.1f} ms)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
