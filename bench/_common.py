"""What the runtime benchmarks share: the busybox rootfs, how lxcz and upstream LXC are
called, timing a command, interleaved medians, and a scratch lxcpath that is cleaned up
(containers stopped, their cgroups removed) even when a benchmark fails.

lxcz runs as a user's ``lxc-TOOL`` link runs it when the zipapp is built (dist/lxcz or
the zipapp named by $LXCZ_BENCH_ZIPAPP): ``/usr/bin/python3 dist/lxcz install --prefix
TMP`` once per run, then ``TMP/lxc-TOOL`` (the installed copy starts /usr/bin/python3
directly, lxcz.selfinstall; pyenv's shims on PATH would add their own start-up). When
that install fails, ``dist/lxcz TOOL`` through the archive's shell prologue, with
LXCZ_PYTHON=/usr/bin/python3. Else as
``/usr/bin/python3 -m lxcz TOOL`` from the source tree, with bytecode caching on as on a
user's machine. Upstream is always ``/usr/bin/lxc-TOOL``: after ``lxcz install`` the
``lxc-*`` names on PATH may be lxcz itself.
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Callable, Dict, Iterable, List, Optional, Sequence

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PYTHON = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else sys.executable
# LXCZ_BENCH_ZIPAPP=PATH times another build of the zipapp than dist/lxcz
DIST = os.environ.get("LXCZ_BENCH_ZIPAPP") or os.path.join(ROOT, "dist", "lxcz")
APPLETS = ("sh", "true", "sleep", "init", "ls", "cat", "mount", "reboot", "poweroff")
CGROUP_ROOT = "/sys/fs/cgroup"


def make_rootfs(path: str) -> None:
    """A minimal busybox rootfs (static busybox, a few applets, an inittab that idles)."""
    busybox = shutil.which("busybox") or "/bin/busybox"
    for d in ("bin", "sbin", "etc", "tmp", "proc", "sys", "dev", "root"):
        os.makedirs(os.path.join(path, d), exist_ok=True)
    shutil.copy2(busybox, os.path.join(path, "bin", "busybox"))
    for a in APPLETS:
        os.symlink("busybox", os.path.join(path, "bin", a))
    os.symlink("../bin/busybox", os.path.join(path, "sbin", "init"))
    with open(os.path.join(path, "etc", "inittab"), "w") as f:
        f.write("::sysinit:/bin/true\n::respawn:/bin/sleep 1000000\n")


def use_dist(source: bool = False) -> bool:
    return not source and os.path.exists(DIST)


_installed: List[str] = []  # the prefix lxcz_cmd installed into, "" when that failed


def _install_prefix() -> str:
    """A temporary prefix holding `lxcz install`'s links (removed at exit), "" if the
    install failed."""
    if not _installed:
        import atexit

        d = tempfile.mkdtemp(prefix="lxcz-bench-bin-")
        atexit.register(shutil.rmtree, d, True)
        out = subprocess.run([PYTHON, DIST, "install", "--prefix", d], capture_output=True,
                             text=True)
        ok = out.returncode == 0 and os.path.isfile(os.path.join(d, "lxcz"))
        if not ok:
            sys.stderr.write(f"lxcz install --prefix {d} failed ({out.stderr.strip()}); "
                             f"timing {DIST} through its prologue\n")
        _installed.append(d if ok else "")
    return _installed[0]


def lxcz_cmd(tool: str, source: bool = False) -> List[str]:
    """The command line prefix running lxcz's TOOL (``lxc-info``...)."""
    if use_dist(source):
        prefix = _install_prefix()
        return [os.path.join(prefix, tool)] if prefix else [DIST, tool]
    return [PYTHON, "-m", "lxcz", tool]


def upstream_cmd(tool: str) -> List[str]:
    return [f"/usr/bin/{tool}"]


def lxcz_env(source: bool = False) -> Dict[str, str]:
    e = dict(os.environ)
    e.pop("PYTHONDONTWRITEBYTECODE", None)
    if use_dist(source):
        e["LXCZ_PYTHON"] = PYTHON  # the interpreter the archive's prologue starts
    else:
        e["PYTHONPATH"] = ROOT  # with dist/lxcz it would shadow the zipapp's own lxcz
    return e


def check_host(tools: Iterable[str]) -> Optional[str]:
    """Why the benchmark cannot run here, or None."""
    if os.geteuid() != 0:
        return "needs root"
    missing = [t for t in tools if not os.path.exists(f"/usr/bin/{t}")]
    if missing:
        return f"upstream LXC not installed (no /usr/bin/{missing[0]}; apt-get install lxc)"
    if not (shutil.which("busybox") or os.path.exists("/bin/busybox")):
        return "busybox not installed (apt-get install busybox-static)"
    return None


def timed(cmd: Sequence[str], env: Optional[Dict[str, str]] = None,
          check: bool = True) -> float:
    """Wall time of one run of cmd (output discarded); SystemExit if it fails."""
    t0 = time.perf_counter()
    r = subprocess.run(list(cmd), cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                       stderr=subprocess.PIPE, text=True)
    dt = time.perf_counter() - t0
    if check and r.returncode != 0:
        raise SystemExit(f"failed ({r.returncode}): {' '.join(cmd)}: {r.stderr.strip()}")
    return dt


