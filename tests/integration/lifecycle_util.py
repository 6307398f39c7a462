"""Helpers for the test_lifecycle_* integration tests: running the tools from the source
tree, a running busybox container made by lxc-create, and what a container can leave on
the host (to prove a test left nothing behind)."""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import sys
import time
import uuid
from typing import Optional

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUSYBOX = shutil.which("busybox") or "/bin/busybox"


def have_busybox() -> bool:
    return os.path.exists(BUSYBOX)


def unique(prefix: str = "lc") -> str:
    return f"{prefix}{uuid.uuid4().hex[:8]}"


def tool(*args: str, timeout: float = 60, input: Optional[str] = None,
         cwd: Optional[str] = None, env: Optional[dict] = None) -> subprocess.CompletedProcess:
    """Run ``python -m lxcz ARGS`` from the source tree."""
    e = dict(os.environ if env is None else env)
    e["PYTHONPATH"] = ROOT
    return subprocess.run([sys.executable, "-m", "lxcz", *args], cwd=cwd or ROOT, env=e,
                          capture_output=True, text=True, timeout=timeout, input=input)


def strip_unsupported(config: str) -> None:
    """Drop the lines of keys the runtime does not apply yet (it refuses to start then)."""
    from lxcz.config import keys as K

    out = []
    with open(config) as f:
        for line in f:
            key = line.split("=", 1)[0].strip()
            if "=" in line and not line.lstrip().startswith("#"):
                row = K.lookup(key)
                if row is None or not row.applied:
                    continue
            out.append(line)
    with open(config, "w") as f:
        f.writelines(out)


def create_busybox(lxcpath: str, name: str) -> None:
    empty = os.path.join(lxcpath, f".{name}.conf")
    with open(empty, "w"):
        pass
    r = tool("lxc-create", "-n", name, "-P", lxcpath, "-t", "busybox", "-f", empty)
    os.unlink(empty)
    assert r.returncode == 0, r.stderr
    strip_unsupported(os.path.join(lxcpath, name, "config"))


def start(lxcpath: str, name: str) -> int:
    r = tool("lxc-start", "-n", name, "-P", lxcpath, timeout=60)
    assert r.returncode == 0, r.stderr
    r = tool("lxc-wait", "-n", name, "-P", lxcpath, "-s", "RUNNING", "-t", "10")
    r = tool("lxc-info", "-n", name, "-P", lxcpath, "-p", "-H")
    assert r.returncode == 0, r.stderr
    return int(r.stdout.strip())


def stop_and_destroy(lxcpath: str, name: str) -> None:
    if os.path.isdir(os.path.join(lxcpath, name)):
        tool("lxc-stop", "-n", name, "-P", lxcpath, "-k", timeout=30)
        tool("lxc-destroy", "-n", name, "-P", lxcpath, "-f", timeout=30)


def leftovers(name: str, lxcpath: str) -> dict:
    """Mounts under lxcpath, cgroups and sockets named after the container."""
    with open("/proc/self/mountinfo") as f:
        mounts = sorted(ln.split()[4] for ln in f if lxcpath in ln.split()[4])
    cgroups = sorted(glob.glob(f"/sys/fs/cgroup/*/lxc.*.{name}") +
                     glob.glob(f"/sys/fs/cgroup/*/lxc.*.{name}-*") +
                     glob.glob(f"/sys/fs/cgroup/*/*/lxc.*.{name}"))
    with open("/proc/net/unix") as f:
        socks = sorted(ln.split()[-1] for ln in f if f"/{name}/" in ln)
    return {"mounts": mounts, "cgroups": cgroups, "sockets": socks}


def wait_gone(name: str, lxcpath: str, timeout: float = 5.0) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        now = leftovers(name, lxcpath)
        if not any(now.values()) or time.monotonic() > deadline:
            return now
        time.sleep(0.05)
