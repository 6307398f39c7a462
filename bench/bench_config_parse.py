#!/usr/bin/python3
"""Benchmark: parse a 2,000-line container configuration spread over includes.

Run with the system interpreter: ``/usr/bin/python3 bench/bench_config_parse.py``.
Prints the in-process parse time (median of repeated loads), the same for get_item over
every key, and a cold run (a fresh interpreter importing lxcz.config and loading the
file) next to the interpreter's own start-up (``python3 -I -S -c pass``) in the same run.
A benchmark, not a test: it prints figures and asserts nothing.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Optional, Tuple

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

LINES = 2000
INCLUDES = 4


def block(i: int) -> list:
    """A realistic mix of lines: comments, mounts, cgroups, sysctls, networks, hooks."""
    n = i % 8
    return [
        f"# block {i}",
        f"lxc.mount.entry = /srv/data{i} srv/data{i} none bind,create=dir,optional 0 0",
        f"lxc.cgroup.devices.allow = c 1:{i % 256} rwm",
        f"lxc.cgroup2.memory.max = {i + 1}M",
        f"lxc.sysctl.net.ipv4.conf.eth{n}.forwarding = 1",
        f"lxc.net.{n}.type = veth",
        f"lxc.net.{n}.link = lxcbr0",
        f"lxc.net.{n}.ipv4.address = 10.{n}.{i % 250}.{i % 200 + 2}/24",
        f"lxc.net.{n}.hwaddr = 00:16:3e:{n:02x}:{i % 256:02x}:xx",
        "lxc.cap.drop = sys_module mac_admin mac_override",
        f"lxc.idmap = u {i * 65536} {100000 + i * 65536} 65536",
        f"lxc.hook.pre-start = /usr/share/lxc/hooks/h{i}",
        f"lxc.environment = VAR{i}=value{i}",
        "",
        f"lxc.signal.halt = SIGRTMIN+{i % 8}",
        f"lxc.tty.max = {i % 10}",
        f"lxc.uts.name = c{i}",
        "lxc.mount.auto = proc:mixed sys:ro cgroup:mixed",
        f"lxc.prlimit.nofile = {1024 + i}:{4096 + i}",
        "lxc.apparmor.profile = generated",
    ]


def make(tmp: str) -> str:
    lines = []
    i = 0
    while len(lines) < LINES:
        lines += block(i)
        i += 1
    lines = lines[:LINES]
    per = LINES // (INCLUDES + 1)
    main = lines[:per]
    for k in range(INCLUDES):
        chunk = lines[per * (k + 1):per * (k + 2)]
        path = os.path.join(tmp, f"inc{k}.conf")
        with open(path, "w") as f:
            f.write("\n".join(chunk) + "\n")
        main.append(f"lxc.include = {path}")
    path = os.path.join(tmp, "config")
    with open(path, "w") as f:
        f.write("\n".join(main) + "\n")
    return path


def timed(fn, repeat: int) -> float:
    runs = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        runs.append(time.perf_counter() - t)
    return statistics.median(runs)


def cold(args: list, repeat: int = 10) -> float:
    def run() -> None:
        subprocess.run(args, check=True, cwd=ROOT, stdout=subprocess.DEVNULL)
    return timed(run, repeat)


def main() -> int:
    from lxcz.config import ContainerConfig

    with tempfile.TemporaryDirectory(prefix="lxcz-bench-") as tmp:
        path = make(tmp)
        total = sum(1 for f in os.listdir(tmp) for _ in open(os.path.join(tmp, f)))
        cfg = ContainerConfig.load(path)
        n_items = len(cfg.items())
        parse = timed(lambda: ContainerConfig.load(path), 30)
        keys = sorted({i.key for i in cfg.items()})
        gets = timed(lambda: [cfg.get_item(k) for k in keys], 30)
        py = sys.executable
        base = cold([py, "-I", "-S", "-c", "pass"])
        code = f"from lxcz.config import ContainerConfig; ContainerConfig.load({path!r})"
        full = cold([py, "-c", code])
        imp = cold([py, "-c", "import lxcz.config"])
        upstream = _upstream(tmp, path)
    print(f"interpreter: {py} ({sys.version.split()[0]})")
    print(f"config: {total} lines in {INCLUDES + 1} files, {n_items} effective values, "
          f"{len(keys)} distinct keys")
    print(f"parse (in process, median of 30): {parse * 1000:.1f} ms "
          f"({parse / total * 1e6:.1f} us/line)")
    print(f"get_item over every key (median of 30): {gets * 1000:.1f} ms")
    print(f"cold: python3 -I -S -c pass          {base * 1000:.1f} ms")
    print(f"cold: import lxcz.config             {imp * 1000:.1f} ms")
    print(f"cold: import + load the config       {full * 1000:.1f} ms "
          f"(ratio to bare interpreter {full / base:.2f})")
    print(f"cold: lxcz parse cost (load - import) {(full - imp) * 1000:.1f} ms")
    if upstream:
        big, empty = upstream
        print(f"upstream: lxc-info -s, this config   {big * 1000:.1f} ms; empty config "
              f"{empty * 1000:.1f} ms; LXC parse cost {(big - empty) * 1000:.1f} ms")
        if big - empty > 0:
            print(f"ratio lxcz/LXC parse cost (in-process lxcz parse vs LXC's): "
                  f"{parse / (big - empty):.1f}")
    return 0


def _upstream(tmp: str, path: str) -> Optional[Tuple[float, float]]:
    """(seconds for lxc-info -s with this config, with an empty config), if LXC is here."""
    import shutil

    info = shutil.which("lxc-info") or "/usr/bin/lxc-info"
    if not os.path.exists(info) or os.path.islink(info):
        return None
    lxcpath = os.path.join(tmp, "lxcpath")
    for name, src in (("big", path), ("empty", None)):
        os.makedirs(os.path.join(lxcpath, name))
        with open(os.path.join(lxcpath, name, "config"), "w") as f:
            if src:
                f.write(open(src).read())
    try:
        return (cold([info, "-P", lxcpath, "-n", "big", "-s"], 20),
                cold([info, "-P", lxcpath, "-n", "empty", "-s"], 20))
    except subprocess.CalledProcessError:
        return None


if __name__ == "__main__":
    sys.exit(main())
