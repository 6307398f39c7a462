"""Helpers for the runtime integration tests: a busybox rootfs, a minimal config,
running the tools, and snapshots of host state (mounts, cgroups, processes, sockets)
to prove a test left nothing behind."""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import sys
import time
import uuid

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUSYBOX = shutil.which("busybox") or "/bin/busybox"
APPLETS = ("sh", "ls", "cat", "ps", "echo", "sleep", "true", "false", "mount", "kill", "id",
           "hostname", "readlink", "wc", "test", "touch", "mkdir", "stat", "grep", "env",
           "pwd", "printf", "dd", "ln", "rm", "init", "reboot", "poweroff", "halt", "head",
           "ip")


def have_busybox() -> bool:
    if not os.path.exists(BUSYBOX):
        return False
    out = subprocess.run(["file", "-L", BUSYBOX], capture_output=True, text=True).stdout \
        if shutil.which("file") else "statically"
    return "statically" in out or "static-pie" in out


def make_rootfs(path: str) -> str:
    """A busybox rootfs: bin/ with the applets, sbin/init, etc/inittab, empty dirs."""
    for d in ("bin", "sbin", "etc", "tmp", "root", "dev", "mnt"):
        os.makedirs(os.path.join(path, d), exist_ok=True)
    shutil.copy2(BUSYBOX, os.path.join(path, "bin", "busybox"))
    for a in APPLETS:
        os.symlink("busybox", os.path.join(path, "bin", a))
    os.symlink("../bin/busybox", os.path.join(path, "sbin", "init"))
    with open(os.path.join(path, "etc", "inittab"), "w") as f:
        f.write("::sysinit:/bin/true\n::respawn:/bin/sleep 100000\n"
                "::ctrlaltdel:/bin/reboot\n")
    with open(os.path.join(path, "etc", "passwd"), "w") as f:
        f.write("root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534::/:/bin/false\n")
    return path


def unique(prefix: str = "rt") -> str:
    return f"{prefix}{uuid.uuid4().hex[:8]}"


def write_config(path: str, rootfs: str, name: str, extra: str = "") -> str:
    with open(path, "w") as f:
        f.write(f"lxc.rootfs.path = dir:{rootfs}\nlxc.uts.name = {name}\n"
                "lxc.mount.auto = proc:mixed sys:mixed\n"
                "lxc.signal.halt = SIGUSR1\nlxc.signal.reboot = SIGTERM\n" + extra)
    return path


def lxcz(*args: str, timeout: float = 30, input: str | None = None,
         check: bool = False) -> subprocess.CompletedProcess:
    """Run `python -m lxcz ARGS` from the source tree."""
    env = dict(os.environ)
    env["PYTHONPATH"] = ROOT
    return subprocess.run([sys.executable, "-m", "lxcz", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=timeout, input=input,
                          check=check)


def popen(*args: str, **kw) -> subprocess.Popen:
    env = dict(os.environ)
    env["PYTHONPATH"] = ROOT
    return subprocess.Popen([sys.executable, "-m", "lxcz", *args], cwd=ROOT, env=env, **kw)


def snapshot(name: str) -> dict:
    """What a container NAME could leave behind on the host."""
    with open("/proc/self/mountinfo") as f:
        mounts = sorted(" ".join(ln.split()[3:5]) for ln in f)
    cgroups = sorted(glob.glob(f"/sys/fs/cgroup/*/lxc.*.{name}*") +
                     glob.glob(f"/sys/fs/cgroup/*/*/lxc.*.{name}*"))
    with open("/proc/net/unix") as f:
        socks = sorted(ln.split()[-1] for ln in f if f"/{name}/" in ln)
    procs = []
    for p in os.listdir("/proc"):
        if p.isdigit():
            try:
                with open(f"/proc/{p}/cmdline", "rb") as f:
                    cmd = f.read().replace(b"\0", b" ").decode("utf-8", "replace")
            except OSError:
                continue
            if f" {name} " in cmd + " ":
                procs.append(cmd)
    return {"mounts": mounts, "cgroups": cgroups, "sockets": socks, "procs": procs}


def wait_clean(name: str, before: dict, timeout: float = 5.0) -> dict:
    """Snapshot again until it equals before (processes take a moment to go)."""
    deadline = time.monotonic() + timeout
    while True:
        now = snapshot(name)
        if now == before or time.monotonic() > deadline:
            return now
        time.sleep(0.05)


def force_cleanup(name: str, lxcpath: str) -> None:
    """Last resort in fixtures: kill the container through lxc-stop -k."""
    lxcz("lxc-stop", "-n", name, "-P", lxcpath, "-k", timeout=20)
