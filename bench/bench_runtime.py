#!/usr/bin/env python3
"""Runtime benchmarks against upstream LXC 5, same busybox config, same run.

Measures, for LXC and lxcz alternately (medians over --runs):
  * lxc-execute -- /bin/true
  * lxc-start -d + lxc-wait -s RUNNING + lxc-stop -k
  * lxc-attach -n NAME -- /bin/true on a running container
  * lxc-info -n NAME and lxc-wait -n NAME -s RUNNING on a running container (issue #4:
    target <= 2x the bare interpreter ``python3 -I -S -c pass``; the ratio to upstream
    is printed too)
  * resident memory of the monitor + init of a running container, started with
    lxc-start -d and with lxc-execute (RSS and PSS, the issue's targets, and private
    dirty memory, which no sharing or trimming changes), read once the container has
    been left alone for SETTLE seconds; beside lxc-execute's, the floor: two bare
    interpreters, one forked from the other (python_pair_floor)

Commands that move a process into a cgroup are timed twice: each after a pause (the
target rows: every command pays its own kernel costs, as when a person or a script runs
one), and back-to-back, where a command may skip the kernel's RCU grace period because
the command before it (of either implementation) just paid it; see _common.PAUSE.

lxcz runs as ``dist/lxcz`` (its prologue starts /usr/bin/python3) when built, else
``/usr/bin/python3 -m lxcz`` from the source tree (bytecode caching on); upstream as /usr/bin/lxc-*. Needs root,
busybox-static and lxc. Everything lives in a temporary lxcpath that is cleaned up
(containers stopped, cgroups removed) also on failure. Prints ratios (lxcz / LXC) with
the absolute medians beside them.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _common import (  # noqa: E402
    PAUSE,
    PYTHON,
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

TOOLS = ("execute", "start", "wait", "stop", "info", "attach")
SETTLE = 1.0  # seconds a running container is left alone before its memory is read
INFO_TARGET = 2.0  # lxc-info and lxc-wait at most twice the bare interpreter (issue #4)


class Impl:
    def __init__(self, kind: str, source: bool) -> None:
        self.kind = kind
        if kind == "lxc":
            self.cmds = {t: upstream_cmd(f"lxc-{t}") for t in TOOLS}
            self.env = None
        else:
            self.cmds = {t: lxcz_cmd(f"lxc-{t}", source) for t in TOOLS}
            self.env = lxcz_env(source)

    def run(self, tool: str, *args: str, check: bool = True) -> float:
        return timed(self.cmds[tool] + list(args), self.env, check)

    def output(self, tool: str, *args: str) -> str:
        return subprocess.run(self.cmds[tool] + list(args), cwd=ROOT, env=self.env,
                              capture_output=True, text=True).stdout


def smaps(pid: int) -> tuple:
    """(Rss, Pss, Private_Dirty) of pid in kB."""
    vals = {"Rss:": 0, "Pss:": 0, "Private_Dirty:": 0}
    with open(f"/proc/{pid}/smaps_rollup") as f:
        for line in f:
            key = line.split(None, 1)[0]
            if key in vals:
                vals[key] = int(line.split()[1])
    return vals["Rss:"], vals["Pss:"], vals["Private_Dirty:"]


def ppid(pid: int) -> int:
    with open(f"/proc/{pid}/stat") as f:
        return int(f.read().rsplit(")", 1)[1].split()[1])


def cycle(impl: Impl, base: list, pause: float = 0.0) -> float:
    """start -d, wait RUNNING, stop -k: the sum of the three (each after pause)."""
    total = 0.0
    for tool, args in (("start", ("-d",)), ("wait", ("-s", "RUNNING", "-t", "10")),
                       ("stop", ("-k",))):
        if pause:
            time.sleep(pause)
        total += impl.run(tool, *base, *args)
    return total


def memory(impl: Impl, base: list) -> tuple:
    """(RSS MB, PSS MB, private dirty MB, detail) of monitor + init of a running
    container, read after it has been left alone for SETTLE seconds."""
    pid = int(impl.output("info", *base, "-p", "-H").strip().split()[-1])
    mon = ppid(pid)
    time.sleep(SETTLE)  # the lxc-info above was a request like any other
    r1, p1, d1 = smaps(mon)
    r2, p2, d2 = smaps(pid)
    return ((r1 + r2) / 1024.0, (p1 + p2) / 1024.0, (d1 + d2) / 1024.0,
            f"monitor {r1 / 1024:.1f} MB + init {r2 / 1024:.1f} MB RSS, "
            f"private dirty {d1 / 1024:.1f} + {d2 / 1024:.1f} MB")


def true_rows(up: Impl, me: Impl, tool: str, b_up: list, b_me: list, runs: int) -> list:
    """lxc-TOOL ... -- /bin/true for both, after a pause and back-to-back: two rows."""
    rows = []
    for label, pause in (("", PAUSE), (" back-to-back", 0.0)):
        res = interleaved({"lxc": lambda: up.run(tool, *b_up, "--", "/bin/true"),
                           "lxcz": lambda: me.run(tool, *b_me, "--", "/bin/true")},
                          runs, pause=pause)
        rows.append((f"lxc-{tool} -- /bin/true{label} (ms)", median_ms(res["lxcz"]),
                     median_ms(res["lxc"])))
    return rows


def execute_memory(impl: Impl, base: list) -> tuple:
    """memory() of a container run by lxc-execute -- /bin/sleep: the monitor is the
    lxc-execute process itself and the init is lxc-init (LXC's init.lxc)."""
    p = subprocess.Popen(impl.cmds["execute"] + base + ["--", "/bin/sleep", "60"], cwd=ROOT,
                         env=impl.env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL)
    try:
        impl.run("wait", *base, "-s", "RUNNING", "-t", "10")
        return memory(impl, base)
    finally:
        impl.run("stop", *base, "-k", check=False)
        try:
            p.wait(timeout=20)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


FLOOR_CODE = """
import os, time
pid = os.fork()
if pid == 0:
    cmd = os.fork()
    if cmd == 0:
        os.execv("/bin/sleep", ["sleep", "60"])
    os.waitpid(cmd, 0)
    os._exit(0)
print(pid, flush=True)
time.sleep(60)
"""


def python_pair_floor() -> tuple:
    """memory() of the least any Python monitor with a Python init can take: a bare
    ``python3 -I -S`` and a child forked from it, each asleep in one system call (the
    child waits on a /bin/sleep, as an init on its command). On Python < 3.12 each side
    copies the interpreter's hot pages (reference counts of shared objects) as soon as
    it runs any code, so the pair costs about two interpreters' private memory."""
    p = subprocess.Popen([PYTHON, "-I", "-S", "-c", FLOOR_CODE], stdout=subprocess.PIPE,
                         start_new_session=True)
    try:
        child = int(p.stdout.readline())
        time.sleep(SETTLE)
        r1, p1, d1 = smaps(p.pid)
        r2, p2, d2 = smaps(child)
    finally:
        os.killpg(p.pid, 9)
        p.wait()
    return ((r1 + r2) / 1024.0, (p1 + p2) / 1024.0, (d1 + d2) / 1024.0,
            f"parent {r1 / 1024:.1f} MB + child {r2 / 1024:.1f} MB RSS")


def memory_rows(rows: list, notes: list, label: str, mine: tuple, theirs: tuple) -> None:
    """The RSS, PSS and private dirty rows and the detail note of two memory() results."""
    for i, what in enumerate(("monitor+init RSS", "monitor+init PSS", "monitor+init private dirty")):
        rows.append((f"{label}{what} (MB)", mine[i], theirs[i]))
    notes.append(f"{(label or 'lxc-start -d ').strip()}: lxcz {mine[3]}; LXC {theirs[3]}")


def wait_running(impl: Impl, base: list) -> None:
    impl.run("wait", *base, "-s", "RUNNING", "-t", "10")
    time.sleep(1.0)  # let init settle before memory is read


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--runs", type=int, default=10)
    ap.add_argument("--source", action="store_true", help="run lxcz from the source tree "
                    "even when dist/lxcz exists")
    ap.add_argument("--only", default="execute,cycle,attach,info,wait,memory",
                    help="comma-separated subset of execute,cycle,attach,info,wait,memory")
    args = ap.parse_args()
    only = set(args.only.split(","))
    why = check_host(f"lxc-{t}" for t in TOOLS)
    if why:
        print(f"bench_runtime: {why}", file=sys.stderr)
        return 1
    up, me = Impl("lxc", args.source), Impl("lxcz", args.source)
    scratch = Scratch()
    rows = []
    notes = []
    try:
        for name in ("bench-up", "bench-me"):
            scratch.container(name)
        b_up = ["-n", "bench-up", "-P", scratch.lxcpath]
        b_me = ["-n", "bench-me", "-P", scratch.lxcpath]
        bare = bare_interpreter(args.runs)
        if "execute" in only:
            rows.extend(true_rows(up, me, "execute", b_up, b_me, args.runs))
        if "cycle" in only:
            for label, pause in (("", PAUSE), (" back-to-back", 0.0)):
                res = interleaved({"lxc": lambda p=pause: cycle(up, b_up, p),
                                   "lxcz": lambda p=pause: cycle(me, b_me, p)},
                                  args.runs, warmup=0)
                rows.append((f"start -d + wait + stop -k{label} (ms)",
                             median_ms(res["lxcz"]), median_ms(res["lxc"])))
        if "memory" in only:
            theirs = execute_memory(up, b_up)
            memory_rows(rows, notes, "lxc-execute ", execute_memory(me, b_me), theirs)
            floor = python_pair_floor()
            rows.append(("bare python3 pair (floor) PSS (MB)", floor[1], theirs[1]))
            notes.append(f"floor: two bare python3 -I -S, one forked from the other, asleep: "
                         f"{floor[3]}, PSS {floor[1]:.1f} MB ({floor[1] / theirs[1]:.2f}x "
                         f"LXC's lxc-execute): what a Python monitor + Python init "
                         f"cannot go below on this interpreter")
        if only & {"attach", "info", "wait", "memory"}:
            up.run("start", *b_up, "-d")
            me.run("start", *b_me, "-d")
            wait_running(up, b_up)
            wait_running(me, b_me)
            if "memory" in only:  # first: what stays resident while nobody asks anything
                memory_rows(rows, notes, "", memory(me, b_me), memory(up, b_up))
            if "attach" in only:
                rows.extend(true_rows(up, me, "attach", b_up, b_me, args.runs))
            for tool, extra in (("info", ()), ("wait", ("-s", "RUNNING"))):
                if tool not in only:
                    continue
                res = interleaved({"lxc": lambda t=tool, e=extra: up.run(t, *b_up, *e),
                                   "lxcz": lambda t=tool, e=extra: me.run(t, *b_me, *e)},
                                  args.runs)
                mine, floor = median_ms(res["lxcz"]), median_ms(bare)
                rows.append((f"lxc-{tool} -n NAME, running (ms)", mine,
                             median_ms(res["lxc"])))
                verdict = "OK" if mine <= INFO_TARGET * floor else "ABOVE TARGET"
                notes.append(f"lxc-{tool}: {mine / floor:.2f}x the bare interpreter "
                             f"(target <= {INFO_TARGET:.1f}x): {verdict}")
            up.run("stop", *b_up, "-k", check=False)
            me.run("stop", *b_me, "-k", check=False)
    finally:
        scratch.close(args.source)
    print(f"lxcz: {' '.join(me.cmds['info'][:-1])}; upstream: /usr/bin/lxc-*")
    print(f"{'measure':<42} {'ratio':>7} {'lxcz':>10} {'LXC 5':>10}")
    for label, a, b in rows:
        print(f"{label:<42} {a / b:>6.2f}x {a:>10.1f} {b:>10.1f}")
    print(f"python3 -I -S -c pass: {median_ms(bare):.1f} ms")
    for n in notes:
        print(n)
    return 0


if __name__ == "__main__":
    sys.exit(main())