# Moving a process into a cgroup by pid makes Linux wait for an RCU grace period unless
# another such move happened within roughly the last 20-50 ms (the threadgroup lock is
# still in its slow mode then). A command run right after another tool's cgroup move
# skips that wait, so back-to-back timings depend on who ran before. PAUSE, slept before
# a timed command, lets that window close: every command then pays what it costs on its
# own, as when a person or a script runs one.
PAUSE = 0.2


def interleaved(cases: Dict[str, Callable[[], float]], runs: int,
                warmup: int = 1, pause: float = 0.0) -> Dict[str, List[float]]:
    """Run every case once per round, ``runs`` rounds after ``warmup`` unrecorded ones, so
    that load from elsewhere on the machine hits all cases alike; sleep ``pause`` seconds
    before each (see PAUSE)."""
    out: Dict[str, List[float]] = {k: [] for k in cases}
    for i in range(warmup + runs):
        for key, fn in cases.items():
            if pause:
                time.sleep(pause)
            dt = fn()
            if i >= warmup:
                out[key].append(dt)
    return out


def median_ms(samples: List[float]) -> float:
    return statistics.median(samples) * 1000


def bare_interpreter(runs: int) -> List[float]:
    """``python3 -I -S -c pass``: the floor any Python tool starts from."""
    return [timed([PYTHON, "-I", "-S", "-c", "pass"]) for _ in range(runs)]


class Scratch:
    """A temporary lxcpath; ``close()`` stops what runs in it (with both
    implementations), removes the cgroups its containers left, then the directory."""

    def __init__(self, prefix: str = "lxcz-bench-") -> None:
        self.dir = tempfile.mkdtemp(prefix=prefix)
        self.lxcpath = os.path.join(self.dir, "lxc")
        os.makedirs(self.lxcpath)
        self.names: List[str] = []
        self._rootfs: Optional[str] = None

    def rootfs(self) -> str:
        """One busybox rootfs shared by every container of this scratch lxcpath."""
        if self._rootfs is None:
            self._rootfs = os.path.join(self.dir, "rootfs")
            make_rootfs(self._rootfs)
        return self._rootfs

    def container(self, name: str, extra: str = "", own_rootfs: bool = False) -> str:
        """Define NAME (busybox rootfs, no network) with extra config lines; its path."""
        path = os.path.join(self.lxcpath, name)
        os.makedirs(path)
        self.names.append(name)
        if own_rootfs:
            rootfs = os.path.join(path, "rootfs")
            make_rootfs(rootfs)
        else:
            rootfs = self.rootfs()
        with open(os.path.join(path, "config"), "w") as f:
            f.write(f"lxc.rootfs.path = dir:{rootfs}\nlxc.uts.name = {name}\n"
                    "lxc.mount.auto = proc:mixed sys:mixed\nlxc.tty.max = 1\n"
                    "lxc.signal.halt = SIGUSR1\n" + extra)
        return path

    def close(self, source: bool = False) -> None:
        for name in self.names:
            base = ["-n", name, "-P", self.lxcpath, "-k"]
            for cmd, env in ((upstream_cmd("lxc-stop"), None),
                             (lxcz_cmd("lxc-stop", source), lxcz_env(source))):
                try:
                    subprocess.run(cmd + base, env=env, stdout=subprocess.DEVNULL,
                                   stderr=subprocess.DEVNULL, timeout=30)
                except (OSError, subprocess.TimeoutExpired):
                    pass
        remove_cgroups(self.names)
        shutil.rmtree(self.dir, ignore_errors=True)


def remove_cgroups(names: Iterable[str]) -> List[str]:
    """Remove the empty ``lxc.payload.NAME`` / ``lxc.monitor.NAME`` cgroups (and ``-N``
    suffixed ones) of the given containers from every mounted hierarchy, deepest first;
    return those that could not be removed (still busy)."""
    leaves = set()
    for n in names:
        leaves.update((f"lxc.payload.{n}", f"lxc.monitor.{n}"))
    left = []
    try:
        mounts = [os.path.join(CGROUP_ROOT, m) for m in os.listdir(CGROUP_ROOT)]
    except OSError:
        return left
    mounts.append(CGROUP_ROOT)
    for mnt in mounts:
        if not os.path.isdir(mnt) or os.path.islink(mnt):
            continue
        try:
            entries = os.listdir(mnt)
        except OSError:
            continue
        for e in entries:
            stem, _, suffix = e.rpartition("-")
            if e not in leaves and not (stem in leaves and suffix.isdigit()):
                continue
            top = os.path.join(mnt, e)
            for dirpath, _dirs, _files in sorted(os.walk(top), key=lambda w: -len(w[0])):
                try:
                    os.rmdir(dirpath)
                except OSError:
                    if dirpath == top:
                        left.append(top)
    return left
